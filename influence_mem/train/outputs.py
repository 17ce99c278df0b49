"""Per-trial output layout: <workdir>/<subset_ratio>/<trial>/{aux_arrays.npz, metrics.json, saved_model/}.

A trial is written under a hidden temporary name and renamed into place only
when complete, so a crash or SIGKILL never leaves a directory the aggregator
would count, and of two workers racing on one trial the second to finish
discards its copy.  All I/O goes through tf.io.gfile (local paths, gs://).
"""
import io
import json
import os
import socket

import numpy as np
import tensorflow as tf

AUX_KEYS = ("subsample_idx", "correctness_train", "correctness_removed", "correctness_test",
            "index_train", "index_removed", "index_test")
META_FILE = "dataset_meta.npz"


def format_ratio(ratio: float) -> str:
    """0.7 -> '0.7' (the released layout's directory name)."""
    return f"{float(ratio):g}"


def trial_dir(workdir: str, ratio: float, trial: int) -> str:
    return os.path.join(workdir, format_ratio(ratio), str(int(trial)))


def is_complete(workdir: str, ratio: float, trial: int) -> bool:
    return tf.io.gfile.exists(os.path.join(trial_dir(workdir, ratio, trial), "aux_arrays.npz"))


def temp_trial_dir(workdir: str, ratio: float, trial: int) -> str:
    """A hidden, worker-unique name in the same ratio directory (rename stays on one filesystem)."""
    return os.path.join(workdir, format_ratio(ratio), f".{int(trial)}.tmp-{socket.gethostname()}-{os.getpid()}")


def write_npz(path: str, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def read_npz(path: str) -> dict:
    with tf.io.gfile.GFile(path, "rb") as f:
        with np.load(io.BytesIO(f.read()), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


def write_json(path: str, obj: dict) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def aux_arrays(subset: np.ndarray, train_index: np.ndarray, train_correct: np.ndarray,
               test_index: np.ndarray, test_correct: np.ndarray) -> dict:
    """The heldout aux_arrays.npz content from full-train-set correctness.

    `train_index`/`train_correct` cover every training example (any order);
    `train` = the examples in `subset`, `removed` = the rest.
    """
    inside = np.isin(train_index, subset)
    return {
        "subsample_idx": np.asarray(subset, np.int64),
        "correctness_train": np.asarray(train_correct[inside], bool),
        "correctness_removed": np.asarray(train_correct[~inside], bool),
        "correctness_test": np.asarray(test_correct, bool),
        "index_train": np.asarray(train_index[inside], np.int64),
        "index_removed": np.asarray(train_index[~inside], np.int64),
        "index_test": np.asarray(test_index, np.int64),
    }


def commit_trial(temp_dir: str, final_dir: str) -> bool:
    """Rename a finished temporary trial directory into place.

    Returns False (and removes the temporary copy) when another worker already
    completed the trial; an existing complete trial is never overwritten.
    """
    if tf.io.gfile.exists(os.path.join(final_dir, "aux_arrays.npz")):
        tf.io.gfile.rmtree(temp_dir)
        return False
    if tf.io.gfile.exists(final_dir):  # a leftover without aux_arrays.npz: incomplete, replace it
        tf.io.gfile.rmtree(final_dir)
    try:
        tf.io.gfile.rename(temp_dir, final_dir, overwrite=False)
    except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
        tf.io.gfile.rmtree(temp_dir)
        return False
    return True


def ensure_dataset_meta(workdir: str, meta: dict) -> None:
    """Write <workdir>/dataset_meta.npz once; later runs must be on the same dataset."""
    path = os.path.join(workdir, META_FILE)
    if tf.io.gfile.exists(path):
        existing = read_npz(path)
        for key in ("tr_labels", "tt_labels"):
            if key not in existing or not np.array_equal(existing[key], meta[key]):
                raise ValueError(f"{path}: {key} differ from dataset {meta['dataset']}; "
                                 f"this workdir holds trials of another dataset")
        return
    tf.io.gfile.makedirs(workdir)
    temp = f"{path}.tmp-{os.getpid()}"
    write_npz(temp, meta)
    tf.io.gfile.rename(temp, path, overwrite=True)
