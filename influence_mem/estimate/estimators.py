"""Memorization and influence estimators of Algorithm 1 (numpy only).

Both estimates are a difference of two conditional accuracies,
P[correct | i in the subset] - P[correct | i not in the subset], so we keep only
counts: per training example the number of trials it was in (n_in), out
(n_out), and how often it was classified correctly (overall and while in);
per test example how often it was correct; and, for influence, S_in[i, j] =
number of trials with i in and test j correct = (in^T @ correct_test)[i, j].
The count of "i out and j correct" is then C_test[j] - S_in[i, j], so one
matmul per chunk of trials is all influence needs.

Counts add over trials, so `Accumulator` streams chunks of trials and
`estimate` (in-memory arrays) is the same accumulator fed once.

A term with no trials behind it (n_in = 0 or n_out = 0) is set to 1/2, the
convention of Lemma 2.1 (its squared error is then at most 1/4).
"""
import contextlib
import dataclasses
from typing import Dict, List, Optional

import numpy as np

try:  # ships with scikit-learn; optional
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

EMPTY_TERM = 0.5
_FULL_ROWS = 1024  # rows of the full [n, n_test] matrix per step (bounds temporaries)


def _one_blas_thread():
    """The per-class matmuls are small: BLAS threads only add overhead, and on a
    shared machine busy-waiting threads made them ~10x slower (docs/performance.md)."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def conditional_accuracies(s_in, n_in, total, n_out):
    """P[correct | in] and P[correct | out] from counts (broadcasting).

    s_in: correct while in; total: correct over all trials, so the out count is
    total - s_in.  A term whose trial count is 0 is EMPTY_TERM (Lemma 2.1).
    """
    s_in = np.asarray(s_in, np.float64)
    n_in = np.asarray(n_in)
    n_out = np.asarray(n_out)
    s_out = np.asarray(total, np.float64) - s_in
    shape = np.broadcast_shapes(s_in.shape, n_in.shape, n_out.shape, s_out.shape)
    p_in = np.divide(s_in, n_in, out=np.full(shape, EMPTY_TERM), where=n_in > 0)
    p_out = np.divide(s_out, n_out, out=np.full(shape, EMPTY_TERM), where=n_out > 0)
    return p_in, p_out


def difference_se(p_in, n_in, p_out, n_out):
    """Standard error of p_in - p_out (two independent binomial means).

    A term with no trials contributes 1/2, the largest error of the 1/2
    convention, so under-sampled examples never look precise.
    """
    n_in = np.asarray(n_in)
    n_out = np.asarray(n_out)
    var_in = np.where(n_in > 0, p_in * (1 - p_in) / np.maximum(n_in, 1), EMPTY_TERM**2)
    var_out = np.where(n_out > 0, p_out * (1 - p_out) / np.maximum(n_out, 1), EMPTY_TERM**2)
    return np.sqrt(var_in + var_out)


def subset_accuracy(correct_in, n_in) -> float:
    """Accuracy of the trials on their own training subsets, over every (trial, example in its subset):
    sum of correct-while-in counts / sum of n_in (NaN without trials)."""
    total = np.sum(n_in)
    return float(np.sum(correct_in) / total) if total else float("nan")


def lemma_bound(subset_ratio: float, num_trials: int) -> float:
    """Lemma 2.1 bound on the expected squared error of one estimate."""
    p = min(subset_ratio, 1 - subset_ratio)
    t = num_trials
    return 1 / (p * t) + 1 / ((1 - p) * t) + np.exp(-p * t / 16) / 2


def memorization_from_counts(tr_correct_in, tr_correct, n_in, n_out):
    """(mem, mem_se, mem_in, mem_out) of Alg. 1 line 5 from per-example counts: correct while in, correct
    over all trials, trials in, trials out."""
    mem_in, mem_out = conditional_accuracies(tr_correct_in, n_in, tr_correct, n_out)
    return mem_in - mem_out, difference_se(mem_in, n_in, mem_out, n_out), mem_in, mem_out


def influence_from_counts(s_in, n_in, tt_correct, n_out):
    """(infl, infl_se) float32 of one block (Alg. 1 line 7): s_in [rows, cols] = trials with train example
    `row` in and test example `col` correct; n_in / n_out [rows] per training row, tt_correct [cols]."""
    n_in, n_out = np.asarray(n_in)[:, None], np.asarray(n_out)[:, None]
    p_in, p_out = conditional_accuracies(s_in, n_in, np.asarray(tt_correct)[None, :], n_out)
    return (p_in - p_out).astype(np.float32), difference_se(p_in, n_in, p_out, n_out).astype(np.float32)


@dataclasses.dataclass
class Estimates:
    """Finalized estimates.  Influence is kept per class (same-label pairs).

    mem_in / mem_out are the two terms of Alg. 1 line 5 (mem_out is the
    held-out accuracy a C-score averages).  infl_blocks[c] has shape
    [len(tr_classidx[c]), len(tt_classidx[c])]; infl_full is [n, n_test] or
    None.
    """

    num_trials: int
    n_in: np.ndarray
    n_out: np.ndarray
    mem: np.ndarray
    mem_se: np.ndarray
    mem_in: np.ndarray
    mem_out: np.ndarray
    tt_correct: Optional[np.ndarray] = None
    classes: List[int] = dataclasses.field(default_factory=list)
    tr_classidx: Dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    tt_classidx: Dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    infl_blocks: Dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    infl_se_blocks: Dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    infl_full: Optional[np.ndarray] = None

    @property
    def num_no_in(self) -> int:
        return int(np.sum(self.n_in == 0))

    @property
    def num_no_out(self) -> int:
        return int(np.sum(self.n_out == 0))

    @property
    def train_accuracy(self) -> float:
        """Mean accuracy of the trials on their own training subsets (how well they fit them): P[correct on
        i | i in] weighted by n_in."""
        return subset_accuracy(self.mem_in * self.n_in, self.n_in)


class Accumulator:
    """Adds chunks of trials; `finalize` turns the counts into estimates.

    Influence is accumulated only for same-class pairs (one block per class,
    as in the released files) when labels are given, and for all pairs when
    `full` is given: a zeroed float32 [n, n_test] array (may be a memmap),
    which finalize overwrites in place with the influence estimates.
    float32 counts are exact below 2**24 trials.
    """

    def __init__(self, n: int, n_test: int = 0, tr_labels=None, tt_labels=None, full=None):
        self.n, self.n_test = int(n), int(n_test)
        self.num_trials = 0
        self.n_in = np.zeros(self.n, np.int64)
        self.tr_correct = np.zeros(self.n, np.int64)
        self.tr_correct_in = np.zeros(self.n, np.int64)
        self.tt_correct = np.zeros(self.n_test, np.int64)
        self.tr_classidx, self.tt_classidx, self.s_in_blocks = {}, {}, {}
        if tr_labels is not None:
            tr_labels, tt_labels = np.asarray(tr_labels), np.asarray(tt_labels)
            if tr_labels.shape != (self.n,) or tt_labels.shape != (self.n_test,):
                raise ValueError(
                    f"labels have shapes {tr_labels.shape}, {tt_labels.shape}; "
                    f"expected ({self.n},), ({self.n_test},)")
            for c in np.unique(np.concatenate([tr_labels, tt_labels])):
                c = int(c)
                self.tr_classidx[c] = np.flatnonzero(tr_labels == c)
                self.tt_classidx[c] = np.flatnonzero(tt_labels == c)
                self.s_in_blocks[c] = np.zeros(
                    (len(self.tr_classidx[c]), len(self.tt_classidx[c])), np.float64)
        if full is not None and full.shape != (self.n, self.n_test):
            raise ValueError(f"full influence array has shape {full.shape}, "
                             f"expected {(self.n, self.n_test)}")
        self.full = full
        self._finalized = False

    def add(self, in_mask, correct_train, correct_test=None):
        """Add k trials: in_mask, correct_train [k, n] bool; correct_test [k, n_test]."""
        if self._finalized:
            raise RuntimeError("Accumulator already finalized")
        in_mask = np.asarray(in_mask, bool)
        correct_train = np.asarray(correct_train, bool)
        k = in_mask.shape[0]
        if in_mask.shape != (k, self.n) or correct_train.shape != (k, self.n):
            raise ValueError(f"in_mask {in_mask.shape} and correct_train {correct_train.shape} "
                             f"must both be [k, {self.n}]")
        self.num_trials += k
        self.n_in += in_mask.sum(0)
        self.tr_correct += correct_train.sum(0)
        self.tr_correct_in += (in_mask & correct_train).sum(0)
        if correct_test is None:
            return
        correct_test = np.asarray(correct_test, bool)
        if correct_test.shape != (k, self.n_test):
            raise ValueError(f"correct_test {correct_test.shape} must be [{k}, {self.n_test}]")
        self.tt_correct += correct_test.sum(0)
        if not self.s_in_blocks and self.full is None:
            return
        in_f = in_mask.astype(np.float32)
        ct_f = correct_test.astype(np.float32)
        with _one_blas_thread():
            for c, s_in in self.s_in_blocks.items():
                s_in += in_f[:, self.tr_classidx[c]].T @ ct_f[:, self.tt_classidx[c]]
        if self.full is not None:
            for r0 in range(0, self.n, _FULL_ROWS):
                r1 = min(r0 + _FULL_ROWS, self.n)
                self.full[r0:r1] += in_f[:, r0:r1].T @ ct_f

    def finalize(self) -> Estimates:
        """Estimates from the counts so far.  Call once (full is overwritten)."""
        if self._finalized:
            raise RuntimeError("Accumulator already finalized")
        self._finalized = True
        n_in = self.n_in.copy()
        n_out = self.num_trials - n_in
        mem, mem_se, mem_in, mem_out = memorization_from_counts(self.tr_correct_in, self.tr_correct, n_in, n_out)
        est = Estimates(
            num_trials=self.num_trials, n_in=n_in, n_out=n_out, mem=mem, mem_se=mem_se, mem_in=mem_in,
            mem_out=mem_out, tt_correct=self.tt_correct.copy(), classes=sorted(self.s_in_blocks),
            tr_classidx=self.tr_classidx, tt_classidx=self.tt_classidx)
        for c, s_in in self.s_in_blocks.items():
            tr, tt = self.tr_classidx[c], self.tt_classidx[c]
            est.infl_blocks[c], est.infl_se_blocks[c] = influence_from_counts(
                s_in, n_in[tr], self.tt_correct[tt], n_out[tr])
        if self.full is not None:
            for r0 in range(0, self.n, _FULL_ROWS):
                r1 = min(r0 + _FULL_ROWS, self.n)
                p_in, p_out = conditional_accuracies(
                    self.full[r0:r1], n_in[r0:r1, None], self.tt_correct[None, :],
                    n_out[r0:r1, None])
                self.full[r0:r1] = p_in - p_out
            est.infl_full = self.full
        return est


def estimate_from_arrays(in_mask, correct_train, correct_test=None, tr_labels=None, tt_labels=None,
             full_influence: bool = False) -> Estimates:
    """Alg. 1 on in-memory arrays: in_mask, correct_train [t, n], correct_test [t, n_test].

    Same-class influence blocks need tr_labels [n] and tt_labels [n_test];
    full_influence adds the [n, n_test] matrix for all pairs.
    """
    in_mask = np.asarray(in_mask, bool)
    n = in_mask.shape[1]
    n_test = 0 if correct_test is None else np.shape(correct_test)[1]
    full = np.zeros((n, n_test), np.float32) if full_influence and n_test else None
    acc = Accumulator(n, n_test, tr_labels, tt_labels, full=full)
    acc.add(in_mask, correct_train, correct_test)
    return acc.finalize()
