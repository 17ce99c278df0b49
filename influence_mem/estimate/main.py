"""im-aggregate: the command line of the aggregator (estimate.aggregator).

    im-aggregate --workdir=W [--subset_ratio=0.7] [--name=N] [--output_dir=OUT] [--trials=0-1999] [--min_z=2]
    python -m influence_mem.aggregate ...   (the same program)

Streams the completed trials of W into the released estimate files; see
estimate.aggregator for what is written.  Flags are defined by main's
define_flags(), never on import.
"""
import sys

from absl import app, flags

from influence_mem.formats import released
from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir, noise_statement
from influence_mem.estimate.trials import MetaError
from influence_mem.programs import shared_flags, start

FLAGS = flags.FLAGS


def define_flags():
    """im-aggregate's flags (idempotent)."""
    if "workdir" not in FLAGS:
        flags.DEFINE_string("workdir", None, "Trainer workdir holding <subset_ratio>/<trial>/ dirs.")
        flags.mark_flag_as_required("workdir")
    if "subset_ratio" not in FLAGS:
        flags.DEFINE_float("subset_ratio", 0.7, "Subset ratio whose trials give the estimates.")
    shared_flags.define_name("Output file prefix (default: 'dataset' in dataset_meta).")
    shared_flags.define_output_dir("Where to write the outputs (default: --workdir).")
    shared_flags.define_thresholds("High-influence pairs: minimum memorization.",
                                     "High-influence pairs: minimum influence.")
    if "full_influence" not in FLAGS:
        flags.DEFINE_boolean("full_influence", False,
                             "Also write the full [n, n_test] influence matrix <name>_infl_full.npy.")
        flags.DEFINE_integer("chunk_size", 100, "Trials read and accumulated at a time.", lower_bound=1)
        flags.DEFINE_string("labels_from", None,
                            "dataset_meta.npz to use instead of <workdir>/dataset_meta.npz.")
        flags.DEFINE_boolean("cscores", None, "Write C-scores (--cscores / --nocscores); default: "
                             "only when the workdir holds more than one subset ratio.")
    shared_flags.define_trial_selection()
    shared_flags.define_min_train_accuracy()
    if "min_z" not in FLAGS:
        flags.DEFINE_float("min_z", 0.0, "High-influence pairs: also require influence - min_z * its standard error "
                           ">= --infl_threshold (0: the paper's selection, the authors' files).", lower_bound=0.0)
    if "clean" not in FLAGS:
        flags.DEFINE_boolean("clean", False, "Remove every .im-aggregate-* staging directory of earlier runs in "
                             "the output directory (default: only those older than a day).  Not while another "
                             "aggregation writes there.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = FLAGS
    try:
        result = aggregate_workdir(f.workdir, f.subset_ratio, f.name, f.output_dir, f.mem_threshold,
                                   f.infl_threshold, f.full_influence, f.chunk_size, f.labels_from,
                                   f.cscores, f.clean, f.trials, f.min_z, f.min_train_accuracy)
    except (AggregateError, MetaError, released.ReleasedFormatError) as e:
        sys.exit(f"im-aggregate: error: {e}")
    print(f"im-aggregate: used {result.num_trials} trials ({len(result.skipped)} skipped), "
          f"{result.num_no_in} examples never in / {result.num_no_out} never out of a subset, "
          f"{result.num_pairs} high-influence pairs")
    print(f"  trials' accuracy on their training subsets: {100 * result.train_accuracy:.1f}%")
    print("  " + noise_statement(result.num_pairs, result.noise_pairs_expected, result.candidate_pairs,
                                 f.infl_threshold, f.min_z, result.num_pairs_2se))
    for t, reason in result.skipped:
        print(f"  skipped trial {t}: {reason}")
    for line in result.warnings:
        print(f"im-aggregate: warning: {line}", file=sys.stderr)
    for path in result.outputs.values():
        print(f"  wrote {path}")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
