"""Read, validate and write the released estimate formats (numpy/pandas only).

Every analysis loads estimates through this module, whether they are the
authors' downloads or our aggregator's output, so a malformed file fails
here with one clear `ReleasedFormatError` naming the file and the problem.
Formats (see docs/formats.md):

- infl matrix   `<name>_infl_matrix.npz`: tr_labels, tt_labels, tr_mem and per
                class c tr_classidx_{c}, tt_classidx_{c}, infl_matrix_class{c}
- pairs         `<name>_high_infl_pairs_infl{θ}_mem{θ}.npz`: tr_idx, tt_idx, infl, mem
- index         `imagenet_index.npz` / `<name>_index.npz`: tr_filenames, tr_labels, tr_mem
- C-scores      `.npz`: labels, scores (+ filenames); MNIST `.npy`: scores only
- stats         `<name>_estimates_stats.npz`: our sidecar (counts, std errors)
- full          `<name>_infl_full.npy`: optional dense [n, n_test] influence

This module is the only place that spells these file names: `find_estimate_set`
finds a set in a directory, `write_estimate_set` writes one (the aggregator and
turn-over dropout both use it).  Writers validate with the same checks as the
readers and write atomically (temporary name, then rename), so an existing file
is never half-replaced.  It sits below the estimators and imports none of them.
"""
import contextlib
import dataclasses
import errno
import glob
import os
import re
import zipfile
from pathlib import Path
from typing import ClassVar, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pandas as pd

from influence_mem import released_files
from influence_mem.released_files import fetch  # noqa: F401  (released.fetch: the authors' files)

_CLASS_KEY = re.compile(r"^(tr_classidx_|tt_classidx_|infl_matrix_class)(\d+)$")
PAIR_KEYS = ("tr_idx", "tt_idx", "infl", "mem")
INDEX_KEYS = ("tr_filenames", "tr_labels", "tr_mem")
STATS_KEYS = ("num_trials", "subset_ratio", "n_in", "n_out", "mem_se")


class ReleasedFormatError(ValueError):
    """A file that is not a valid released-format file."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


class EstimateSetError(ValueError):
    """A directory without the estimate files an analysis needs, or a set that does not fit the
    analysis (e.g. other examples); the message names the directory or file."""


# ---------------------------------------------------------------- file names

_INFL_MATRIX_SUFFIX = "_infl_matrix.npz"
_PAIRS_PATTERN = "{name}_high_infl_pairs_infl{infl}_mem{mem}.npz"


def infl_matrix_filename(name: str) -> str:
    return f"{name}{_INFL_MATRIX_SUFFIX}"


def high_infl_pairs_filename(name: str, infl_threshold: float, mem_threshold: float) -> str:
    """e.g. cifar100_high_infl_pairs_infl0.15_mem0.25.npz (thresholds as %g)."""
    return _PAIRS_PATTERN.format(name=name, infl=f"{infl_threshold:g}", mem=f"{mem_threshold:g}")


def index_filename(name: str) -> str:
    return f"{name}_index.npz"


def cscores_filename(name: str) -> str:
    return f"{name}-cscores-orig-order.npz"


def stats_filename(name: str) -> str:
    return f"{name}_estimates_stats.npz"


def infl_full_filename(name: str) -> str:
    return f"{name}_infl_full.npy"


_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_output_name(name, source: str = "--name") -> str:
    """`name` if it may prefix output file names, else ValueError naming `source` (the flag, labels file or
    dataset it came from).  The one rule: letters, digits, '_', '-' and '.', no path separators, not '.'
    or '..', so every file written as <name>_... stays in its output directory."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{source}: output name {name!r} may hold only letters, digits, '_', '-' and '.' "
                         f"(no path separators; not '.' or '..'); pass --name")
    return name


def default_output_name(dataset: str) -> str:
    """The default output name of a dataset: 'npz:/d/mine.npz' -> 'mine', 'tfrecord:/d/in/' -> 'in', a
    registry name as is (not yet checked: pass the result to check_output_name)."""
    for prefix in ("npz:", "tfrecord:"):
        if dataset.startswith(prefix):
            stem = os.path.basename(dataset[len(prefix):].rstrip("/\\"))
            return stem[: -len(".npz")] if prefix == "npz:" and stem.endswith(".npz") else stem
    return dataset


def check_output_dir(path, flag: str = "--output_dir") -> None:
    """ValueError (one line naming `flag`) unless `path` is, or can be made, a writable local directory;
    checked before anything is written."""
    path = str(path)
    if not path.strip():
        raise ValueError(f"{flag} is empty")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag}={path}: exists and is not a directory")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):  # the nearest existing ancestor must let us create the rest
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}={path}: {parent} is not a writable directory")


def find_estimate_set(directory: str, name: str = None) -> dict:
    """{'name', 'infl_matrix', 'pairs', 'stats', 'cscores'}: paths of estimate set `name` in
    `directory` (None: absent); EstimateSetError when there is no (single) infl matrix.

    `name` may be omitted when the directory holds exactly one <name>_infl_matrix.npz.
    """
    if not os.path.isdir(directory):
        raise EstimateSetError(f"{directory}: no such directory")
    matrices = sorted(glob.glob(os.path.join(glob.escape(directory), infl_matrix_filename(name or "*"))))
    if not matrices:
        raise EstimateSetError(f"{directory}: no {infl_matrix_filename(name or '<name>')} found")
    if len(matrices) > 1:
        raise EstimateSetError(f"{directory}: several estimates ({', '.join(map(os.path.basename, matrices))}); "
                               f"pass --name")
    prefix = matrices[0][: -len(_INFL_MATRIX_SUFFIX)]
    pairs = sorted(glob.glob(_PAIRS_PATTERN.format(name=glob.escape(prefix), infl="*", mem="*")))
    stats = stats_filename(prefix)
    cscores = cscores_filename(prefix)
    return {"name": os.path.basename(prefix), "infl_matrix": matrices[0], "pairs": pairs[0] if pairs else None,
            "stats": stats if os.path.exists(stats) else None,
            "cscores": cscores if os.path.exists(cscores) else None}


# ---------------------------------------------------------------- reading

# Released files are read whole; a file declaring more than this (after decompression) is refused before any
# array is read (a zip bomb: a few MB declaring GBs).  The largest released file (the ImageNet infl matrix) holds
# about 0.3 GB.
MAX_RELEASED_BYTES = 2 * 1024 ** 3


def _npy_header(fp):
    """(shape, dtype) of an .npy stream positioned at its start, reading only the header; None if the stream
    is not an .npy array (np.load then returns its raw bytes)."""
    magic = fp.read(len(np.lib.format.MAGIC_PREFIX))
    if magic != np.lib.format.MAGIC_PREFIX:
        return None
    version = (ord(fp.read(1)), ord(fp.read(1)))
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs only by a UTF-8 header: shape and itemsize read the same
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    return shape, dtype


def check_npz_size(file, max_elements: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
    """ValueError (one line) if an .npz archive (a path or a seekable binary file) declares an array of more
    than `max_elements` elements, or more than `max_bytes` in all, once decompressed.

    Reads only the zip directory and each .npy header, so a zip bomb costs nothing; np.load reads no more
    than a member's header declares, so checking the declarations bounds the memory of the load.
    """
    total = 0
    with zipfile.ZipFile(file) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                try:
                    header = _npy_header(member)
                except (ValueError, TypeError, SyntaxError) as e:
                    raise ValueError(f"member {info.filename}: unreadable .npy header ({e})") from None
            if header is None:  # not an array: np.load would return its raw bytes
                size, elements = info.file_size, info.file_size
            else:
                shape, dtype = header
                elements = int(np.prod(shape, dtype=object))
                size = elements * dtype.itemsize
            if max_elements is not None and elements > max_elements:
                raise ValueError(f"member {info.filename} declares {elements:,} elements, more than the "
                                 f"{max_elements:,} this file may hold (corrupt or crafted)")
            total += size
            if max_bytes is not None and total > max_bytes:
                raise ValueError(f"declares more than {max_bytes:,} bytes of arrays once decompressed "
                                 f"(at {info.filename}; a zip bomb or not a file of this kind)")


def _read_npz(path) -> Dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise ReleasedFormatError(path, "no such file")
    if not zipfile.is_zipfile(path):
        raise ReleasedFormatError(path, "not an .npz file (not a zip archive)")
    try:
        check_npz_size(path, max_bytes=MAX_RELEASED_BYTES)
    except ValueError as e:
        raise ReleasedFormatError(path, f"refused: {e}") from None
    except Exception as e:  # zipfile raises many types for a corrupt archive
        raise ReleasedFormatError(path, f"unreadable .npz ({type(e).__name__}: {e})") from None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # zipfile / numpy raise many types for a corrupt file
        raise ReleasedFormatError(path, f"unreadable .npz ({type(e).__name__}: {e})") from None


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
    if not integer and a.dtype.kind not in "fiub" and key not in ("tr_filenames", "filenames"):
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
    _require(arrays, ("tr_labels", "tt_labels", "tr_mem"), path, "infl matrix")
    tr_labels = _vector(arrays, "tr_labels", path, integer=True)
    tt_labels = _vector(arrays, "tt_labels", path, integer=True)
    tr_mem = _vector(arrays, "tr_mem", path, length=len(tr_labels))
    classes = sorted({int(m.group(2)) for m in map(_CLASS_KEY.match, arrays) if m})
    if not classes:
        raise ReleasedFormatError(path, "no infl_matrix_class{c} keys for the infl matrix format")
    tr_idx, tt_idx, blocks = {}, {}, {}
    for c in classes:
        keys = (f"tr_classidx_{c}", f"tt_classidx_{c}", f"infl_matrix_class{c}")
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
    n = len(_vector(arrays, "tr_idx", path, integer=True))
    _vector(arrays, "tt_idx", path, integer=True, length=n)
    for key in ("infl", "mem"):
        _vector(arrays, key, path, length=n)
    return PairsFrame({k: arrays[k] for k in PAIR_KEYS})


def _check_index(arrays, path) -> IndexFrame:
    _require(arrays, INDEX_KEYS, path, "index")
    n = len(_vector(arrays, "tr_filenames", path))
    _vector(arrays, "tr_labels", path, integer=True, length=n)
    _vector(arrays, "tr_mem", path, length=n)
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
    _require(arrays, ("labels", "scores"), path, "C-scores")
    scores = _vector(arrays, "scores", path)
    labels = _vector(arrays, "labels", path, integer=True, length=len(scores))
    names = _vector(arrays, "filenames", path, length=len(scores)) if "filenames" in arrays else None
    return CScores(scores, labels, names)


def _check_stats(arrays, path) -> EstimatesStats:
    _require(arrays, STATS_KEYS, path, "estimates stats")
    n = len(_vector(arrays, "n_in", path, integer=True))
    _vector(arrays, "n_out", path, integer=True, length=n)
    _vector(arrays, "mem_se", path, length=n)
    return EstimatesStats(arrays)


def _sidecar_of(path) -> Optional[Path]:
    """<name>_estimates_stats.npz next to <name>_infl_matrix.npz, if it is there."""
    path = Path(path)
    suffix = "_infl_matrix.npz"
    if not path.name.endswith(suffix):
        return None
    sidecar = path.with_name(stats_filename(path.name[:-len(suffix)]))
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
    if not path.is_file():
        raise ReleasedFormatError(path, "no such file")
    try:
        with open(path, "rb") as f:
            header = _npy_header(f)
        if header and int(np.prod(header[0], dtype=object)) * header[1].itemsize > MAX_RELEASED_BYTES:
            raise ReleasedFormatError(path, f"refused: declares an array {header[0]} of {header[1]}, more than "
                                            f"{MAX_RELEASED_BYTES:,} bytes (corrupt or crafted)")
        scores = np.load(path, allow_pickle=False)
    except ReleasedFormatError:
        raise
    except Exception as e:
        raise ReleasedFormatError(path, f"not a readable .npy file ({type(e).__name__}: {e})") from None
    return CScores(_vector({"scores": scores}, "scores", path))


def load_estimates_stats(path) -> EstimatesStats:
    return _check_stats(_read_npz(path), path)


def memorization(path) -> np.ndarray:
    """The memorization vector tr_mem of an infl matrix or index file."""
    arrays = _read_npz(path)
    if "tr_filenames" in arrays:
        return _check_index(arrays, path)["tr_mem"].to_numpy()
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
    if {"tr_labels", "tt_labels", "tr_mem"} <= keys or any(map(_CLASS_KEY.match, keys)):
        return "infl_matrix"
    for kind, required in (("high_infl_pairs", PAIR_KEYS), ("index", INDEX_KEYS),
                           ("cscores", ("labels", "scores")), ("estimates_stats", STATS_KEYS)):
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


# ---------------------------------------------------------------- order remapping

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
        labels = checked["tr_labels"].to_numpy()
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


# ---------------------------------------------------------------- writing

@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it over `path` only on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_npz(path, arrays):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_infl_matrix(path, tr_labels, tt_labels, tr_mem, tr_classidx, tt_classidx, blocks):
    """Write `<name>_infl_matrix.npz` from dicts class -> indices / influence block."""
    arrays = {"tr_labels": np.asarray(tr_labels, np.int64),
              "tt_labels": np.asarray(tt_labels, np.int64),
              "tr_mem": np.asarray(tr_mem, np.float32)}
    for c in sorted(blocks):
        arrays[f"tr_classidx_{c}"] = np.asarray(tr_classidx[c], np.int64)
        arrays[f"tt_classidx_{c}"] = np.asarray(tt_classidx[c], np.int64)
        arrays[f"infl_matrix_class{c}"] = np.asarray(blocks[c], np.float32)
    _check_infl_matrix(arrays, path)
    return _write_npz(path, arrays)


def write_high_infl_pairs(path, tr_idx, tt_idx, infl, mem):
    arrays = {"tr_idx": np.asarray(tr_idx, np.int64), "tt_idx": np.asarray(tt_idx, np.int64),
              "infl": np.asarray(infl, np.float32), "mem": np.asarray(mem, np.float32)}
    _check_pairs(arrays, path)
    return _write_npz(path, arrays)


def write_index(path, tr_filenames, tr_labels, tr_mem):
    arrays = {"tr_filenames": np.asarray(tr_filenames), "tr_labels": np.asarray(tr_labels, np.int64),
              "tr_mem": np.asarray(tr_mem, np.float32)}
    _check_index(arrays, path)
    return _write_npz(path, arrays)


def write_cscores(path, scores, labels=None, filenames=None):
    """`.npz` with labels, scores (+ filenames); a `.npy` path writes scores only (MNIST style)."""
    path = Path(path)
    scores = np.asarray(scores, np.float64)
    if path.suffix == ".npy":
        _vector({"scores": scores}, "scores", path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, scores)
        return path
    arrays = {"labels": np.asarray(labels, np.int64), "scores": scores}
    if filenames is not None:
        arrays["filenames"] = np.asarray(filenames)
    _check_cscores(arrays, path)
    return _write_npz(path, arrays)


def write_estimates_stats(path, **arrays):
    """Our sidecar: any arrays, at least num_trials, subset_ratio, n_in, n_out, mem_se."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    _check_stats(arrays, path)
    return _write_npz(path, arrays)


def open_infl_full(path, n: int, n_test: int) -> np.memmap:
    """A zeroed float32 [n, n_test] `.npy` memmap at `path`, to be filled in place (the dense
    influence is too large to hold twice); pass it to write_estimate_set(infl_full=...).

    The file's blocks are allocated before it is mapped (posix_fallocate, else written with zeros), so a
    full disk is an OSError (ENOSPC) here, never a SIGBUS when the mapping is written later.
    """
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (int(n), int(n_test))}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        offset = f.tell()
        size = offset + int(n) * int(n_test) * 4
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except (AttributeError, OSError) as e:
            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                raise
            zeros = bytes(1 << 20)  # no fallocate here: write the zeros, so every block exists
            for start in range(offset, size, len(zeros)):
                f.write(zeros[: min(len(zeros), size - start)])
            f.flush()
    return np.memmap(path, np.float32, "r+", offset, (int(n), int(n_test)))


def _write_npy(path, array):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return Path(path)


def write_estimate_set(directory, name: str, tr_labels, tt_labels, tr_mem, tr_classidx, tt_classidx, blocks,
                       pairs: Mapping[str, np.ndarray], mem_threshold: float, infl_threshold: float,
                       stats: Mapping[str, np.ndarray], tr_filenames=None, cscores=None,
                       infl_full=None) -> Dict[str, Path]:
    """Write one estimate set `name` into `directory`; {file name: path} of what was written.

    Always the infl matrix, the high-influence pairs (`pairs`: tr_idx, tt_idx,
    infl, mem, selected at mem_threshold / infl_threshold) and the stats
    sidecar; the index when `tr_filenames` is given; C-scores (`cscores`, with
    tr_labels and tr_filenames) when given; the dense influence `infl_full`
    when given (an open_infl_full memmap already at its file is only flushed).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    if cscores is not None:
        paths.append(write_cscores(directory / cscores_filename(name), cscores, labels=tr_labels,
                                   filenames=tr_filenames))
    paths.append(write_infl_matrix(directory / infl_matrix_filename(name), tr_labels, tt_labels, tr_mem,
                                   tr_classidx, tt_classidx, blocks))
    paths.append(write_high_infl_pairs(directory / high_infl_pairs_filename(name, infl_threshold, mem_threshold),
                                       pairs["tr_idx"], pairs["tt_idx"], pairs["infl"], pairs["mem"]))
    if tr_filenames is not None:
        paths.append(write_index(directory / index_filename(name), tr_filenames, tr_labels, tr_mem))
    paths.append(write_estimates_stats(directory / stats_filename(name), **stats))
    if infl_full is not None:
        path = directory / infl_full_filename(name)
        mapped = getattr(infl_full, "filename", None)
        if isinstance(infl_full, np.memmap) and mapped and os.path.abspath(mapped) == os.path.abspath(path):
            infl_full.flush()
            paths.append(path)
        else:
            paths.append(_write_npy(path, np.asarray(infl_full, np.float32)))
    return {p.name: p for p in paths}


if __name__ == "__main__":  # python -m influence_mem.released {list, fetch NAME, check FILE}
    raise SystemExit(released_files.main())
