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
The sets must be in one unit (analysis.consistency.estimate_unit: accuracy
differences for subsampling, nats for turn-over dropout): AUROC alone would
be comparable, but the means and the shared histogram axis are not, so a
mixed set is refused unless --allow_mixed_units.
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
from influence_mem.analysis.consistency import check_units, estimate_unit
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


def auroc_table(scores: dict, corrupted_idx) -> pd.DataFrame:
    """One row per estimator: AUROC of its score for 'corrupted vs clean', mean score of each group."""
    rows = []
    for name, mem in scores.items():
        mem = np.asarray(mem, np.float64)
        bad = corrupted_mask(corrupted_idx, len(mem))
        if bad.all() or not bad.any():
            raise ValueError("need both corrupted and clean examples to compute an AUROC")
        rows.append({"estimator": name, "auroc": float(roc_auc_score(bad, mem)), "num_corrupted": int(bad.sum()),
                     "num_clean": int((~bad).sum()), "mem_mean_clean": float(mem[~bad].mean()),
                     "mem_mean_corrupted": float(mem[bad].mean())})
    return pd.DataFrame(rows)


def plot_histograms(scores: dict, corrupted_idx, path=None, bins: int = 40) -> Figure:
    """Paper 002 Fig. 2(b): per estimator, memorization histograms of clean vs corrupted examples.
    Returns the Figure (saved to `path` if given)."""
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
        ax.set_xlabel("memorization score")
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


def load_scores(spec: list, allow_mixed_units: bool = False) -> dict:
    """['name=DIR', ...] -> {name: tr_mem} from each DIR's infl matrix; training labels must agree, and the
    units (consistency.check_units) unless `allow_mixed_units`."""
    scores, labels, units = {}, None, {}
    for item in spec:
        name, sep, directory = item.partition("=")
        if not sep or not name or not directory:
            raise ValueError(f"--estimates entry {item!r} is not NAME=DIR")
        files = released.find_estimate_set(directory)
        units[name] = estimate_unit(files)
        check_units(units, allow_mixed_units)
        matrix = released.load_infl_matrix(files["infl_matrix"])
        if labels is not None and not np.array_equal(labels, matrix.tr_labels):
            raise ValueError(f"--estimates {name}={directory}: training labels differ from the first estimate set "
                             f"(different dataset or corruption)")
        labels, scores[name] = matrix.tr_labels, matrix.tr_mem
    return scores


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    try:
        scores = load_scores(FLAGS.estimates, FLAGS.allow_mixed_units)
        corrupted = load_corrupted_idx(FLAGS.corrupted)
        table = auroc_table(scores, corrupted)
    except (released.EstimateSetError, released.ReleasedFormatError, ValueError) as e:
        sys.exit(f"error: {e}")
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    table.to_csv(os.path.join(FLAGS.output_dir, "label_noise_auroc.csv"), index=False)
    plot_histograms(scores, corrupted, os.path.join(FLAGS.output_dir, "label_noise_hist.png"))
    print(table.to_string(index=False))


def define_flags():
    """The study's flags."""
    shared_flags.define_estimates_list("NAME=DIR entries, e.g. subsampled=/a,turnover=/b,last_layer=/c.")
    shared_flags.define_output_dir("Where label_noise_auroc.csv and label_noise_hist.png go.", required=True)
    flags.DEFINE_string("corrupted", None, "dataset_meta.npz, corrupted_idx.npy or estimates_stats.npz with the "
                                           "corrupted ids.")
    flags.mark_flag_as_required("corrupted")
    flags.DEFINE_boolean("allow_mixed_units", False, "Compare estimate sets of different units (accuracy "
                                                     "differences and turn-over's loss differences in nats).")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
