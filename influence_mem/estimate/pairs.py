"""Selection of high-influence pairs (paper Sec. 2).

A pair (train i, test j) is selected when mem[i] >= mem_threshold,
infl[i, j] >= infl_threshold and label(i) = label(j); the label condition is
automatic because influence is kept in per-class blocks.  The aggregator,
turn-over dropout and the analyses all select pairs here, so the rule exists
once; released.py only stores and validates the result.
"""
import numpy as np
import pandas as pd

from influence_mem.released import PAIR_KEYS


def high_influence_pairs(mem, tr_classidx, tt_classidx, infl_blocks,
                         mem_threshold=0.25, infl_threshold=0.15, extra_blocks=None):
    """Selected pairs as arrays tr_idx, tt_idx, infl, mem sorted by (tr_idx, tt_idx).

    tr_classidx / tt_classidx / infl_blocks: dicts class -> indices / block.
    extra_blocks: optional dict name -> {class: block} of per-pair values to
    carry along (e.g. standard errors), returned under the same name.
    """
    mem = np.asarray(mem)
    extra_blocks = extra_blocks or {}
    parts = {k: [] for k in ("tr_idx", "tt_idx", "infl", *extra_blocks)}
    for c, block in infl_blocks.items():
        tr, tt = np.asarray(tr_classidx[c]), np.asarray(tt_classidx[c])
        rows = np.flatnonzero(mem[tr] >= mem_threshold)
        if not len(rows) or not len(tt):
            continue
        a, b = np.nonzero(np.asarray(block)[rows] >= infl_threshold)
        a = rows[a]
        parts["tr_idx"].append(tr[a])
        parts["tt_idx"].append(tt[b])
        parts["infl"].append(np.asarray(block)[a, b])
        for name, blocks in extra_blocks.items():
            parts[name].append(np.asarray(blocks[c])[a, b])
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    out["tr_idx"] = out["tr_idx"].astype(np.int64)
    out["tt_idx"] = out["tt_idx"].astype(np.int64)
    out["infl"] = out["infl"].astype(np.float32)
    order = np.lexsort((out["tt_idx"], out["tr_idx"]))
    out = {k: v[order] for k, v in out.items()}
    out["mem"] = mem[out["tr_idx"]].astype(np.float32)
    return out


def pairs_from_matrix(matrix, mem_threshold=0.25, infl_threshold=0.15) -> pd.DataFrame:
    """The pairs of a released.InflMatrix as a DataFrame (tr_idx, tt_idx, infl, mem)."""
    return pd.DataFrame(high_influence_pairs(
        matrix.tr_mem, matrix.tr_classidx, matrix.tt_classidx, matrix.blocks,
        mem_threshold, infl_threshold))[list(PAIR_KEYS)]
