"""A user's own arrays in one .npz file (`--dataset=npz:PATH`), held in memory: images, or feature matrices
(tabular data, embeddings) for the models that take vectors (mlp, linear).

One provider per source, importing only the data/ leaves.  The file is read through formats.npz (no
TensorFlow needed): a local path or an fsspec URL (gs:// with `pip install influence_mem[gcs]`).
"""
import numpy as np

from influence_mem.data.base import Dataset, DatasetError, validate_arrays, validate_features, with_channel
from influence_mem.formats import npz

MAX_BYTES = 64 * 1024 ** 3  # arrays held in memory; an npz declaring more is refused before it is read


def load_npz(path: str) -> Dataset:
    """A user's own arrays: x_train, y_train, x_test, y_test (+ optional filenames_train), validated.

    x_train of rank 3-4 holds images (base.validate_arrays: uint8 or [0, 1] floats); of rank 2, a feature
    matrix [n, d] (base.validate_features: any finite numbers, the same d in both splits), loaded as float32
    vectors as given (Dataset.vectors).  Labels are integers >= 0, both splits non-empty."""
    try:
        arrays = npz.read(path, max_bytes=MAX_BYTES)
    except npz.NpzNotFound:
        raise DatasetError(f"{path}: file not found") from None
    except npz.NpzTooLarge as e:
        raise DatasetError(f"{path}: refused: {e.detail}") from None
    except npz.NpzError as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e.detail})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing}; has {sorted(arrays)}")
    # [n, 1] label columns are common; anything else must already be 1-D
    y_train, y_test = (y.reshape(-1) if y.ndim == 2 and y.shape[1:] == (1,) else y
                       for y in (arrays["y_train"], arrays["y_test"]))
    if arrays["x_train"].ndim not in (2, 3, 4):
        raise DatasetError(f"{path}: x_train must be images [n, height, width(, channels)] or a feature matrix "
                           f"[n, d]; got shape {arrays['x_train'].shape}")
    if arrays["x_train"].ndim == 2:  # a feature matrix
        x_train, x_test = arrays["x_train"], arrays["x_test"]
        num_classes = validate_features(path, y_train, y_test, x_train, x_test)
    else:
        x_train, x_test = with_channel(arrays["x_train"]), with_channel(arrays["x_test"])
        num_classes = validate_arrays(path, y_train, y_test, x_train, x_test)
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DatasetError(f"{path}: x_train images {x_train.shape[1:]} differ from x_test {x_test.shape[1:]}")
    filenames = arrays.get("filenames_train")
    if filenames is not None and len(filenames) != len(y_train):
        raise DatasetError(f"{path}: filenames_train has {len(filenames)} entries, y_train {len(y_train)}")
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    if x_train.dtype != np.uint8 or x_train.ndim == 2:  # features train as float32, uint8 ones too (no /255)
        x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    return Dataset(
        name=f"npz:{path}", num_classes=num_classes,
        image_shape=tuple(x_train.shape[1:]), train_labels=y_train, test_labels=y_test,
        default_crop_padding=0, default_flip=False,
        train_filenames=None if filenames is None else filenames.astype(bytes),
        x_train=x_train, x_test=x_test, index_note="position in the npz arrays")

