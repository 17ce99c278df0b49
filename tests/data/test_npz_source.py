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
