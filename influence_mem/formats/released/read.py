"""Read and validate the released formats (names.py lists them): one `ReleasedFormatError` naming the file
and the problem for a malformed file, whether it is the authors' download or our aggregator's output.

Every file is read through formats.npz (size-checked: a zip bomb is refused before any array is read).
"""
import dataclasses
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from influence_mem.formats import npz
from influence_mem.formats.released.names import (CLASS_KEY, CSCORE_FILENAMES, CSCORE_KEYS, INDEX_KEYS,
                                                  INFL_MATRIX_KEYS, PAIR_KEYS, STATS_KEYS, class_keys,
                                                  estimate_set_name, stats_filename)

# Released files are read whole; a file declaring more than this (after decompression) is refused before any
# array is read (a zip bomb: a few MB declaring GBs).
MAX_RELEASED_BYTES = npz.MAX_BYTES


class ReleasedFormatError(ValueError):
    """A file that is not a valid released-format file."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def _read_npz(path) -> Dict[str, np.ndarray]:
    try:
        return npz.read(path, max_bytes=MAX_RELEASED_BYTES)
    except npz.NpzError as e:
        raise ReleasedFormatError(e.path, e.problem) from None


def _require(arrays, keys, path, kind):
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ReleasedFormatError(path, f"missing key(s) {missing} for the {kind} format "
                                        f"(has {sorted(arrays)})")


def _vector(arrays, key, path, integer=False, length=None):
    a = np.asarray(arrays[key])
    if a.ndim != 1:
        raise ReleasedFormatError(path, f"{key} must be 1-D, has shape {a.shape}")
    if integer and not np.issubdtype(a.dtype, np.integer):
        raise ReleasedFormatError(path, f"{key} must be integer, is {a.dtype}")
    if not integer and a.dtype.kind not in "fiub" and key not in (INDEX_KEYS[0], CSCORE_FILENAMES):
        raise ReleasedFormatError(path, f"{key} must be numeric, is {a.dtype}")
    if length is not None and len(a) != length:
        raise ReleasedFormatError(path, f"{key} has length {len(a)}, expected {length}")
    return a


class PairsFrame(pd.DataFrame):
    """High-influence pairs (tr_idx, tt_idx, infl, mem): a DataFrame whose `kind` is 'high_infl_pairs'."""
    kind = "high_infl_pairs"

    @property
    def _constructor(self):
        return PairsFrame


class IndexFrame(pd.DataFrame):
    """An index file (tr_filenames, tr_labels, tr_mem): a DataFrame whose `kind` is 'index'."""
    kind = "index"

    @property
    def _constructor(self):
        return IndexFrame


class EstimatesStats(dict):
    """Our sidecar `<name>_estimates_stats.npz` as {key: array}; `kind` is 'estimates_stats'."""
    kind = "estimates_stats"

    def __repr__(self):
        return f"EstimatesStats({', '.join(sorted(self))})"


@dataclasses.dataclass(repr=False)
class InflMatrix:
    """Memorization plus same-class influence blocks, in original example order.

    `stats` is the sidecar `<name>_estimates_stats.npz` when it was next to the file (load() reads it):
    then to_frame() adds each example's trial counts and the standard error of its memorization.
    """
    kind: ClassVar[str] = "infl_matrix"

    tr_labels: np.ndarray
    tt_labels: np.ndarray
    tr_mem: np.ndarray
    tr_classidx: Dict[int, np.ndarray]
    tt_classidx: Dict[int, np.ndarray]
    blocks: Dict[int, np.ndarray]
    stats: Optional[Dict[str, np.ndarray]] = None

    @property
    def classes(self) -> List[int]:
        return sorted(self.blocks)

    def __repr__(self):
        entries = sum(b.size for b in self.blocks.values())
        mem = np.asarray(self.tr_mem, np.float64)
        sidecar = f", {int(self.stats['num_trials'])} trials" if self.stats is not None and "num_trials" in \
            self.stats else ""
        return (f"InflMatrix({len(self.tr_labels)} train x {len(self.tt_labels)} test examples, "
                f"{len(self.blocks)} classes, {entries:,} same-class influence entries, mem mean "
                f"{np.nanmean(mem) if mem.size else float('nan'):.3f}, {int(np.sum(mem >= 0.25))} with mem >= 0.25"
                f"{sidecar})")

    def to_frame(self) -> pd.DataFrame:
        """One row per training example (index = its id): label, mem and, with the sidecar, trials_in,
        trials_out (trials that trained with / without it) and mem_se (standard error of mem)."""
        frame = pd.DataFrame({"label": self.tr_labels, "mem": self.tr_mem},
                             index=pd.RangeIndex(len(self.tr_labels), name="index"))
        if self.stats is not None:
            n = len(self.tr_labels)
            for key, column in (("n_in", "trials_in"), ("n_out", "trials_out"), ("mem_se", "mem_se")):
                values = np.asarray(self.stats.get(key, []))
                if values.shape == (n,):
                    frame[column] = values
        return frame

    def top_influencers(self, test_idx: int, k: int = 10) -> pd.DataFrame:
        """The k training examples with the largest influence on test example `test_idx` (same class),
        largest first: columns tr_idx, infl, mem, label."""
        test_idx = int(test_idx)
        c = int(self.tt_labels[test_idx])
        tr, tt, block = self.block(c)
        column = np.searchsorted(tt, test_idx)
        if column >= len(tt) or tt[column] != test_idx:
            return pd.DataFrame({"tr_idx": [], "infl": [], "mem": [], "label": []})
        infl = np.asarray(block[:, column], np.float64)
        order = np.argsort(-np.nan_to_num(infl, nan=-np.inf), kind="stable")[:k]
        return pd.DataFrame({"tr_idx": tr[order], "infl": infl[order], "mem": self.tr_mem[tr[order]],
                             "label": self.tr_labels[tr[order]]})

    def most_influenced(self, train_idx: int, k: int = 10) -> pd.DataFrame:
        """The k test examples training example `train_idx` influences most (same class), largest first:
        columns tt_idx, infl, label."""
        train_idx = int(train_idx)
        c = int(self.tr_labels[train_idx])
        tr, tt, block = self.block(c)
        row = np.searchsorted(tr, train_idx)
        if row >= len(tr) or tr[row] != train_idx:
            return pd.DataFrame({"tt_idx": [], "infl": [], "label": []})
        infl = np.asarray(block[row], np.float64)
        order = np.argsort(-np.nan_to_num(infl, nan=-np.inf), kind="stable")[:k]
        return pd.DataFrame({"tt_idx": tt[order], "infl": infl[order], "label": self.tt_labels[tt[order]]})

    def block(self, c: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train ids, test ids, influence [len(train ids), len(test ids)]) of class c."""
        return self.tr_classidx[c], self.tt_classidx[c], self.blocks[c]

    def influence(self, i, j):
        """Influence of train id(s) i on test id(s) j; NaN where the labels differ."""
        i, j = np.broadcast_arrays(np.asarray(i, np.int64), np.asarray(j, np.int64))
        pos_tr = np.full(len(self.tr_labels), -1, np.int64)
        pos_tt = np.full(len(self.tt_labels), -1, np.int64)
        for c in self.blocks:
            pos_tr[self.tr_classidx[c]] = np.arange(len(self.tr_classidx[c]))
            pos_tt[self.tt_classidx[c]] = np.arange(len(self.tt_classidx[c]))
        out = np.full(i.shape, np.nan)
        ci, cj = self.tr_labels[i], self.tt_labels[j]
        for c in np.unique(ci):
            sel = (ci == c) & (cj == c) & (pos_tr[i] >= 0) & (pos_tt[j] >= 0)
            if int(c) in self.blocks and sel.any():
                out[sel] = self.blocks[int(c)][pos_tr[i[sel]], pos_tt[j[sel]]]
        return out if out.ndim else float(out)


def _check_infl_matrix(arrays, path) -> InflMatrix:
    _require(arrays, INFL_MATRIX_KEYS, path, "infl matrix")
    labels_key, test_labels_key, mem_key = INFL_MATRIX_KEYS
    tr_labels = _vector(arrays, labels_key, path, integer=True)
    tt_labels = _vector(arrays, test_labels_key, path, integer=True)
    tr_mem = _vector(arrays, mem_key, path, length=len(tr_labels))
    classes = sorted({int(m.group(2)) for m in map(CLASS_KEY.match, arrays) if m})
    if not classes:
        raise ReleasedFormatError(path, "no infl_matrix_class{c} keys for the infl matrix format")
    tr_idx, tt_idx, blocks = {}, {}, {}
    for c in classes:
        keys = class_keys(c)
        _require(arrays, keys, path, f"infl matrix (class {c})")
        for key, labels, store in ((keys[0], tr_labels, tr_idx), (keys[1], tt_labels, tt_idx)):
            idx = _vector(arrays, key, path, integer=True)
            if len(idx) and (idx.min() < 0 or idx.max() >= len(labels)):
                raise ReleasedFormatError(path, f"{key} has ids outside [0, {len(labels)})")
            if np.any(labels[idx] != c):
                raise ReleasedFormatError(path, f"{key} lists examples whose label is not {c}")
            store[c] = idx
        block = np.asarray(arrays[keys[2]])
        if block.shape != (len(tr_idx[c]), len(tt_idx[c])):
            raise ReleasedFormatError(path, f"{keys[2]} has shape {block.shape}, expected "
                                            f"({len(tr_idx[c])}, {len(tt_idx[c])}) from "
                                            f"{keys[0]} and {keys[1]}")
        blocks[c] = block
    return InflMatrix(tr_labels, tt_labels, tr_mem, tr_idx, tt_idx, blocks)


def _check_pairs(arrays, path) -> PairsFrame:
    _require(arrays, PAIR_KEYS, path, "high-influence pairs")
    train_key, test_key, *value_keys = PAIR_KEYS
    n = len(_vector(arrays, train_key, path, integer=True))
    _vector(arrays, test_key, path, integer=True, length=n)
    for key in value_keys:
        _vector(arrays, key, path, length=n)
    return PairsFrame({k: arrays[k] for k in PAIR_KEYS})


def _check_index(arrays, path) -> IndexFrame:
    _require(arrays, INDEX_KEYS, path, "index")
    filenames_key, labels_key, mem_key = INDEX_KEYS
    n = len(_vector(arrays, filenames_key, path))
    _vector(arrays, labels_key, path, integer=True, length=n)
    _vector(arrays, mem_key, path, length=n)
    return IndexFrame({k: arrays[k] for k in INDEX_KEYS})


@dataclasses.dataclass(repr=False)
class CScores:
    """C-scores in original order; labels/filenames are None when not released (MNIST .npy)."""
    kind: ClassVar[str] = "cscores"

    scores: np.ndarray
    labels: Optional[np.ndarray] = None
    filenames: Optional[np.ndarray] = None

    def __repr__(self):
        labelled = "" if self.labels is None else f", {len(np.unique(self.labels))} classes"
        return f"CScores({len(self.scores)} examples{labelled}, mean {float(np.nanmean(self.scores)):.3f})"


def _check_cscores(arrays, path) -> CScores:
    _require(arrays, CSCORE_KEYS, path, "C-scores")
    labels_key, scores_key = CSCORE_KEYS
    scores = _vector(arrays, scores_key, path)
    labels = _vector(arrays, labels_key, path, integer=True, length=len(scores))
    names = (_vector(arrays, CSCORE_FILENAMES, path, length=len(scores)) if CSCORE_FILENAMES in arrays
             else None)
    return CScores(scores, labels, names)


def _check_stats(arrays, path) -> EstimatesStats:
    _require(arrays, STATS_KEYS, path, "estimates stats")
    n = len(_vector(arrays, "n_in", path, integer=True))
    _vector(arrays, "n_out", path, integer=True, length=n)
    _vector(arrays, "mem_se", path, length=n)
    return EstimatesStats(arrays)


def _sidecar_of(path) -> Optional[Path]:
    """<name>_estimates_stats.npz next to <name>_infl_matrix.npz, if it is there."""
    path, name = Path(path), estimate_set_name(path)
    if name is None:
        return None
    sidecar = path.with_name(stats_filename(name))
    return sidecar if sidecar.is_file() else None


def load_infl_matrix(path, stats=True) -> InflMatrix:
    """The infl matrix file; with `stats`, its sidecar <name>_estimates_stats.npz too when it is next to it."""
    matrix = _check_infl_matrix(_read_npz(path), path)
    sidecar = _sidecar_of(path) if stats else None
    if sidecar is not None:
        matrix.stats = load_estimates_stats(sidecar)
    return matrix


def load_high_infl_pairs(path) -> pd.DataFrame:
    """The pairs as a DataFrame with columns tr_idx, tt_idx, infl, mem."""
    return _check_pairs(_read_npz(path), path)


def load_index(path) -> pd.DataFrame:
    """imagenet_index.npz-style file as a DataFrame (tr_filenames, tr_labels, tr_mem)."""
    return _check_index(_read_npz(path), path)


def load_cscores(path) -> CScores:
    """C-scores from the .npz (labels, scores[, filenames]) or the MNIST .npy (scores)."""
    path = Path(path)
    if path.suffix != ".npy":
        return _check_cscores(_read_npz(path), path)
    try:
        scores = npz.read_npy(path, max_bytes=MAX_RELEASED_BYTES)
    except npz.NpzError as e:
        raise ReleasedFormatError(e.path, e.problem) from None
    scores_key = CSCORE_KEYS[1]
    return CScores(_vector({scores_key: scores}, scores_key, path))


def load_estimates_stats(path) -> EstimatesStats:
    return _check_stats(_read_npz(path), path)


def memorization(path) -> np.ndarray:
    """The memorization vector tr_mem of an infl matrix or index file."""
    arrays = _read_npz(path)
    if INDEX_KEYS[0] in arrays:
        return _check_index(arrays, path)[INDEX_KEYS[2]].to_numpy()
    return _check_infl_matrix(arrays, path).tr_mem


KINDS = {
    "infl_matrix": _check_infl_matrix,
    "high_infl_pairs": _check_pairs,
    "index": _check_index,
    "cscores": _check_cscores,
    "estimates_stats": _check_stats,
}


def _kind(keys, path) -> str:
    keys = set(keys)
    if "subsample_idx" in keys:
        raise ReleasedFormatError(path, "a trainer's per-trial output (it has subsample_idx), not a "
                                        "released estimate file (aggregate trials with im-aggregate)")
    if set(INFL_MATRIX_KEYS) <= keys or any(map(CLASS_KEY.match, keys)):
        return "infl_matrix"
    for kind, required in (("high_infl_pairs", PAIR_KEYS), ("index", INDEX_KEYS),
                           ("cscores", CSCORE_KEYS), ("estimates_stats", STATS_KEYS)):
        if set(required) <= keys:
            return kind
    raise ReleasedFormatError(path, f"keys {sorted(keys)} match no released format")


def load(path):
    """The validated object of any released-format file: InflMatrix (with its sidecar stats when next to
    it), PairsFrame, IndexFrame (DataFrames), CScores or EstimatesStats; its `.kind` is a key of KINDS."""
    if Path(path).suffix == ".npy":
        return load_cscores(path)
    arrays = _read_npz(path)
    kind = _kind(arrays, path)
    obj = KINDS[kind](arrays, path)
    if kind == "infl_matrix":
        sidecar = _sidecar_of(path)
        if sidecar is not None:
            obj.stats = load_estimates_stats(sidecar)
    return obj

