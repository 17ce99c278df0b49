"""Estimators against answers known independently: a per-example loop, the
Lemma 2.1 bound on a simulated learner with known truth, planted pairs."""
import numpy as np
import pytest

from influence_mem.estimate import Accumulator, estimate_from_arrays, high_influence_pairs, lemma_bound
from influence_mem.estimate.simulate import make_learner


def _random_trials(seed=0, t=30, n=40, n_test=15):
    rng = np.random.default_rng(seed)
    in_mask = rng.random((t, n)) < 0.6
    in_mask[:, 0] = True    # example 0: never out
    in_mask[:, 1] = False   # example 1: never in
    correct_train = rng.random((t, n)) < 0.7
    correct_test = rng.random((t, n_test)) < 0.6
    tr_labels = rng.integers(0, 3, n)
    tt_labels = rng.integers(0, 3, n_test)
    return in_mask, correct_train, correct_test, tr_labels, tt_labels


def _cond_mean(x):
    return x.mean() if len(x) else 0.5


def _loop_estimates(in_mask, correct_train, correct_test):
    """Algorithm 1 lines 5 and 7, literally, one example at a time."""
    t, n = in_mask.shape
    mem, se = np.zeros(n), np.zeros(n)
    infl = np.zeros((n, correct_test.shape[1]))
    for i in range(n):
        ins = [k for k in range(t) if in_mask[k, i]]
        outs = [k for k in range(t) if not in_mask[k, i]]
        a, b = _cond_mean(correct_train[ins, i]), _cond_mean(correct_train[outs, i])
        mem[i] = a - b
        se[i] = np.sqrt((a * (1 - a) / len(ins) if ins else 0.25)
                        + (b * (1 - b) / len(outs) if outs else 0.25))
        for j in range(correct_test.shape[1]):
            infl[i, j] = _cond_mean(correct_test[ins, j]) - _cond_mean(correct_test[outs, j])
    return mem, se, infl


def test_vectorized_equals_per_example_loop():
    in_mask, c_tr, c_tt, tr_labels, tt_labels = _random_trials()
    est = estimate_from_arrays(in_mask, c_tr, c_tt, tr_labels, tt_labels, full_influence=True)
    mem, se, infl = _loop_estimates(in_mask, c_tr, c_tt)
    np.testing.assert_allclose(est.mem, mem, atol=1e-12)
    np.testing.assert_allclose(est.mem_se, se, atol=1e-12)
    np.testing.assert_allclose(est.infl_full, infl, atol=1e-6)
    np.testing.assert_array_equal(est.n_in, in_mask.sum(0))
    np.testing.assert_array_equal(est.n_out, (~in_mask).sum(0))
    for c in est.classes:
        tr, tt = est.tr_classidx[c], est.tt_classidx[c]
        assert (tr_labels[tr] == c).all() and (tt_labels[tt] == c).all()
        np.testing.assert_allclose(est.infl_blocks[c], infl[np.ix_(tr, tt)], atol=1e-6)
    assert sum(len(est.tr_classidx[c]) for c in est.classes) == len(tr_labels)


def test_lemma_convention_for_examples_never_in_or_out():
    in_mask, c_tr, c_tt, tr_labels, tt_labels = _random_trials()
    est = estimate_from_arrays(in_mask, c_tr, c_tt, tr_labels, tt_labels)
    assert est.num_no_out == 1 and est.num_no_in == 1
    assert est.mem[0] == pytest.approx(c_tr[:, 0].mean() - 0.5)   # out-term is 1/2
    assert est.mem[1] == pytest.approx(0.5 - c_tr[:, 1].mean())   # in-term is 1/2


@pytest.mark.parametrize("chunk", [1, 7, 30])
def test_streaming_equals_in_memory(chunk):
    in_mask, c_tr, c_tt, tr_labels, tt_labels = _random_trials(seed=1)
    ref = estimate_from_arrays(in_mask, c_tr, c_tt, tr_labels, tt_labels, full_influence=True)
    acc = Accumulator(in_mask.shape[1], c_tt.shape[1], tr_labels, tt_labels,
                      full=np.zeros((in_mask.shape[1], c_tt.shape[1]), np.float32))
    for k in range(0, len(in_mask), chunk):
        acc.add(in_mask[k:k + chunk], c_tr[k:k + chunk], c_tt[k:k + chunk])
    est = acc.finalize()
    np.testing.assert_array_equal(est.mem, ref.mem)
    np.testing.assert_array_equal(est.infl_full, ref.infl_full)
    for c in ref.classes:
        np.testing.assert_array_equal(est.infl_blocks[c], ref.infl_blocks[c])


def test_lemma_bound_formula():
    p, t = 0.3, 200
    assert lemma_bound(0.7, t) == pytest.approx(1 / (p * t) + 1 / ((1 - p) * t)
                                                + np.exp(-p * t / 16) / 2)


@pytest.fixture(scope="module")
def simulation():
    rng = np.random.default_rng(42)
    tr_labels, tt_labels = rng.integers(0, 5, 500), rng.integers(0, 5, 150)
    learner = make_learner(rng, tr_labels, tt_labels, pairs_per_class=3)
    t, ratio = 200, 0.7
    trials = learner.trials(rng, ratio, t)
    est = estimate_from_arrays(*trials, tr_labels, tt_labels, full_influence=True)
    return learner, est, lemma_bound(ratio, t)


def test_simulated_memorization_within_lemma_bound(simulation):
    learner, est, bound = simulation
    mse = np.mean((est.mem - learner.true_mem) ** 2)
    assert mse <= bound
    # the standard errors describe the actual errors
    assert 0.5 < mse / np.mean(est.mem_se ** 2) < 2


def test_simulated_influence_within_lemma_bound(simulation):
    learner, est, bound = simulation
    assert np.mean((est.infl_full - learner.true_infl()) ** 2) <= bound


def test_planted_high_influence_pairs_are_found(simulation):
    learner, est, _ = simulation
    pairs = high_influence_pairs(est.mem, est.tr_classidx, est.tt_classidx, est.infl_blocks,
                                 mem_threshold=0.25, infl_threshold=0.15)
    found = set(zip(pairs["tr_idx"].tolist(), pairs["tt_idx"].tolist()))
    planted = set(zip(learner.planted_tr.tolist(), learner.planted_tt.tolist()))
    assert len(planted) == 15
    assert planted <= found
    # the rest are noise passing the threshold (selection bias), all weaker than any planted pair
    is_planted = np.array([p in planted for p in zip(pairs["tr_idx"], pairs["tt_idx"])])
    assert pairs["infl"][~is_planted].max() < pairs["infl"][is_planted].min()
    np.testing.assert_allclose(pairs["mem"], est.mem[pairs["tr_idx"]], rtol=1e-6)
    assert (pairs["infl"] >= 0.15).all() and (pairs["mem"] >= 0.25).all()
