"""data.npz_source: a user's npz file as a dataset, and its errors."""
import numpy as np
import pytest

from influence_mem.data import datasets
from influence_mem.data.base import DatasetError


def test_npz_dataset(tmp_path):
    path = tmp_path / "mine.npz"
    rng = np.random.RandomState(0)
    np.savez(path, x_train=rng.rand(20, 6, 6).astype(np.float32), y_train=np.arange(20) % 3,
             x_test=rng.rand(5, 6, 6).astype(np.float32), y_test=np.arange(5) % 3,
             filenames_train=np.array([f"img{i}.png" for i in range(20)]))
    ds = datasets.load(f"npz:{path}")
    assert ds.image_shape == (6, 6, 1) and ds.num_classes == 3 and ds.train_filenames[3] == b"img3.png"
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 4, 4)))
    with pytest.raises(DatasetError, match="missing keys"):
        datasets.load(f"npz:{tmp_path / 'bad.npz'}")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="junk.npz: not a readable"):
        datasets.load(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(DatasetError, match="not found"):
        datasets.load(f"npz:{tmp_path / 'nope.npz'}")


def _save(path, x_train, x_test, y_train=None, y_test=None):
    y_train = np.arange(len(x_train)) % 3 if y_train is None else y_train
    y_test = np.arange(len(x_test)) % 3 if y_test is None else y_test
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"npz:{path}"


def test_feature_matrices_load_as_float32_vectors_as_given(tmp_path):
    rng = np.random.RandomState(1)
    x_train, x_test = rng.normal(0, 300, (30, 7)), rng.normal(-5, 0.01, (9, 7))  # any scale, float64
    ds = datasets.load(_save(tmp_path / "tab.npz", x_train, x_test, y_test=np.arange(9).reshape(9, 1) % 3))
    assert ds.vectors and ds.image_shape == (7,) and ds.num_classes == 3 and ds.num_test == 9
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    np.testing.assert_array_equal(ds.x_train, x_train.astype(np.float32))  # not rescaled
    np.testing.assert_array_equal(ds.x_test, x_test.astype(np.float32))
    counts = np.array([[0, 255, 3], [7, 1, 2], [9, 9, 9], [4, 0, 0]], np.uint8)  # integer features: values kept
    ds = datasets.load(_save(tmp_path / "counts.npz", counts, counts[:2]))
    np.testing.assert_array_equal(ds.x_train, counts.astype(np.float32))
    images = datasets.load(_save(tmp_path / "img.npz", rng.rand(6, 4, 4), rng.rand(3, 4, 4)))
    assert not images.vectors and images.image_shape == (4, 4, 1)


@pytest.mark.parametrize("x_train,x_test,labels,message", [
    (np.array([[0.0, np.nan], [1, 2], [3, 4]]), np.ones((2, 2)), None, "train features hold 1 values that are NaN"),
    (np.ones((3, 2)), np.array([[np.inf, 0.0], [1, 1]]), None, "test features hold 1 values that are NaN, infinite"),
    (np.full((3, 2), 1e39), np.ones((2, 2)), None, "beyond float32's range"),
    (np.ones((3, 2)), np.ones((2, 5)), None, "x_train has 2 features per example, x_test 5"),
    (np.ones((3, 2)), np.ones((2, 2, 2)), None, r"test features must be a matrix \[n, d\].*\(2, 2, 2\)"),
    (np.ones((3, 0)), np.ones((2, 0)), None, "train features have no columns"),
    (np.array([["a", "b"]] * 3), np.ones((2, 2)), None, "train features must be numbers"),
    (np.ones((3, 2)), np.ones((2, 2)), (np.array([0, -1, 1]), np.array([0, 1])), "train label -1 is outside"),
    (np.ones((3, 2)), np.ones((2, 2)), (np.array([0.0, 1.0, 1.0]), np.array([0, 1])), "train labels must be integers"),
    (np.ones((3, 2)), np.ones((2, 2)), (np.array([0, 1, 1, 0]), np.array([0, 1])), "3 train feature rows but 4 labels"),
    (np.ones(3), np.ones(2), None, r"x_train must be images \[n, height, width\(, channels\)\] or a feature matrix"),
])
def test_feature_matrices_refused_with_one_line_naming_the_file(tmp_path, x_train, x_test, labels, message):
    y_train, y_test = labels if labels is not None else (None, None)
    name = _save(tmp_path / "bad.npz", x_train, x_test, y_train, y_test)
    with pytest.raises(DatasetError, match=message) as raised:
        datasets.load(name)
    assert str(raised.value).startswith(str(tmp_path / "bad.npz")) and "\n" not in str(raised.value)


def test_images_keep_the_image_checks(tmp_path):
    with pytest.raises(DatasetError, match=r"floats in \[0, 1\]"):
        datasets.load(_save(tmp_path / "img.npz", np.full((3, 4, 4), 2.0), np.ones((2, 4, 4))))
    with pytest.raises(DatasetError, match="x_train images"):
        datasets.load(_save(tmp_path / "img2.npz", np.ones((3, 4, 4)), np.ones((2, 5, 5))))
