"""im-train: train subset trials and write them in the heldout per-trial format.

  python -m influence_mem.train --flagfile=configs/digits_mlp.cfg --trials=0-99 --workdir=/tmp/run

Writes <workdir>/<subset_ratio>/<trial>/{aux_arrays.npz, metrics.json, saved_model/}
and <workdir>/dataset_meta.npz.  Completed trials are skipped on rerun.
The work is done by train.run.run_trials; this module only reads flags.
"""
import time

from absl import app, flags, logging

from influence_mem.formats.trial import parse_trials
from influence_mem.programs import start
from influence_mem.train import flags as train_flags
from influence_mem.train import outputs
from influence_mem.train.run import TrialsFailed, run_trials
from influence_mem.train.strategy import cpu_cores

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if train_flags.configure_threads():
        logging.info("packs on %d CPU cores: one thread per op, one sub-pack per core", cpu_cores())
    try:
        outputs.check_workdir(FLAGS.workdir)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    dataset = train_flags.dataset_from_flags()
    config = train_flags.config_from_flags()
    trials = parse_trials(FLAGS.trials)
    logging.info("dataset %s: %d train / %d test examples (index: %s); arch %s; %d trials at r=%g -> %s",
                 dataset.name, dataset.num_train, dataset.num_test, dataset.index_note, config.arch,
                 len(trials), config.subset_ratio, FLAGS.workdir)
    started = time.time()
    failure = None
    try:
        summary = run_trials(dataset, config, trials, FLAGS.workdir, train_flags.flag_values(),
                             strategy=train_flags.strategy_from_flags(), checkpoint_every=FLAGS.checkpoint_every,
                             stale_seconds=FLAGS.claim_timeout_minutes * 60, pack_trials=FLAGS.pack_trials,
                             checkpoint_seconds=FLAGS.checkpoint_seconds)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    except TrialsFailed as e:
        summary, failure = e.summary, e
    accuracy = summary["test_accuracy"]
    logging.info("finished in %.1fs: %d trained, %d skipped (complete or claimed by another worker)%s",
                 time.time() - started, len(summary["done"]), len(summary["skipped"]),
                 f", mean test accuracy {sum(accuracy) / len(accuracy):.4f}" if accuracy else "")
    if failure:
        raise SystemExit(f"error: {failure}")


def define_flags() -> None:
    """The trainer flags; --workdir is required."""
    train_flags.define_flags()
    flags.mark_flag_as_required("workdir")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
