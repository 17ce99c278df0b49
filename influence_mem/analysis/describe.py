"""im-describe FILE...: what a released-format file holds (also python -m influence_mem.analysis.describe).

Prints the kind, sizes, text histograms of the estimates and the number of
high-influence pairs, so a download or an aggregator output can be checked
without writing code.  A file that is not a valid released-format file exits
non-zero with one line naming the file and the problem.
"""
import sys

import numpy as np
from absl import app, flags

from influence_mem.formats import released
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.programs import shared_flags, start

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run, so importing describe() adds no global flags."""
    shared_flags.define_thresholds("Memorization threshold for counting pairs.",
                                     "Influence threshold for counting pairs.")


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


def describe(path, mem_threshold=0.25, infl_threshold=0.15) -> str:
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
        lines += _summary("memorization standard error (mem_se)", obj["mem_se"], 0, 1, 10)
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("usage: im-describe FILE [FILE...]")
    for path in argv[1:]:
        try:
            print(describe(path, FLAGS.mem_threshold, FLAGS.infl_threshold))
        except released.ReleasedFormatError as e:
            sys.exit(f"im-describe: error: {e}")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
