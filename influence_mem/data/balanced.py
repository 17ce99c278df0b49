"""A class-balanced part of a dataset held in memory: the first N examples of each class, in the original order.

Small documented runs on a real dataset (e.g. 500 per class of Fashion-MNIST's 60,000 -> 5,000) train
on this part as on any dataset: `index` is the position in the part, and `train_original_idx` /
`test_original_idx` (dataset_meta.npz `tr_original_idx`, `tt_original_idx`) map it back to the whole
dataset's original order.  A leaf of data/ beside base: no provider needed.
"""
import dataclasses

import numpy as np

from influence_mem.data.base import Dataset, DatasetError


def first_per_class_ids(labels, per_class: int, source: str = "--train_per_class") -> np.ndarray:
    """Sorted int64 positions of the first `per_class` examples of each class present in `labels`;
    DatasetError (naming `source`) when a present class has fewer."""
    labels = np.asarray(labels)
    chosen = []
    for c in np.unique(labels):
        ids = np.flatnonzero(labels == c)
        if len(ids) < per_class:
            raise DatasetError(f"{source}={per_class}: class {int(c)} has only {len(ids)} examples")
        chosen.append(ids[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def first_per_class(dataset: Dataset, train_per_class: int = 0, test_per_class: int = 0) -> Dataset:
    """`dataset` restricted to the first `train_per_class` training and `test_per_class` test examples of
    each class (0: the whole split), in the original order.  Select before corrupting labels
    (data.corrupt), so the corrupted ids are positions in the part."""
    if not train_per_class and not test_per_class:
        return dataset
    train_ids = first_per_class_ids(dataset.train_labels, train_per_class, "--train_per_class") \
        if train_per_class else None
    test_ids = first_per_class_ids(dataset.test_labels, test_per_class, "--test_per_class") if test_per_class else None
    notes = [f"the first {n} {split} examples of each class"
             for n, split in ((train_per_class, "training"), (test_per_class, "test")) if n]
    return take(dataset, train_ids, test_ids, f"position in {' and '.join(notes)}")


def take(dataset: Dataset, train_ids=None, test_ids=None, note: str = "position in a part") -> Dataset:
    """`dataset` restricted to the training ids `train_ids` and test ids `test_ids` (None: the whole split),
    recorded as train_original_idx / test_original_idx; `note` says how they were chosen."""
    if dataset.x_train is None:
        raise DatasetError(f"a part of {dataset.name} needs its images held in memory; it streams them")
    if dataset.corrupted_idx is not None:
        raise ValueError("select the class-balanced part before corrupting labels")
    changes = {"index_note": f"{note}; tr_original_idx / tt_original_idx map it to the whole dataset's index "
                             f"({dataset.index_note})"}
    if train_ids is not None:
        ids = np.asarray(train_ids, np.int64)
        changes.update(x_train=dataset.x_train[ids], train_labels=dataset.train_labels[ids], train_original_idx=ids)
        if dataset.train_filenames is not None:
            changes["train_filenames"] = dataset.train_filenames[ids]
    if test_ids is not None:
        ids = np.asarray(test_ids, np.int64)
        changes.update(x_test=dataset.x_test[ids], test_labels=dataset.test_labels[ids], test_original_idx=ids)
    return dataclasses.replace(dataset, **changes)
