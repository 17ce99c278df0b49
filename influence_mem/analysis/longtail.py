"""The long-tail theory model (paper 004; Feldman, STOC 2020), computed and simulated.

Model: a discrete domain X of size N; every x draws a frequency p_x uniformly
from the prior list π (Zipf: π_k ∝ 1/k, k = 1..N) and D(x) = p_x / Σ p; the
labels f(x) are uniform over `num_classes` and independent across x (so
nothing but x's own examples tells its label).  A sample S has n examples
drawn from D.

  τ = E_α[α² (1-α)^(n-1)] / E_α[α (1-α)^(n-1)],  α ~ π* (the frequency of a
      random domain element; here the empirical frequencies of the drawn D):
      the expected frequency of an element seen exactly once in S.
  weight[1/2n, 2/n] = Σ_x D(x) 1{1/2n <= D(x) <= 2/n}: mass of frequencies ~ 1/n.

Two learners: `memorize` predicts f(x) on every x in S; `no_singletons`
only on x seen at least twice; both predict the fixed label 0 elsewhere.
The second one's excess error is (1 - 1/k) Σ_x D(x) 1{x once in S}, whose
expectation is (1 - 1/k) n Σ_x D(x)² (1-D(x))^(n-1) = (1 - 1/k) τ E[#singletons]:
the theorem's price τ per unfit singleton.  numpy/pandas/matplotlib only.
"""
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def zipf_prior(size: int) -> np.ndarray:
    """The Zipf prior list π_k = 1/k, k = 1..size (unnormalized)."""
    return 1.0 / np.arange(1, size + 1)


def sample_distribution(rng, size: int, prior=None) -> np.ndarray:
    """D over `size` elements: each frequency drawn uniformly from `prior` (default Zipf), normalized."""
    prior = zipf_prior(size) if prior is None else np.asarray(prior, np.float64)
    p = rng.choice(prior, size=size, replace=True)
    return p / p.sum()


def tau(dist, n: int) -> float:
    """τ with π* the empirical frequencies in `dist` ([N] or [draws, N], pooled)."""
    a = np.asarray(dist, np.float64).ravel()
    tail = (1.0 - a) ** (n - 1)
    return float(np.sum(a * a * tail) / np.sum(a * tail))


def weight(dist, low: float, high: float) -> float:
    """Probability mass of the elements with frequency in [low, high] (mean over draws if 2-D)."""
    d = np.atleast_2d(np.asarray(dist, np.float64))
    return float(np.mean(np.sum(d * ((d >= low) & (d <= high)), axis=1)))


def expected_singletons(dist, n: int) -> float:
    """E[number of elements seen exactly once in S] = n Σ D (1-D)^(n-1)."""
    d = np.asarray(dist, np.float64)
    return float(n * np.sum(d * (1.0 - d) ** (n - 1)))


def expected_errors(dist, n: int, num_classes: int) -> dict:
    """Closed-form expected error of both learners and the excess, for a fixed D."""
    d = np.asarray(dist, np.float64)
    miss = 1.0 - 1.0 / num_classes
    memorize = miss * np.sum(d * (1.0 - d) ** n)
    excess = miss * n * np.sum(d * d * (1.0 - d) ** (n - 1))
    return {"memorize": float(memorize), "no_singletons": float(memorize + excess), "excess": float(excess)}


def simulate(rng, dist, n: int, num_classes: int, repeats: int) -> pd.DataFrame:
    """Per repeat (fresh S and labels f): test error of both learners and the excess."""
    d = np.asarray(dist, np.float64)
    counts = rng.multinomial(n, d, size=repeats)                      # [repeats, N]
    labels = rng.integers(0, num_classes, size=counts.shape)          # f(x), fresh per repeat
    wrong_guess = labels != 0                                         # the fixed guess 0 is wrong
    err_mem = np.sum(d * (wrong_guess & (counts == 0)), axis=1)
    err_nofit = np.sum(d * (wrong_guess & (counts <= 1)), axis=1)
    return pd.DataFrame({"memorize": err_mem, "no_singletons": err_nofit, "excess": err_nofit - err_mem})


def sweep(domain_size=1000, ratios=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0), num_classes=10, num_distributions=20,
          repeats=50, seed=0) -> pd.DataFrame:
    """One row per n/N: τ, weight[1/2n, 2/n], E[#singletons], closed-form and simulated
    errors (mean and std over `num_distributions` Zipf draws x `repeats` samples)."""
    rng = np.random.default_rng(seed)
    dists = np.stack([sample_distribution(rng, domain_size) for _ in range(num_distributions)])
    rows = []
    for ratio in ratios:
        n = max(1, int(round(ratio * domain_size)))
        sims = pd.concat([simulate(rng, d, n, num_classes, repeats) for d in dists])
        closed = pd.DataFrame([expected_errors(d, n, num_classes) for d in dists]).mean()
        rows.append({"n_over_N": n / domain_size, "n": n, "tau": tau(dists, n),
                     "weight_half_n_to_2_over_n": weight(dists, 1 / (2 * n), 2 / n),
                     "expected_singletons": float(np.mean([expected_singletons(d, n) for d in dists])),
                     "err_memorize": sims.memorize.mean(), "err_memorize_std": sims.memorize.std(),
                     "err_no_singletons": sims.no_singletons.mean(),
                     "err_no_singletons_std": sims.no_singletons.std(),
                     "excess_simulated": sims.excess.mean(), "excess_closed_form": closed.excess})
    return pd.DataFrame(rows)


def plot_sweep(table: pd.DataFrame, path=None) -> Figure:
    """Errors of the memorizing and the singleton-skipping learner against n/N (left),
    the excess (simulated vs closed form) and τ·n (right).  Returns the Figure (saved to `path` if given)."""
    fig = Figure(figsize=(8, 3))
    FigureCanvasAgg(fig)
    ax, ax_ex = fig.subplots(1, 2)
    x = table.n_over_N
    for col, label in (("err_memorize", "memorizes all of S"), ("err_no_singletons", "does not fit singletons")):
        ax.plot(x, table[col], marker="o", label=label)
        ax.fill_between(x, table[col] - table[f"{col}_std"], table[col] + table[f"{col}_std"], alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("n / N")
    ax.set_ylabel("test error")
    ax.legend(fontsize=7)
    ax_ex.plot(x, table.excess_simulated, marker="o", label="excess error (simulated)")
    ax_ex.plot(x, table.excess_closed_form, linestyle="--", label="(1-1/k) τ E[#singletons]")
    ax_ex.plot(x, table.weight_half_n_to_2_over_n, marker=".", label="weight[1/2n, 2/n]")
    ax_ex.set_xscale("log")
    ax_ex.set_xlabel("n / N")
    ax_ex.legend(fontsize=7)
    fig.suptitle(f"long-tail model, Zipf prior, N = {int(round(table.n.iloc[0] / x.iloc[0]))}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=100)
    return fig
