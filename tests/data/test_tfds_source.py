"""data.tfds_source: original-order recovery from TFDS ids, CIFAR under tfds.testing.mock_data."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from influence_mem.data import datasets, pipeline
from influence_mem.data.base import DatasetError
from influence_mem.data.tfds_source import original_index_from_id


def test_original_index_from_tfds_id():
    np.testing.assert_array_equal(original_index_from_id([b"train_2", b"train_0", b"train_1"]), [2, 0, 1])
    with pytest.raises(DatasetError, match="look like"):
        original_index_from_id([b"weird"])
    with pytest.raises(DatasetError, match="permutation"):
        original_index_from_id([b"train_0", b"train_0"])


def test_cifar_from_mock_tfds_is_put_in_original_order():
    n = 12
    permutation = np.random.RandomState(0).permutation(n)  # TFDS order -> original index

    def as_dataset(self, *args, **kwargs):
        def gen():
            for original in permutation:
                yield {"id": f"train_{original}".encode(), "label": int(original % 10),
                       "image": np.full((32, 32, 3), original, np.uint8)}
        return tf.data.Dataset.from_generator(
            gen, output_signature={"id": tf.TensorSpec((), tf.string), "label": tf.TensorSpec((), tf.int64),
                                   "image": tf.TensorSpec((32, 32, 3), tf.uint8)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds = datasets.load("cifar10")
    assert ds.num_train == n and ds.default_crop_padding == 4 and ds.default_flip
    np.testing.assert_array_equal(ds.train_labels, np.arange(n) % 10)
    np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0], np.arange(n))
    batch = next(iter(pipeline.eval_pipeline(ds, "train", n)))
    np.testing.assert_array_equal(batch["index"].numpy(), np.arange(n))
    np.testing.assert_allclose(batch["image"].numpy()[:, 0, 0, 0], np.arange(n) / 255.0, rtol=1e-6)
