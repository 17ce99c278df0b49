"""A simulated learner with known memorization and influence (tests, benchmarks).

Training example i is classified correctly with probability p_in[i] when it
is in the subset and p_out[i] when not, so its true memorization is
p_in - p_out.  Test example j is correct with probability q[j], except for
planted pairs (i -> j), where it is q_in[j] if i is in the subset and
q_out[j] otherwise: the true influence of i on j is then q_in - q_out, and 0
for every other pair.  Trials and dataset metadata are written in the
trainer's format (estimate.trial_format), so the aggregator reads them as it
reads real trials.
"""
import dataclasses
import os
from pathlib import Path

import numpy as np

from influence_mem.formats.trial import subset_size
from influence_mem.formats import trial as trial_format


@dataclasses.dataclass
class SimulatedLearner:
    p_in: np.ndarray
    p_out: np.ndarray
    q: np.ndarray
    planted_tr: np.ndarray  # planted pair k: train id planted_tr[k] -> test id planted_tt[k]
    planted_tt: np.ndarray
    q_in: np.ndarray  # per planted pair
    q_out: np.ndarray

    @property
    def n(self):
        return len(self.p_in)

    @property
    def n_test(self):
        return len(self.q)

    @property
    def true_mem(self):
        return self.p_in - self.p_out

    def true_infl(self):
        """Dense [n, n_test] true influence (small problems only)."""
        infl = np.zeros((self.n, self.n_test))
        infl[self.planted_tr, self.planted_tt] = self.q_in - self.q_out
        return infl

    def trial(self, rng, subset_ratio):
        """One trial: (in_mask [n], correct_train [n], correct_test [n_test]) bools."""
        n = self.n
        in_mask = np.zeros(n, bool)
        in_mask[rng.permutation(n)[:subset_size(n, subset_ratio)]] = True
        correct_train = rng.random(n) < np.where(in_mask, self.p_in, self.p_out)
        q = self.q.copy()
        q[self.planted_tt] = np.where(in_mask[self.planted_tr], self.q_in, self.q_out)
        return in_mask, correct_train, rng.random(self.n_test) < q

    def trials(self, rng, subset_ratio, t):
        """t trials stacked: in_mask, correct_train [t, n], correct_test [t, n_test]."""
        rows = [self.trial(rng, subset_ratio) for _ in range(t)]
        return tuple(np.stack(r) for r in zip(*rows))


def make_learner(rng, tr_labels, tt_labels, mem_fraction=0.2, pairs_per_class=2):
    """A learner where mem_fraction of examples are memorized (p_in 0.95, p_out 0.1),
    the rest typical (0.97 / 0.9), test accuracy 0.85, and in each class
    pairs_per_class memorized examples each raise one same-class test example
    from 0.1 to 0.9 accuracy (influence 0.8)."""
    tr_labels, tt_labels = np.asarray(tr_labels), np.asarray(tt_labels)
    n, n_test = len(tr_labels), len(tt_labels)
    memorized = rng.random(n) < mem_fraction
    p_in = np.where(memorized, 0.95, 0.97)
    p_out = np.where(memorized, 0.1, 0.9)
    planted_tr, planted_tt = [], []
    for c in np.unique(tr_labels):
        cand_tr = rng.permutation(np.flatnonzero((tr_labels == c) & memorized))
        cand_tt = rng.permutation(np.flatnonzero(tt_labels == c))
        k = min(pairs_per_class, len(cand_tr), len(cand_tt))
        planted_tr += list(cand_tr[:k])
        planted_tt += list(cand_tt[:k])
    k = len(planted_tr)
    return SimulatedLearner(p_in, p_out, np.full(n_test, 0.85), np.array(planted_tr, np.int64),
                            np.array(planted_tt, np.int64), np.full(k, 0.9), np.full(k, 0.1))


def write_trial(ratio_dir, trial_id, in_mask, correct_train, correct_test, rng=None):
    """Write one trial directory in the trainer's format, atomically.

    With rng, index_train / index_test are shuffled so readers must reorder.
    """
    ratio_dir = Path(ratio_dir)
    train = np.flatnonzero(in_mask)
    removed = np.flatnonzero(~in_mask)
    test = np.arange(len(correct_test))
    if rng is not None:
        train, test = rng.permutation(train), rng.permutation(test)
    train_index = np.concatenate([train, removed])
    tmp = ratio_dir / trial_format.work_dir_name(trial_id)
    tmp.mkdir(parents=True, exist_ok=True)
    np.savez(tmp / trial_format.AUX_FILE, **trial_format.aux_arrays(
        train, train_index, np.asarray(correct_train)[train_index], test, np.asarray(correct_test)[test]))
    os.replace(tmp, ratio_dir / str(trial_id))
    return ratio_dir / str(trial_id)


def write_dataset_meta(workdir, tr_labels, tt_labels, dataset="simulated", tr_filenames=None):
    """The trainer's `<workdir>/dataset_meta.npz` (trial_format.META_FILE)."""
    arrays = dict(tr_labels=np.asarray(tr_labels, np.int64),
                  tt_labels=np.asarray(tt_labels, np.int64), dataset=np.array(dataset))
    if tr_filenames is not None:
        arrays["tr_filenames"] = np.asarray(tr_filenames)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    path = Path(workdir) / trial_format.META_FILE
    np.savez(path, **arrays)
    return path
