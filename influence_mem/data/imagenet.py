"""ImageNet: example order from file names, the paper's preprocessing, and TFDS `imagenet2012` streaming.

Example order: the released `imagenet_index.npz` lists training file names
(`tr_filenames`) in the authors' order.  With an index file we use it; without,
the order is the sorted file names (deterministic, but not the authors').
Test (validation) examples are in sorted file-name order.

Preprocessing (paper 000 appendix B): every image is resized (shorter side
256) and center-cropped to 224x224, as float32 in [0, 1]; the training
pipeline then adds the random 32-px padded crop and flip at 224x224 like for
every dataset.  The mean/std normalization is part of the model
(Dataset.input_mean/input_std), so a SavedModel takes [0, 1] images.

TFDS `imagenet2012` is streamed (the index comes from its `file_name`
feature); influence_mem.data.tfrecord reads our indexed TFRecords instead.
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.datasets import Dataset, DatasetError

IMAGE_SIZE = 224
RESIZE_SHORTER = 256
MEAN = (0.485, 0.456, 0.406)  # ImageNet per-channel mean / std of [0, 1] RGB
STD = (0.229, 0.224, 0.225)
INDEX_FILE_ENV = "INFLUENCE_MEM_IMAGENET_INDEX"


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


def _scan(name, split, data_dir):
    """Labels and file names in TFDS order without decoding images."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False,
                   decoders={"image": tfds.decode.SkipDecoding()})
    labels, files = [], []
    for ex in ds.map(lambda ex: {"label": ex["label"], "file_name": ex["file_name"]}).batch(4096).as_numpy_iterator():
        labels.append(ex["label"])
        files.append(ex["file_name"])
    return np.concatenate(labels).astype(np.int64), np.concatenate(files)


def load(data_dir: Optional[str] = None, name: str = "imagenet2012", index_file: Optional[str] = None) -> Dataset:
    """TFDS imagenet2012; `index_file` (or $INFLUENCE_MEM_IMAGENET_INDEX) gives the released order."""
    index_file = index_file or os.environ.get(INDEX_FILE_ENV)
    try:
        train_labels, train_files = _scan(name, "train", data_dir)
        test_labels, test_files = _scan(name, "validation", data_dir)
    except Exception as e:
        raise DatasetError(f"TFDS {name!r} could not be read (download and prepare it into --data_dir "
                           f"manually): {e}") from None
    train_order = released_order(train_files, index_file, train_labels)
    test_order = released_order(test_files, None)
    labels_by_index = np.empty_like(train_labels)
    labels_by_index[train_order] = train_labels
    test_labels_by_index = np.empty_like(test_labels)
    test_labels_by_index[test_order] = test_labels
    files_by_index = np.empty_like(train_files)
    files_by_index[train_order] = train_files
    order_tables = {"train": tf.constant(train_order), "test": tf.constant(test_order)}

    def stream(split):
        import tensorflow_datasets as tfds

        tfds_split = "train" if split == "train" else "validation"
        ds = tfds.load(name, split=tfds_split, data_dir=data_dir, shuffle_files=False).enumerate()
        table = order_tables[split]

        def convert(position, ex):
            return {"image": center_crop(ex["image"]), "label": ex["label"], "index": tf.gather(table, position)}

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    note = f"order of {index_file}" if index_file else "sorted TFDS file names (no imagenet_index.npz given)"
    return Dataset(name=name, num_classes=1000, image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                   train_labels=labels_by_index, test_labels=test_labels_by_index, default_crop_padding=32,
                   default_flip=True, train_filenames=files_by_index.astype(bytes), index_note=note,
                   input_mean=MEAN, input_std=STD, stream=stream)
