"""im-describe FILE...: what a released-format file holds (also python -m influence_mem.analysis.describe).

Prints the kind, sizes, text histograms of the estimates and the number of
high-influence pairs, so a download or an aggregator output can be checked
without writing code.  A file that is not a valid released-format file exits
non-zero with one line naming the file and the problem.  An estimate set's
sidecar also tells the trials selected, their accuracy on their training
subsets (a warning below --min_train_accuracy) and how many pairs noise alone
would give.

im-describe --convergence --workdir=W --output_dir=D [--trials=...] reads the
trials of W once and writes D/convergence.csv and D/convergence.png: how the
estimates settle as trials accumulate (estimate.convergence).
"""
import sys

import numpy as np
from absl import app, flags

from influence_mem.formats import released
from influence_mem.analysis import convergence as convergence_output
from influence_mem.estimate.aggregator import AggregateError, fit_warning, noise_statement, noise_warning
from influence_mem.estimate.convergence import convergence_table
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.estimate.trials import MetaError
from influence_mem.programs import shared_flags, start

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run, so importing describe() adds no global flags."""
    shared_flags.define_thresholds("Memorization threshold for counting pairs.",
                                     "Influence threshold for counting pairs.")
    shared_flags.define_min_train_accuracy()
    shared_flags.define_trial_selection("With --convergence: only these trials (the trainer's syntax, e.g. 0-1999).")
    shared_flags.define_output_dir("With --convergence: where convergence.csv and convergence.png go.")
    flags.DEFINE_boolean("convergence", False, "Instead of describing files: read the trials of --workdir once and "
                         "write how the estimates settle as trials accumulate (convergence.csv, convergence.png).")
    flags.DEFINE_string("workdir", None, "With --convergence: the trainer's workdir.")
    flags.DEFINE_float("subset_ratio", 0.7, "With --convergence: the subset ratio whose trials are read.")
    flags.DEFINE_float("z", 2.0, "With --convergence: count the pairs whose influence exceeds the threshold by this "
                       "many standard errors.", lower_bound=0.0)


def text_histogram(values, lo, hi, bins=10, width=40):
    """Lines '[lo, hi)  count  ####' (values outside [lo, hi] go to the end bins)."""
    values = np.asarray(values, np.float64).ravel()
    values = np.clip(values[np.isfinite(values)], lo, hi)
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    scale = width / max(counts.max(initial=0), 1)
    return [f"    [{a:+.2f}, {b:+.2f}{']' if k == bins - 1 else ')'} {c:>10d}  "
            f"{'#' * int(np.ceil(c * scale))}".rstrip()
            for k, (a, b, c) in enumerate(zip(edges[:-1], edges[1:], counts))]


def _summary(name, values, lo, hi, bins):
    v = np.asarray(values, np.float64)
    head = (f"  {name}: {v.size} values, mean {np.nanmean(v):.4f}, min {np.nanmin(v):.4f}, "
            f"max {np.nanmax(v):.4f}" if v.size else f"  {name}: no values")
    return [head] + (text_histogram(v, lo, hi, bins) if v.size else [])


def _pairs_lines(df):
    per_test = df.groupby("tt_idx").size()
    return [f"  high-influence pairs: {len(df)} ({df['tr_idx'].nunique()} train examples, "
            f"{len(per_test)} test examples, {int((per_test == 1).sum())} of them influenced "
            f"by a single train example)"]


def _quality_lines(stats, min_train_accuracy) -> list:
    """What the aggregator's sidecar says about the estimates' quality (absent keys: older sidecars)."""
    lines = []
    if released.STATS_TRIAL_SELECTION in stats:
        lines.append(f"  trials selected (--trials): {stats[released.STATS_TRIAL_SELECTION]}")
    if released.STATS_TRAIN_ACCURACY in stats:
        accuracy = float(stats[released.STATS_TRAIN_ACCURACY])
        lines.append(f"  accuracy of the trials on their training subsets: {100 * accuracy:.1f}%")
        fit = fit_warning(accuracy, min_train_accuracy)
        lines += [f"  warning: {fit}"] if fit else []
    if released.STATS_NOISE_PAIRS in stats and "pairs_infl_se" in stats:
        args = (len(stats["pairs_infl_se"]), float(stats[released.STATS_NOISE_PAIRS]),
                int(stats[released.STATS_CANDIDATE_PAIRS]), float(stats["infl_threshold"]),
                float(stats.get(released.STATS_PAIRS_MIN_Z, 0.0)))
        noise = noise_warning(*args)
        lines.append(f"  warning: {noise}" if noise else "  " + noise_statement(*args))
    return lines


def describe(path, mem_threshold=0.25, infl_threshold=0.15, min_train_accuracy=0.95) -> str:
    """Multi-line description of a released-format file (raises ReleasedFormatError)."""
    obj = released.load(path)
    kind = obj.kind
    lines = [f"{path}: {kind}"]
    if kind == "infl_matrix":
        entries = sum(b.size for b in obj.blocks.values())
        lines.append(f"  train examples {len(obj.tr_labels)}, test examples {len(obj.tt_labels)}, "
                     f"classes {len(obj.classes)}, same-class influence entries {entries}")
        lines += _summary("memorization (tr_mem)", obj.tr_mem, -1, 1, 20)
        blocks = [b.ravel() for b in obj.blocks.values()]
        lines += _summary("influence (same-class pairs)",
                          np.concatenate(blocks) if blocks else [], -1, 1, 20)
        lines.append(f"  with mem >= {mem_threshold:g} and infl >= {infl_threshold:g}:")
        lines += _pairs_lines(pairs_from_matrix(obj, mem_threshold, infl_threshold))
        if obj.stats is not None:
            lines.append("  its sidecar:")
            lines += _quality_lines(obj.stats, min_train_accuracy)
    elif kind == "high_infl_pairs":
        lines += _pairs_lines(obj)
        lines += _summary("influence (infl)", obj["infl"], -1, 1, 20)
        lines += _summary("memorization (mem)", obj["mem"], -1, 1, 20)
    elif kind == "index":
        lines.append(f"  train examples {len(obj)}, classes {obj['tr_labels'].nunique()}")
        lines += _summary("memorization (tr_mem)", obj["tr_mem"], -1, 1, 20)
    elif kind == "cscores":
        extra = "labels" if obj.labels is not None else "no labels (MNIST .npy: TFDS order)"
        if obj.filenames is not None:
            extra += ", filenames"
        lines.append(f"  examples {len(obj.scores)}, {extra}")
        lines += _summary("C-scores", obj.scores, 0, 1, 10)
    else:  # estimates_stats
        n_in, n_out = obj["n_in"], obj["n_out"]
        lines.append(f"  trials {int(obj['num_trials'])}, subset ratio {float(obj['subset_ratio']):g}, "
                     f"train examples {len(n_in)}")
        lines.append(f"  trials with i in: min {n_in.min()}, median {int(np.median(n_in))}; "
                     f"with i out: min {n_out.min()}, median {int(np.median(n_out))}")
        lines.append(f"  examples never in: {int((n_in == 0).sum())}, never out: "
                     f"{int((n_out == 0).sum())} (term set to 1/2, Lemma 2.1)")
        if "skipped_trial_ids" in obj:
            lines.append(f"  skipped trials: {len(obj['skipped_trial_ids'])}")
        lines += _quality_lines(obj, min_train_accuracy)
        lines += _summary("memorization standard error (mem_se)", obj["mem_se"], 0, 1, 10)
    return "\n".join(lines)


def describe_convergence(workdir, output_dir, subset_ratio=0.7, trials=None, mem_threshold=0.25,
                         infl_threshold=0.15, z=2.0, min_train_accuracy=0.95):
    """(the table as text lines, the written paths, warnings): estimate.convergence.convergence_table of the
    workdir, written as output_dir/convergence.csv and .png.  Raises AggregateError or MetaError."""
    result = convergence_table(workdir, subset_ratio, trials, mem_threshold, infl_threshold, z,
                               min_train_accuracy=min_train_accuracy)
    return convergence_output.format_lines(result), convergence_output.write(result, output_dir), result.warnings


def _convergence_main(argv):
    if len(argv) > 1:
        raise app.UsageError("--convergence reads --workdir; no FILE arguments")
    if not FLAGS.workdir or not FLAGS.output_dir:
        sys.exit("im-describe: error: --convergence needs --workdir and --output_dir")
    try:
        released.check_output_dir(FLAGS.output_dir)
        lines, written, warnings = describe_convergence(
            FLAGS.workdir, FLAGS.output_dir, FLAGS.subset_ratio, FLAGS.trials, FLAGS.mem_threshold,
            FLAGS.infl_threshold, FLAGS.z, FLAGS.min_train_accuracy)
    except (AggregateError, MetaError, ValueError) as e:
        sys.exit(f"im-describe: error: {e}")
    except OSError as e:
        sys.exit(f"im-describe: error: writing into {FLAGS.output_dir} failed: {e.strerror or e}")
    print("\n".join(lines))
    for path in written:
        print(f"  wrote {path}")
    for line in warnings:
        print(f"im-describe: warning: {line}", file=sys.stderr)


def main(argv):
    if FLAGS.convergence:
        return _convergence_main(argv)
    if len(argv) < 2:
        raise app.UsageError("usage: im-describe FILE [FILE...]  or  im-describe --convergence --workdir=W "
                             "--output_dir=D")
    for path in argv[1:]:
        try:
            print(describe(path, FLAGS.mem_threshold, FLAGS.infl_threshold, FLAGS.min_train_accuracy))
        except released.ReleasedFormatError as e:
            sys.exit(f"im-describe: error: {e}")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
