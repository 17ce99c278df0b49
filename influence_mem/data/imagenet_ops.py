"""ImageNet-style input shared by more than one module: the paper's preprocessing and the example order.

A leaf of data/: the TFDS provider (data.imagenet) and the indexed TFRecords
provider (data.tfrecord) both decode to center_crop and normalize with
MEAN/STD; data.imagenet and data.build_tfrecords both order training files
with released_order.  Keeping them here lets neither provider import the
other.

Preprocessing (paper 000 appendix B): every image is resized (shorter side
256) and center-cropped to 224x224, as float32 in [0, 1].  Example order: the
released `imagenet_index.npz` lists training file names (`tr_filenames`) in
the authors' order; without it the order is the sorted file names
(deterministic, but not the authors').
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.base import DatasetError

IMAGE_SIZE = 224
RESIZE_SHORTER = 256
MEAN = (0.485, 0.456, 0.406)  # ImageNet per-channel mean / std of [0, 1] RGB
STD = (0.229, 0.224, 0.225)


def center_crop(image: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
    """uint8 [h, w, 3] -> float32 [size, size, 3] in [0, 1]: shorter side to size*256/224, central crop."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (size * RESIZE_SHORTER / IMAGE_SIZE) / tf.reduce_min(shape)
    new_size = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, new_size, antialias=True)
    return tf.clip_by_value(tf.image.resize_with_crop_or_pad(image, size, size), 0.0, 1.0)


def _basename(name) -> bytes:
    return os.path.basename(name if isinstance(name, bytes) else str(name).encode())


def released_order(filenames, index_file: Optional[str], labels: Optional[np.ndarray] = None) -> np.ndarray:
    """Original index of each of `filenames` (matched by base name).

    With `index_file` (an npz with `tr_filenames`, maybe `tr_labels`): the
    position in tr_filenames; every file must be listed and every listed
    file present, and `labels` must agree with tr_labels when both exist.
    Without: the rank in sorted base-name order.
    """
    names = [_basename(f) for f in filenames]
    if len(set(names)) != len(names):
        raise DatasetError("training file names are not unique; cannot index examples by file name")
    if index_file is None:
        return np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable").astype(np.int64)
    try:
        with tf.io.gfile.GFile(index_file, "rb") as f:
            released = dict(np.load(f, allow_pickle=False))
    except Exception as e:
        raise DatasetError(f"{index_file}: not a readable .npz index file ({e})") from None
    if "tr_filenames" not in released:
        raise DatasetError(f"{index_file}: has no 'tr_filenames' (keys: {sorted(released)})")
    lookup = {_basename(name): k for k, name in enumerate(released["tr_filenames"])}
    missing = [n for n in names if n not in lookup]
    if missing:
        raise DatasetError(f"{index_file}: training file {missing[0].decode()!r} is not listed in tr_filenames "
                           f"({len(missing)} files not listed)")
    order = np.array([lookup[n] for n in names], np.int64)
    if len(lookup) != len(names):
        absent = sorted(set(lookup) - set(names))
        raise DatasetError(f"{index_file}: lists {len(lookup)} training files but {len(names)} were found "
                           f"(e.g. {absent[0].decode()!r} is missing)")
    if labels is not None and "tr_labels" in released:
        wrong = np.flatnonzero(released["tr_labels"][order] != labels)
        if len(wrong):
            k = wrong[0]
            raise DatasetError(f"{index_file}: {len(wrong)} labels differ from tr_labels, e.g. {names[k].decode()!r} "
                               f"has label {labels[k]} but tr_labels says {released['tr_labels'][order[k]]} "
                               f"(are the class folders the 1,000 synsets, sorted?)")
    return order
