"""Datasets are validated when loaded (data.base.validate_arrays): each bad input is one DatasetError line
naming the file and the observed value (docs/reliability.md)."""
import io
import zipfile

import numpy as np
import pytest

from influence_mem.data import build_tfrecords, npz_source, tfrecord
from influence_mem.data.base import DatasetError, validate_arrays


def _arrays(**changes):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (12, 4, 4, 1), dtype=np.uint8), "y_train": np.arange(12) % 3,
              "x_test": rng.integers(0, 256, (6, 4, 4, 1), dtype=np.uint8), "y_test": np.arange(6) % 3}
    arrays.update(changes)
    return arrays


def _npz(tmp_path, **changes):
    path = tmp_path / "mine.npz"
    np.savez(path, **_arrays(**changes))
    return str(path)


BAD = {
    "NaN pixels": (dict(x_train=np.full((12, 4, 4, 1), np.nan, np.float32)), "non-finite"),
    "floats in [0, 255]": (dict(x_train=np.linspace(0, 255, 192, dtype=np.float32).reshape(12, 4, 4, 1),
                               x_test=np.full((6, 4, 4, 1), 0.5, np.float32)), r"floats in \[0, 255\]"),
    "float labels": (dict(y_train=np.arange(12) % 3 + 0.5), "labels must be integers, got float64"),
    "one class": (dict(y_train=np.zeros(12, np.int64), y_test=np.zeros(6, np.int64)), "at least 2 classes"),
    # [n, d] is a feature matrix (tests/data/test_npz_source.py); one value per example is neither
    "1-D x": (dict(x_train=np.zeros(12, np.uint8), x_test=np.zeros(6, np.uint8)),
              r"images \[n, height, width\(, channels\)\] or a feature matrix \[n, d\]; got shape \(12,\)"),
    "empty split": (dict(x_test=np.zeros((0, 4, 4, 1), np.uint8), y_test=np.zeros(0, np.int64)),
                    "the test split is empty"),
    "string images": (dict(x_train=np.full((12, 4, 4, 1), "a")), "images must be uint8"),
    "string labels": (dict(y_train=np.array(["cat"] * 12)), "labels must be integers, got <U3"),
    "negative label": (dict(y_train=np.array([-1] + [0, 1] * 5 + [2])), "train label -1 is outside"),
    "huge label": (dict(y_train=np.array([10 ** 12] + [0, 1] * 5 + [2])), "train label 1000000000000"),
    "int64 images": (dict(x_train=np.zeros((12, 4, 4, 1), np.int64)), "images must be uint8"),
    "count mismatch": (dict(y_train=np.arange(11) % 3), "12 train images but 11 labels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_npz_dataset_is_one_line_naming_the_file_and_the_value(tmp_path, case):
    changes, message = BAD[case]
    path = _npz(tmp_path, **changes)
    with pytest.raises(DatasetError, match=message) as e:
        npz_source.load_npz(path)
    assert str(e.value).startswith(path + ": ") and "\n" not in str(e.value)


def test_a_good_npz_dataset_loads_with_its_classes_and_a_channel_added(tmp_path):
    path = _npz(tmp_path, x_train=np.zeros((12, 4, 4), np.float32), x_test=np.ones((6, 4, 4), np.float32),
                y_train=(np.arange(12) % 3).reshape(-1, 1))
    dataset = npz_source.load_npz(path)
    assert dataset.num_classes == 3 and dataset.image_shape == (4, 4, 1)
    assert dataset.train_labels.dtype == np.int64 and dataset.train_labels.shape == (12,)


def test_an_npz_zip_bomb_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10 ** 6, 64, 64, 3)})  # 12 GB declared
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x_train.npy", header.getvalue() + bytes(4096))
    monkeypatch.setattr(npz_source, "MAX_BYTES", 10 ** 9)
    with pytest.raises(DatasetError, match="refused: .*bytes"):
        npz_source.load_npz(str(path))


def test_validate_arrays_takes_the_given_number_of_classes():
    assert validate_arrays("f", np.array([0, 1]), np.array([1]), num_classes=10) == 10
    with pytest.raises(DatasetError, match=r"f: test label 10 is outside \[0, 10\)"):
        validate_arrays("f", np.array([0, 1]), np.array([10]), num_classes=10)


def test_tfrecord_meta_labels_are_validated(tmp_path):
    for split in ("train", "test"):
        (tmp_path / tfrecord.shard_name(split, 0, 1)).write_bytes(b"")
    np.savez(tmp_path / tfrecord.META_FILE, tr_labels=np.array([0, 1, 5]), tt_labels=np.array([0, 1]),
             tr_filenames=np.array([b"a", b"b", b"c"]), class_names=np.array(["x", "y"]), image_size=np.array(8))
    with pytest.raises(DatasetError, match=r"meta.npz: train label 5 is outside \[0, 2\)"):
        tfrecord.load(str(tmp_path))


def test_build_tfrecords_names_the_first_file_that_is_not_an_image(tmp_path):
    import tensorflow as tf

    png = tf.io.encode_png(tf.zeros([4, 4, 3], tf.uint8)).numpy()
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "img" / split / cls).mkdir(parents=True)
            (tmp_path / "img" / split / cls / f"{cls}1.png").write_bytes(png)
    (tmp_path / "img" / "train" / "b" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match=r"train/b/notes.txt: not a decodable image"):
        build_tfrecords.build(str(tmp_path / "img"), str(tmp_path / "out"), image_size=4)
    assert not list((tmp_path / "out").glob("*.tmp"))
    assert not (tmp_path / "out" / tfrecord.META_FILE).exists()
