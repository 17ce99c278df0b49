"""Write the released formats: validated with the readers' own checks, written atomically (a temporary
name, then a rename), so an existing file is never half-replaced.  The aggregator and turn-over dropout
both write their estimate sets with write_estimate_set.
"""
import contextlib
import errno
import os
from pathlib import Path
from typing import Dict, Mapping

import numpy as np

from influence_mem.formats.released.names import (CSCORE_FILENAMES, CSCORE_KEYS, INDEX_KEYS, INFL_MATRIX_KEYS,
                                                  PAIR_KEYS, class_keys, cscores_filename, high_infl_pairs_filename,
                                                  index_filename, infl_full_filename, infl_matrix_filename,
                                                  stats_filename)
from influence_mem.formats.released.read import (_check_cscores, _check_index, _check_infl_matrix, _check_pairs,
                                                 _check_stats, _vector)

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
    arrays = dict(zip(INFL_MATRIX_KEYS, (np.asarray(tr_labels, np.int64), np.asarray(tt_labels, np.int64),
                                         np.asarray(tr_mem, np.float32))))
    for c in sorted(blocks):
        train_key, test_key, block_key = class_keys(c)
        arrays[train_key] = np.asarray(tr_classidx[c], np.int64)
        arrays[test_key] = np.asarray(tt_classidx[c], np.int64)
        arrays[block_key] = np.asarray(blocks[c], np.float32)
    _check_infl_matrix(arrays, path)
    return _write_npz(path, arrays)


def write_high_infl_pairs(path, tr_idx, tt_idx, infl, mem):
    arrays = dict(zip(PAIR_KEYS, (np.asarray(tr_idx, np.int64), np.asarray(tt_idx, np.int64),
                                  np.asarray(infl, np.float32), np.asarray(mem, np.float32))))
    _check_pairs(arrays, path)
    return _write_npz(path, arrays)


def write_index(path, tr_filenames, tr_labels, tr_mem):
    arrays = dict(zip(INDEX_KEYS, (np.asarray(tr_filenames), np.asarray(tr_labels, np.int64),
                                   np.asarray(tr_mem, np.float32))))
    _check_index(arrays, path)
    return _write_npz(path, arrays)


def write_cscores(path, scores, labels=None, filenames=None):
    """`.npz` with labels, scores (+ filenames); a `.npy` path writes scores only (MNIST style)."""
    path = Path(path)
    scores = np.asarray(scores, np.float64)
    if path.suffix == ".npy":
        _vector({CSCORE_KEYS[1]: scores}, CSCORE_KEYS[1], path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, scores)
        return path
    arrays = dict(zip(CSCORE_KEYS, (np.asarray(labels, np.int64), scores)))
    if filenames is not None:
        arrays[CSCORE_FILENAMES] = np.asarray(filenames)
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
