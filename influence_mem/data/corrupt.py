"""Label corruption (paper 002 Sec. 3): replace a seeded random fraction of the training labels.

One function for every trainer (subset trials, turn-over dropout), so the same
(fraction, seed) corrupts the same examples the same way everywhere.  Each
corrupted example gets a label drawn uniformly from the *other* classes, so
every recorded index really is mislabeled (with "any class" a tenth of them
would keep their label on 10 classes, blurring the detection ground truth).
"""
import dataclasses

import numpy as np
import tensorflow as tf

CORRUPTED_FILE = "corrupted_idx.npy"
_STREAM_TAG = 0x636F7272  # "corr": keeps this stream apart from the subset/trial seeds


def corrupt_labels(labels, num_classes: int, fraction: float, seed: int = 0):
    """(new labels, sorted int64 corrupted ids): round(fraction * n) labels replaced by a different class.

    Drawn with numpy PCG64 seeded by SeedSequence([seed, "corr", round(fraction * 1e6)]);
    never change the output silently (corrupted runs are compared across estimators).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"--corrupt_fraction must be in [0, 1], got {fraction}")
    if num_classes < 2 and fraction > 0:
        raise ValueError("label corruption needs at least 2 classes")
    labels = np.asarray(labels, np.int64)
    rng = np.random.Generator(np.random.PCG64(
        np.random.SeedSequence([int(seed), _STREAM_TAG, int(round(fraction * 1_000_000))])))
    count = int(np.floor(fraction * len(labels) + 0.5))
    ids = np.sort(rng.choice(len(labels), size=count, replace=False)).astype(np.int64)
    shift = rng.integers(1, num_classes, size=count)  # 1..C-1: never the original class
    new = labels.copy()
    new[ids] = (labels[ids] + shift) % num_classes
    return new, ids


def corrupt_dataset(dataset, fraction: float, seed: int = 0):
    """`dataset` training on corrupted labels; `corrupted_idx` set, the test set unchanged.

    In-memory datasets get new train_labels; streamed ones (ImageNet) get their
    label looked up from the corrupted table by `index`.  dataset.meta() then
    records the corrupted labels (the ones trained on) and `corrupted_idx`.
    """
    labels, ids = corrupt_labels(dataset.train_labels, dataset.num_classes, fraction, seed)
    changes = {"train_labels": labels, "corrupted_idx": ids,
               "index_note": f"{dataset.index_note}; {len(ids)} training labels corrupted "
                             f"(fraction {fraction:g}, seed {seed})"}
    if dataset.stream is not None:
        stream, table = dataset.stream, tf.constant(labels)

        def corrupted_stream(split):
            ds = stream(split)
            if split != "train":
                return ds
            return ds.map(lambda ex: {**ex, "label": tf.gather(table, ex["index"])})

        changes["stream"] = corrupted_stream
    return dataclasses.replace(dataset, **changes)


def write_corrupted_idx(out_dir: str, ids) -> None:
    """<trial dir>/corrupted_idx.npy: the training ids whose label was replaced."""
    with tf.io.gfile.GFile(f"{out_dir}/{CORRUPTED_FILE}", "wb") as f:
        np.save(f, np.asarray(ids, np.int64))
