"""The new points (--points): the test split of a dataset spec, checked against the runs' dataset.

Any dataset name the trainer takes works (its test split is used, through the same evaluation
pipeline as training's: pixel / 255 for uint8 images, the authors' centre crop for ImageNet-like
sources); an `npz:` file needs only `x_test` and `y_test`.  The points need labels, since influence
is measured on correctness, and the runs' image shape and label range.  PointsError: one line.
"""
import os
from typing import Optional

import numpy as np

from influence_mem.data import datasets, npz_source
from influence_mem.data.base import Dataset, DatasetError, validate_arrays, with_channel
from influence_mem.formats import npz


class PointsError(ValueError):
    """--points cannot be used (nothing is written)."""


def load_points(spec: str, trained_on: Dataset, data_dir: Optional[str] = None) -> Dataset:
    """A Dataset whose test split holds the points of `spec`, checked against `trained_on` (the runs' dataset).

    `npz:PATH` files holding only x_test and y_test are read here (their train split is then a copy of the
    test split, never used); every other spec through the dataset registry.
    """
    try:
        if spec.startswith("npz:"):
            points = _test_only_npz(spec[4:], trained_on.num_classes)
        else:
            points = datasets.load(spec, data_dir)
    except DatasetError as e:
        raise PointsError(f"--points={spec}: {e}") from None
    _check(spec, points, trained_on)
    return points


def _test_only_npz(path: str, num_classes: int) -> Dataset:
    try:
        arrays = npz.read(path, max_bytes=npz_source.MAX_BYTES)
    except npz.NpzError as e:
        raise DatasetError(e.problem) from None
    if "x_test" not in arrays:
        raise DatasetError(f"{path}: no x_test (the new points' images; has {', '.join(sorted(arrays)) or 'nothing'})")
    if "y_test" not in arrays:
        raise DatasetError(f"{path}: no y_test: the new points need labels (influence is measured on "
                           f"correctness); add y_test with each point's class")
    x = with_channel(arrays["x_test"])
    y = arrays["y_test"]
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1:] == (1,) else y
    _check_labelled(path, y)
    validate_arrays(path, y, y, x, x, num_classes=num_classes)
    x = x if x.dtype == np.uint8 else x.astype(np.float32)
    y = y.astype(np.int64)
    name = os.path.splitext(os.path.basename(path))[0]
    return Dataset(name=name, num_classes=num_classes, image_shape=tuple(x.shape[1:]), train_labels=y,
                   test_labels=y, default_crop_padding=0, default_flip=False, x_train=x, x_test=x,
                   index_note="position in the npz arrays")


def _check_labelled(source: str, labels) -> None:
    labels = np.asarray(labels)
    if labels.dtype.kind in "iuf" and labels.size and (labels < 0).any():
        raise DatasetError(f"{source}: {int((labels < 0).sum())} points have no label (negative); the new "
                           f"points need labels (influence is measured on correctness)")


def _check(spec: str, points: Dataset, trained_on: Dataset) -> None:
    if tuple(points.image_shape) != tuple(trained_on.image_shape):
        raise PointsError(f"--points={spec}: images of shape {tuple(points.image_shape)}, but the runs were "
                          f"trained on {tuple(trained_on.image_shape)} images ({trained_on.name})")
    try:
        _check_labelled(f"--points={spec}", points.test_labels)
    except DatasetError as e:
        raise PointsError(str(e)) from None
    high = int(np.max(points.test_labels))
    if high >= trained_on.num_classes:
        raise PointsError(f"--points={spec}: label {high} is not a class of {trained_on.name} "
                          f"({trained_on.num_classes} classes)")
