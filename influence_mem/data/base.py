"""The Dataset type, DatasetError and the preprocessing every provider shares.

A leaf of data/: each provider module (digits, tfds_source, npz_source,
imagenet, tfrecord) builds a Dataset from here, and the registry
(data.datasets) sits on top of them, so no provider imports another or the
registry.

Every dataset yields {image, label, index} in a fixed order.  `index` is the
original-order example id (docs/formats.md, "Example order"): the position in
the authors' released files.  Images are float32 in [0, 1]; any per-channel
normalization belongs to the model (so a SavedModel takes the same images the
pipeline makes).  Small datasets are held in memory as numpy arrays sorted by
index; ImageNet streams.

TensorFlow is imported only when a tf.data pipeline is made (Dataset.source),
so digits and npz datasets load, and their images can be shown, without it.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Dict, Optional

import numpy as np

if TYPE_CHECKING:  # annotations only: TensorFlow is imported when a pipeline is made
    import tensorflow as tf


class DatasetError(ValueError):
    """A dataset name or file that cannot be loaded; the message says why."""


@dataclasses.dataclass
class Dataset:
    name: str
    num_classes: int
    image_shape: tuple
    train_labels: np.ndarray          # [n] int64, position = original index
    test_labels: np.ndarray           # [n_test] int64
    default_crop_padding: int         # paper: 4 for CIFAR, 32 for ImageNet, 0 for digits/MNIST
    default_flip: bool
    train_filenames: Optional[np.ndarray] = None
    index_note: str = "original order"
    # Per-channel mean/std the model normalizes [0, 1] images with (None: no normalization).
    input_mean: Optional[tuple] = None
    input_std: Optional[tuple] = None
    # Either in-memory arrays (sorted by index) or a streaming source factory.
    x_train: Optional[np.ndarray] = None
    x_test: Optional[np.ndarray] = None
    stream: Optional[Callable[[str], tf.data.Dataset]] = None
    # Training ids whose label data.corrupt replaced (None: labels as published).
    corrupted_idx: Optional[np.ndarray] = None
    # How `index` was assigned, recorded in dataset_meta.npz when set (tfds:NAME: "tfds_id" or "tfds_position").
    index_source: Optional[str] = None
    # A part of a larger dataset (data.balanced): each example's id in the whole one, in dataset_meta.npz.
    train_original_idx: Optional[np.ndarray] = None
    test_original_idx: Optional[np.ndarray] = None

    @property
    def vectors(self) -> bool:
        """Examples are feature vectors [d] (an npz feature matrix, last-layer features), not images: only
        models taking vectors (mlp, linear) train on them, and there are no pictures to show."""
        return len(self.image_shape) == 1

    @property
    def num_train(self) -> int:
        return len(self.train_labels)

    @property
    def num_test(self) -> int:
        return len(self.test_labels)

    def source(self, split: str, ids: Optional[np.ndarray] = None) -> tf.data.Dataset:
        """Unbatched {image, label, index} for `split`, ids in increasing order.

        `ids` (train only) restricts to those original-order ids.
        """
        import tensorflow as tf

        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if self.stream is not None:
            ds = self.stream(split)
            if ids is not None:
                mask = np.zeros(self.num_train, bool)
                mask[ids] = True
                keep = tf.constant(mask)
                ds = ds.filter(lambda ex: tf.gather(keep, ex["index"]))
            # A known length lets Keras count exactly ceil(m / batch) steps per epoch (with an unknown
            # one it takes an extra optimizer step per epoch and the lr schedule drifts).
            count = len(np.unique(ids)) if ids is not None else (self.num_train if split == "train" else self.num_test)
            return ds.apply(tf.data.experimental.assert_cardinality(count))
        x, y = (self.x_train, self.train_labels) if split == "train" else (self.x_test, self.test_labels)
        index = np.arange(len(y), dtype=np.int64)
        if ids is not None:
            x, y, index = x[ids], y[ids], index[ids]
        ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": y, "index": index})
        return ds.map(to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)

    def meta(self) -> Dict[str, np.ndarray]:
        """What the aggregator needs and aux_arrays.npz lacks (dataset_meta.npz)."""
        meta = {"tr_labels": self.train_labels, "tt_labels": self.test_labels, "dataset": np.array(self.name),
                "example_order": np.array(self.index_note)}
        if self.train_filenames is not None:
            meta["tr_filenames"] = self.train_filenames
        if self.corrupted_idx is not None:
            meta["corrupted_idx"] = self.corrupted_idx
        if self.index_source is not None:
            meta["index_source"] = np.array(self.index_source)
        if self.train_original_idx is not None:
            meta["tr_original_idx"] = self.train_original_idx
        if self.test_original_idx is not None:
            meta["tt_original_idx"] = self.test_original_idx
        return meta


def to_unit_float(ex):
    """{image, label, index} with the image as float32, uint8 images scaled to [0, 1]."""
    import tensorflow as tf

    image = ex["image"]
    if image.dtype == tf.uint8:
        image = tf.cast(image, tf.float32) / 255.0
    return {"image": tf.cast(image, tf.float32), "label": ex["label"], "index": ex["index"]}


MAX_CLASSES = 100_000  # far above any labelled image set (ImageNet-21k: 21,841); a larger label is corrupt


def validate_arrays(source: str, train_labels, test_labels, x_train=None, x_test=None,
                    num_classes: Optional[int] = None) -> int:
    """Check a dataset's arrays when it is loaded; its number of classes (`num_classes`, or the largest
    label + 1).  Raises DatasetError, one line naming `source` (the file) and the observed value, unless:
    both splits are non-empty; labels are 1-D integers in [0, num_classes) with at least 2 classes among
    the training labels; images (when given, e.g. not for streamed data) have one entry per label, rank 3
    per example ([n, h, w, c]: add a missing channel with with_channel first) and are uint8, or finite
    floats in [0, 1].  Cheap enough for every provider holding its arrays in memory."""
    for split, labels in (("train", train_labels), ("test", test_labels)):
        y = np.asarray(labels)
        if y.ndim != 1:
            raise DatasetError(f"{source}: {split} labels must be 1-D, got shape {y.shape}")
        if not len(y):
            raise DatasetError(f"{source}: the {split} split is empty")
        if y.dtype.kind not in "iu":
            raise DatasetError(f"{source}: {split} labels must be integers, got {y.dtype} (e.g. {y[0]!r})")
        low, high = int(y.min()), int(y.max())
        limit = MAX_CLASSES if num_classes is None else int(num_classes)
        if low < 0 or high >= limit:
            raise DatasetError(f"{source}: {split} label {low if low < 0 else high} is outside [0, {limit})"
                               f"{' (more classes than any dataset: corrupt?)' if num_classes is None else ''}")
    num_classes = int(num_classes) if num_classes is not None else \
        int(max(np.max(train_labels), np.max(test_labels))) + 1
    present = np.unique(np.asarray(train_labels)).size
    if num_classes < 2 or present < 2:
        raise DatasetError(f"{source}: needs at least 2 classes, the training labels hold {present}")
    for split, x, labels in (("train", x_train, train_labels), ("test", x_test, test_labels)):
        if x is None:
            continue
        x = np.asarray(x)
        if x.ndim != 4:
            raise DatasetError(f"{source}: {split} images must be [n, height, width] or [n, height, width, "
                               f"channels], got shape {x.shape}")
        if len(x) != len(labels):
            raise DatasetError(f"{source}: {len(x)} {split} images but {len(labels)} labels")
        if x.dtype == np.uint8:
            continue
        if x.dtype.kind != "f":
            raise DatasetError(f"{source}: {split} images must be uint8, or floats in [0, 1]; got {x.dtype}")
        if not np.isfinite(x).all():
            raise DatasetError(f"{source}: {split} images hold non-finite values "
                               f"({int(np.size(x) - np.isfinite(x).sum())} NaN/inf)")
        if x.min() < 0 or x.max() > 1:
            raise DatasetError(f"{source}: {split} images must be uint8, or floats in [0, 1]; got floats in "
                               f"[{float(x.min()):g}, {float(x.max()):g}] (divide 0-255 values by 255)")
    return num_classes


def validate_features(source: str, train_labels, test_labels, x_train, x_test) -> int:
    """Check feature matrices (tabular data, embeddings) and their labels when loaded; the number of classes.
    Raises DatasetError, one line naming `source`, unless: the labels pass validate_arrays; x_train and x_test
    are 2-D [n, d] with the same d >= 1 and one row per label; their values are real numbers that are finite as
    float32 (the dtype they train in).  Any scale is fine: features are used as given."""
    num_classes = validate_arrays(source, train_labels, test_labels)
    for split, x, labels in (("train", x_train, train_labels), ("test", x_test, test_labels)):
        x = np.asarray(x)
        if x.ndim != 2:
            raise DatasetError(f"{source}: {split} features must be a matrix [n, d] like the other split's, "
                               f"got shape {x.shape}")
        if len(x) != len(labels):
            raise DatasetError(f"{source}: {len(x)} {split} feature rows but {len(labels)} labels")
        if x.shape[1] < 1:
            raise DatasetError(f"{source}: {split} features have no columns (shape {x.shape})")
        if x.dtype.kind not in "iuf":
            raise DatasetError(f"{source}: {split} features must be numbers (ints or floats), got {x.dtype}")
        with np.errstate(over="ignore"):
            finite = np.isfinite(x.astype(np.float32))
        if not finite.all():
            raise DatasetError(f"{source}: {split} features hold {int(finite.size - finite.sum())} values that are "
                               f"NaN, infinite or beyond float32's range (e.g. row {int(np.argwhere(~finite)[0][0])})")
    if np.shape(x_train)[1] != np.shape(x_test)[1]:
        raise DatasetError(f"{source}: x_train has {np.shape(x_train)[1]} features per example, x_test "
                           f"{np.shape(x_test)[1]}")
    return num_classes


def with_channel(x: np.ndarray) -> np.ndarray:
    """[n, h, w] -> [n, h, w, 1]; images that already have a channel axis unchanged."""
    return x[..., None] if x.ndim == 3 else x
