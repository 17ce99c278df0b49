"""High-influence pair statistics (paper 000 Sec. 3 "Estimation of influence", Fig. C.1).

From a pairs table (tr_idx, tt_idx, infl, mem; released.load_high_infl_pairs):
the number of pairs, of unique training and test examples, how many test
examples are influenced by 1, 2, 3, ... training examples, and the histogram
of the influence values.  numpy/pandas/matplotlib only.
"""

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from influence_mem.analysis.figures import pairs_frame, save_figure

# Fig. C.1 bins: the pairs start at the 0.15 threshold; influence is at most 1.
HISTOGRAM_BINS = np.round(np.arange(0.15, 1.0 + 1e-9, 0.05), 2)


def summary(pairs, num_test=None) -> dict:
    """Counts of paper Sec. 3: pairs, unique train / test examples (and the test fraction)."""
    df = pairs_frame(pairs)
    out = {"num_pairs": len(df), "unique_train": int(df.tr_idx.nunique()),
           "unique_test": int(df.tt_idx.nunique())}
    if num_test:
        out["unique_test_fraction"] = out["unique_test"] / num_test
    return out


def influencers_per_test(pairs) -> pd.DataFrame:
    """Rows (num_train_examples k, num_test_examples): how many test examples are
    influenced (above the threshold) by exactly k training examples, k = 1, 2, ..."""
    per_test = pairs_frame(pairs).groupby("tt_idx").size()
    counts = per_test.value_counts().sort_index()
    return pd.DataFrame({"num_train_examples": counts.index.astype(np.int64),
                         "num_test_examples": counts.to_numpy(np.int64)})


def influence_histogram(pairs, bins=HISTOGRAM_BINS) -> pd.DataFrame:
    """Rows (bin_low, bin_high, num_pairs) of the pairs' influence values (Fig. C.1).

    Bins are [low, high), the last one closed; values outside the bins are not counted.
    """
    counts, edges = np.histogram(pairs_frame(pairs).infl.to_numpy(np.float64), bins=bins)
    return pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "num_pairs": counts})


def plot_influence_histogram(pairs, path=None, title="", bins=HISTOGRAM_BINS) -> Figure:
    """Paper Fig. C.1: number of high-influence pairs per influence level; the Figure (saved as a PNG to
    `path` if given), its `table` attribute the histogram (influence_histogram)."""
    hist = influence_histogram(pairs, bins)
    fig = Figure(figsize=(4.5, 3))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.bar(hist.bin_low, hist.num_pairs, width=hist.bin_high - hist.bin_low, align="edge",
           edgecolor="black", linewidth=0.5)
    ax.set_xlabel("influence estimate")
    ax.set_ylabel("number of pairs")
    ax.set_title(title or f"{int(hist.num_pairs.sum())} high-influence pairs", fontsize=9)
    fig.tight_layout()
    fig.table = hist
    return save_figure(fig, path)
