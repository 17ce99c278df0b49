"""`python -m influence_mem.aggregate` (= im-aggregate) in a real process on a simulated workdir."""
import subprocess
import sys

import numpy as np
import pytest

from influence_mem import released
from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial
from tests.helpers import REPO

pytestmark = pytest.mark.integration


def test_python_m_aggregate_writes_the_estimate_set(tmp_path):
    rng = np.random.default_rng(0)
    tr_labels, tt_labels = rng.integers(0, 4, 60), rng.integers(0, 4, 20)
    write_dataset_meta(tmp_path, tr_labels, tt_labels, "sim", None)
    learner = make_learner(rng, tr_labels, tt_labels)
    stack = learner.trials(rng, 0.7, 10)
    for k in range(10):
        write_trial(tmp_path / "0.7", k, *(a[k] for a in stack), rng=rng)
    proc = subprocess.run([sys.executable, "-m", "influence_mem.aggregate", f"--workdir={tmp_path}",
                           f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "used 10 trials (0 skipped)" in proc.stdout
    matrix = released.load_infl_matrix(tmp_path / "out" / "sim_infl_matrix.npz")
    np.testing.assert_array_equal(matrix.tr_labels, tr_labels)
