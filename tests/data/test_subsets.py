"""data.subsets: trial subsets are deterministic, of exact size, independent across trials; trial seeds."""
import numpy as np
import pytest

from influence_mem.data.subsets import subset_indices, subset_size, trial_seeds


def test_subset_is_deterministic_sorted_unique_and_exact_size():
    for n, ratio in [(1437, 0.7), (50000, 0.7), (10, 0.1), (7, 1.0)]:
        a = subset_indices(n, ratio, seed=3, trial=5)
        b = subset_indices(n, ratio, seed=3, trial=5)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int64
        assert len(a) == subset_size(n, ratio) == max(1, int(n * ratio))
        assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < n


def test_subsets_differ_across_trials_seeds_and_ratios():
    base = subset_indices(1000, 0.7, 0, 0)
    assert not np.array_equal(base, subset_indices(1000, 0.7, 0, 1))
    assert not np.array_equal(base, subset_indices(1000, 0.7, 1, 0))
    assert len(subset_indices(1000, 0.5, 0, 0)) == 500


def test_inclusion_frequency_is_the_ratio():
    # Over many trials each example is included with probability r (Lemma 2.1 needs this).
    n, ratio, trials = 200, 0.7, 2000
    counts = np.zeros(n)
    for t in range(trials):
        counts[subset_indices(n, ratio, 0, t)] += 1
    frequency = counts / trials
    # Binomial std of a frequency: sqrt(.7*.3/2000) ~ 0.0102; 5 sigma bound per example.
    assert np.abs(frequency - ratio).max() < 0.052
    assert abs(frequency.mean() - ratio) < 1e-12  # exact: every subset has exactly 140 of 200


def test_ratio_noise_does_not_change_the_subset():
    np.testing.assert_array_equal(subset_indices(100, 0.7, 0, 0), subset_indices(100, 0.70000001, 0, 0))


def test_trial_seeds_deterministic_and_distinct():
    s = trial_seeds(0, 0.7, 4)
    assert s == trial_seeds(0, 0.7, 4)
    assert len(set(s.values())) == 3
    assert s != trial_seeds(0, 0.7, 5)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_ratio(bad):
    with pytest.raises(ValueError, match="subset ratio"):
        subset_indices(10, bad, 0, 0)
