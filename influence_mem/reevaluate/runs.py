"""The runs to re-evaluate: `<runs>/<ratio>/<run>/aux_arrays.npz` and the run's model, checked against the dataset.

Two layouts share this shape: the authors' release (heldout-influence-estimation README: each run holds
`aux_arrays.npz` and `checkpoints/` with one TF2 checkpoint of their Sonnet model) and an im-train
workdir whose trials kept their models (`model.keras`, `saved_model/`; train.outputs.save_model).  A run
is usable when its aux arrays describe a subset of the dataset's training set and it holds a model;
RunError says in one line why not, naming the file.  I/O through tf.io.gfile (local paths, gs://).
"""
import dataclasses
import io
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from influence_mem.formats import npz
from influence_mem.formats.trial import AUX_FILE, format_ratio, trial_id
from influence_mem.train.outputs import MODEL_FILE, SAVED_MODEL_DIR

CHECKPOINT_DIR = "checkpoints"      # the authors' release: <run>/checkpoints/ckpt-<n>.{index,data-*}
MODEL_KINDS = ("keras", "saved_model", "checkpoint")  # looked for in this order
MAX_AUX_BYTES = 1024 ** 3  # an ImageNet run's arrays hold ~1.3 M ids and flags (~25 MB); more is not a run


class RunError(ValueError):
    """A run that cannot be re-evaluated (one line naming its file); the other runs go on."""


class RunsError(ValueError):
    """--runs as a whole cannot be used (nothing is written)."""


def ratio_dir(runs_dir: str, ratio: float) -> str:
    """<runs>/<ratio>, the ratio as the trainer names it (formats.trial.format_ratio: 0.7 -> '0.7')."""
    path = os.path.join(runs_dir, format_ratio(ratio))
    if not tf.io.gfile.isdir(runs_dir):
        raise RunsError(f"--runs={runs_dir}: not a directory")
    if not tf.io.gfile.isdir(path):
        found = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(runs_dir)
                       if _is_ratio(name.rstrip("/")) and tf.io.gfile.isdir(os.path.join(runs_dir, name)))
        raise RunsError(f"--runs={runs_dir}: no {format_ratio(ratio)}/ directory for --subset_ratio={ratio:g} "
                        f"(subset ratios there: {', '.join(found) or 'none'})")
    return path


def _is_ratio(name: str) -> bool:
    try:
        return 0 < float(name) <= 1
    except ValueError:
        return False


def list_runs(path: str) -> Dict[int, str]:
    """{run id: directory} of the runs in a ratio directory (canonical integer names; others ignored)."""
    runs = {}
    for name in tf.io.gfile.listdir(path):
        run = trial_id(name.rstrip("/"))
        if run is not None and tf.io.gfile.isdir(os.path.join(path, name)):
            runs[run] = os.path.join(path, name.rstrip("/"))
    return dict(sorted(runs.items()))


def model_kind(run_dir: str) -> Optional[str]:
    """Which model a run holds ('keras', 'saved_model' or 'checkpoint', in that preference), None if none."""
    if tf.io.gfile.exists(os.path.join(run_dir, MODEL_FILE)):
        return "keras"
    if tf.io.gfile.exists(os.path.join(run_dir, SAVED_MODEL_DIR, "saved_model.pb")):
        return "saved_model"
    if tf.io.gfile.glob(os.path.join(run_dir, CHECKPOINT_DIR, "*.index")):
        return "checkpoint"
    return None


def require_model(run_dir: str) -> str:
    """model_kind, or RunError naming what was looked for."""
    kind = model_kind(run_dir)
    if kind is None:
        raise RunError(f"{run_dir}: no model ({MODEL_FILE}, {SAVED_MODEL_DIR}/ or {CHECKPOINT_DIR}/ckpt-*.index)")
    return kind


@dataclasses.dataclass
class RunArrays:
    """A run's aux_arrays.npz, checked: the subset it trained on and its stored correctness."""
    path: str
    subset: np.ndarray         # subsample_idx
    train_index: np.ndarray    # index_train then index_removed: every training id once
    train_correct: np.ndarray  # correctness_train then correctness_removed
    test_index: np.ndarray
    test_correct: np.ndarray


def read_run_arrays(run_dir: str, num_train: int, num_test: int) -> RunArrays:
    """The run's aux arrays, or RunError unless they fit a training set of `num_train` examples: the keys of
    the per-trial format, index_train + index_removed a permutation of 0..num_train-1, the subset the same
    ids as index_train, and a correctness flag per id (the test part must index 0..num_test-1)."""
    path = os.path.join(run_dir, AUX_FILE)
    if not tf.io.gfile.exists(path):
        raise RunError(f"{path}: missing (every run keeps its subset there)")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            arrays = npz.read(io.BytesIO(f.read()), max_bytes=MAX_AUX_BYTES, name=path)
    except npz.NpzError as e:
        raise RunError(str(e)) from None
    needed = ("subsample_idx", "correctness_train", "correctness_removed", "correctness_test", "index_train",
              "index_removed", "index_test")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise RunError(f"{path}: missing keys {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'none'})")
    for key in needed:
        if arrays[key].ndim != 1:
            raise RunError(f"{path}: {key} must be 1-D, got shape {arrays[key].shape}")
        if key.startswith("index") or key == "subsample_idx":
            if arrays[key].size and arrays[key].dtype.kind not in "iu":
                raise RunError(f"{path}: {key} must hold integer ids, got {arrays[key].dtype}")
        elif arrays[key].dtype.kind not in "biu" or (arrays[key].size and not np.isin(arrays[key], (0, 1)).all()):
            raise RunError(f"{path}: {key} must hold 0/1 flags, got {arrays[key].dtype}")
    train_index = np.concatenate([arrays["index_train"], arrays["index_removed"]]).astype(np.int64)
    train_correct = np.concatenate([arrays["correctness_train"], arrays["correctness_removed"]]).astype(bool)
    for split, index, correct, n in (("train", train_index, train_correct, num_train),
                                     ("test", arrays["index_test"].astype(np.int64),
                                      arrays["correctness_test"].astype(bool), num_test)):
        keys = "index_train + index_removed" if split == "train" else "index_test"
        if len(index) != len(correct):
            raise RunError(f"{path}: {len(index)} {split} ids but {len(correct)} correctness flags")
        if len(index) != n or not np.array_equal(np.sort(index), np.arange(n)):
            raise RunError(f"{path}: {keys} ({len(index)} ids, range {_range(index)}) is not a permutation of "
                           f"0..{n - 1}: the run does not fit the dataset's {n} {split} examples")
    subset = arrays["subsample_idx"].astype(np.int64)
    if not len(subset) or not np.array_equal(np.unique(subset), np.sort(arrays["index_train"].astype(np.int64))):
        raise RunError(f"{path}: subsample_idx ({len(subset)} ids, range {_range(subset)}) is not the set of "
                       f"index_train ({len(arrays['index_train'])} ids)")
    return RunArrays(path, subset, train_index, train_correct, arrays["index_test"].astype(np.int64),
                     arrays["correctness_test"].astype(bool))


def _range(ids: np.ndarray) -> str:
    return f"{int(ids.min())}..{int(ids.max())}" if len(ids) else "empty"
