"""estimate.pairs: the confidence selection (min_z) against a brute-force filter, the expected number of pairs
from noise alone against a simulation with zero true influence, and the set overlap of the consistency measures."""
from math import erfc, sqrt

import numpy as np
import pytest

from influence_mem.estimate import estimate_from_arrays, high_influence_pairs
from influence_mem.estimate.pairs import expected_noise_pairs, overlap, pair_keys
from influence_mem.estimate.simulate import SimulatedLearner, make_learner


def _no_influence_learner(rng, n, n_test):
    """Memorized (p_in 0.95, p_out 0.1) and typical examples; test accuracy 0.3..0.97 whatever the subset."""
    memorized = rng.random(n) < 0.3
    none = np.zeros(0, np.int64)
    return SimulatedLearner(np.where(memorized, 0.95, 0.97), np.where(memorized, 0.1, 0.9),
                            rng.uniform(0.3, 0.97, n_test), none, none, np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("t", [40, 100])
def test_expected_noise_pairs_match_a_simulation_without_influence(t):
    rng = np.random.default_rng(0)
    tr_labels, tt_labels = rng.integers(0, 3, 200), rng.integers(0, 3, 60)
    learner = _no_influence_learner(rng, 200, 60)
    selected, expected = 0, 0.0
    for _ in range(20):
        est = estimate_from_arrays(*learner.trials(rng, 0.7, t), tr_labels, tt_labels)
        mem = est.mem.astype(np.float32)
        selected += len(high_influence_pairs(mem, est.tr_classidx, est.tt_classidx, est.infl_blocks)["tr_idx"])
        e, candidates = expected_noise_pairs(mem, est.n_in, est.n_out, est.tt_correct, t, est.tr_classidx,
                                             est.tt_classidx)
        expected += e
        rows = [np.sum(mem[tr] >= 0.25) for tr in est.tr_classidx.values()]
        assert candidates == sum(r * len(tt) for r, tt in zip(rows, est.tt_classidx.values()))
    # every selected pair is noise here; the normal approximation gets their number within a few percent
    assert selected > 500 and selected == pytest.approx(expected, rel=0.08)


def test_expected_noise_pairs_closed_form_and_edge_cases():
    # one candidate row (mem 0.5), n_in 30 / n_out 10; test examples right in 50%, 100% and 0% of the 40 trials
    tr_classidx, tt_classidx = {0: np.array([0, 1])}, {0: np.array([0, 1, 2])}
    mem, n_in, n_out = np.array([0.5, 0.1]), np.array([30, 20]), np.array([10, 20])
    expected, candidates = expected_noise_pairs(mem, n_in, n_out, np.array([20, 40, 0]), 40, tr_classidx, tt_classidx)
    se0 = sqrt(0.25 * (1 / 30 + 1 / 10))

    def tail(x):  # P[N(0, 1) > x]
        return erfc(x / sqrt(2)) / 2

    assert candidates == 3 and expected == pytest.approx(tail(0.15 / se0))  # always / never right: 0
    with_z, _ = expected_noise_pairs(mem, n_in, n_out, np.array([20, 40, 0]), 40, tr_classidx, tt_classidx,
                                     min_z=2.0)
    assert with_z == pytest.approx(tail(0.15 / se0 + 2))


def test_min_z_keeps_the_pairs_that_exceed_the_threshold_by_z_standard_errors():
    rng = np.random.default_rng(2)
    tr_labels, tt_labels = rng.integers(0, 3, 150), rng.integers(0, 3, 50)
    learner = make_learner(rng, tr_labels, tt_labels, pairs_per_class=4)
    est = estimate_from_arrays(*learner.trials(rng, 0.7, 40), tr_labels, tt_labels)
    args = (est.mem.astype(np.float32), est.tr_classidx, est.tt_classidx, est.infl_blocks)
    every = high_influence_pairs(*args, extra_blocks={"se": est.infl_se_blocks})
    for z in (0.0, 1.0, 2.0, 3.0):
        chosen = high_influence_pairs(*args, min_z=z, se_blocks=est.infl_se_blocks)
        keep = every["infl"] - z * every["se"] >= 0.15
        np.testing.assert_array_equal(chosen["tr_idx"], every["tr_idx"][keep])
        np.testing.assert_array_equal(chosen["tt_idx"], every["tt_idx"][keep])
    assert 0 < keep.sum() < len(every["tr_idx"])  # at z = 3 some but not all pairs stay
    with pytest.raises(ValueError, match="se_blocks"):
        high_influence_pairs(*args, min_z=1.0)


def test_overlap_and_pair_keys():
    inter, union, jaccard = overlap(np.array([1, 2, 3]), np.array([3, 4]))
    assert inter.tolist() == [3] and union.tolist() == [1, 2, 3, 4] and jaccard == 0.25
    assert np.isnan(overlap(np.array([], np.int64), np.array([], np.int64))[2])
    keys = pair_keys([0, 2, 2], [5, 0, 5], 7)
    assert keys.tolist() == [5, 14, 19] and len(set(keys)) == 3
