"""estimate.compare: two output trees are equal array by array; any change in a value, dtype or key is found."""
import numpy as np

from influence_mem.estimate.compare import compare_trees


def _tree(root, values, dtype=np.int64):
    (root / "0.7" / "3").mkdir(parents=True)
    np.savez(root / "0.7" / "3" / "aux_arrays.npz", subsample_idx=np.asarray(values, dtype), x=np.array([0.5, np.nan]))
    np.save(root / "scores.npy", np.arange(3.0))


def test_equal_trees_and_each_kind_of_difference(tmp_path):
    _tree(tmp_path / "a", [1, 2, 3])
    _tree(tmp_path / "same", [1, 2, 3])
    assert compare_trees(str(tmp_path / "a"), str(tmp_path / "same")) == (2, [])  # NaN equals NaN
    _tree(tmp_path / "value", [1, 2, 4])
    _tree(tmp_path / "dtype", [1, 2, 3], np.int32)
    for other in ("value", "dtype"):
        assert compare_trees(str(tmp_path / "a"), str(tmp_path / other))[1] == [
            "0.7/3/aux_arrays.npz: subsample_idx differs"]
    (tmp_path / "value" / "scores.npy").unlink()
    differences = compare_trees(str(tmp_path / "a"), str(tmp_path / "value"))[1]
    assert any(d.startswith("scores.npy: missing under") for d in differences)
