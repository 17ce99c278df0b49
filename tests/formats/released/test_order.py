"""released.detect_order: which example order (original or TFDS) a released file's labels are in."""
import numpy as np
import pytest

from influence_mem.formats import released
from influence_mem.formats.released import ReleasedFormatError
from tests.helpers import released_dir


@pytest.fixture
def orders():
    """Labels in the original order and the same examples in a TFDS-like permuted order."""
    rng = np.random.default_rng(0)
    original = rng.integers(0, 5, 40).astype(np.int64)
    tfds = original[rng.permutation(40)]
    assert not np.array_equal(original, tfds)
    return original, tfds


def _estimate_set(directory, tr_labels):
    tt_labels = np.arange(6) % 5
    classes = np.unique(tr_labels)
    paths = released.write_estimate_set(
        directory, "x", tr_labels, tt_labels, np.zeros(len(tr_labels), np.float32),
        {int(c): np.flatnonzero(tr_labels == c) for c in classes},
        {int(c): np.flatnonzero(tt_labels == c) for c in classes},
        {int(c): np.zeros((np.sum(tr_labels == c), np.sum(tt_labels == c)), np.float32) for c in classes},
        {"tr_idx": np.zeros(0, np.int64), "tt_idx": np.zeros(0, np.int64), "infl": np.zeros(0, np.float32),
         "mem": np.zeros(0, np.float32)}, 0.25, 0.15,
        {"num_trials": np.int64(1), "subset_ratio": np.float64(0.7), "n_in": np.zeros(len(tr_labels), np.int64),
         "n_out": np.zeros(len(tr_labels), np.int64), "mem_se": np.zeros(len(tr_labels))},
        tr_filenames=np.array([b"f%d.JPEG" % k for k in range(len(tr_labels))]),
        cscores=np.zeros(len(tr_labels)))
    return {released.infl_matrix_filename("x"): "infl", released.index_filename("x"): "index",
            released.cscores_filename("x"): "cscores"}, paths


@pytest.mark.parametrize("which", ["original", "tfds"])
def test_every_labelled_kind_is_detected(tmp_path, orders, which):
    labels = orders[0] if which == "original" else orders[1]
    kinds, paths = _estimate_set(tmp_path, labels)
    for name in kinds:
        assert released.detect_order(paths[name], *orders) == which, name


def test_neither_and_both(tmp_path, orders):
    original, tfds = orders
    _, paths = _estimate_set(tmp_path / "a", (original + 1) % 5)
    assert released.detect_order(paths[released.infl_matrix_filename("x")], original, tfds) == "neither"
    # another length (e.g. CIFAR-10 labels checked against CIFAR-100's) is "neither", not an error
    assert released.detect_order(paths[released.infl_matrix_filename("x")], original[:-1], tfds[:-1]) == "neither"
    same = np.zeros(40, np.int64)
    _, paths = _estimate_set(tmp_path / "b", same)
    assert released.detect_order(paths[released.cscores_filename("x")], same, same) == "both"


def test_files_without_labels_are_refused(tmp_path, orders):
    _, paths = _estimate_set(tmp_path, orders[0])
    pairs = [p for name, p in paths.items() if "high_infl_pairs" in name][0]
    with pytest.raises(ReleasedFormatError, match="no training labels"):
        released.detect_order(pairs, *orders)
    npy = released.write_cscores(tmp_path / "m.npy", np.zeros(40))
    with pytest.raises(ReleasedFormatError, match="no labels"):
        released.detect_order(npy, *orders)


def test_real_cifar100_cscores_are_in_the_original_order():
    path = released_dir("cifar100-cscores-orig-order.npz") / "cifar100-cscores-orig-order.npz"
    labels = released.load_cscores(path).labels
    shuffled = labels[np.random.default_rng(1).permutation(len(labels))]
    assert released.detect_order(path, labels, shuffled) == "original"
    assert released.detect_order(path, shuffled, labels) == "tfds"
