"""Dataset registry: every dataset yields {image, label, index} in a fixed order.

`index` is the original-order example id (DESIGN.md, "Example order"): the
position in the authors' released files.  Images are float32 in [0, 1]; any
per-channel normalization belongs to the model (so a SavedModel takes the
same images the pipeline makes).

Small datasets (digits, MNIST, CIFAR, npz:PATH) are held in memory as numpy
arrays sorted by index; ImageNet streams from TFDS.
"""
import dataclasses
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

DIGITS_SPLIT_SEED = 0
DIGITS_NUM_TEST = 360  # 20% of 1,797


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
        return ds.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)

    def meta(self) -> Dict[str, np.ndarray]:
        """What the aggregator needs and aux_arrays.npz lacks (dataset_meta.npz)."""
        meta = {"tr_labels": self.train_labels, "tt_labels": self.test_labels, "dataset": np.array(self.name)}
        if self.train_filenames is not None:
            meta["tr_filenames"] = self.train_filenames
        if self.corrupted_idx is not None:
            meta["corrupted_idx"] = self.corrupted_idx
        return meta


def _to_unit_float(ex):
    image = ex["image"]
    if image.dtype == tf.uint8:
        image = tf.cast(image, tf.float32) / 255.0
    return {"image": tf.cast(image, tf.float32), "label": ex["label"], "index": ex["index"]}


def _with_channel(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 3 else x


# --------------------------------------------------------------------------- registry
_LOADERS: Dict[str, Callable[..., Dataset]] = {}


def register(name: str):
    def wrap(fn):
        _LOADERS[name] = fn
        return fn
    return wrap


def names() -> list:
    return sorted(_LOADERS) + ["npz:PATH", "tfrecord:DIR"]


def check_name(name: str) -> None:
    """Raise DatasetError unless `name` is a registered dataset, npz:PATH or tfrecord:DIR."""
    if name.startswith("npz:"):
        if not name[4:]:
            raise DatasetError("dataset 'npz:' needs a path, e.g. npz:/data/mine.npz")
        return
    if name.startswith("tfrecord:"):
        if not name[9:]:
            raise DatasetError("dataset 'tfrecord:' needs a directory made by build_tfrecords, e.g. tfrecord:/data/in")
        return
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(names())}")


def load(name: str, data_dir: Optional[str] = None) -> Dataset:
    """Load a dataset by registry name ('digits', 'cifar100', 'npz:/path/x.npz', ...)."""
    check_name(name)
    if name.startswith("npz:"):
        return load_npz(name[4:])
    if name.startswith("tfrecord:"):
        from influence_mem.data import tfrecord

        return tfrecord.load(name[9:])
    return _LOADERS[name](data_dir=data_dir)


@register("digits")
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


def load_npz(path: str) -> Dataset:
    """A user's own arrays: x_train, y_train, x_test, y_test (+ optional filenames_train)."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            arrays = dict(np.load(f, allow_pickle=False))
    except tf.errors.NotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError ...
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing}; has {sorted(arrays)}")
    x_train, x_test = _with_channel(arrays["x_train"]), _with_channel(arrays["x_test"])
    y_train = arrays["y_train"].astype(np.int64).reshape(-1)
    y_test = arrays["y_test"].astype(np.int64).reshape(-1)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetError(f"{path}: x/y length mismatch (x_train {len(x_train)}, y_train {len(y_train)}, "
                           f"x_test {len(x_test)}, y_test {len(y_test)})")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"{path}: x_train images {x_train.shape[1:]} differ from x_test {x_test.shape[1:]}")
    filenames = arrays.get("filenames_train")
    if filenames is not None and len(filenames) != len(y_train):
        raise DatasetError(f"{path}: filenames_train has {len(filenames)} entries, y_train {len(y_train)}")
    if x_train.dtype != np.uint8:
        x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    return Dataset(
        name=f"npz:{path}", num_classes=int(max(y_train.max(), y_test.max()) + 1),
        image_shape=tuple(x_train.shape[1:]), train_labels=y_train, test_labels=y_test,
        default_crop_padding=0, default_flip=False,
        train_filenames=None if filenames is None else filenames.astype(bytes),
        x_train=x_train, x_test=x_test, index_note="position in the npz arrays")


# --------------------------------------------------------------------------- TFDS
def original_index_from_id(tfds_ids) -> np.ndarray:
    """CIFAR's TFDS `id` feature (b'train_16399') -> original-order index (16399).

    The parsing lives in influence_mem.released (numpy-only, shared with the
    order-remapping helpers); here a bad id becomes a DatasetError.
    """
    from influence_mem.released import tfds_order

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


@register("mnist")
def load_mnist(data_dir=None) -> Dataset:
    return _tfds_in_memory("mnist", 10, 0, False, use_id=False, data_dir=data_dir)


@register("cifar10")
def load_cifar10(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar10", 10, 4, True, use_id=True, data_dir=data_dir)


@register("cifar100")
def load_cifar100(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar100", 100, 4, True, use_id=True, data_dir=data_dir)


@register("imagenet2012")
def load_imagenet(data_dir=None) -> Dataset:
    """ImageNet streams from TFDS; see influence_mem.data.imagenet for index and preprocessing."""
    from influence_mem.data import imagenet

    return imagenet.load(data_dir=data_dir)
