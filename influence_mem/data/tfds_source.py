"""MNIST, CIFAR-10 and CIFAR-100 from TFDS, held in memory in the original example order.

One provider per source, importing only the data/ leaves (and the numpy-only
influence_mem.released for the TFDS id parsing); tensorflow_datasets is
imported when a dataset is loaded.  CIFAR is put back in the original order
with the TFDS `id` feature; TFDS MNIST has no id and stays in TFDS order.
"""
from typing import Optional

import numpy as np

from influence_mem.data.base import Dataset, DatasetError
from influence_mem.released import tfds_order


def original_index_from_id(tfds_ids) -> np.ndarray:
    """CIFAR's TFDS `id` feature (b'train_16399') -> original-order index (16399).

    The parsing lives in influence_mem.released (numpy-only, shared with the
    order-remapping helpers); here a bad id becomes a DatasetError.
    """
    try:
        return tfds_order(tfds_ids)[0]
    except ValueError as e:
        raise DatasetError(f"cannot recover the original order: {e}") from None


def _tfds_arrays(name: str, split: str, data_dir: Optional[str], use_id: bool):
    import tensorflow_datasets as tfds

    try:
        ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False)
        batches = list(ds.batch(8192).as_numpy_iterator())
    except Exception as e:
        raise DatasetError(f"TFDS dataset {name!r} split {split!r} could not be loaded "
                           f"(is it downloaded and prepared in --data_dir?): {e}") from None
    data = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    images, labels = data["image"], data["label"].astype(np.int64)
    if use_id:
        order = np.argsort(original_index_from_id(data["id"]))
        images, labels = images[order], labels[order]
    return images, labels


def _tfds_in_memory(name, num_classes, crop_padding, flip, use_id, data_dir):
    x_train, y_train = _tfds_arrays(name, "train", data_dir, use_id)
    x_test, y_test = _tfds_arrays(name, "test", data_dir, use_id)
    note = "original order (from the TFDS id feature)" if use_id else "TFDS order (MNIST in TFDS has no id)"
    return Dataset(name=name, num_classes=num_classes, image_shape=tuple(x_train.shape[1:]),
                   train_labels=y_train, test_labels=y_test, default_crop_padding=crop_padding,
                   default_flip=flip, x_train=x_train, x_test=x_test, index_note=note)


def load_mnist(data_dir=None) -> Dataset:
    return _tfds_in_memory("mnist", 10, 0, False, use_id=False, data_dir=data_dir)


def load_cifar10(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar10", 10, 4, True, use_id=True, data_dir=data_dir)


def load_cifar100(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar100", 100, 4, True, use_id=True, data_dir=data_dir)
