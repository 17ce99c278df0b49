"""Selection of high-influence pairs (paper Sec. 2).

A pair (train i, test j) is selected when mem[i] >= mem_threshold,
infl[i, j] >= infl_threshold and label(i) = label(j); the label condition is
automatic because influence is kept in per-class blocks.  With min_z > 0 a
pair must also exceed the threshold by min_z of its standard errors
(infl - min_z * se >= infl_threshold).  The aggregator, turn-over dropout
and the analyses all select pairs here, so the rule exists once; released.py
only stores and validates the result.  expected_noise_pairs says how many
pairs the rule would select if no training example influenced any test
example; overlap is the consistency measures' set comparison.
"""
import numpy as np
import pandas as pd
from scipy.special import ndtr

from influence_mem.formats.released import PAIR_KEYS
from influence_mem.estimate.estimators import difference_se


def high_influence_pairs(mem, tr_classidx, tt_classidx, infl_blocks,
                         mem_threshold=0.25, infl_threshold=0.15, extra_blocks=None, min_z=0.0, se_blocks=None):
    """Selected pairs as arrays tr_idx, tt_idx, infl, mem sorted by (tr_idx, tt_idx).

    tr_classidx / tt_classidx / infl_blocks: dicts class -> indices / block.
    extra_blocks: optional dict name -> {class: block} of per-pair values to
    carry along (e.g. standard errors), returned under the same name.
    min_z > 0 also requires infl - min_z * se >= infl_threshold, se from
    se_blocks ({class: block} of standard errors, required then).
    """
    if min_z and se_blocks is None:
        raise ValueError("min_z > 0 needs the standard errors (se_blocks)")
    mem = np.asarray(mem)
    extra_blocks = extra_blocks or {}
    parts = {k: [] for k in ("tr_idx", "tt_idx", "infl", *extra_blocks)}
    for c, block in infl_blocks.items():
        tr, tt = np.asarray(tr_classidx[c]), np.asarray(tt_classidx[c])
        rows = np.flatnonzero(mem[tr] >= mem_threshold)
        if not len(rows) or not len(tt):
            continue
        selected = np.asarray(block)[rows] >= infl_threshold
        if min_z:
            selected &= np.asarray(block)[rows] - min_z * np.asarray(se_blocks[c])[rows] >= infl_threshold
        a, b = np.nonzero(selected)
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


def expected_noise_pairs(mem, n_in, n_out, tt_correct, num_trials, tr_classidx, tt_classidx,
                         mem_threshold=0.25, infl_threshold=0.15, min_z=0.0):
    """(expected number of pairs selected by noise alone, number of candidate pairs), from the counts.

    Candidates are the pairs the rule looks at: same class, mem[i] >= mem_threshold.  Under the null
    hypothesis that training example i does not influence test example j, whether j is classified
    correctly in a trial does not depend on whether i was in its subset: it is a Bernoulli(q_j) draw in
    every trial, with q_j estimated by tt_correct[j] / num_trials.  The estimate infl[i, j] = P_in - P_out
    is then a difference of two independent binomial means over n_in[i] and n_out[i] trials with the same
    mean: mean 0, variance se0^2 = q_j (1 - q_j) (1/n_in[i] + 1/n_out[i]) (estimators.difference_se), and
    approximately normal.  The pair is selected when infl >= theta (with min_z: infl - min_z * se >= theta,
    se ~ se0 under the null), with probability Phi(-theta / se0 - min_z); a test example always or never
    right (se0 = 0) gives an estimate of exactly 0, never selected.  By linearity of expectation (the
    pairs need not be independent) the expected count is the sum of these probabilities over the
    candidates.  One class block at a time: memory O(block).
    """
    mem, n_in, n_out = np.asarray(mem), np.asarray(n_in), np.asarray(n_out)
    q = np.asarray(tt_correct, np.float64) / max(int(num_trials), 1)
    expected, candidates = 0.0, 0
    for c, tr in tr_classidx.items():
        tr, tt = np.asarray(tr), np.asarray(tt_classidx[c])
        rows = tr[mem[tr] >= mem_threshold]
        if not len(rows) or not len(tt):
            continue
        q_c = q[None, tt]
        se0 = difference_se(q_c, n_in[rows, None], q_c, n_out[rows, None])
        z = np.divide(-float(infl_threshold), se0, out=np.full(se0.shape, -np.inf), where=se0 > 0) - min_z
        expected += float(ndtr(z).sum())
        candidates += len(rows) * len(tt)
    return expected, candidates


def pair_keys(tr_idx, tt_idx, n_test: int) -> np.ndarray:
    """One int64 per (train, test) pair, tr_idx * n_test + tt_idx: sets of pairs compare as sets of keys."""
    return np.asarray(tr_idx, np.int64) * int(n_test) + np.asarray(tt_idx, np.int64)


def overlap(keys_a, keys_b):
    """(intersection, union, Jaccard) of two sets of example ids or pair_keys, each without repeats: the
    comparison behind the consistency measures of paper 000 appendix C, eq. 4 (J = |I ∩ I'| / |I ∪ I'|, NaN
    for an empty union)."""
    inter, union = np.intersect1d(keys_a, keys_b, assume_unique=True), np.union1d(keys_a, keys_b)
    return inter, union, len(inter) / len(union) if len(union) else float("nan")
