"""python -m influence_mem.turnover: memorization and influence of every example from one turn-over dropout run.

Paper 002, Sec. 2.2.  Example:

  python -m influence_mem.turnover --flagfile=configs/turnover/mnist_mlp.cfg --workdir=/tmp/to

Takes the trainer's flags (--dataset, --arch, --epochs, --corrupt_fraction,
...; see docs/followups.md) and writes into --workdir the files the
aggregator writes: <name>_infl_matrix.npz, <name>_high_infl_pairs_infl{θ}_mem{θ}.npz,
<name>_index.npz (when the dataset has filenames) and the sidecar
<name>_estimates_stats.npz (estimator='turnover', per-example sub-network
losses and correctness, corrupted_idx).  Scores are cross-entropy
differences (nats), so pick --mem_threshold/--infl_threshold accordingly.
"""
import os
import time

import numpy as np
from absl import app, flags, logging

from influence_mem import released
from influence_mem.estimate.pairs import high_influence_pairs
from influence_mem.train import main as train_main  # defines the trainer flags
from influence_mem.train import strategy as strategy_lib

FLAGS = flags.FLAGS


def write_estimates(out_dir: str, name: str, dataset, est, mem_threshold: float, infl_threshold: float,
                    extra: dict = None) -> dict:
    """Write the released-format files + sidecar of turnover estimates `est`; {filename: path}."""
    os.makedirs(out_dir, exist_ok=True)
    mem = est.self["mem"].astype(np.float32)
    pairs = high_influence_pairs(mem, est.tr_classidx, est.tt_classidx, est.blocks, mem_threshold, infl_threshold)
    paths = [
        released.write_infl_matrix(os.path.join(out_dir, released.infl_matrix_filename(name)), dataset.train_labels,
                                   dataset.test_labels, mem, est.tr_classidx, est.tt_classidx, est.blocks),
        released.write_high_infl_pairs(
            os.path.join(out_dir, released.high_infl_pairs_filename(name, infl_threshold, mem_threshold)),
            pairs["tr_idx"], pairs["tt_idx"], pairs["infl"], pairs["mem"])]
    if dataset.train_filenames is not None:
        paths.append(released.write_index(os.path.join(out_dir, released.index_filename(name)),
                                          dataset.train_filenames, dataset.train_labels, mem))
    n = dataset.num_train
    stats = dict(estimator="turnover", num_trials=1, subset_ratio=1.0, n_in=np.ones(n, np.int64),
                 n_out=np.zeros(n, np.int64), mem_se=np.full(n, np.nan, np.float32),
                 mem_threshold=mem_threshold, infl_threshold=infl_threshold,
                 corrupted_idx=np.asarray(dataset.corrupted_idx if dataset.corrupted_idx is not None else [], np.int64),
                 **{k: v for k, v in est.self.items() if k != "mem"}, **(extra or {}))
    paths.append(released.write_estimates_stats(os.path.join(out_dir, released.stats_filename(name)), **stats))
    return {os.path.basename(str(p)): str(p) for p in paths}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from influence_mem.turnover import estimate

    dataset = train_main.load_dataset_from_flags()
    config = train_main.config_from_flags()
    name = FLAGS.name or dataset.name
    if not name.replace("_", "").replace("-", "").isalnum():
        raise SystemExit(f"error: --name={name!r}: use letters, digits, '_' or '-' (the dataset name is not a "
                         f"file-name prefix; pass --name)")
    started = time.time()
    try:
        strategy = strategy_lib.get(FLAGS.strategy, FLAGS.num_gpus)
        model = estimate.train(dataset, config, strategy=strategy)
        trained = time.time() - started
        est = estimate.estimate(model, dataset, FLAGS.eval_batch_size)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    written = write_estimates(FLAGS.workdir, name, dataset, est, FLAGS.mem_threshold, FLAGS.infl_threshold,
                              extra={"train_seconds": trained, "estimate_seconds": time.time() - started - trained})
    if FLAGS.save_model:
        model.save(os.path.join(FLAGS.workdir, f"{name}_turnover.keras"))
    mem = est.self["mem"]
    logging.info("turn-over dropout on %s: train %.1fs, estimates %.1fs; unmuted train accuracy %.4f, muted %.4f; "
                 "mem mean %.4f nats; wrote %s", dataset.name, trained, time.time() - started - trained,
                 est.self["correct_unmuted"].mean(), est.self["correct_muted"].mean(), mem.mean(),
                 ", ".join(sorted(written)))


def run():
    flags.DEFINE_string("name", None, "File-name prefix of the estimate files (default: the dataset name).")
    flags.DEFINE_float("mem_threshold", 0.25, "High-influence pairs: mem >= this (nats for turn-over dropout).")
    flags.DEFINE_float("infl_threshold", 0.15, "High-influence pairs: infl >= this (nats for turn-over dropout).")
    app.run(main)


if __name__ == "__main__":
    run()
