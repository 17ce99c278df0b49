"""reevaluate.order: the authors' CIFAR runs number examples by TFDS position (their libdata/tfds.py +
libdata/numpy.py); mapped onto our original order through each example's TFDS id (mock TFDS here)."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from influence_mem.data import datasets
from influence_mem.data.tfds_source import original_index_by_position
from influence_mem.reevaluate import order

N_TRAIN, N_TEST = 12, 6
TRAIN_PERMUTATION = np.random.RandomState(0).permutation(N_TRAIN)  # TFDS position -> original index
TEST_PERMUTATION = np.random.RandomState(1).permutation(N_TEST)


def mock_cifar(self, split=None, decoders=None, **kwargs):
    """TFDS cifar10 as `tfds.load` yields it: examples in TFDS order, each with its id."""
    permutation = TRAIN_PERMUTATION if split == "train" else TEST_PERMUTATION

    def gen():
        for original in permutation:
            yield {"id": f"{split}_{original}".encode(), "label": int(original % 10),
                   "image": np.full((32, 32, 3), original, np.uint8)}
    return tf.data.Dataset.from_generator(gen, output_signature={
        "id": tf.TensorSpec((), tf.string), "label": tf.TensorSpec((), tf.int64),
        "image": tf.TensorSpec((32, 32, 3), tf.uint8)})


def test_tfds_positions_map_onto_the_original_order():
    with tfds.testing.mock_data(as_dataset_fn=mock_cifar):
        np.testing.assert_array_equal(original_index_by_position("cifar10", "train"), TRAIN_PERMUTATION)
        dataset = datasets.load("cifar10")
        assert order.choose("auto", dataset, authors_layout=True) == "tfds_position"
        assert order.choose("auto", dataset, authors_layout=False) == "dataset"
        found = order.example_order("tfds_position", dataset)
    assert "TFDS cifar10" in found.note
    # The authors' id k is TFDS position k: the example whose original index is TRAIN_PERMUTATION[k].
    np.testing.assert_array_equal(found.dataset_ids("train", np.arange(N_TRAIN)), TRAIN_PERMUTATION)
    np.testing.assert_array_equal(found.dataset_ids("test", [2]), [TEST_PERMUTATION[2]])
    labels_by_position = found.in_run_order("train", dataset.train_labels)
    np.testing.assert_array_equal(labels_by_position, TRAIN_PERMUTATION % 10)  # what their trainer saw at k


def test_the_dataset_order_is_the_identity_and_other_datasets_have_no_tfds_position(digits):
    same = order.example_order("dataset", digits)
    np.testing.assert_array_equal(same.in_run_order("train", digits.train_labels), digits.train_labels)
    np.testing.assert_array_equal(same.dataset_ids("test", [5, 1]), [5, 1])
    assert order.choose("auto", digits, authors_layout=True) == "dataset"
    with pytest.raises(order.OrderError, match="only for cifar10, cifar100.*not digits"):
        order.example_order("tfds_position", digits)
