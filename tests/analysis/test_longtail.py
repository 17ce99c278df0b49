"""Long-tail model (paper 004): τ and weights by hand, the simulated excess error vs its closed form."""
import numpy as np
import pytest

from influence_mem.analysis import longtail

D = np.array([0.5, 0.25, 0.125, 0.125])


def test_tau_by_hand():
    # n = 2: sum D^2 (1-D) = 51/256, sum D (1-D) = 168/256
    assert longtail.tau(D, 2) == pytest.approx(51 / 168)
    # n = 1: (1-D)^0 = 1, so τ = sum D^2 / sum D
    assert longtail.tau(D, 1) == pytest.approx(np.sum(D ** 2))


def test_weight_of_frequencies_near_one_over_n_by_hand():
    # n = 8: [1/16, 1/4] holds 0.25, 0.125, 0.125
    assert longtail.weight(D, 1 / 16, 1 / 4) == pytest.approx(0.5)
    assert longtail.weight(D, 0.3, 1.0) == pytest.approx(0.5)
    assert longtail.weight(np.stack([D, D[::-1]]), 0.2, 0.3) == pytest.approx(0.25)


def test_distribution_draws_each_frequency_uniformly_from_the_prior():
    assert longtail.zipf_prior(4).tolist() == [1, 1 / 2, 1 / 3, 1 / 4]
    d = longtail.sample_distribution(np.random.default_rng(0), 4000, prior=[1.0, 3.0])
    assert d.sum() == pytest.approx(1.0)
    ratio = d / d.min()
    assert np.allclose(np.sort(np.unique(np.round(ratio, 9))), [1.0, 3.0])
    high = np.mean(ratio > 2)
    assert abs(high - 0.5) < 4 * np.sqrt(0.25 / 4000)


def test_closed_form_equals_tau_times_singletons():
    rng = np.random.default_rng(1)
    d = longtail.sample_distribution(rng, 200)
    n, k = 150, 10
    closed = longtail.expected_errors(d, n, k)
    assert closed["excess"] == pytest.approx((1 - 1 / k) * longtail.tau(d, n) * longtail.expected_singletons(d, n))
    assert closed["no_singletons"] - closed["memorize"] == pytest.approx(closed["excess"])


def test_simulated_errors_match_closed_form_in_expectation():
    rng = np.random.default_rng(2)
    d = longtail.sample_distribution(rng, 100)
    n, k = 80, 5
    sims = longtail.simulate(rng, d, n, k, repeats=20000)
    closed = longtail.expected_errors(d, n, k)
    for col in ("memorize", "no_singletons", "excess"):
        se = sims[col].std() / np.sqrt(len(sims))
        assert abs(sims[col].mean() - closed[col]) < 4 * se, col
    assert closed["excess"] > 10 * sims.excess.std() / np.sqrt(len(sims))  # the excess is really there


def test_sweep_table_and_plot(tmp_path):
    table = longtail.sweep(domain_size=200, ratios=(0.5, 2.0), num_distributions=3, repeats=20, seed=0)
    assert table.n.tolist() == [100, 400]
    assert (table.err_no_singletons >= table.err_memorize).all()
    # more data: fewer unseen elements, so both learners improve
    assert table.err_memorize.iloc[1] < table.err_memorize.iloc[0]
    longtail.plot_sweep(table, tmp_path / "lt.png")
    assert (tmp_path / "lt.png").stat().st_size > 0
