"""How the estimates settle as trials accumulate (im-describe --convergence): one streaming pass.

The finished trials (optionally only `trials`) are read once, in id order, a
chunk at a time.  Usable trial k (k = 0, 1, ...) goes to half A when k is
even and to half B when k is odd; each half is an estimators.Accumulator (the
aggregator's counts), and the first t trials are A + B (counts add).  At each
checkpoint t (50, 100, 200, 400, ... and the final count) one row is computed
from the counts at that moment, class block by class block, so memory stays
at the two halves' counts plus one block of temporaries: the aggregator's
memory, twice.

Columns of a row (θ_mem, θ_infl, z: the row's mem_threshold, infl_threshold, z):
  trials, half_trials       t, and the trials in the smaller half (t // 2)
  mem_se_median, mem_se_p90 median and 90th percentile of mem_se over the training examples (first t)
  mem_error_split_half      measured error of mem from t trials, sqrt(mean((mem_A - mem_B)^2)) / 2: two
                            independent estimates from t/2 trials differ by twice the variance of one,
                            which is twice the variance of the estimate from all t
  mem_error_memorized       the same over the examples with mem >= θ_mem (first t): the ones the analyses
                            select (on easy data most examples are always right, and their error is 0)
  mem_error_lemma_bound     sqrt of the Lemma 2.1 bound (paper 000, Sec. 2) at t (estimators.lemma_bound)
  spearman_mem_halves       Spearman correlation of mem_A and mem_B (average ranks for ties)
  jaccard_mem_halves        J_mem(θ_mem) between the halves (appendix C, eq. 4; pairs.overlap)
  jaccard_infl_halves       J_infl(θ_infl) between the halves' pair selections (same class, mem >= θ_mem in
                            the half that selects the pair; pairs.high_influence_pairs)
  pairs                     pairs the first t trials select (mem >= θ_mem, infl >= θ_infl)
  pairs_above_z_se          of them, those with infl - z * se >= θ_infl
  noise_pairs_expected      pairs the first t trials would select if no influence were real
                            (pairs.expected_noise_pairs)
numpy only; the CSV and the figure are analysis.describe's.
"""
import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np

from influence_mem.estimate import fileio
from influence_mem.estimate.aggregator import (check_configs, find_ratio_dir, finished_trials, fit_warning,
                                               no_usable_trials, not_finished_warning, trial_selection)
from influence_mem.estimate.estimators import (Accumulator, influence_from_counts, lemma_bound,
                                               memorization_from_counts, subset_accuracy)
from influence_mem.estimate.pairs import expected_noise_pairs, high_influence_pairs, overlap, pair_keys
from influence_mem.estimate.trials import TrialReader, load_dataset_meta, ratio_dirs
from influence_mem.formats.trial import META_FILE

FIRST_CHECKPOINT = 50
COLUMNS = ("trials", "half_trials", "mem_se_median", "mem_se_p90", "mem_error_split_half", "mem_error_memorized",
           "mem_error_lemma_bound",
           "spearman_mem_halves", "jaccard_mem_halves", "jaccard_infl_halves", "pairs", "pairs_above_z_se",
           "noise_pairs_expected", "mem_threshold", "infl_threshold", "z")


@dataclasses.dataclass
class Convergence:
    rows: List[Dict[str, float]]      # one per checkpoint, keys COLUMNS
    num_trials: int                   # usable trials read
    skipped: List[Tuple[int, str]]
    train_accuracy: float             # the trials' mean accuracy on their training subsets (all trials)
    subset_ratio: float
    warnings: List[str]


def checkpoints(total: int, first: int = FIRST_CHECKPOINT) -> List[int]:
    """[first, 2 first, 4 first, ... below total, total] ([total] when total <= first)."""
    points, t = [], first
    while t < total:
        points.append(t)
        t *= 2
    return points + [total] if total > 0 else points


def average_ranks(values) -> np.ndarray:
    """Ranks 0..n-1 of values, ties sharing their average rank."""
    _, inverse, counts = np.unique(np.asarray(values), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse.ravel()]


def spearman(a, b) -> float:
    """Spearman's rank correlation (Pearson's of the average ranks); NaN when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = np.sqrt(np.sum(ra * ra) * np.sum(rb * rb))
    return float(np.sum(ra * rb) / norm) if norm > 0 else float("nan")


def _memorization(tr_correct_in, tr_correct, n_in, num_trials):
    """(mem as written in the released files (float32), mem_se) from counts."""
    mem, mem_se, _, _ = memorization_from_counts(tr_correct_in, tr_correct, n_in, num_trials - n_in)
    return mem.astype(np.float32), mem_se


def snapshot(a: Accumulator, b: Accumulator, subset_ratio: float, mem_threshold: float = 0.25,
             infl_threshold: float = 0.15, z: float = 2.0) -> Dict[str, float]:
    """One row of the table (COLUMNS) from the counts of the two halves (labels given to both)."""
    t = a.num_trials + b.num_trials
    n_in, tt_correct = a.n_in + b.n_in, a.tt_correct + b.tt_correct
    mem, mem_se = _memorization(a.tr_correct_in + b.tr_correct_in, a.tr_correct + b.tr_correct, n_in, t)
    mem_a, _ = _memorization(a.tr_correct_in, a.tr_correct, a.n_in, a.num_trials)
    mem_b, _ = _memorization(b.tr_correct_in, b.tr_correct, b.n_in, b.num_trials)
    squared = (mem_a.astype(np.float64) - mem_b) ** 2
    memorized = mem >= mem_threshold
    keys_a, keys_b, pairs, confident = [], [], 0, 0
    for c, tr in a.tr_classidx.items():
        tt = a.tt_classidx[c]
        one = ({c: tr}, {c: tt})
        for half, mem_h, keys in ((a, mem_a, keys_a), (b, mem_b, keys_b)):
            infl, _ = influence_from_counts(half.s_in_blocks[c], half.n_in[tr], half.tt_correct[tt],
                                            half.num_trials - half.n_in[tr])
            sel = high_influence_pairs(mem_h, *one, {c: infl}, mem_threshold, infl_threshold)
            keys.append(pair_keys(sel["tr_idx"], sel["tt_idx"], a.n_test))
        infl, se = influence_from_counts(a.s_in_blocks[c] + b.s_in_blocks[c], n_in[tr], tt_correct[tt],
                                         t - n_in[tr])
        sel = high_influence_pairs(mem, *one, {c: infl}, mem_threshold, infl_threshold, extra_blocks={"se": {c: se}})
        pairs += len(sel["tr_idx"])
        confident += int(np.sum(sel["infl"] - z * sel["se"] >= infl_threshold))
    noise, _ = expected_noise_pairs(mem, n_in, t - n_in, tt_correct, t, a.tr_classidx, a.tt_classidx,
                                    mem_threshold, infl_threshold)
    return dict(
        trials=t, half_trials=min(a.num_trials, b.num_trials),
        mem_se_median=float(np.median(mem_se)), mem_se_p90=float(np.percentile(mem_se, 90)),
        mem_error_split_half=float(np.sqrt(np.mean(squared)) / 2),
        mem_error_memorized=float(np.sqrt(np.mean(squared[memorized])) / 2) if memorized.any() else float("nan"),
        mem_error_lemma_bound=float(np.sqrt(lemma_bound(subset_ratio, t))),
        spearman_mem_halves=spearman(mem_a, mem_b),
        jaccard_mem_halves=overlap(np.flatnonzero(mem_a >= mem_threshold), np.flatnonzero(mem_b >= mem_threshold))[2],
        jaccard_infl_halves=overlap(np.concatenate(keys_a), np.concatenate(keys_b))[2] if keys_a else float("nan"),
        pairs=pairs, pairs_above_z_se=confident, noise_pairs_expected=noise,
        mem_threshold=float(mem_threshold), infl_threshold=float(infl_threshold), z=float(z))


def convergence_table(workdir, subset_ratio: float = 0.7, trials=None, mem_threshold: float = 0.25,
                      infl_threshold: float = 0.15, z: float = 2.0, chunk_size: int = 100,
                      first: int = FIRST_CHECKPOINT, min_train_accuracy: Optional[float] = 0.95) -> Convergence:
    """The convergence rows of a trainer workdir's trials of `subset_ratio` (one pass; see the module doc).

    trials: only these ids (aggregator.trial_selection: a --trials spec, TrialIds or ids).  Raises
    AggregateError (no ratio directory, no usable or selected trials, trials of different configs) or
    trials.MetaError (bad dataset_meta.npz).
    """
    workdir = str(workdir)
    selection = trial_selection(trials)
    meta = load_dataset_meta(fileio.join(workdir, META_FILE))
    ratios = ratio_dirs(workdir) if fileio.is_dir(workdir) else {}
    ratio_dir = find_ratio_dir(ratios, subset_ratio, workdir)
    listed, not_finished = finished_trials(ratio_dir, selection)
    check_configs(workdir, [ratio_dir], selection)
    warnings = not_finished_warning(not_finished, selection, ratio_dir)
    n, n_test = len(meta.tr_labels), len(meta.tt_labels)
    halves = [Accumulator(n, n_test, meta.tr_labels, meta.tt_labels) for _ in range(2)]
    points = checkpoints(len(listed), first)
    reader = TrialReader(listed, n, n_test, chunk_size, subset_ratio=subset_ratio, max_elements=n + n_test)
    rows, k = [], 0
    for chunk in reader.chunks():
        start = 0
        while start < len(chunk[0]):
            stop = len(chunk[0]) if not points else min(len(chunk[0]), start + points[0] - k)
            for h, half in enumerate(halves):  # row r is trial k + r - start: half (k + r - start) % 2
                first_row = start + (h - k) % 2
                if first_row < stop:
                    half.add(*(part[first_row:stop:2] for part in chunk))
            k += stop - start
            start = stop
            if points and k == points[0]:
                rows.append(snapshot(*halves, subset_ratio, mem_threshold, infl_threshold, z))
                points.pop(0)
    if k == 0:
        raise no_usable_trials(ratio_dir, reader)
    if not rows or rows[-1]["trials"] != k:  # trials were skipped: the last checkpoint is the usable count
        rows.append(snapshot(*halves, subset_ratio, mem_threshold, infl_threshold, z))
    a, b = halves
    accuracy = subset_accuracy(a.tr_correct_in + b.tr_correct_in, a.n_in + b.n_in)
    fit = fit_warning(accuracy, min_train_accuracy)
    return Convergence(rows, k, reader.skipped, accuracy, float(subset_ratio), warnings + ([fit] if fit else []))
