"""reevaluate.runs: runs found by ratio and canonical id, their model form, and their aux arrays checked
against the dataset's size (each bad file one line naming it)."""
import numpy as np
import pytest

from influence_mem.reevaluate import runs as runs_lib
from influence_mem.reevaluate.runs import RunError, RunsError


def write_aux(run_dir, n=10, n_test=4, subset=(0, 2, 3, 7), seed=0, **override):
    """An aux_arrays.npz as the authors' trainer writes it (ids in a shuffled order); `override` replaces keys."""
    rng = np.random.RandomState(seed)
    subset = np.array(subset, np.int64)
    removed = np.setdiff1d(np.arange(n), subset)
    arrays = {"subsample_idx": subset, "index_train": rng.permutation(subset), "index_removed": rng.permutation(removed),
              "index_test": rng.permutation(n_test)}
    arrays.update({"correctness_train": rng.rand(len(subset)) < 0.9, "correctness_removed": rng.rand(len(removed)) < 0.5,
                   "correctness_test": rng.rand(n_test) < 0.5})
    arrays.update(override)
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez(run_dir / "aux_arrays.npz", **arrays)
    return arrays


def test_runs_by_ratio_and_canonical_id_and_their_model_form(tmp_path):
    ratio = tmp_path / "0.7"
    for name in ("0", "3", "12"):
        (ratio / name).mkdir(parents=True)
    (ratio / "07").mkdir()            # not canonical
    (ratio / ".5.inprogress").mkdir()  # unfinished
    (ratio / "9").write_text("a file")
    (tmp_path / "0.5").mkdir()
    assert runs_lib.ratio_dir(str(tmp_path), 0.70) == str(ratio)
    assert list(runs_lib.list_runs(str(ratio))) == [0, 3, 12]
    (ratio / "0" / "model.keras").write_text("x")
    (ratio / "3" / "saved_model").mkdir()
    (ratio / "3" / "saved_model" / "saved_model.pb").write_text("x")
    (ratio / "12" / "checkpoints").mkdir()
    assert [runs_lib.model_kind(str(ratio / r)) for r in ("0", "3", "12")] == ["keras", "saved_model", None]
    (ratio / "12" / "checkpoints" / "ckpt-160.index").write_text("x")
    assert runs_lib.model_kind(str(ratio / "12")) == "checkpoint"
    (ratio / "3" / "model.keras").write_text("x")  # both kept: the Keras file is preferred
    assert runs_lib.model_kind(str(ratio / "3")) == "keras"
    with pytest.raises(RunError, match=r"/0\.7/99: no model \(model.keras, saved_model/ or checkpoints/"):
        (ratio / "99").mkdir()
        runs_lib.require_model(str(ratio / "99"))


def test_a_missing_ratio_or_runs_directory_is_one_line(tmp_path):
    (tmp_path / "0.1").mkdir()
    (tmp_path / "0.7").mkdir()
    with pytest.raises(RunsError, match=r"no 0\.3/ directory for --subset_ratio=0\.3 \(subset ratios there: 0\.1, 0\.7\)"):
        runs_lib.ratio_dir(str(tmp_path), 0.3)
    with pytest.raises(RunsError, match="not a directory"):
        runs_lib.ratio_dir(str(tmp_path / "nowhere"), 0.7)


def test_run_arrays_in_the_order_written(tmp_path):
    arrays = write_aux(tmp_path / "r")
    got = runs_lib.read_run_arrays(str(tmp_path / "r"), 10, 4)
    np.testing.assert_array_equal(got.subset, arrays["subsample_idx"])
    np.testing.assert_array_equal(got.train_index, np.concatenate([arrays["index_train"], arrays["index_removed"]]))
    np.testing.assert_array_equal(got.train_correct, np.concatenate([arrays["correctness_train"],
                                                                     arrays["correctness_removed"]]))
    np.testing.assert_array_equal(got.test_index, arrays["index_test"])
    assert got.train_correct.dtype == bool and got.test_correct.dtype == bool


@pytest.mark.parametrize("n,n_test,override,message", [
    (12, 4, {}, r"index_train \+ index_removed \(10 ids, range 0\.\.9\) is not a permutation of 0\.\.11: the run does "
                r"not fit the dataset's 12 train examples"),
    (10, 5, {}, r"index_test \(4 ids, range 0\.\.3\) is not a permutation of 0\.\.4"),
    (10, 4, {"subsample_idx": np.array([0, 2, 3, 8])}, r"subsample_idx \(4 ids, range 0\.\.8\) is not the set of "
                                                        r"index_train"),
    (10, 4, {"correctness_test": np.array([0.5, 1, 0, 1])}, "correctness_test must hold 0/1 flags"),
    (10, 4, {"correctness_train": np.ones(3, bool)}, "10 train ids but 9 correctness flags"),
    (10, 4, {"index_test": np.array([[0, 1], [2, 3]])}, r"index_test must be 1-D, got shape \(2, 2\)"),
    (10, 4, {"index_removed": np.array([1.0, 4, 5, 6, 8, 9])}, "index_removed must hold integer ids"),
])
def test_arrays_that_do_not_fit_the_dataset_are_one_line_naming_the_file(tmp_path, n, n_test, override, message):
    write_aux(tmp_path / "r", **override)
    with pytest.raises(RunError, match=message) as error:
        runs_lib.read_run_arrays(str(tmp_path / "r"), n, n_test)
    assert str(error.value).startswith(str(tmp_path / "r" / "aux_arrays.npz")) and "\n" not in str(error.value)


def test_missing_keys_corrupt_and_absent_files(tmp_path):
    run = tmp_path / "r"
    with pytest.raises(RunError, match="aux_arrays.npz: missing"):
        runs_lib.read_run_arrays(str(run), 10, 4)
    arrays = write_aux(run)
    np.savez(run / "aux_arrays.npz", **{k: v for k, v in arrays.items() if k != "index_test"})
    with pytest.raises(RunError, match="missing keys index_test"):
        runs_lib.read_run_arrays(str(run), 10, 4)
    (run / "aux_arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunError, match="aux_arrays.npz: .*(not an .npz|unreadable)"):
        runs_lib.read_run_arrays(str(run), 10, 4)
