"""ImageNet (TFDS imagenet2012), streamed: too large to hold in memory.

Example order: the released `imagenet_index.npz` lists training file names in
the authors' order.  With `index_file` we use it; without, the order is the
sorted TFDS `file_name`s (deterministic, but not the authors' order).  Images
are resized (shorter side 256) and center-cropped to 224x224 for both
splits; training augmentation (padded random crop, flip) is added by the
pipeline like for every dataset.
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.datasets import Dataset, DatasetError

IMAGE_SIZE = 224
RESIZE_SHORTER = 256


def center_crop(image: tf.Tensor) -> tf.Tensor:
    """Resize the shorter side to 256 and take the central 224x224, as float32 in [0, 1]."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = RESIZE_SHORTER / tf.reduce_min(shape)
    new_size = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, new_size, antialias=True)
    return tf.image.resize_with_crop_or_pad(image, IMAGE_SIZE, IMAGE_SIZE)


def _scan(name, split, data_dir):
    """Labels and file names in TFDS order without decoding images."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, decoders={"image": tfds.decode.SkipDecoding()})
    labels, files = [], []
    for ex in ds.map(lambda ex: {"label": ex["label"], "file_name": ex["file_name"]}).batch(4096).as_numpy_iterator():
        labels.append(ex["label"])
        files.append(ex["file_name"])
    return np.concatenate(labels).astype(np.int64), np.concatenate(files)


def _order(files: np.ndarray, index_file: Optional[str]) -> np.ndarray:
    """position -> original index for each TFDS-order example."""
    if index_file is None:
        return np.argsort(np.argsort(files, kind="stable"), kind="stable").astype(np.int64)
    with tf.io.gfile.GFile(index_file, "rb") as f:
        released = np.load(f)["tr_filenames"]
    lookup = {os.path.basename(bytes(name)): k for k, name in enumerate(released)}
    try:
        return np.array([lookup[os.path.basename(bytes(name))] for name in files], np.int64)
    except KeyError as e:
        raise DatasetError(f"{index_file}: training file {e.args[0]!r} is not listed in tr_filenames") from None


def load(data_dir: Optional[str] = None, name: str = "imagenet2012", index_file: Optional[str] = None) -> Dataset:
    index_file = index_file or os.environ.get("INFLUENCE_MEM_IMAGENET_INDEX")
    try:
        train_labels, train_files = _scan(name, "train", data_dir)
        test_labels, _ = _scan(name, "validation", data_dir)
    except Exception as e:
        raise DatasetError(f"TFDS {name!r} could not be read (download and prepare it into --data_dir "
                           f"manually): {e}") from None
    train_order = _order(train_files, index_file)
    labels_by_index = np.empty_like(train_labels)
    labels_by_index[train_order] = train_labels
    files_by_index = np.empty_like(train_files)
    files_by_index[train_order] = train_files
    order_table = tf.constant(train_order)

    def stream(split):
        import tensorflow_datasets as tfds

        tfds_split = "train" if split == "train" else "validation"
        ds = tfds.load(name, split=tfds_split, data_dir=data_dir, shuffle_files=False)
        ds = ds.enumerate()

        def convert(position, ex):
            index = tf.gather(order_table, position) if split == "train" else position
            return {"image": center_crop(ex["image"]), "label": ex["label"], "index": index}

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    note = f"order of {index_file}" if index_file else "sorted TFDS file names (no imagenet_index.npz given)"
    return Dataset(name=name, num_classes=1000, image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                   train_labels=labels_by_index, test_labels=test_labels, default_crop_padding=32,
                   default_flip=True, train_filenames=files_by_index.astype(bytes), index_note=note,
                   stream=stream)
