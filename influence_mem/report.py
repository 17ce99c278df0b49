"""im-report: summarize an estimates directory and draw the paper's example figures.

  python -m influence_mem.report --estimates DIR [--dataset digits] [--output_dir DIR]

Reads only released-format files and the sidecar (never the trials).  With
--dataset it also loads the images and draws Fig. 1 (highest / lowest
memorization per class) and Fig. 3 (strongest high-influence pairs).
"""
import glob
import os
import sys

import numpy as np
from absl import app, flags

from influence_mem import released
from influence_mem.analysis import figures

FLAGS = flags.FLAGS
flags.DEFINE_string("estimates", None, "Directory holding <name>_infl_matrix.npz etc.")
flags.DEFINE_string("name", None, "Estimate name prefix; default: the only one in --estimates.")
flags.DEFINE_string("dataset", None, "Dataset of the estimates (registry name), for the image figures.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_string("output_dir", None, "Where figures go; default: --estimates.")
flags.mark_flag_as_required("estimates")


class ReportError(ValueError):
    pass


def find_files(estimates_dir: str, name: str = None) -> dict:
    """Paths of the infl matrix, pairs and sidecar files of estimate `name` in a directory."""
    matrices = sorted(glob.glob(os.path.join(estimates_dir, f"{name or '*'}_infl_matrix.npz")))
    if not matrices:
        raise ReportError(f"{estimates_dir}: no {name or '<name>'}_infl_matrix.npz found")
    if len(matrices) > 1:
        raise ReportError(f"{estimates_dir}: several estimates ({', '.join(map(os.path.basename, matrices))}); "
                          f"pass --name")
    prefix = matrices[0][: -len("_infl_matrix.npz")]
    pairs = sorted(glob.glob(f"{glob.escape(prefix)}_high_infl_pairs_infl*_mem*.npz"))
    stats = f"{prefix}_estimates_stats.npz"
    return {"name": os.path.basename(prefix), "infl_matrix": matrices[0], "pairs": pairs[0] if pairs else None,
            "stats": stats if os.path.exists(stats) else None}


def summarize(files: dict) -> dict:
    """Headline numbers: trials, mean test accuracy, memorized examples, pairs."""
    matrix = released.load_infl_matrix(files["infl_matrix"])
    summary = {"name": files["name"], "num_train": len(matrix.tr_labels), "num_test": len(matrix.tt_labels),
               "num_mem_025": int(np.sum(matrix.tr_mem >= 0.25))}
    if files["pairs"]:
        pairs = released.load_high_infl_pairs(files["pairs"])
        summary.update(num_pairs=len(pairs), pair_train=pairs.tr_idx.nunique(), pair_test=pairs.tt_idx.nunique())
    if files["stats"]:
        stats = released.load_estimates_stats(files["stats"])
        summary["num_trials"] = int(stats["num_trials"])
        if "tt_correct" in stats:
            summary["test_accuracy"] = float(np.sum(stats["tt_correct"]) / (stats["num_trials"] * len(matrix.tt_labels)))
    return summary


def format_summary(s: dict) -> str:
    lines = [f"estimates {s['name']}: {s['num_train']} training / {s['num_test']} test examples"]
    if "num_trials" in s:
        acc = f", mean test accuracy {100 * s['test_accuracy']:.2f}%" if "test_accuracy" in s else ""
        lines.append(f"  trials: {s['num_trials']}{acc}")
    lines.append(f"  training examples with memorization >= 0.25: {s['num_mem_025']} "
                 f"({100 * s['num_mem_025'] / s['num_train']:.1f}%)")
    if "num_pairs" in s:
        lines.append(f"  high-influence pairs: {s['num_pairs']} ({s['pair_train']} training, "
                     f"{s['pair_test']} test examples)")
    return "\n".join(lines)


def draw_figures(files: dict, dataset_name: str, output_dir: str, data_dir: str = None) -> list:
    """Fig. 1 and Fig. 3 PNGs for a dataset the package can load; returns their paths."""
    from influence_mem.data import datasets  # TensorFlow only when images are needed

    dataset = datasets.load(dataset_name, data_dir)
    if dataset.x_train is None:
        raise ReportError(f"--dataset={dataset_name} streams its images; example figures need an in-memory dataset")
    matrix = released.load_infl_matrix(files["infl_matrix"])
    if len(matrix.tr_labels) != dataset.num_train or not np.array_equal(matrix.tr_labels, dataset.train_labels):
        raise ReportError(f"{files['infl_matrix']}: labels do not match dataset {dataset_name}")
    written = []
    path = os.path.join(output_dir, f"{files['name']}_memorization_examples.png")
    figures.plot_memorization_examples(dataset.x_train, dataset.train_labels, matrix.tr_mem, path)
    written.append(path)
    if files["pairs"]:
        pairs = released.load_high_infl_pairs(files["pairs"])
        if len(pairs):
            path = os.path.join(output_dir, f"{files['name']}_high_influence_pairs.png")
            figures.plot_high_influence_pairs(dataset.x_train, dataset.x_test, pairs, path,
                                              train_labels=dataset.train_labels)
            written.append(path)
    return written


def main(argv):
    del argv
    try:
        files = find_files(FLAGS.estimates, FLAGS.name)
        print(format_summary(summarize(files)))
        if FLAGS.dataset:
            output_dir = FLAGS.output_dir or FLAGS.estimates
            os.makedirs(output_dir, exist_ok=True)
            for path in draw_figures(files, FLAGS.dataset, output_dir, FLAGS.data_dir):
                print(f"  figure: {path}")
    except (ReportError, released.ReleasedFormatError) as e:
        sys.exit(f"error: {e}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
