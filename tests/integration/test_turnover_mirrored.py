"""The turn-over program under --strategy=mirrored on 2 logical CPU devices (a fresh process: TF fixes devices
at start-up) estimates what one device estimates."""
import numpy as np
import pytest

from influence_mem import released
from influence_mem.data import corrupt
from influence_mem.train.config import TrainConfig
from influence_mem.turnover import trainer as turnover
from tests.helpers import DIGITS_MLP, finish, start_with_devices

pytestmark = pytest.mark.integration


def test_mirrored_program_estimates_what_one_device_estimates(tmp_path, digits):
    args = [f"--flagfile={DIGITS_MLP}", "--mlp_hidden=32", "--epochs=2", "--batch_size=64", "--corrupt_fraction=0.1",
            "--save_model=false", f"--workdir={tmp_path}", "--strategy=mirrored"]
    proc = start_with_devices(2, "influence_mem.turnover.main:run", *args)
    # The same run on one device, meanwhile: same masks, init, batches and augmentation; only float reduction
    # order differs, so the estimates agree closely.
    corrupted = corrupt.corrupt_dataset(digits, 0.1, 0)
    one = turnover.train(corrupted, TrainConfig(arch_options={"mlp_hidden": "32"}, epochs=2, batch_size=64,
                                                base_lr=0.1, log_every_epochs=100))
    reference = turnover.self_influence(one, corrupted)["mem"]
    result = finish(proc)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mirroring over 2 CPU device(s)" in result.stderr
    matrix = released.load(tmp_path / "digits_infl_matrix.npz")
    np.testing.assert_array_equal(matrix.tr_labels, corrupted.train_labels)
    assert np.corrcoef(matrix.tr_mem, reference)[0, 1] > 0.99  # 0.87 when the orders differed
