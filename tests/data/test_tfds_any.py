"""data.tfds_source.load_any: --dataset=tfds:NAME[/CONFIG][:VERSION] under tfds.testing.mock_data; the
one-line errors for an unprepared dataset and a missing package; datasets.prepare."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from influence_mem.data import datasets, tfds_source
from influence_mem.data.base import DatasetError


def _mock(examples, shape=(28, 28, 1), with_id=True):
    """as_dataset_fn yielding `examples` [(id or None, label, pixel)] in TFDS order."""
    def as_dataset(self, *args, **kwargs):
        def gen():
            for ident, label, pixel in examples:
                item = {"label": label, "image": np.full(shape, pixel, np.uint8)}
                if with_id:
                    item["id"] = ident.encode()
                yield item
        signature = {"label": tf.TensorSpec((), tf.int64), "image": tf.TensorSpec(shape, tf.uint8)}
        if with_id:
            signature["id"] = tf.TensorSpec((), tf.string)
        return tf.data.Dataset.from_generator(gen, output_signature=signature)
    return as_dataset


def test_any_tfds_dataset_without_id_keeps_the_tfds_position():
    examples = [(None, k % 10, k) for k in range(12)]
    with tfds.testing.mock_data(as_dataset_fn=_mock(examples, with_id=False)):
        ds = datasets.load("tfds:fashion_mnist")
    assert ds.name == "fashion_mnist" and ds.num_classes == 10 and ds.image_shape == (28, 28, 1)
    np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0], np.arange(12))  # position = index
    np.testing.assert_array_equal(ds.train_labels, np.arange(12) % 10)
    meta = ds.meta()
    assert str(meta["index_source"]) == "tfds_position" and "tr_filenames" not in meta
    assert (ds.default_crop_padding, ds.default_flip) == (0, False)


def test_any_tfds_dataset_with_id_is_indexed_by_its_id():
    permutation = np.random.RandomState(1).permutation(10)
    examples = [(f"train_{k}", int(k) % 10, int(k)) for k in permutation]
    with tfds.testing.mock_data(as_dataset_fn=_mock(examples, shape=(32, 32, 3))):
        ds = datasets.load("tfds:cifar10:3.0.2")
    assert ds.name == "cifar10_3.0.2" and ds.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0], np.arange(10))  # index = the number in the id
    meta = ds.meta()
    assert str(meta["index_source"]) == "tfds_id"
    assert list(meta["tr_filenames"][:2]) == ["train_0", "train_1"]


@pytest.mark.parametrize("spec, name", [("cifar10_corrupted/brightness_1:3.0.0", "cifar10_corrupted_brightness_1_3.0.0"),
                                        ("svhn_cropped", "svhn_cropped"), ("a b//c", "a_b_c")])
def test_names_are_file_name_safe(spec, name):
    assert tfds_source.safe_name(spec) == name


def test_bad_tfds_names_are_one_line_errors():
    with pytest.raises(DatasetError, match="needs a TFDS name"):
        datasets.check_name("tfds:")
    with pytest.raises(DatasetError, match="tfds:NAME") as e:
        datasets.load("tfds:no_such_dataset_xyz")
    assert "\n" not in str(e.value)
    assert "tfds:NAME[/CONFIG][:VERSION]" in datasets.names()


def test_not_an_image_classification_dataset(tmp_path):
    with pytest.raises(DatasetError, match="not an image classification dataset"):
        datasets.load("tfds:imdb_reviews", str(tmp_path))


def test_unprepared_dataset_says_the_tfds_build_command(tmp_path):
    with pytest.raises(DatasetError) as e:
        datasets.load("tfds:fashion_mnist", str(tmp_path))
    assert str(e.value).endswith(f"tfds build fashion_mnist --data_dir={tmp_path}") and "\n" not in str(e.value)
    with pytest.raises(DatasetError, match=f"tfds build cifar10 --data_dir={tmp_path}"):
        datasets.load("cifar10", str(tmp_path))  # the registered TFDS datasets say it too


def test_a_missing_package_is_reported_as_such(monkeypatch):
    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'")
    monkeypatch.setattr(tfds, "load", broken)
    with pytest.raises(DatasetError, match="a Python package is missing .*importlib_resources.*not a download"):
        datasets.load("tfds:fashion_mnist")


def test_prepare_prepares_tfds_datasets_once_and_nothing_else(monkeypatch):
    prepared = []
    monkeypatch.setattr(tfds_source, "prepare", lambda spec, data_dir=None: prepared.append((spec, data_dir)))
    for name in ("digits", "npz:/x.npz", "cifar100", "tfds:svhn_cropped"):
        datasets.prepare(name, "D")
    assert prepared == [("cifar100", "D"), ("svhn_cropped", "D")]


def test_prepare_with_mock_data_downloads_nothing(tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        tfds_source.prepare("fashion_mnist", str(tmp_path))  # download_and_prepare is mocked: no network
