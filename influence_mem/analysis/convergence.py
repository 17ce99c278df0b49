"""The convergence table (estimate.convergence) as convergence.csv and convergence.png, and as text.

The figure has three panels against the number of trials t (log scale):
the error of memorization (median and 90th percentile of mem_se, the
split-half measured error, the Lemma 2.1 bound), the agreement of two
disjoint halves (Spearman of mem, J_mem, J_infl; the paper's J_infl(0.15) >=
0.7 between two runs of 2,000 trials, paper 000 Sec. 2 and appendix C, drawn
at t = 4,000, where each half has 2,000), and the pairs selected with those
that exceed the threshold by z standard errors and the number noise alone
would give.
"""
import os

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ticker import NullFormatter, ScalarFormatter
from matplotlib.figure import Figure

from influence_mem.estimate.convergence import COLUMNS, Convergence

CSV_FILE, PNG_FILE = "convergence.csv", "convergence.png"
PAPER_HALF_TRIALS, PAPER_J_INFL = 2000, 0.7  # paper 000: two CIFAR-100 runs of 2,000 trials, J_infl(0.15) >= 0.7


def table(result: Convergence) -> pd.DataFrame:
    return pd.DataFrame(result.rows, columns=list(COLUMNS))


def plot(df: pd.DataFrame, path=None) -> Figure:
    """The three panels (module doc); saved to `path` if given."""
    fig = Figure(figsize=(13, 3.8))
    FigureCanvasAgg(fig)
    ax_err, ax_agree, ax_pairs = fig.subplots(1, 3)
    t = df.trials
    for column, label, style in (("mem_se_median", "median mem_se", "o-"), ("mem_se_p90", "90th pct mem_se", "o--"),
                                 ("mem_error_split_half", "measured (split halves)", "s-"),
                                 ("mem_error_memorized", f"measured, mem >= {df.mem_threshold.iloc[0]:g}", "s--"),
                                 ("mem_error_lemma_bound", "Lemma 2.1 bound", "k:")):
        ax_err.plot(t, df[column], style, label=label, markersize=4)
    ax_err.set_yscale("log")
    ax_err.set_ylabel("error of memorization")
    ax_err.set_title("memorization error", fontsize=9)
    for column, label in (("spearman_mem_halves", "Spearman mem"),
                          ("jaccard_mem_halves", f"J_mem({df.mem_threshold.iloc[0]:g})"),
                          ("jaccard_infl_halves", f"J_infl({df.infl_threshold.iloc[0]:g})")):
        ax_agree.plot(t, df[column], "o-", label=label, markersize=4)
    ax_agree.plot([2 * PAPER_HALF_TRIALS], [PAPER_J_INFL], "k*", markersize=10,
                  label="paper: J_infl(0.15) >= 0.7 (2 x 2,000)")
    ax_agree.set_ylim(0, 1.02)
    ax_agree.set_title("agreement of two disjoint halves (t/2 trials each)", fontsize=9)
    z = df.z.iloc[0]
    for column, label in (("pairs", "pairs selected"), ("pairs_above_z_se", f"of them infl - {z:g} se >= θ"),
                          ("noise_pairs_expected", "expected from noise alone")):
        ax_pairs.plot(t, df[column], "o-", label=label, markersize=4)
    ax_pairs.set_yscale("symlog", linthresh=1)  # linear below 1 pair: 0 and 0.1 expected stay visible
    ax_pairs.set_ylim(bottom=0)
    ax_pairs.set_title(f"high-influence pairs (mem >= {df.mem_threshold.iloc[0]:g}, "
                       f"infl >= {df.infl_threshold.iloc[0]:g})", fontsize=9)
    for ax in (ax_err, ax_agree, ax_pairs):
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(t) | ({2 * PAPER_HALF_TRIALS} if ax is ax_agree else set())))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("trials t")
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def write(result: Convergence, output_dir) -> list:
    """output_dir/convergence.csv and convergence.png (the directory is created); their paths."""
    os.makedirs(output_dir, exist_ok=True)
    df = table(result)
    csv_path, png_path = os.path.join(output_dir, CSV_FILE), os.path.join(output_dir, PNG_FILE)
    df.to_csv(csv_path, index=False)
    plot(df, png_path)
    return [csv_path, png_path]


def format_lines(result: Convergence) -> list:
    """The table as aligned text lines, one per checkpoint."""
    lines = [f"{result.num_trials} trials ({len(result.skipped)} skipped), subset ratio {result.subset_ratio:g}, "
             f"accuracy on their training subsets {100 * result.train_accuracy:.1f}%",
             "  trials  mem_se med/p90  error all/mem>=θ/bound  spearman  J_mem  J_infl   pairs  >z·se   noise"]
    for r in result.rows:
        lines.append(f"  {r['trials']:6d}  {r['mem_se_median']:.3f}/{r['mem_se_p90']:.3f}    "
                     f"{r['mem_error_split_half']:.3f}/{r['mem_error_memorized']:.3f}/{r['mem_error_lemma_bound']:.3f}"
                     f"       "
                     f"{r['spearman_mem_halves']:6.3f}  {r['jaccard_mem_halves']:5.3f}  {r['jaccard_infl_halves']:6.3f}"
                     f"  {r['pairs']:6d}  {r['pairs_above_z_se']:5d}  {r['noise_pairs_expected']:6.1f}")
    return lines
