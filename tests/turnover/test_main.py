"""The turn-over program's main in-process (one device): the released estimate files and their sidecar."""
import pytest
import numpy as np

from influence_mem import released
from influence_mem.turnover import main as turnover_main
from tests.helpers import DIGITS_MLP


@pytest.mark.slow
def test_main_writes_released_files_and_sidecar(tmp_path, program, digits):
    program.run(turnover_main.define_flags, turnover_main.main, f"--flagfile={DIGITS_MLP}", "--mlp_hidden=32",
                "--epochs=2", "--batch_size=64", "--corrupt_fraction=0.1", "--save_model=false",
                "--mem_threshold=0.5", "--infl_threshold=0.2", f"--workdir={tmp_path}")
    matrix = released.load(tmp_path / "digits_infl_matrix.npz")
    pairs = released.load(tmp_path / "digits_high_infl_pairs_infl0.2_mem0.5.npz")
    assert (matrix.kind, pairs.kind) == ("infl_matrix", "high_infl_pairs")
    stats = released.load_estimates_stats(tmp_path / "digits_estimates_stats.npz")
    assert str(stats["estimator"]) == "turnover" and len(stats["corrupted_idx"]) == round(0.1 * digits.num_train)
    np.testing.assert_array_equal(matrix.tt_labels, digits.test_labels)
    assert np.sum(matrix.tr_labels != digits.train_labels) == len(stats["corrupted_idx"])  # trained-on labels
    np.testing.assert_allclose(matrix.tr_mem, stats["loss_muted"] - stats["loss_unmuted"], atol=1e-5)
    assert sum(b.size for b in matrix.blocks.values()) == sum(
        np.sum(matrix.tr_labels == c) * np.sum(matrix.tt_labels == c) for c in range(10))
    assert len(pairs["mem"]) > 0 and np.all(pairs["mem"] >= 0.5) and np.all(pairs["infl"] >= 0.2)
    np.testing.assert_allclose(pairs["infl"], matrix.influence(pairs["tr_idx"], pairs["tt_idx"]), atol=1e-6)
