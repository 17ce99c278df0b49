"""docs/own_data.md: its ```bash blocks (npz images, npz feature vectors, a user's --arch) run as written, in a
fresh directory."""
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO, subprocess_env

pytestmark = pytest.mark.integration


def test_own_data_commands_run(tmp_path):
    text = (REPO / "docs" / "own_data.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    env = subprocess_env(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    for block in blocks:
        proc = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "mine_estimates" / "mine_infl_matrix.npz").is_file()
    # the tabular example: a report without pictures, saying why
    summary = (tmp_path / "cancer_estimates" / "report" / "summary.md").read_text()
    assert "holds feature vectors" in summary and not list((tmp_path / "cancer_estimates" / "report").glob("*examples*"))
    assert (tmp_path / "mine_conv_work" / "0.7" / "1" / "aux_arrays.npz").is_file()
