"""Indexed TFRecords (`--dataset=tfrecord:DIR`): encoded images that carry their own index and file name.

Written by `python -m influence_mem.data.build_tfrecords`.  DIR holds
  train-00000-of-00016.tfrecord ...  records in increasing `index`
  test-00000-of-00002.tfrecord ...
  meta.npz  tr_labels, tt_labels, tr_filenames, tt_filenames, class_names, image_size
Each record is a tf.train.Example with `image` (encoded JPEG/PNG bytes),
`label`, `index` (int64) and `filename` (bytes).  meta.npz lets the trainer
know every label without reading the images.  Images are decoded and
preprocessed like ImageNet at `image_size` (data.imagenet_ops: the authors'
centre crop for evaluation; the training pipeline crops the encoded image
with their random crop, or pads and crops the centre crop, per
--imagenet_augment).

One provider per source: this module is the reader and the record format
(build_tfrecords writes with encode_example, shard_name and META_FILE); it
imports only the data/ leaves.
"""
import os

import numpy as np
import tensorflow as tf

from influence_mem.data.base import Dataset, DatasetError, validate_arrays
from influence_mem.data.imagenet_ops import IMAGE_SIZE, MEAN, STD, EncodedImages
from influence_mem.data.npzio import read_npz
from influence_mem.formats.npz import NpzError

META_FILE = "meta.npz"
SPLITS = ("train", "test")
FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "index": tf.io.FixedLenFeature([], tf.int64),
    "filename": tf.io.FixedLenFeature([], tf.string),
}


def shard_name(split: str, shard: int, num_shards: int) -> str:
    return f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def encode_example(image_bytes: bytes, label: int, index: int, filename: bytes) -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(index)])),
        "filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[filename])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict:
    """A serialized record -> {image (encoded bytes), label, index, filename}."""
    return tf.io.parse_single_example(serialized, FEATURES)


def split_files(directory: str, split: str) -> list:
    return sorted(tf.io.gfile.glob(os.path.join(directory, f"{split}-*-of-*.tfrecord")))


def load(directory: str) -> Dataset:
    """The Dataset of a directory written by build_tfrecords (labels from meta.npz; images streamed)."""
    meta_path = os.path.join(directory, META_FILE)
    if not tf.io.gfile.exists(meta_path):
        raise DatasetError(f"{meta_path}: not found; build the directory with "
                           f"python -m influence_mem.data.build_tfrecords")
    try:
        meta = read_npz(meta_path)
    except NpzError as e:
        raise DatasetError(str(e)) from None
    missing = [k for k in ("tr_labels", "tt_labels", "tr_filenames", "class_names", "image_size") if k not in meta]
    if missing:
        raise DatasetError(f"{meta_path}: missing keys {missing}")
    files = {split: split_files(directory, split) for split in SPLITS}
    for split, paths in files.items():
        if not paths:
            raise DatasetError(f"{directory}: no {split}-*-of-*.tfrecord files")
    validate_arrays(meta_path, meta["tr_labels"], meta["tt_labels"], num_classes=len(meta["class_names"]))
    size = int(meta["image_size"])

    def records(split):
        ds = tf.data.TFRecordDataset(files[split], num_parallel_reads=None)  # sequential: records stay in index order

        def parse(serialized):
            ex = parse_example(serialized)
            return {"image": ex["image"], "label": ex["label"], "index": ex["index"]}

        return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    stream = EncodedImages(records, size)

    return Dataset(name=f"tfrecord:{directory}", num_classes=len(meta["class_names"]), image_shape=(size, size, 3),
                   train_labels=meta["tr_labels"].astype(np.int64), test_labels=meta["tt_labels"].astype(np.int64),
                   default_crop_padding=32 * size // IMAGE_SIZE, default_flip=True,
                   train_filenames=meta["tr_filenames"].astype(bytes),
                   index_note=str(meta.get("index_note", "index feature of the records")),
                   input_mean=MEAN, input_std=STD, stream=stream)
