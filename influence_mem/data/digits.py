"""scikit-learn's bundled 8x8 digits (`--dataset=digits`): the small in-memory dataset the demo and tests train on.

One provider per source, importing only the data/ leaves; scikit-learn is
imported when the dataset is loaded.
"""
import numpy as np

from influence_mem.data.base import Dataset

DIGITS_SPLIT_SEED = 0
DIGITS_NUM_TEST = 360  # 20% of 1,797


def load_digits(data_dir=None) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split once into 1,437 train / 360 test.

    The split is numpy RandomState(0).permutation(1797): its first 360 entries
    (sorted) is the test set, the rest (sorted) the training set.  Pixel values
    0..16 are scaled to [0, 1].
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = (bunch.images / 16.0).astype(np.float32)[..., None]
    labels = bunch.target.astype(np.int64)
    order = np.random.RandomState(DIGITS_SPLIT_SEED).permutation(len(labels))
    test_ids, train_ids = np.sort(order[:DIGITS_NUM_TEST]), np.sort(order[DIGITS_NUM_TEST:])
    return Dataset(
        name="digits", num_classes=10, image_shape=(8, 8, 1),
        train_labels=labels[train_ids], test_labels=labels[test_ids],
        default_crop_padding=0, default_flip=False,
        x_train=images[train_ids], x_test=images[test_ids],
        index_note="position in the deterministic 80/20 split of sklearn digits")
