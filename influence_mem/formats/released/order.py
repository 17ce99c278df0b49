"""Which example order a released file is in, and the mapping between TFDS order and the original one.

The released files (ours and the authors') index examples in the original dataset order; TFDS serves them
in its own, and names each by an `id` such as b'train_16399' (its original position).
"""
from pathlib import Path
from typing import Tuple

import numpy as np

from influence_mem.formats.released.names import INDEX_KEYS
from influence_mem.formats.released.read import KINDS, ReleasedFormatError, _kind, _read_npz

def tfds_order(tfds_ids) -> Tuple[np.ndarray, np.ndarray]:
    """(orig_of_tfds, tfds_of_orig) from TFDS `id` strings in TFDS order.

    b'train_16399' at TFDS position k means orig_of_tfds[k] = 16399, so
    values_orig = values_tfds[tfds_of_orig] and values_tfds = values_orig[orig_of_tfds].
    """
    try:
        orig = np.array([int((s.decode() if isinstance(s, bytes) else str(s)).rsplit("_", 1)[1])
                         for s in tfds_ids], np.int64)
    except (IndexError, ValueError) as e:
        raise ValueError(f"TFDS ids must look like b'train_16399': {e}") from None
    if not np.array_equal(np.sort(orig), np.arange(len(orig))):
        raise ValueError("TFDS ids are not a permutation of 0..n-1")
    inverse = np.empty_like(orig)
    inverse[orig] = np.arange(len(orig))
    return orig, inverse


def to_original_order(values_tfds, tfds_ids):
    return np.asarray(values_tfds)[tfds_order(tfds_ids)[1]]


def to_tfds_order(values_orig, tfds_ids):
    return np.asarray(values_orig)[tfds_order(tfds_ids)[0]]


ORDERS = ("original", "tfds", "both", "neither")


def detect_order(path, train_labels_original, train_labels_tfds) -> str:
    """Which example order a released file is in, judged by its training labels.

    `path`: an infl matrix or index file (`tr_labels`) or a C-score `.npz`
    (`labels`).  Returns "original" when the labels equal
    `train_labels_original`, "tfds" when they equal `train_labels_tfds`, "both"
    when they equal both (the two orders give the same labels: the labels
    cannot tell), "neither" otherwise (another dataset, or a different length).
    Check the authors' downloads with it before comparing them with ours
    (ours are in the original order, docs/formats.md).
    """
    if Path(path).suffix == ".npy":
        raise ReleasedFormatError(path, "a scores-only .npy has no labels to tell its order by")
    arrays = _read_npz(path)
    kind = _kind(arrays, path)
    checked = KINDS[kind](arrays, path)
    if kind == "infl_matrix":
        labels = checked.tr_labels
    elif kind == "index":
        labels = checked[INDEX_KEYS[1]].to_numpy()
    elif kind == "cscores":
        labels = checked.labels
    else:
        raise ReleasedFormatError(path, f"a {kind} file has no training labels to tell its order by")
    labels = np.asarray(labels, np.int64)

    def same(reference):
        reference = np.asarray(reference).reshape(-1)
        return len(reference) == len(labels) and np.array_equal(reference.astype(np.int64), labels)

    original, tfds = same(train_labels_original), same(train_labels_tfds)
    return {(True, True): "both", (True, False): "original", (False, True): "tfds"}.get((original, tfds), "neither")
