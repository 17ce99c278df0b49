"""Label-corruption study (paper 002 Fig. 2): how well each estimator's memorization score finds the
corrupted (randomly relabeled) training examples.

  python -m influence_mem.analysis.label_noise \\
      --estimates=subsampled=/runs/sub,turnover=/runs/to,last_layer=/runs/ll \\
      --corrupted=/runs/sub_trials/dataset_meta.npz --output_dir=/runs/noise

Each --estimates entry is NAME=DIR with one <name>_infl_matrix.npz (the
aggregator's or im-turnover's output).  --corrupted names the corrupted ids:
a trainer dataset_meta.npz, a trial's corrupted_idx.npy or an im-turnover
<name>_estimates_stats.npz.  Writes label_noise_auroc.csv (AUROC of mem as a
detector of corrupted examples, mean mem of clean and corrupted examples) and
label_noise_hist.png (clean vs corrupted histograms, one panel per estimator).
The sets may be in different units (analysis.consistency.estimate_unit:
accuracy differences for subsampling, nats for turn-over dropout): an AUROC
only ranks the examples within one estimator, so AUROCs compare across units;
each row says its estimator's unit, its means are in that unit, and each
histogram has its own panel and x axis.  (Threshold- and difference-based
comparisons, consistency J/D and im-report --compare, still refuse mixed units.)
"""
import os
import sys
import zipfile

import numpy as np
import pandas as pd
from absl import flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from influence_mem.formats import npz, released
from influence_mem.analysis.consistency import estimate_unit, unit_label
from influence_mem.programs import shared_flags, start

FLAGS = flags.FLAGS


def corrupted_mask(corrupted_idx, n: int) -> np.ndarray:
    """Boolean [n]: True at the corrupted training ids."""
    ids = np.asarray(corrupted_idx, np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"corrupted ids outside [0, {n})")
    mask = np.zeros(n, bool)
    mask[ids] = True
    return mask


UNSPECIFIED = "unspecified"  # the unit of scores given without one (in-process callers)


def auroc_table(scores: dict, corrupted_idx, units: dict = None) -> pd.DataFrame:
    """One row per estimator: its unit (`units`, e.g. load_scores'), the AUROC of its score for 'corrupted vs
    clean' (a ranking within the estimator, so comparable across units) and the mean score of each group
    (in the row's unit)."""
    units = units or {}
    rows = []
    for name, mem in scores.items():
        mem = np.asarray(mem, np.float64)
        bad = corrupted_mask(corrupted_idx, len(mem))
        if bad.all() or not bad.any():
            raise ValueError("need both corrupted and clean examples to compute an AUROC")
        rows.append({"estimator": name, "unit": units.get(name, UNSPECIFIED), "auroc": float(roc_auc_score(bad, mem)),
                     "num_corrupted": int(bad.sum()), "num_clean": int((~bad).sum()),
                     "mem_mean_clean": float(mem[~bad].mean()), "mem_mean_corrupted": float(mem[bad].mean())})
    return pd.DataFrame(rows)


def plot_histograms(scores: dict, corrupted_idx, path=None, bins: int = 40, units: dict = None) -> Figure:
    """Paper 002 Fig. 2(b): per estimator, memorization histograms of clean vs corrupted examples, each in its
    own panel with its own x axis and bins, labelled with its unit (`units`).  Returns the Figure (saved to
    `path` if given)."""
    units = units or {}
    fig = Figure(figsize=(4 * len(scores), 3.2))
    FigureCanvasAgg(fig)
    for k, (name, mem) in enumerate(scores.items()):
        mem = np.asarray(mem, np.float64)
        bad = corrupted_mask(corrupted_idx, len(mem))
        ax = fig.add_subplot(1, len(scores), k + 1)
        edges = np.histogram_bin_edges(mem, bins=bins)
        ax.hist(mem[~bad], bins=edges, alpha=0.6, label=f"clean ({(~bad).sum()})")
        ax.hist(mem[bad], bins=edges, alpha=0.6, label=f"corrupted ({bad.sum()})")
        ax.set_yscale("log")
        unit = units.get(name)
        ax.set_xlabel("memorization" + (f": {unit_label(unit)}" if unit else " score"), fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def load_corrupted_idx(path) -> np.ndarray:
    """Corrupted ids from a dataset_meta.npz / estimates_stats.npz (key corrupted_idx) or a .npy file."""
    if zipfile.is_zipfile(path):  # an .npz (any name): through the size-checked reader
        try:
            arrays = npz.read(path)
        except npz.NpzError as e:
            raise ValueError(f"{path}: not a .npy/.npz file with corrupted ids ({e.detail})") from None
        if "corrupted_idx" not in arrays:
            raise ValueError(f"{path}: no 'corrupted_idx' key (was the run trained with --corrupt_fraction?)")
        return arrays["corrupted_idx"].astype(np.int64)
    try:
        return npz.read_npy(path).astype(np.int64)
    except npz.NpzError as e:
        raise ValueError(f"{path}: not a .npy/.npz file with corrupted ids ({e.detail})") from None


def load_scores(spec: list) -> tuple:
    """['name=DIR', ...] -> ({name: tr_mem}, {name: unit}) from each DIR's infl matrix and sidecar
    (consistency.estimate_unit); the training labels must agree, the units need not (AUROCs only rank)."""
    scores, labels, units = {}, None, {}
    for item in spec:
        name, sep, directory = item.partition("=")
        if not sep or not name or not directory:
            raise ValueError(f"--estimates entry {item!r} is not NAME=DIR")
        if name in scores:
            raise ValueError(f"--estimates entry {item!r}: the name {name!r} is given twice")
        files = released.find_estimate_set(directory)
        matrix = released.load_infl_matrix(files["infl_matrix"])
        if labels is not None and not np.array_equal(labels, matrix.tr_labels):
            raise ValueError(f"--estimates {name}={directory}: training labels differ from the first estimate set "
                             f"(different dataset or corruption)")
        labels, scores[name], units[name] = matrix.tr_labels, matrix.tr_mem, estimate_unit(files)
    return scores, units


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS["allow_mixed_units"].present:
        print("note: --allow_mixed_units is deprecated and has no effect: estimators in different units are always "
              "compared (an AUROC only ranks within each estimator)", file=sys.stderr)
    try:
        scores, units = load_scores(FLAGS.estimates)
        corrupted = load_corrupted_idx(FLAGS.corrupted)
        table = auroc_table(scores, corrupted, units)
    except (released.EstimateSetError, released.ReleasedFormatError, ValueError) as e:
        sys.exit(f"error: {e}")
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    table.to_csv(os.path.join(FLAGS.output_dir, "label_noise_auroc.csv"), index=False)
    plot_histograms(scores, corrupted, os.path.join(FLAGS.output_dir, "label_noise_hist.png"), units=units)
    print(table.to_string(index=False))
    if len(set(units.values())) > 1:
        print("  units differ: the AUROCs compare (each ranks within its estimator); each row's means are in its "
              "own unit")


def define_flags():
    """The study's flags."""
    shared_flags.define_estimates_list("NAME=DIR entries, e.g. subsampled=/a,turnover=/b,last_layer=/c.")
    shared_flags.define_output_dir("Where label_noise_auroc.csv and label_noise_hist.png go.", required=True)
    flags.DEFINE_string("corrupted", None, "dataset_meta.npz, corrupted_idx.npy or estimates_stats.npz with the "
                                           "corrupted ids.")
    flags.mark_flag_as_required("corrupted")
    flags.DEFINE_boolean("allow_mixed_units", False, "Deprecated, no effect: estimate sets of different units "
                                                     "are always compared (AUROCs only rank within an estimator).")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
