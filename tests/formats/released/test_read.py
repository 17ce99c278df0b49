"""Released formats: the authors' real files load, ours round-trip, bad files fail clearly."""
import numpy as np
import pytest

from influence_mem.formats import released
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.formats.released import ReleasedFormatError
from tests.helpers import released_dir

CSCORES = ["cifar10-cscores-orig-order.npz", "cifar100-cscores-orig-order.npz", "mnist-cscores.npy"]


@pytest.fixture
def real():
    """The directory of the authors' C-score files (the test is skipped, saying how to get them, without)."""
    return released_dir(*CSCORES)


@pytest.mark.parametrize("name,num_classes", [("cifar10", 10), ("cifar100", 100)])
def test_real_cifar_cscores(name, num_classes, real):
    path = real / f"{name}-cscores-orig-order.npz"
    cs = released.load(path)
    assert cs.kind == "cscores"
    assert cs.scores.shape == (50000,) and cs.scores.dtype == np.float64
    assert cs.labels.shape == (50000,) and cs.labels.dtype == np.int64
    assert cs.filenames is None
    assert set(np.unique(cs.labels)) == set(range(num_classes))
    assert np.bincount(cs.labels).tolist() == [50000 // num_classes] * num_classes
    assert 0 <= cs.scores.min() and cs.scores.max() <= 1


def test_real_cifar10_is_in_original_order(real):
    # the first ten labels of the CIFAR-10 python batches: frog, truck, truck, deer, car, ...
    labels = released.load_cscores(real / "cifar10-cscores-orig-order.npz").labels
    assert labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]


def test_real_mnist_cscores_npy(real):
    cs = released.load(real / "mnist-cscores.npy")
    assert cs.kind == "cscores"
    assert cs.scores.shape == (60000,) and cs.labels is None
    assert 0 <= cs.scores.min() and cs.scores.max() <= 1


def test_cscores_round_trip_of_real_file(tmp_path, real):
    cs = released.load_cscores(real / "cifar100-cscores-orig-order.npz")
    out = released.write_cscores(tmp_path / "c-cscores-orig-order.npz", cs.scores, cs.labels)
    again = released.load_cscores(out)
    np.testing.assert_array_equal(again.scores, cs.scores)
    np.testing.assert_array_equal(again.labels, cs.labels)
    mnist = released.load_cscores(real / "mnist-cscores.npy").scores
    out = released.write_cscores(tmp_path / "m-cscores.npy", mnist)
    np.testing.assert_array_equal(np.load(out), mnist)
    names = np.array([b"a.jpg", b"b.jpg"])
    out = released.write_cscores(tmp_path / "i.npz", [0.5, 0.25], [3, 4], filenames=names)
    np.testing.assert_array_equal(released.load_cscores(out).filenames, names)


def _infl_arrays():
    tr_labels = np.array([0, 1, 0, 1, 1])
    tt_labels = np.array([1, 0, 1])
    tr_mem = np.array([0.1, 0.9, 0.5, 0.3, 0.0], np.float32)
    tr_idx = {0: np.array([0, 2]), 1: np.array([1, 3, 4])}
    tt_idx = {0: np.array([1]), 1: np.array([0, 2])}
    blocks = {0: np.array([[0.2], [0.4]]), 1: np.array([[0.5, 0.1], [0.16, 0.0], [0.9, 0.9]])}
    return tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks


def test_infl_matrix_round_trip_and_helpers(tmp_path):
    tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks = _infl_arrays()
    path = released.write_infl_matrix(tmp_path / released.infl_matrix_filename("toy"),
                                      tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks)
    assert path.name == "toy_infl_matrix.npz"
    assert sorted(np.load(path).files) == sorted(
        ["tr_labels", "tt_labels", "tr_mem", "tr_classidx_0", "tt_classidx_0",
         "infl_matrix_class0", "tr_classidx_1", "tt_classidx_1", "infl_matrix_class1"])
    m = released.load(path)
    assert m.kind == "infl_matrix" and m.classes == [0, 1]
    np.testing.assert_array_equal(m.tr_mem, tr_mem)
    np.testing.assert_array_equal(released.memorization(path), tr_mem)
    tr, tt, block = m.block(1)
    np.testing.assert_array_equal(tr, [1, 3, 4])
    np.testing.assert_allclose(block, blocks[1])
    assert m.influence(3, 2) == pytest.approx(0.0)
    assert m.influence(1, 0) == pytest.approx(0.5)
    assert m.influence(2, 1) == pytest.approx(0.4)
    assert np.isnan(m.influence(0, 0))  # different labels: not estimated
    np.testing.assert_allclose(m.influence([1, 4, 0], [2, 0, 0]), [0.1, 0.9, np.nan])
    pairs = pairs_from_matrix(m, mem_threshold=0.25, infl_threshold=0.15)
    assert list(pairs.columns) == ["tr_idx", "tt_idx", "infl", "mem"]
    assert list(zip(pairs["tr_idx"], pairs["tt_idx"])) == [(1, 0), (2, 1), (3, 0)]


def test_pairs_index_stats_round_trip(tmp_path):
    name = released.high_infl_pairs_filename("cifar100", 0.15, 0.25)
    assert name == "cifar100_high_infl_pairs_infl0.15_mem0.25.npz"
    path = released.write_high_infl_pairs(tmp_path / name, [4, 1], [0, 2], [0.3, 0.2], [0.5, 0.9])
    df = released.load(path)
    assert df.kind == "high_infl_pairs"
    assert df["tr_idx"].tolist() == [4, 1] and df["infl"].tolist() == pytest.approx([0.3, 0.2])

    path = released.write_index(tmp_path / "imagenet_index.npz", [b"n01/a.JPEG", b"n02/b.JPEG"],
                                [0, 1], [0.7, 0.1])
    index = released.load(path)
    assert index.kind == "index" and index["tr_filenames"].tolist() == [b"n01/a.JPEG", b"n02/b.JPEG"]
    np.testing.assert_allclose(released.memorization(path), [0.7, 0.1])

    path = released.write_estimates_stats(tmp_path / "x_estimates_stats.npz", num_trials=3,
                                          subset_ratio=0.7, n_in=[2, 1], n_out=[1, 2],
                                          mem_se=[0.1, 0.2])
    stats = released.load(path)
    assert stats.kind == "estimates_stats" and int(stats["num_trials"]) == 3


def test_not_an_npz_file(tmp_path):
    path = tmp_path / "cifar100_infl_matrix.npz"
    path.write_text("hello")
    with pytest.raises(ReleasedFormatError, match="not an .npz file") as e:
        released.load_infl_matrix(path)
    assert isinstance(e.value, ValueError) and str(path) in str(e.value)
    np.save(tmp_path / "x.npy", np.zeros(3))
    (tmp_path / "broken.npz").write_bytes((tmp_path / "x.npy").read_bytes())
    with pytest.raises(ReleasedFormatError, match="not an .npz"):
        released.load(tmp_path / "broken.npz")
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(ReleasedFormatError, match="bad.npy: not a readable .npy"):
        released.load_cscores(tmp_path / "bad.npy")
    with pytest.raises(ReleasedFormatError, match="no such file"):
        released.load(tmp_path / "missing.npz")


def test_truncated_npz(tmp_path):
    path = released.write_high_infl_pairs(tmp_path / "p.npz", np.arange(500), np.arange(500),
                                          np.ones(500), np.ones(500))
    data = path.read_bytes()
    path.write_bytes(data[:200] + data[-100:])
    with pytest.raises(ReleasedFormatError, match="p.npz: (unreadable|not an .npz)"):
        released.load_high_infl_pairs(path)


def test_missing_key(tmp_path):
    np.savez(tmp_path / "p.npz", tr_idx=[1], tt_idx=[2], infl=[0.3])
    with pytest.raises(ReleasedFormatError, match=r"p.npz: missing key\(s\) \['mem'\]"):
        released.load_high_infl_pairs(tmp_path / "p.npz")
    tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks = _infl_arrays()
    np.savez(tmp_path / "m.npz", tr_labels=tr_labels, tt_labels=tt_labels, tr_mem=tr_mem,
             tr_classidx_0=tr_idx[0], infl_matrix_class0=blocks[0])
    with pytest.raises(ReleasedFormatError, match=r"missing key\(s\) \['tt_classidx_0'\]"):
        released.load_infl_matrix(tmp_path / "m.npz")
    np.savez(tmp_path / "c.npz", scores=np.zeros(3))
    with pytest.raises(ReleasedFormatError, match=r"missing key\(s\) \['labels'\]"):
        released.load_cscores(tmp_path / "c.npz")
    np.savez(tmp_path / "u.npz", foo=np.zeros(3))
    with pytest.raises(ReleasedFormatError, match="match no released format"):
        released.load(tmp_path / "u.npz")


def test_shape_mismatch(tmp_path):
    tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks = _infl_arrays()
    arrays = dict(tr_labels=tr_labels, tt_labels=tt_labels, tr_mem=tr_mem)
    for c in blocks:
        arrays.update({f"tr_classidx_{c}": tr_idx[c], f"tt_classidx_{c}": tt_idx[c],
                       f"infl_matrix_class{c}": blocks[c]})
    arrays["infl_matrix_class1"] = blocks[1][:2]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(ReleasedFormatError, match=r"infl_matrix_class1 has shape \(2, 2\), "
                                                  r"expected \(3, 2\)"):
        released.load_infl_matrix(tmp_path / "m.npz")
    np.savez(tmp_path / "p.npz", tr_idx=[1, 2], tt_idx=[2], infl=[0.3, 0.2], mem=[0.5, 0.5])
    with pytest.raises(ReleasedFormatError, match="tt_idx has length 1, expected 2"):
        released.load_high_infl_pairs(tmp_path / "p.npz")
    np.savez(tmp_path / "c.npz", labels=np.zeros(4, np.int64), scores=np.zeros(3))
    with pytest.raises(ReleasedFormatError, match="labels has length 4, expected 3"):
        released.load_cscores(tmp_path / "c.npz")
    np.save(tmp_path / "c.npy", np.zeros((2, 3)))
    with pytest.raises(ReleasedFormatError, match=r"scores must be 1-D, has shape \(2, 3\)"):
        released.load_cscores(tmp_path / "c.npy")


def test_writer_refuses_bad_data_and_keeps_existing_file(tmp_path):
    path = tmp_path / "p.npz"
    released.write_high_infl_pairs(path, [1], [2], [0.3], [0.5])
    before = path.read_bytes()
    with pytest.raises(ReleasedFormatError, match="tt_idx has length 2, expected 1"):
        released.write_high_infl_pairs(path, [1], [2, 3], [0.3], [0.5])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]  # no temp file left


def test_tfds_order_remapping():
    ids = [b"train_2", b"train_0", b"train_3", b"train_1"]
    orig_of_tfds, tfds_of_orig = released.tfds_order(ids)
    np.testing.assert_array_equal(orig_of_tfds, [2, 0, 3, 1])
    np.testing.assert_array_equal(tfds_of_orig, [1, 3, 0, 2])
    values_tfds = np.array([20, 0, 30, 10])       # value = 10 * original id
    np.testing.assert_array_equal(released.to_original_order(values_tfds, ids), [0, 10, 20, 30])
    np.testing.assert_array_equal(released.to_tfds_order([0, 10, 20, 30], ids), values_tfds)
    with pytest.raises(ValueError, match="not a permutation"):
        released.tfds_order([b"train_0", b"train_0"])
    with pytest.raises(ValueError, match="train_16399"):
        released.tfds_order([b"oops"])
