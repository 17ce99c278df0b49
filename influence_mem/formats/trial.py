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
import json
import os
import re
from typing import Optional

import numpy as np

AUX_FILE = "aux_arrays.npz"
META_FILE = "dataset_meta.npz"
METRICS_FILE = "metrics.json"
CLAIM_FILE = "claim.json"
FAILED_FILE = "failed.json"
EXPERIMENT_FILE = "experiment.json"  # <workdir>/experiment.json: the training config every trial shares

# TrainConfig fields that do not change training: a checkpoint stays valid, and a trial belongs to the
# workdir's experiment, when only these differ.
NOT_TRAINING = ("save_model", "save_model_trials", "tensorboard", "eval_batch_size", "log_every_epochs")

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


def training_fields(config: dict) -> dict:
    """The fields of a TrainConfig dict (dataclasses.asdict; metrics.json's "config") that define how a
    trial trains: all but NOT_TRAINING and subset_ratio (a directory level), as JSON values (tuples become
    lists) so a record read back compares equal.  Records from before --precision (`mixed_precision`)
    read as their precision."""
    values = dict(config)
    if "mixed_precision" in values:
        legacy = values.pop("mixed_precision")
        values.setdefault("precision", "mixed_float16" if legacy else "float32")
    kept = {k: v for k, v in values.items() if k not in NOT_TRAINING and k != "subset_ratio"}
    return json.loads(json.dumps(kept, sort_keys=True, default=str))


def config_differences(recorded: dict, current: dict) -> list:
    """['--epochs: 30 (recorded) != 5', ...]: training fields the two configs (training_fields dicts) both
    hold with different values; a field only one of them knows (another package version) is not compared."""
    return [f"--{key}: {json.dumps(recorded[key])} (recorded) != {json.dumps(current[key])}"
            for key in sorted(set(recorded) & set(current)) if recorded[key] != current[key]]


def experiment_record(config: dict) -> dict:
    """The content of EXPERIMENT_FILE for a TrainConfig dict."""
    return {"format": 1, "config": training_fields(config),
            "note": "training config of every trial in this workdir; im-train refuses others, im-aggregate "
                    "refuses to mix trials that differ from it"}


def subset_size(n: int, ratio: float) -> int:
    """m = int(n * ratio) (truncation, as the authors' example code computes it), at least 1: how many
    examples a trial of `ratio` trains on (data.subsets draws them).

    Rounding (used before) gave one more example whenever the fractional part
    of n * ratio was >= 1/2, e.g. 1,006 instead of 1,005 of the 1,437 digits.
    """
    return max(1, int(n * ratio))


def subset_sizes(n: int, ratio: float) -> set:
    """Subset sizes a trial of `ratio` may have: subset_size's int(n * ratio) and, for trials written
    before it truncated, round(n * ratio) (both at least 1)."""
    return {subset_size(n, ratio), max(1, int(round(n * ratio)))}


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


MAX_TRIAL_ID = 10 ** 7  # far above any experiment (paper 000: 2,000-4,000 trials); bounds memory and typos


def trial_id(name: str) -> Optional[int]:
    """The trial id a directory name stands for, or None: only canonical non-negative ASCII integers
    up to MAX_TRIAL_ID count ('7', not '-7', '+7', '07' or a non-ASCII digit)."""
    if not (name.isascii() and name.isdigit()) or str(int(name)) != name or int(name) > MAX_TRIAL_ID:
        return None
    return int(name)


_INTEGER = re.compile(r"^[0-9]+$")


class TrialIds:
    """Sorted unique trial ids held as disjoint ranges: '0-9999999' costs a few bytes, not a list.

    Iterating yields the ids in increasing order; len() and `in` work without
    materializing them.
    """

    def __init__(self, ranges):
        merged = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self.ranges = [(first, last) for first, last in merged]

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)

    def __iter__(self):
        for first, last in self.ranges:
            yield from range(first, last + 1)

    def __contains__(self, trial) -> bool:
        return any(first <= trial <= last for first, last in self.ranges)

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return "TrialIds(" + ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ranges) + ")"


def parse_trials(spec: str) -> TrialIds:
    """'0-99', '3,7,9' or '0-4,10,20-22' -> the sorted unique ids (TrialIds), each <= MAX_TRIAL_ID."""
    ranges = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"malformed --trials {spec!r}: empty item")
        lo, sep, hi = part.partition("-")
        if not _INTEGER.match(lo.strip()) or (sep and not _INTEGER.match(hi.strip())):
            raise ValueError(f"malformed --trials {spec!r}: {part!r} is not N or N-M (non-negative integers)")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"malformed --trials {spec!r}: range {part!r} is empty ({first} > {last})")
        if last > MAX_TRIAL_ID:
            raise ValueError(f"--trials {spec!r}: trial id {last} is above the limit {MAX_TRIAL_ID:,}")
        ranges.append((first, last))
    trials = TrialIds(ranges)
    if len(trials) > MAX_TRIAL_ID:
        raise ValueError(f"--trials {spec!r}: {len(trials):,} trials, more than the limit {MAX_TRIAL_ID:,}")
    return trials


def format_trials(ids) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (what --trials accepts)."""
    ids, parts = sorted(set(ids)), []
    for trial in ids:
        if parts and parts[-1][1] == trial - 1:
            parts[-1][1] = trial
        else:
            parts.append([trial, trial])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)
