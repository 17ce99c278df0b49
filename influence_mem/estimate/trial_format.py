"""The per-trial output format: the one place that names its files, keys and directories.

The trainer writes it, the aggregator and im-status read it, the simulator
(tests, benchmarks) writes it too; all three import these names so they cannot
drift apart.  numpy only (the aggregator side never imports TensorFlow).

Layout of a trainer workdir:

    <workdir>/dataset_meta.npz                 META_FILE: labels (+ filenames, dataset name)
    <workdir>/<ratio>/<trial>/aux_arrays.npz   AUX_FILE: a completed trial (AUX_KEYS, AUX_DTYPES)
    <workdir>/<ratio>/<trial>/metrics.json     METRICS_FILE
    <workdir>/<ratio>/.<trial>.inprogress/     work_dir(): an unfinished trial (CLAIM_FILE,
                                               FAILED_FILE, ckpt/, out/)

`<ratio>` is format_ratio(subset_ratio) ('0.7'); `aux_arrays.npz` is the
google-research/heldout-influence-estimation per-trial format.
"""
import os
import re
from typing import Optional

import numpy as np

AUX_FILE = "aux_arrays.npz"
META_FILE = "dataset_meta.npz"
METRICS_FILE = "metrics.json"
CLAIM_FILE = "claim.json"
FAILED_FILE = "failed.json"

# Keys of AUX_FILE, in the order written, and their dtypes.
AUX_DTYPES = {
    "subsample_idx": np.int64,
    "correctness_train": np.bool_,
    "correctness_removed": np.bool_,
    "correctness_test": np.bool_,
    "index_train": np.int64,
    "index_removed": np.int64,
    "index_test": np.int64,
}
AUX_KEYS = tuple(AUX_DTYPES)

INPROGRESS_SUFFIX = ".inprogress"
_WORK_NAME = re.compile(r"^\.(\d+)" + re.escape(INPROGRESS_SUFFIX) + "$")


def format_ratio(ratio: float) -> str:
    """0.7 -> '0.7': the name of a subset ratio's directory."""
    return f"{float(ratio):g}"


def trial_dir(workdir: str, ratio: float, trial: int) -> str:
    """<workdir>/<ratio>/<trial>: a completed trial's directory."""
    return os.path.join(workdir, format_ratio(ratio), str(int(trial)))


def work_dir_name(trial: int) -> str:
    """'.<trial>.inprogress': the hidden directory of an unfinished trial."""
    return f".{int(trial)}{INPROGRESS_SUFFIX}"


def work_dir(workdir: str, ratio: float, trial: int) -> str:
    """<workdir>/<ratio>/.<trial>.inprogress: where an unfinished trial lives between runs."""
    return os.path.join(workdir, format_ratio(ratio), work_dir_name(trial))


def work_dir_trial(name: str) -> Optional[int]:
    """The trial id of a '.<trial>.inprogress' name, else None."""
    match = _WORK_NAME.match(name)
    return int(match.group(1)) if match else None


def is_unfinished_name(name: str) -> bool:
    """Names readers never count as trials: hidden ones (work dirs) and '*.tmp' copies."""
    return name.startswith(".") or name.endswith(".tmp")


def aux_arrays(subset: np.ndarray, train_index: np.ndarray, train_correct: np.ndarray,
               test_index: np.ndarray, test_correct: np.ndarray) -> dict:
    """The AUX_FILE content from full-train-set correctness.

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
