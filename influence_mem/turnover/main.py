"""python -m influence_mem.turnover: memorization and influence of every example from one turn-over dropout run.

Paper 002, Sec. 2.2.  Example:

  python -m influence_mem.turnover --flagfile=configs/turnover/mnist_mlp.cfg --workdir=/tmp/to

Takes the trainer's flags (--dataset, --arch, --epochs, --corrupt_fraction,
...; see docs/followups.md) and writes into --workdir the files the
aggregator writes: <name>_infl_matrix.npz, <name>_high_infl_pairs_infl{θ}_mem{θ}.npz,
<name>_index.npz (when the dataset has filenames) and the sidecar
<name>_estimates_stats.npz (estimator='turnover', unit='nats', per-example sub-network
losses and correctness, corrupted_idx).  Scores are cross-entropy
differences (nats), so pick --mem_threshold/--infl_threshold accordingly.
"""
import os
import time

import numpy as np
from absl import app, flags, logging

from influence_mem import released
from influence_mem.estimate.pairs import high_influence_pairs
from influence_mem.programs import shared_flags, start
from influence_mem.train import flags as train_flags
from influence_mem.turnover import trainer

FLAGS = flags.FLAGS


def write_estimates(out_dir: str, name: str, dataset, est, mem_threshold: float, infl_threshold: float,
                    extra: dict = None) -> dict:
    """Write the released-format files + sidecar of turnover estimates `est`; {filename: path}."""
    mem = est.self["mem"].astype(np.float32)
    pairs = high_influence_pairs(mem, est.tr_classidx, est.tt_classidx, est.blocks, mem_threshold, infl_threshold)
    n = dataset.num_train
    stats = dict(estimator="turnover", unit="nats", example_order=dataset.index_note,
                 num_trials=1, subset_ratio=1.0, n_in=np.ones(n, np.int64),
                 n_out=np.zeros(n, np.int64), mem_se=np.full(n, np.nan, np.float32),
                 mem_threshold=mem_threshold, infl_threshold=infl_threshold,
                 corrupted_idx=np.asarray(dataset.corrupted_idx if dataset.corrupted_idx is not None else [], np.int64),
                 **{k: v for k, v in est.self.items() if k != "mem"}, **(extra or {}))
    written = released.write_estimate_set(out_dir, name, dataset.train_labels, dataset.test_labels, mem,
                                          est.tr_classidx, est.tt_classidx, est.blocks, pairs, mem_threshold,
                                          infl_threshold, stats, tr_filenames=dataset.train_filenames)
    return {filename: str(path) for filename, path in written.items()}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    dataset = train_flags.dataset_from_flags()
    config = train_flags.config_from_flags()
    name = FLAGS.name or released.default_output_name(dataset.name)
    try:
        released.check_output_name(name, "--name" if FLAGS.name else f"dataset {dataset.name!r}")
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    started = time.time()
    try:
        strategy = train_flags.strategy_from_flags()
        model = trainer.train(dataset, config, strategy=strategy)
        trained = time.time() - started
        est = trainer.turnover_estimates(model, dataset, FLAGS.eval_batch_size)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    written = write_estimates(FLAGS.workdir, name, dataset, est, FLAGS.mem_threshold, FLAGS.infl_threshold,
                              extra={"train_seconds": trained, "estimate_seconds": time.time() - started - trained,
                                     "precision": config.precision})
    if FLAGS.save_model:
        model.save(os.path.join(FLAGS.workdir, f"{name}_turnover.keras"))
    mem = est.self["mem"]
    logging.info("turn-over dropout on %s: train %.1fs, estimates %.1fs; unmuted train accuracy %.4f, muted %.4f; "
                 "mem mean %.4f nats; wrote %s", dataset.name, trained, time.time() - started - trained,
                 est.self["correct_unmuted"].mean(), est.self["correct_muted"].mean(), mem.mean(),
                 ", ".join(sorted(written)))


def define_flags():
    """The trainer's flags plus the estimate-set ones."""
    train_flags.define_flags()
    flags.mark_flag_as_required("workdir")
    shared_flags.define_name("File-name prefix of the estimate files (default: the dataset name).")
    shared_flags.define_thresholds("High-influence pairs: mem >= this (nats for turn-over dropout).",
                                     "High-influence pairs: infl >= this (nats for turn-over dropout).")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
