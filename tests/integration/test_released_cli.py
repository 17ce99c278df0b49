"""The documented command `python -m influence_mem.released fetch NAME` in a real process, against a local
HTTP server (the `serve` fixture)."""
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration


def test_python_m_released_fetch(serve, tmp_path):
    """The documented command: `python -m influence_mem.released fetch NAME`."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "cifar100_infl_matrix.npz").write_bytes(b"y" * 10)
    url, _ = serve(served)
    proc = subprocess.run([sys.executable, "-m", "influence_mem.released", "fetch", "cifar100_infl_matrix",
                           f"--cache_dir={tmp_path / 'cache'}", f"--base_url={url}"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "cache" / "cifar100_infl_matrix.npz")
