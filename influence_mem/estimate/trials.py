"""Reading completed trials (the layout of estimate.trial_format) for the aggregator.

A trial becomes three rows: the in-subset mask [n], correctness on every
training example [n] and on every test example [n_test], all in original
example order (the files give them in the order of `index_*`).  Anything that
would silently bias the estimates -- an unreadable file, missing keys, a
different dataset size, indices that are not a permutation, the same subset
twice -- makes the trial skipped, with the reason.
"""
import dataclasses
import hashlib
import logging
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from influence_mem.estimate import fileio
from influence_mem.formats import npz
from influence_mem.formats.trial import (AUX_FILE, AUX_KEYS, format_ratio, is_unfinished_name,
                                         subset_sizes, trial_id)

log = logging.getLogger(__name__)


class SkipTrial(Exception):
    """A trial that cannot be used; the message is the reason."""


class MetaError(ValueError):
    """dataset_meta.npz is missing or invalid."""


@dataclasses.dataclass
class DatasetMeta:
    tr_labels: np.ndarray
    tt_labels: np.ndarray
    tr_filenames: Optional[np.ndarray]
    dataset: Optional[str]
    path: str
    example_order: str = "unrecorded"   # the example order of the index (data.base.Dataset.index_note)


def load_dataset_meta(path) -> DatasetMeta:
    """Labels (and filenames) written by the trainer; one clear error if unusable."""
    path = str(path)
    if not fileio.is_file(path):
        raise MetaError(f"{path}: dataset metadata file not found (the trainer writes it; "
                        f"or pass --labels_from)")
    try:
        arrays = npz.read(path)
    except npz.NpzTooLarge as e:
        raise MetaError(f"{path}: refused: {e.detail}") from None
    except npz.NpzError as e:
        raise MetaError(f"{path}: not a readable .npz file ({e.detail})") from None
    missing = [k for k in ("tr_labels", "tt_labels") if k not in arrays]
    if missing:
        raise MetaError(f"{path}: missing keys {missing} (has {sorted(arrays)})")
    tr, tt = arrays["tr_labels"], arrays["tt_labels"]
    for key, a in (("tr_labels", tr), ("tt_labels", tt)):
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise MetaError(f"{path}: {key} must be a 1-D integer array, got {a.dtype}{a.shape}")
    names = arrays.get("tr_filenames")
    if names is not None and names.shape != tr.shape:
        raise MetaError(f"{path}: tr_filenames has shape {names.shape}, tr_labels {tr.shape}")
    dataset = None
    if "dataset" in arrays:
        value = arrays["dataset"]
        if value.ndim != 0 or value.dtype.kind not in "US":
            raise MetaError(f"{path}: 'dataset' must be one string (the dataset name), got "
                            f"{value.dtype}{value.shape}")
        dataset = value.item()
        if isinstance(dataset, bytes):
            dataset = dataset.decode("utf-8", "replace")
    order = arrays.get("example_order")
    order = str(order.item()) if order is not None and order.ndim == 0 and order.dtype.kind in "US" else "unrecorded"
    return DatasetMeta(tr.astype(np.int64), tt.astype(np.int64), names, dataset, path, order)


def ratio_dirs(workdir, include_full: bool = False) -> Dict[float, str]:
    """Subset-ratio directories of a workdir: names that are a ratio in (0, 1) as the trainer writes it
    (trial_format.format_ratio: '0.7', not '0.70' or '7e-1', so one ratio has one directory).

    With `include_full`, also 1 (trials on the whole training set: they train,
    so im-status lists them, but they hold no held-out examples to estimate from).
    """
    out = {}
    for name, is_dir in fileio.list_dir(workdir):
        try:
            r = float(name)
        except ValueError:
            continue
        if is_dir and name == format_ratio(r) and (0 < r < 1 or include_full and r == 1):
            out[r] = fileio.join(workdir, name)
    return out


def list_trials(ratio_dir) -> Tuple[List[Tuple[int, str]], List[Tuple[str, str]]]:
    """(trials sorted by id, [(name, reason)] of directories that are not trials).

    In-progress directories (trial_format.is_unfinished_name) are not listed at all.  Only canonical
    trial ids count (trial_format.trial_id: '7', not '-7', '+7', '07'); a file named like a trial is
    reported and left alone.
    """
    trials, ignored = [], []
    for name, is_dir in fileio.list_dir(ratio_dir):
        if is_unfinished_name(name):
            continue
        tid = trial_id(name)
        if not is_dir:
            if tid is not None:
                ignored.append((name, "a file where a trial directory should be (left alone)"))
            continue
        if tid is None:
            ignored.append((name, "not a trial directory (name is not a canonical non-negative integer)"))
            continue
        path = fileio.join(ratio_dir, name, AUX_FILE)
        if not fileio.is_file(path):
            ignored.append((name, f"no {AUX_FILE} (incomplete trial)"))
            continue
        trials.append((tid, path))
    trials.sort()
    return trials, ignored


def _permutation_mask(idx, size, what):
    """Boolean mask of idx; SkipTrial unless idx are distinct ids in [0, size)."""
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise SkipTrial(f"{what} must be a 1-D integer array, got {idx.dtype}{idx.shape}")
    if len(idx) and (idx.min() < 0 or idx.max() >= size):
        raise SkipTrial(f"{what} has ids outside [0, {size})")
    mask = np.zeros(size, bool)
    mask[idx] = True
    if mask.sum() != len(idx):
        raise SkipTrial(f"{what} has repeated ids")
    return mask


def _correctness(a, key):
    """a[key] as booleans: it must be boolean, or integers that are all 0 or 1 (anything else is not a
    correctness record and would silently become True)."""
    c = np.asarray(a[key])
    if c.dtype == np.bool_:
        return c
    if np.issubdtype(c.dtype, np.integer) and (c.size == 0 or (c.min() >= 0 and c.max() <= 1)):
        return c.astype(bool)
    seen = f", values {np.unique(c)[:3].tolist()}" if c.dtype.kind in "iuf" and c.size else ""
    raise SkipTrial(f"{key} must be boolean (or 0/1 integers), got {c.dtype}{seen}")


def read_trial(path, n: int, n_test: Optional[int], subset_ratio: Optional[float] = None,
               max_elements: Optional[int] = None):
    """(in_mask [n], correct_train [n], correct_test [n_test] or None) of one trial.

    n_test=None skips the test split (C-scores need only training examples).  With `subset_ratio`, the
    subset's size must be one a trial of that ratio has (trial_format.subset_sizes).  Arrays declaring
    more than `max_elements` elements (default n + n_test) are refused before they are read.
    Raises SkipTrial with the reason when the trial is unusable.
    """
    if max_elements is None:
        max_elements = n + (n_test or 0)
    try:
        a = npz.read(path, max_bytes=None, max_elements=max_elements)
    except npz.NpzTooLarge as e:
        raise SkipTrial(f"refused: {e.detail}") from None
    except npz.NpzError as e:
        raise SkipTrial(f"corrupt npz ({e.detail})") from None
    missing = [k for k in AUX_KEYS if k not in a]
    if missing:
        raise SkipTrial(f"missing keys {missing}")
    i_tr, i_rm = a["index_train"], a["index_removed"]
    if len(i_tr) + len(i_rm) != n:
        raise SkipTrial(f"different n: index_train + index_removed cover {len(i_tr) + len(i_rm)} "
                        f"training examples, the dataset has {n}")
    for split, idx in (("train", i_tr), ("removed", i_rm)):
        if a[f"correctness_{split}"].shape != idx.shape:
            raise SkipTrial(f"correctness_{split} has shape {a[f'correctness_{split}'].shape}, "
                            f"index_{split} {idx.shape}")
    if subset_ratio is not None and len(i_tr) not in subset_sizes(n, subset_ratio):
        raise SkipTrial(f"subset of {len(i_tr)} examples, but a trial of ratio {subset_ratio:g} trains on "
                        f"{' or '.join(map(str, sorted(subset_sizes(n, subset_ratio))))} of {n} (a trial "
                        f"of another ratio?)")
    in_mask = _permutation_mask(i_tr, n, "index_train")
    if (in_mask & _permutation_mask(i_rm, n, "index_removed")).any():
        raise SkipTrial("index_train and index_removed overlap")
    if not np.array_equal(_permutation_mask(np.asarray(a["subsample_idx"]), n, "subsample_idx"),
                          in_mask):
        raise SkipTrial("subsample_idx is not the set of index_train")
    correct_train = np.zeros(n, bool)
    correct_train[i_tr] = _correctness(a, "correctness_train")
    correct_train[i_rm] = _correctness(a, "correctness_removed")
    if n_test is None:
        return in_mask, correct_train, None
    i_tt = a["index_test"]
    if len(i_tt) != n_test:
        raise SkipTrial(f"different n_test: index_test has {len(i_tt)} test examples, "
                        f"the dataset has {n_test}")
    if a["correctness_test"].shape != i_tt.shape:
        raise SkipTrial(f"correctness_test has shape {a['correctness_test'].shape}, "
                        f"index_test {i_tt.shape}")
    _permutation_mask(i_tt, n_test, "index_test")
    correct_test = np.zeros(n_test, bool)
    correct_test[i_tt] = _correctness(a, "correctness_test")
    return in_mask, correct_train, correct_test


class TrialReader:
    """Reads trials in chunks of stacked rows, skipping (and recording) bad ones.

    Memory is one chunk: [chunk, n] + [chunk, n] + [chunk, n_test] booleans.
    Subsets are fingerprinted so a repeated subset is skipped as a duplicate.
    """

    def __init__(self, trials, n, n_test, chunk_size=100, progress_every=10.0, subset_ratio=None,
                 max_elements=None):
        self.trials = list(trials)
        self.n, self.n_test, self.chunk_size = n, n_test, max(1, int(chunk_size))
        self.subset_ratio, self.max_elements = subset_ratio, max_elements
        self.used: List[int] = []
        self.skipped: List[Tuple[int, str]] = []
        self._seen: Dict[bytes, int] = {}
        self._progress_every = progress_every

    def chunks(self):
        """Yield (in_mask, correct_train, correct_test or None) stacks of <= chunk_size trials."""
        k, n, n_test = self.chunk_size, self.n, self.n_test
        in_mask = np.zeros((k, n), bool)
        c_tr = np.zeros((k, n), bool)
        c_tt = None if n_test is None else np.zeros((k, n_test), bool)
        filled, total = 0, len(self.trials)
        start = last = time.monotonic()
        for done, (tid, path) in enumerate(self.trials, 1):
            try:
                row = read_trial(path, n, n_test, self.subset_ratio, self.max_elements)
                key = hashlib.sha1(np.packbits(row[0]).tobytes()).digest()
                if key in self._seen:
                    raise SkipTrial(f"duplicate subset (same subsample_idx as trial "
                                    f"{self._seen[key]})")
            except SkipTrial as e:
                self.skipped.append((tid, str(e)))
                log.warning("skipping trial %s (%s): %s", tid, path, e)
            else:
                self._seen[key] = tid
                self.used.append(tid)
                in_mask[filled], c_tr[filled] = row[0], row[1]
                if c_tt is not None:
                    c_tt[filled] = row[2]
                filled += 1
            if filled == k:
                yield in_mask, c_tr, c_tt
                filled = 0
            now = time.monotonic()
            if now - last >= self._progress_every or done == total:
                last = now
                log.info("trials processed %d/%d (%.0f%%, %d skipped) in %.1f s", done, total,
                         100.0 * done / max(total, 1), len(self.skipped), now - start)
        if filled:
            yield in_mask[:filled], c_tr[:filled], None if c_tt is None else c_tt[:filled]
