"""MNIST, CIFAR-10, CIFAR-100 and any TFDS image-classification dataset (`tfds:NAME`), held in memory.

One provider per source, importing only the data/ leaves (and the numpy-only
influence_mem.released for the TFDS id parsing); tensorflow_datasets is
imported when a dataset is loaded.  CIFAR is put back in the original order
with the TFDS `id` feature; TFDS MNIST has no id and stays in TFDS order.
Loading never downloads: an unprepared dataset is a DatasetError saying the
`tfds build NAME --data_dir=D` command; prepare() (the launchers, once) prepares it.
"""
import os
import re
from typing import Optional

import numpy as np
from absl import logging

from influence_mem.data.base import Dataset, DatasetError, validate_arrays, with_channel
from influence_mem.formats.released import tfds_order


def original_index_from_id(tfds_ids) -> np.ndarray:
    """CIFAR's TFDS `id` feature (b'train_16399') -> original-order index (16399).

    The parsing lives in influence_mem.released (numpy-only, shared with the
    order-remapping helpers); here a bad id becomes a DatasetError.
    """
    try:
        return tfds_order(tfds_ids)[0]
    except ValueError as e:
        raise DatasetError(f"cannot recover the original order: {e}") from None


def tfds_data_dir(data_dir: Optional[str] = None) -> str:
    """Where TFDS keeps prepared datasets: --data_dir, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def build_command(spec: str, data_dir: Optional[str] = None) -> str:
    """The one command that prepares TFDS dataset `spec` where the trainer looks for it."""
    return f"tfds build {spec} --data_dir={tfds_data_dir(data_dir)}"


def _load_error(spec: str, split: str, data_dir: Optional[str], error: Exception) -> DatasetError:
    """One line saying what went wrong: a missing Python package, an unprepared dataset, or else TFDS's error."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, ImportError):
        return DatasetError(f"TFDS dataset {spec!r}: a Python package is missing ({type(error).__name__}: {first}); "
                            f"install it (this is not a download problem)")
    text = str(error)
    if isinstance(error, (AssertionError, FileNotFoundError)) or "could not find data" in text \
            or "download_and_prepare" in text:
        return DatasetError(f"TFDS dataset {spec!r} is not prepared in {tfds_data_dir(data_dir)}; prepare it once "
                            f"with: {build_command(spec, data_dir)}")
    return DatasetError(f"TFDS dataset {spec!r} split {split!r} could not be loaded: {type(error).__name__}: {first}")


def _tfds_arrays(name: str, split: str, data_dir: Optional[str], use_id: bool, keys=("image", "label")):
    """(images, labels, TFDS ids or None) of a prepared TFDS split (never downloads: see prepare())."""
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False, download=False)
        batches = list(ds.batch(8192).as_numpy_iterator())
    except Exception as e:
        raise _load_error(name, split, data_dir, e) from None
    if not batches:
        raise DatasetError(f"TFDS dataset {name!r}: the {split} split is empty")
    image_key, label_key = keys
    try:
        data = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    except ValueError as e:
        raise DatasetError(f"TFDS dataset {name!r}: {split} images of different sizes cannot be stacked ({e}); "
                           f"resize them into an npz: dataset (docs/own_data.md)") from None
    images, labels = data[image_key], data[label_key].astype(np.int64)
    ids = data.get("id")
    if use_id:
        order = np.argsort(original_index_from_id(ids))
        images, labels, ids = images[order], labels[order], ids[order]
    return images, labels, ids


def _tfds_in_memory(name, num_classes, crop_padding, flip, use_id, data_dir):
    x_train, y_train, _ = _tfds_arrays(name, "train", data_dir, use_id)
    x_test, y_test, _ = _tfds_arrays(name, "test", data_dir, use_id)
    note = "original order (from the TFDS id feature)" if use_id else "TFDS order (MNIST in TFDS has no id)"
    return Dataset(name=name, num_classes=num_classes, image_shape=tuple(x_train.shape[1:]),
                   train_labels=y_train, test_labels=y_test, default_crop_padding=crop_padding,
                   default_flip=flip, x_train=x_train, x_test=x_test, index_note=note)


def safe_name(spec: str) -> str:
    """A file-name safe dataset name for tfds:`spec` (letters, digits, '_', '-', '.'):
    'cifar10_corrupted/brightness_1:3.0.0' -> 'cifar10_corrupted_brightness_1_3.0.0'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec).strip("_.")
    return name or "tfds"


def _builder(spec: str, data_dir: Optional[str]):
    try:
        import tensorflow_datasets as tfds

        return tfds.builder(spec, data_dir=data_dir)
    except ImportError as e:
        raise _load_error(spec, "train", data_dir, e) from None
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetError(f"tfds:{spec}: {first} (expected tfds:NAME[/CONFIG][:VERSION] of a TFDS dataset, "
                           f"e.g. tfds:fashion_mnist)") from None


def load_any(spec: str, data_dir: Optional[str] = None) -> Dataset:
    """Any TFDS image-classification dataset, `spec` = NAME[/CONFIG][:VERSION] (the `tfds:` name's rest).

    The image and label features are the dataset's supervised keys (else `image`, `label`).  Training
    examples get `index` = the number in their TFDS `id` (b'train_16399' -> 16399) when the dataset has
    an `id` feature of that form, else their TFDS position; dataset_meta.npz records which
    (`index_source`) and, with an `id` feature, every id (`tr_filenames`).  Needs splits `train`, `test`.
    """
    import tensorflow_datasets as tfds

    if not spec:
        raise DatasetError("dataset 'tfds:' needs a TFDS name, e.g. tfds:fashion_mnist")
    info = _builder(spec, data_dir).info
    keys = info.supervised_keys if isinstance(info.supervised_keys, tuple) and len(info.supervised_keys) == 2 \
        and all(isinstance(k, str) for k in info.supervised_keys) else ("image", "label")
    image_key, label_key = keys
    features = info.features
    if image_key not in features or not isinstance(features[image_key], tfds.features.Image) \
            or label_key not in features or not isinstance(features[label_key], tfds.features.ClassLabel):
        raise DatasetError(f"tfds:{spec} is not an image classification dataset (no Image feature "
                           f"{image_key!r} with a ClassLabel {label_key!r}; features: {', '.join(features)})")
    num_classes = features[label_key].num_classes
    x_train, y_train, ids = _tfds_arrays(spec, "train", data_dir, False, keys)
    x_test, y_test, _ = _tfds_arrays(spec, "test", data_dir, False, keys)
    source, note = "tfds_position", f"TFDS position in tfds:{spec} (no id feature)"
    if ids is not None:
        try:
            order = np.argsort(tfds_order(ids)[0])
            x_train, y_train, ids = x_train[order], y_train[order], ids[order]
            source, note = "tfds_id", f"the number in each example's TFDS id (tfds:{spec})"
        except ValueError:
            note = f"TFDS position in tfds:{spec} (its ids are not <split>_<n>)"
    x_train, x_test = with_channel(x_train), with_channel(x_test)
    validate_arrays(f"tfds:{spec}", y_train, y_test, x_train, x_test, num_classes=num_classes)
    filenames = None if ids is None else np.array([i.decode() if isinstance(i, bytes) else str(i) for i in ids])
    return Dataset(name=safe_name(spec), num_classes=num_classes, image_shape=tuple(x_train.shape[1:]),
                   train_labels=y_train, test_labels=y_test, default_crop_padding=0, default_flip=False,
                   train_filenames=filenames, x_train=x_train, x_test=x_test, index_note=note, index_source=source)


def prepare(spec: str, data_dir: Optional[str] = None) -> None:
    """Download and prepare TFDS dataset `spec` once (the launchers call this before starting workers);
    a prepared dataset is left as it is.  Raises DatasetError with the `tfds build` command on failure."""
    builder = _builder(spec, data_dir)
    try:
        if not builder.is_prepared():
            logging.info("preparing TFDS dataset %s in %s (once, before the workers start)", spec,
                         tfds_data_dir(data_dir))
            builder.download_and_prepare()
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, ImportError):
            raise _load_error(spec, "train", data_dir, e) from None
        raise DatasetError(f"TFDS dataset {spec!r} could not be prepared ({type(e).__name__}: {first}); try: "
                           f"{build_command(spec, data_dir)}") from None


def load_mnist(data_dir=None) -> Dataset:
    return _tfds_in_memory("mnist", 10, 0, False, use_id=False, data_dir=data_dir)


def load_cifar10(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar10", 10, 4, True, use_id=True, data_dir=data_dir)


def load_cifar100(data_dir=None) -> Dataset:
    return _tfds_in_memory("cifar100", 100, 4, True, use_id=True, data_dir=data_dir)


def original_index_by_position(name: str, split: str, data_dir: Optional[str] = None) -> np.ndarray:
    """The original index (from the `id` feature) of each example of a prepared TFDS split, in TFDS order.

    The authors' trainer indexed CIFAR by this position (their libdata/tfds.py loads the split in TFDS
    order, libdata/numpy.py numbers it 0..n-1), so their released runs' ids are positions; loaders here
    put examples in the original order instead.  Reads only the ids (images are not decoded).
    """
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False, download=False,
                       decoders={"image": tfds.decode.SkipDecoding()})
        ids = [b["id"] for b in ds.map(lambda ex: {"id": ex["id"]}).batch(8192).as_numpy_iterator()]
    except Exception as e:
        raise _load_error(name, split, data_dir, e) from None
    if not ids:
        raise DatasetError(f"TFDS dataset {name!r}: the {split} split is empty")
    return original_index_from_id(np.concatenate(ids))
