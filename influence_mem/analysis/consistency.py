"""Consistency of two estimate sets (paper 000 appendix C, eq. 4; Figs. C.2, C.3).

For a threshold θ, I(θ) and I'(θ) are the examples (memorization) or the
(train, test) pairs (influence; only pairs whose training example has
mem >= 0.25, as in the pair selection) with estimate >= θ in run A and run B:

  J(θ) = |I ∩ I'| / |I ∪ I'|      D(θ) = mean over I ∪ I' of |est_A - est_B|

Both are NaN when I ∪ I' is empty.  Fig. C.3 (last-layer model) drops the
memorization condition: pass mem_threshold=None.  Inputs are
released.InflMatrix objects of the same training/test sets.

Units: the subsampling estimates (the aggregator's, the authors' files) are
differences of accuracies (probabilities in [-1, 1]); turn-over dropout's are
differences of cross-entropy losses (nats; its sidecar says unit = "nats").
Comparing the two by thresholds or |difference| mixes units:
estimate_unit tells a set's unit and check_units refuses a mixed comparison
unless asked (--allow_mixed_units in the tools that compare sets).
"""
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from influence_mem.formats import released
from influence_mem.estimate.pairs import overlap, pair_keys, pairs_from_matrix

MEM_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)
INFL_THRESHOLDS = np.round(np.arange(0.05, 0.75, 0.05), 2)
COLUMNS = ["theta", "size_a", "size_b", "intersection", "union", "jaccard", "mean_abs_diff"]

UNIT_ACCURACY, UNIT_NATS = "accuracy", "nats"
UNIT_LABELS = {UNIT_ACCURACY: "differences of accuracy (probabilities)",
               UNIT_NATS: "differences of cross-entropy loss (nats)"}


class MixedUnitsError(ValueError):
    """Estimate sets in different units (accuracy vs loss) compared without --allow_mixed_units."""


def estimate_unit(files: dict) -> str:
    """The unit of an estimate set (released.find_estimate_set's dict): its sidecar's `unit` ("nats" for
    turn-over dropout; a sidecar with estimator = turnover but no unit, from older versions, too), else
    "accuracy" (the aggregator's sets and the authors' files, which have no unit key)."""
    if files.get("stats"):
        stats = released.load_estimates_stats(files["stats"])
        if "unit" in stats:
            return str(stats["unit"])
        if "estimator" in stats and str(stats["estimator"]) == "turnover":
            return UNIT_NATS
    return UNIT_ACCURACY


def unit_label(unit: str) -> str:
    return UNIT_LABELS.get(unit, unit)


def check_units(units: dict, allow_mixed: bool = False) -> None:
    """`units` {estimate set: unit}; MixedUnitsError when they differ, unless `allow_mixed`."""
    if len(set(units.values())) > 1 and not allow_mixed:
        listed = "; ".join(f"{name}: {unit_label(unit)}" for name, unit in units.items())
        raise MixedUnitsError(f"estimate sets in different units ({listed}): accuracy-based and loss-based "
                              f"estimates are not comparable by thresholds or differences; pass "
                              f"--allow_mixed_units to compare them anyway")


def _row(theta, a_keys, b_keys, union_diff):
    inter, union, jaccard = overlap(a_keys, b_keys)
    diff = union_diff(union)
    return [float(theta), len(a_keys), len(b_keys), len(inter), len(union), jaccard,
            float(np.mean(diff)) if len(union) else np.nan]


def memorization_consistency(mem_a, mem_b, thetas=MEM_THRESHOLDS) -> pd.DataFrame:
    """J_mem(θ) (column jaccard) and D_mem(θ) (column mean_abs_diff) per θ."""
    mem_a, mem_b = np.asarray(mem_a, np.float64), np.asarray(mem_b, np.float64)
    if mem_a.shape != mem_b.shape:
        raise ValueError(f"memorization estimates differ in length: {mem_a.shape} vs {mem_b.shape}")
    diff = np.abs(mem_a - mem_b)
    rows = [_row(t, np.flatnonzero(mem_a >= t), np.flatnonzero(mem_b >= t), lambda u: diff[u])
            for t in thetas]
    return pd.DataFrame(rows, columns=COLUMNS)


def influence_consistency(matrix_a, matrix_b, thetas=INFL_THRESHOLDS, mem_threshold=0.25) -> pd.DataFrame:
    """J_infl(θ) and D_infl(θ) per θ over same-class pairs with mem >= mem_threshold
    in the run that selects them (None: no memorization condition, Fig. C.3)."""
    if not (np.array_equal(matrix_a.tr_labels, matrix_b.tr_labels)
            and np.array_equal(matrix_a.tt_labels, matrix_b.tt_labels)):
        raise ValueError("the two estimate sets have different training or test labels")
    n_test = len(matrix_a.tt_labels)
    mem_threshold = -np.inf if mem_threshold is None else mem_threshold

    def keys(matrix, theta):
        pairs = pairs_from_matrix(matrix, mem_threshold=mem_threshold, infl_threshold=theta)
        return pair_keys(pairs.tr_idx.to_numpy(), pairs.tt_idx.to_numpy(), n_test)

    def union_diff(union):
        i, j = union // n_test, union % n_test
        return np.abs(np.asarray(matrix_a.influence(i, j), np.float64)
                      - np.asarray(matrix_b.influence(i, j), np.float64))

    rows = [_row(t, keys(matrix_a, t), keys(matrix_b, t), union_diff) for t in thetas]
    return pd.DataFrame(rows, columns=COLUMNS)


def plot_consistency(tables: dict, path=None, what="memorization", unit: str = UNIT_ACCURACY) -> Figure:
    """Figs. C.2 / C.3: Jaccard similarity (left) and mean |difference| (right) against θ,
    one line per comparison; `tables` maps a legend label to a *_consistency table.  θ and D are in
    `unit` (the axes say which).  Returns the Figure (saved to `path` if given)."""
    fig = Figure(figsize=(8, 3))
    FigureCanvasAgg(fig)
    ax_j, ax_d = fig.subplots(1, 2)
    for label, table in tables.items():
        ax_j.plot(table.theta, table.jaccard, marker=".", label=label)
        ax_d.plot(table.theta, table.mean_abs_diff, marker=".", label=label)
    symbol = "mem" if what == "memorization" else "infl"
    short = "nats" if unit == UNIT_NATS else "accuracy" if unit == UNIT_ACCURACY else unit
    ax_j.set_xlabel(f"threshold θ_{symbol} ({short})")
    ax_j.set_ylabel(f"Jaccard J_{symbol}(θ)")
    ax_j.set_ylim(0, 1.02)
    ax_d.set_xlabel(f"threshold θ_{symbol} ({short})")
    ax_d.set_ylabel(f"mean |difference| D_{symbol}(θ) ({short})")
    ax_j.legend(fontsize=7)
    fig.suptitle(f"consistency of {what} estimates", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=100)
    return fig
