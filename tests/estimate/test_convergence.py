"""estimate.convergence: the table streamed over a workdir equals a direct computation on the in-memory trials
(halves = even/odd trials, prefix = the first t), and on a learner with known memorization the errors fall
with t as Lemma 2.1 says."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from influence_mem import released
from influence_mem.analysis.consistency import influence_consistency, memorization_consistency
from influence_mem.estimate import estimate_from_arrays, high_influence_pairs, lemma_bound
from influence_mem.estimate.aggregator import AggregateError
from influence_mem.estimate.convergence import average_ranks, checkpoints, convergence_table, spearman
from influence_mem.estimate.pairs import expected_noise_pairs
from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial


def _workdir(root, n, n_test, t, seed=0, classes=4):
    rng = np.random.default_rng(seed)
    tr_labels, tt_labels = rng.integers(0, classes, n), rng.integers(0, classes, n_test)
    write_dataset_meta(root, tr_labels, tt_labels, "sim")
    learner = make_learner(rng, tr_labels, tt_labels, pairs_per_class=3)
    stacks = learner.trials(rng, 0.7, t)
    for k in range(t):
        write_trial(root / "0.7", k, *(a[k] for a in stacks), rng=rng)
    return learner, stacks, tr_labels, tt_labels


def test_checkpoints_double_from_the_first_and_end_at_the_total():
    assert checkpoints(437) == [50, 100, 200, 400, 437]
    assert checkpoints(400) == [50, 100, 200, 400]
    assert checkpoints(30) == [30] and checkpoints(0) == []
    assert checkpoints(25, first=10) == [10, 20, 25]


def test_spearman_with_ties_is_scipys():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 5, 200) / 4, rng.integers(0, 7, 200) / 6 + rng.integers(0, 5, 200) / 8
    assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0], abs=1e-12)
    np.testing.assert_allclose(average_ranks(a), scipy_stats.rankdata(a) - 1)
    assert np.isnan(spearman(np.ones(5), np.arange(5)))


def _matrix(est, tr_labels, tt_labels):
    return released.InflMatrix(tr_labels, tt_labels, est.mem.astype(np.float32), est.tr_classidx, est.tt_classidx,
                               est.infl_blocks)


def test_split_half_and_prefix_numbers_equal_a_direct_computation(tmp_path):
    _, (in_mask, c_tr, c_tt), tr_labels, tt_labels = _workdir(tmp_path, 150, 60, 50)
    result = convergence_table(tmp_path, chunk_size=7, first=10)  # chunks of 7 cross the checkpoints
    assert [r["trials"] for r in result.rows] == [10, 20, 40, 50] and result.num_trials == 50
    for row in result.rows:
        t = row["trials"]
        a = estimate_from_arrays(in_mask[0:t:2], c_tr[0:t:2], c_tt[0:t:2], tr_labels, tt_labels)
        b = estimate_from_arrays(in_mask[1:t:2], c_tr[1:t:2], c_tt[1:t:2], tr_labels, tt_labels)
        prefix = estimate_from_arrays(in_mask[:t], c_tr[:t], c_tt[:t], tr_labels, tt_labels)
        mem_a, mem_b = a.mem.astype(np.float32), b.mem.astype(np.float32)
        assert row["half_trials"] == t // 2
        assert row["spearman_mem_halves"] == pytest.approx(scipy_stats.spearmanr(mem_a, mem_b)[0], abs=1e-12)
        assert row["jaccard_mem_halves"] == memorization_consistency(mem_a, mem_b, [0.25]).jaccard[0]
        j_infl = influence_consistency(_matrix(a, tr_labels, tt_labels), _matrix(b, tr_labels, tt_labels), [0.15])
        assert row["jaccard_infl_halves"] == j_infl.jaccard[0]
        assert row["mem_error_split_half"] == pytest.approx(np.sqrt(np.mean((mem_a - mem_b) ** 2.0)) / 2)
        selected = prefix.mem.astype(np.float32) >= 0.25
        assert row["mem_error_memorized"] == pytest.approx(np.sqrt(np.mean((mem_a - mem_b)[selected] ** 2.0)) / 2)
        assert row["mem_se_median"] == pytest.approx(np.median(prefix.mem_se))
        assert row["mem_se_p90"] == pytest.approx(np.percentile(prefix.mem_se, 90))
        assert row["mem_error_lemma_bound"] == pytest.approx(np.sqrt(lemma_bound(0.7, t)))
        mem32 = prefix.mem.astype(np.float32)
        pairs = high_influence_pairs(mem32, prefix.tr_classidx, prefix.tt_classidx, prefix.infl_blocks,
                                     extra_blocks={"se": prefix.infl_se_blocks})
        assert row["pairs"] == len(pairs["tr_idx"])
        assert row["pairs_above_z_se"] == int(np.sum(pairs["infl"] - 2 * pairs["se"] >= 0.15))
        assert row["noise_pairs_expected"] == pytest.approx(expected_noise_pairs(
            mem32, prefix.n_in, prefix.n_out, prefix.tt_correct, t, prefix.tr_classidx, prefix.tt_classidx)[0])
    assert result.train_accuracy == pytest.approx(c_tr[in_mask].mean())


def test_errors_fall_with_t_as_lemma_2_1_says(tmp_path):
    learner, (in_mask, c_tr, c_tt), tr_labels, tt_labels = _workdir(tmp_path, 400, 10, 160, seed=3)
    rows = convergence_table(tmp_path, first=40).rows
    assert [r["trials"] for r in rows] == [40, 80, 160]
    true_error = []
    for row in rows:
        t = row["trials"]
        mem = estimate_from_arrays(in_mask[:t], c_tr[:t]).mem
        true_error.append(np.sqrt(np.mean((mem - learner.true_mem) ** 2)))
        assert true_error[-1] <= row["mem_error_lemma_bound"]          # the bound holds (it is loose)
        assert row["mem_error_split_half"] <= row["mem_error_lemma_bound"]
        # the measured error needs no truth, yet finds it; so does the median standard error
        assert row["mem_error_split_half"] == pytest.approx(true_error[-1], rel=0.2)
        assert row["mem_se_median"] == pytest.approx(true_error[-1], rel=0.3)
    measured = np.array([r["mem_error_split_half"] for r in rows])
    bound = np.array([r["mem_error_lemma_bound"] for r in rows])
    # 4 times the trials: half the error, as 1/sqrt(t) (the bound's leading terms) says
    assert measured[0] / measured[-1] == pytest.approx(2, rel=0.25)
    assert true_error[0] / true_error[-1] == pytest.approx(2, rel=0.25)
    assert np.all(np.diff(measured) < 0) and np.all(np.diff(bound) < 0)
    assert rows[-1]["jaccard_mem_halves"] > rows[0]["jaccard_mem_halves"]


def test_selection_skipped_trials_and_errors(tmp_path):
    _, (in_mask, c_tr, c_tt), tr_labels, tt_labels = _workdir(tmp_path, 80, 30, 30)
    (tmp_path / "0.7" / "3" / "aux_arrays.npz").write_bytes(b"not a zip")
    result = convergence_table(tmp_path, trials="0-19,100-101", first=8)
    # trial 3 is skipped: 19 usable trials, checkpoints at 8 and 16, then the final 19
    assert [r["trials"] for r in result.rows] == [8, 16, 19] and [t for t, _ in result.skipped] == [3]
    assert result.warnings == [f"trials 100-101 of --trials=0-19,100-101 are not finished in "
                               f"{tmp_path / '0.7'}: left out"]
    keep = [k for k in range(20) if k != 3]
    direct = estimate_from_arrays(in_mask[keep], c_tr[keep], c_tt[keep], tr_labels, tt_labels)
    assert result.rows[-1]["mem_se_median"] == pytest.approx(np.median(direct.mem_se))
    with pytest.raises(AggregateError, match=r"^--trials=500-510: none of these trials is finished in "):
        convergence_table(tmp_path, trials="500-510")
    with pytest.raises(AggregateError, match="malformed --trials"):
        convergence_table(tmp_path, trials="5-")
    with pytest.raises(AggregateError, match="no directory for subset ratio 0.5"):
        convergence_table(tmp_path, subset_ratio=0.5)


def test_a_poor_fit_is_warned(tmp_path):
    rng = np.random.default_rng(0)
    write_dataset_meta(tmp_path, np.zeros(40, int), np.zeros(10, int))
    for k in range(12):
        in_mask = rng.permutation(40) < 28
        write_trial(tmp_path / "0.7", k, in_mask, rng.random(40) < 0.8, rng.random(10) < 0.5)
    result = convergence_table(tmp_path, min_train_accuracy=0.95)
    assert result.train_accuracy < 0.9
    assert len(result.warnings) == 1 and "below --min_train_accuracy=0.95" in result.warnings[0]
    assert not convergence_table(tmp_path, min_train_accuracy=0.5).warnings
