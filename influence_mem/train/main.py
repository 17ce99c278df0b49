"""im-train: train subset trials and write them in the heldout per-trial format.

  python -m influence_mem.train --flagfile=configs/digits_mlp.cfg --trials=0-99 --workdir=/tmp/run

Writes <workdir>/<subset_ratio>/<trial>/{aux_arrays.npz, metrics.json, saved_model/}
and <workdir>/dataset_meta.npz.  Completed trials are skipped on rerun.
"""
import os
import time

from absl import app, flags, logging

from influence_mem import models
from influence_mem.data import corrupt, datasets
from influence_mem.data.subsets import parse_trials
from influence_mem.train import checkpoints, outputs, schedules
from influence_mem.train import strategy as strategy_lib
from influence_mem.train.packed import train_pack
from influence_mem.train.trial import TrainConfig, train_trial

FLAGS = flags.FLAGS
_DEFAULTS = TrainConfig()

flags.DEFINE_string("dataset", "digits", "Dataset name: " + ", ".join(datasets.names()) + ".")
flags.DEFINE_string("data_dir", None, "TFDS data directory (where prepared datasets live).")
flags.DEFINE_string("arch", _DEFAULTS.arch, "Architecture name from the model registry.")
flags.DEFINE_string("mlp_hidden", "512,256", "Hidden layer widths of the mlp architecture.")
flags.DEFINE_float("subset_ratio", _DEFAULTS.subset_ratio, "Fraction r of the training set in each subset (0, 1].")
flags.DEFINE_string("trials", "0", "Trial ids to run: '0-99', '3,7,9' or mixed '0-9,20'.")
flags.DEFINE_string("workdir", None, "Output root: <workdir>/<subset_ratio>/<trial>/.")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Experiment seed; with (subset_ratio, trial) it fixes everything.")
flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Training epochs.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Training batch size.")
flags.DEFINE_float("base_lr", _DEFAULTS.base_lr, "Peak learning rate.")
flags.DEFINE_enum("lr_schedule", _DEFAULTS.lr_schedule, schedules.NAMES, "Learning-rate schedule.")
flags.DEFINE_float("warmup_fraction", _DEFAULTS.warmup_fraction, "linear_warmup_decay: warmup share of steps.")
flags.DEFINE_float("warmup_epochs", _DEFAULTS.warmup_epochs, "warmup_piecewise: warmup epochs.")
flags.DEFINE_list("decay_epochs", ["30", "60", "90"], "warmup_piecewise: epochs where lr drops 10x.")
flags.DEFINE_float("momentum", _DEFAULTS.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay, "Decoupled weight decay (0 = off).")
flags.DEFINE_integer("crop_padding", _DEFAULTS.crop_padding,
                     "Random pad-and-crop padding in pixels; -1 = dataset default (4 CIFAR, 32 ImageNet, 0 digits/MNIST).")
flags.DEFINE_enum("flip", "default", ["default", "true", "false"], "Random left-right flip.")
flags.DEFINE_boolean("save_model", True, "Write a SavedModel (images -> logits) per trial.")
flags.DEFINE_integer("eval_batch_size", _DEFAULTS.eval_batch_size, "Batch size for evaluation.")
flags.DEFINE_integer("log_every_epochs", 1, "Log a progress line every this many epochs.")
flags.DEFINE_enum("strategy", "default", strategy_lib.NAMES,
                  "default: one device; mirrored: tf.distribute.MirroredStrategy over the visible GPUs.")
flags.DEFINE_integer("num_gpus", 0, "--strategy=mirrored: use the first N visible GPUs (0 = all).")
flags.DEFINE_integer("checkpoint_every", 1, "Checkpoint every N epochs in the trial's work dir, to resume "
                     "after a kill (0 = never).")
flags.DEFINE_float("claim_timeout_minutes", outputs.STALE_SECONDS / 60,
                   "A trial claimed by a worker on another host whose heartbeat is older than this is taken over.")
flags.DEFINE_integer("pack_trials", 1, "Train this many trials at once as one packed model (batched matmuls; "
                     "docs/performance.md). 1 = one Keras model per trial. Packed trials are checkpointed like "
                     "K=1 ones (--checkpoint_every).")
flags.DEFINE_float("corrupt_fraction", 0.0, "Replace this fraction of the training labels by a random other class "
                   "(seeded by --corrupt_seed; ids in each trial's corrupted_idx.npy and dataset_meta.npz).")
flags.DEFINE_integer("corrupt_seed", 0, "Seed of --corrupt_fraction: which examples and which new labels.")
flags.DEFINE_boolean("mixed_precision", False, "float16 compute, float32 variables and logits (GPUs with tensor cores).")

flags.register_validator("dataset", lambda v: _valid(datasets.check_name, v), "see the message above")
flags.register_validator("arch", lambda v: v in models.names(),
                         "unknown --arch; known: " + ", ".join(models.names()))
flags.register_validator("subset_ratio", lambda v: 0.0 < v <= 1.0, "--subset_ratio must be in (0, 1]")
flags.register_validator("trials", lambda v: _valid(parse_trials, v), "see the message above")
flags.register_validator("epochs", lambda v: v >= 1, "--epochs must be >= 1")
flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be >= 1")
flags.register_validator("crop_padding", lambda v: v >= -1, "--crop_padding must be >= 0 (or -1 for the default)")
flags.register_validator("corrupt_fraction", lambda v: 0.0 <= v <= 1.0, "--corrupt_fraction must be in [0, 1]")
flags.register_validator("pack_trials", lambda v: v >= 1, "--pack_trials must be >= 1")
flags.register_validator("num_gpus", lambda v: v >= 0, "--num_gpus must be >= 0 (0 = all visible)")
flags.register_validator("checkpoint_every", lambda v: v >= 0, "--checkpoint_every must be >= 0 (0 = never)")
flags.register_validator("claim_timeout_minutes", lambda v: v > 0, "--claim_timeout_minutes must be > 0")
flags.mark_flag_as_required("workdir")


def _valid(check, value) -> bool:
    """Run a checker that raises ValueError; absl shows our message instead of a generic one."""
    try:
        check(value)
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True


def load_dataset_from_flags():
    """--dataset (from --data_dir), with --corrupt_fraction of its training labels corrupted."""
    try:
        dataset = datasets.load(FLAGS.dataset, FLAGS.data_dir)
    except datasets.DatasetError as e:
        raise SystemExit(f"error: --dataset={FLAGS.dataset}: {e}") from None
    if FLAGS.corrupt_fraction > 0:
        dataset = corrupt.corrupt_dataset(dataset, FLAGS.corrupt_fraction, FLAGS.corrupt_seed)
    return dataset


def config_from_flags() -> TrainConfig:
    return TrainConfig(
        arch=FLAGS.arch, arch_options={"mlp_hidden": FLAGS.mlp_hidden}, subset_ratio=FLAGS.subset_ratio,
        seed=FLAGS.seed, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, base_lr=FLAGS.base_lr,
        lr_schedule=FLAGS.lr_schedule, warmup_fraction=FLAGS.warmup_fraction, warmup_epochs=FLAGS.warmup_epochs,
        decay_epochs=tuple(float(e) for e in FLAGS.decay_epochs), momentum=FLAGS.momentum,
        weight_decay=FLAGS.weight_decay, crop_padding=FLAGS.crop_padding,
        flip=None if FLAGS.flip == "default" else FLAGS.flip == "true", save_model=FLAGS.save_model,
        eval_batch_size=FLAGS.eval_batch_size, log_every_epochs=FLAGS.log_every_epochs,
        mixed_precision=FLAGS.mixed_precision)


def flag_values() -> dict:
    """The flags this module defines, for metrics.json."""
    return {f.name: f.value for f in FLAGS.get_flags_for_module(__name__)}


class TrialsFailed(Exception):
    """Some trials raised; the others ran.  Carries the run summary and the failed ids."""

    def __init__(self, summary: dict, failed: list):
        super().__init__(f"trials {','.join(map(str, failed))} failed (error in <ratio>/.<trial>.inprogress/"
                         f"{outputs.FAILED_FILE}; rerun resumes them from their checkpoints)")
        self.summary, self.failed = summary, failed


def _claim(workdir, config, trial, stale_seconds, summary):
    """(claim, empty temp output dir) for `trial`, or None (recorded as skipped) if complete or held elsewhere."""
    final = outputs.trial_dir(workdir, config.subset_ratio, trial)
    if outputs.is_complete(workdir, config.subset_ratio, trial):
        logging.info("trial %d: already complete in %s, skipping", trial, final)
        summary["skipped"].append(trial)
        return None
    claim = outputs.claim_trial(workdir, config.subset_ratio, trial, stale_seconds)
    if claim is None:
        logging.info("trial %d: claimed by another live worker, skipping", trial)
        summary["skipped"].append(trial)
        return None
    if outputs.is_complete(workdir, config.subset_ratio, trial):  # finished while we claimed
        claim.release(remove_work=True)
        summary["skipped"].append(trial)
        return None
    logging.info("trial %d: claimed by %s pid %d", trial, claim.owner["host"], claim.owner["pid"])
    temp = os.path.join(claim.work, "out")
    if outputs.tf.io.gfile.exists(temp):  # partial outputs of a killed worker
        outputs.tf.io.gfile.rmtree(temp)
    outputs.tf.io.gfile.makedirs(temp)
    return claim, temp


def _commit(workdir, config, trial, claim, temp, metrics, flag_record, summary, progress, corrupted_idx=None):
    """Write metrics.json (and corrupted_idx.npy), rename the trial into place and release its claim."""
    final = outputs.trial_dir(workdir, config.subset_ratio, trial)
    if corrupted_idx is not None:
        corrupt.write_corrupted_idx(temp, corrupted_idx)
        metrics["num_corrupted"] = int(len(corrupted_idx))
    metrics["flags"] = flag_record or {}
    metrics["worker"] = {k: claim.owner[k] for k in ("host", "pid")}
    outputs.write_json(os.path.join(temp, "metrics.json"), metrics)
    committed = outputs.commit_trial(temp, final)
    claim.release(remove_work=True)
    if committed:
        summary["done"].append(trial)
        summary["test_accuracy"].append(metrics["test_accuracy"])
        logging.info("trial %d done (%s): test accuracy %.4f, %.1fs -> %s", trial, progress,
                     metrics["test_accuracy"], metrics["wall_seconds"], final)
    else:
        logging.info("trial %d: completed meanwhile by another worker, discarded this copy", trial)
        summary["skipped"].append(trial)


def _run_pack(dataset, config, pack, workdir, flag_record, strategy, summary, failed, checkpoint_every):
    """Train the claimed trials `pack` [(trial, claim, temp)] together (train.packed) and commit each."""
    trials = [trial for trial, _, _ in pack]
    try:
        results = train_pack(dataset, config, trials, [temp for _, _, temp in pack], strategy=strategy,
                             checkpoint_dirs=[os.path.join(claim.work, "ckpt") for _, claim, _ in pack],
                             checkpoint_every=checkpoint_every, still_ours=[claim.held for _, claim, _ in pack])
    except Exception as e:  # the whole pack failed; its trials keep the error on disk
        logging.exception("pack of trials %s failed", trials)
        for trial, claim, _ in pack:
            claim.release(failure=f"{type(e).__name__}: {e}")
            failed.append(trial)
        return
    for (trial, claim, temp), metrics in zip(pack, results):
        if not claim.held():
            logging.warning("trial %d: claim taken over by another worker; leaving it to that worker", trial)
            claim.release()
            summary["skipped"].append(trial)
            continue
        _commit(workdir, config, trial, claim, temp, metrics, flag_record, summary, f"pack of {len(pack)}",
                dataset.corrupted_idx)


def run_trials(dataset, config: TrainConfig, trials, workdir: str, flag_record: dict = None, strategy=None,
               checkpoint_every: int = 1, stale_seconds: float = outputs.STALE_SECONDS, pack_trials: int = 1,
               on_trained=None) -> dict:
    """Train every trial in `trials` that is neither complete nor held by another live worker.

    Returns {'done': [...], 'skipped': [...] (complete or claimed elsewhere),
    'test_accuracy': [...]}.  Each trial is claimed first (outputs.claim_trial)
    and checkpointed every `checkpoint_every` epochs (0: never) in its work dir,
    so a rerun after a kill resumes it.  A trial that raises leaves failed.json,
    the rest still run, and TrialsFailed is raised at the end.  With
    `pack_trials` K > 1, claimed trials are trained K at a time as one packed
    model (train.packed), each checkpointed and written as if trained alone;
    trials are packed with others that resume from the same epoch.
    `on_trained` is passed to train_trial (one-model trials only).
    """
    outputs.ensure_dataset_meta(workdir, dataset.meta())
    if strategy is not None:
        strategy_lib.check_batch_size(strategy, config.batch_size)
    summary, failed = {"done": [], "skipped": [], "test_accuracy": []}, []
    packs = {}  # resume epoch -> claimed trials waiting for a pack: a pack steps all its trials together
    for position, trial in enumerate(trials):
        claimed = _claim(workdir, config, trial, stale_seconds, summary)
        if claimed is None:
            continue
        claim, temp = claimed
        if pack_trials > 1:
            resume = checkpoints.latest_epoch(os.path.join(claim.work, "ckpt")) if checkpoint_every > 0 else 0
            pack = packs.setdefault(resume, [])
            pack.append((trial, claim, temp))
            if len(pack) == pack_trials:
                _run_pack(dataset, config, pack, workdir, flag_record, strategy, summary, failed, checkpoint_every)
                packs[resume] = []
            continue
        try:
            metrics = train_trial(dataset, config, trial, temp, strategy=strategy,
                                  checkpoint_dir=os.path.join(claim.work, "ckpt") if checkpoint_every > 0 else None,
                                  checkpoint_every=checkpoint_every, still_ours=claim.held, on_trained=on_trained)
        except outputs.ClaimLost as e:
            logging.warning("%s; leaving it to that worker", e)
            claim.release()
            summary["skipped"].append(trial)
            continue
        except Exception as e:  # one bad trial must not stop the range; its error is kept on disk
            logging.exception("trial %d failed", trial)
            claim.release(failure=f"{type(e).__name__}: {e}")
            failed.append(trial)
            continue
        _commit(workdir, config, trial, claim, temp, metrics, flag_record, summary, f"{position + 1}/{len(trials)}",
                dataset.corrupted_idx)
    for pack in packs.values():
        if pack:
            _run_pack(dataset, config, pack, workdir, flag_record, strategy, summary, failed, checkpoint_every)
    if failed:
        raise TrialsFailed(summary, failed)
    return summary


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    dataset = load_dataset_from_flags()
    config = config_from_flags()
    trials = parse_trials(FLAGS.trials)
    logging.info("dataset %s: %d train / %d test examples (index: %s); arch %s; %d trials at r=%g -> %s",
                 dataset.name, dataset.num_train, dataset.num_test, dataset.index_note, config.arch,
                 len(trials), config.subset_ratio, FLAGS.workdir)
    started = time.time()
    failure = None
    try:
        strategy = strategy_lib.get(FLAGS.strategy, FLAGS.num_gpus)
        summary = run_trials(dataset, config, trials, FLAGS.workdir, flag_values(), strategy=strategy,
                             checkpoint_every=FLAGS.checkpoint_every,
                             stale_seconds=FLAGS.claim_timeout_minutes * 60, pack_trials=FLAGS.pack_trials)
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


def run():
    app.run(main)


if __name__ == "__main__":
    run()
