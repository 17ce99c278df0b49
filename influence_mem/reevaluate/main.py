"""im-reevaluate: evaluate trained runs (the authors' released checkpoints, or an im-train workdir's saved models) on new points, written as trials.

  im-reevaluate --runs=/data/cifar10-inception --arch=inception_small --dataset=cifar10 \
      --points=npz:/data/my_photos.npz --workdir=/data/my_photos_runs --verify
  im-aggregate --workdir=/data/my_photos_runs --name=my_photos

Each run `<runs>/<subset_ratio>/<run>/` (aux_arrays.npz beside checkpoints/, model.keras or
saved_model/) becomes the trial `<workdir>/<subset_ratio>/<run>/aux_arrays.npz`: its own subset and
train correctness copied, the points' test split as the test split, so im-aggregate gives the
influence of every training example on every new point.  Runs are claimed as im-train claims trials:
rerun to resume, run several workers on overlapping --trials.  docs/reevaluate.md has the whole path.
The work is done by reevaluate.run; this module only reads flags.
"""
import os
import time

from absl import app, flags, logging

from influence_mem.data import datasets
from influence_mem.formats.trial import parse_trials
from influence_mem.models.reference_checkpoint import PATHS
from influence_mem.programs import shared_flags, start
from influence_mem.reevaluate import order, points
from influence_mem.reevaluate import run as reevaluation
from influence_mem.reevaluate.loading import ArchError
from influence_mem.reevaluate.runs import RunsError
from influence_mem.train import claims, outputs
from influence_mem.train import strategy as strategy_lib

FLAGS = flags.FLAGS


def _define(kind, name, *args):
    """flags.DEFINE_<kind>(name, *args) unless another program's flags in this process (a launcher's: the
    trainer's, which mean the same) defined --name already; True if defined here."""
    if name in FLAGS:
        return False
    getattr(flags, f"DEFINE_{kind}")(name, *args)
    return True


def define_flags(required: bool = True) -> None:
    """im-reevaluate's flags; the ones the trainer also has (--dataset, --workdir, --trials, ...) mean the same.
    `required=False` (the launchers, which run im-train too): --runs and --points are not required."""
    if "verify_tolerance" in FLAGS:
        return
    flags.DEFINE_string("runs", None, "The runs: <runs>/<subset_ratio>/<run>/aux_arrays.npz beside checkpoints/ "
                        "(the authors' release), model.keras or saved_model/ (an im-train workdir).")
    flags.DEFINE_string("points", None, "The new points: a dataset name whose test split holds them (any "
                        "--dataset value; npz:PATH needs only x_test and y_test). They need labels.")
    flags.DEFINE_boolean("verify", False, "Check each run first: its model's correctness on --dataset's test "
                         "examples against its aux_arrays.npz (the authors' demo.py); a run below "
                         "--verify_tolerance is failed, not used.")
    flags.DEFINE_boolean("verify_train", False, "With --verify, also the training examples (ImageNet: ~1.3 M "
                         "predictions a run).")
    flags.DEFINE_float("verify_tolerance", 0.995, "--verify: the share of predictions that must agree.")
    flags.DEFINE_enum("runs_order", "auto", order.ORDERS, "What the runs' example ids index: dataset = "
                      "--dataset's ids (im-train workdirs, ImageNet with the authors' imagenet_index.npz); "
                      "tfds_position = position in TFDS order (the authors' CIFAR runs); auto = tfds_position "
                      "for a release (no dataset_meta.npz) on cifar10/cifar100, else dataset.")
    if _define("string", "dataset", None, "The dataset the runs trained on: " + ", ".join(datasets.names()) + "."):
        if required:
            flags.mark_flag_as_required("dataset")
        flags.register_validator("dataset", lambda v: v is None or shared_flags.valid(datasets.check_name, v),
                                 "see the message above")
    shared_flags.define_data_dir()
    if _define("string", "arch", None, "The authors' checkpoints: their architecture (" + ", ".join(sorted(PATHS)) +
               "; their CIFAR runs: inception_small, ImageNet: resnet50). Unused for saved models."):
        flags.register_validator("arch", lambda v: v is None or v in PATHS,
                                 f"--arch: the authors' checkpoints load into {', '.join(sorted(PATHS))}")
    if _define("string", "workdir", None, "Output: <workdir>/<subset_ratio>/<run>/ trials (not --runs).") and required:
        flags.mark_flag_as_required("workdir")
    _define("float", "subset_ratio", 0.7, "Which <subset_ratio>/ directory of --runs (the authors' releases "
            "have several).")
    _define("string", "trials", "", "Run ids to evaluate ('0-99', '3,7'; empty: every run holding a model).")
    _define("integer", "eval_batch_size", 1024, "Images per evaluation batch (over all replicas).")
    _define("enum", "strategy", "default", strategy_lib.NAMES,
            "default: one device; mirrored: each batch split over the visible GPUs.")
    if _define("integer", "num_gpus", 0, "--strategy=mirrored: use the first N visible GPUs (0 = all)."):
        flags.register_validator("num_gpus", lambda v: v >= 0, "--num_gpus must be >= 0 (0 = all visible)")
    _define("float", "claim_timeout_minutes", claims.STALE_SECONDS / 60, "A run claimed by a worker on another "
            "host whose heartbeat is older than this is taken over.")
    if required:
        flags.mark_flags_as_required(["runs", "points"])
    flags.register_validator("trials", lambda v: not v or shared_flags.valid(parse_trials, v), "see the message above")
    flags.register_validator("verify_tolerance", lambda v: 0 <= v <= 1, "--verify_tolerance must be in [0, 1]")
    flags.register_validator("subset_ratio", lambda v: 0.0 < v <= 1.0, "--subset_ratio must be in (0, 1]")
    flags.register_validator("eval_batch_size", lambda v: v >= 1, "--eval_batch_size must be >= 1")


def _error(e) -> SystemExit:
    return SystemExit(f"error: {e}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        outputs.check_workdir(FLAGS.workdir)
        if os.path.realpath(FLAGS.workdir) == os.path.realpath(FLAGS.runs):
            raise ValueError(f"--workdir={FLAGS.workdir} is --runs: write the re-evaluated trials elsewhere")
        dataset = datasets.load(FLAGS.dataset, FLAGS.data_dir)
    except datasets.DatasetError as e:
        raise _error(f"--dataset={FLAGS.dataset}: {e}") from None
    except ValueError as e:
        raise _error(e) from None
    try:
        new_points = points.load_points(FLAGS.points, dataset, FLAGS.data_dir)
        runs = reevaluation.open_runs(FLAGS.runs, FLAGS.subset_ratio, dataset, new_points, FLAGS.points, arch=FLAGS.arch,
                             runs_order=FLAGS.runs_order, data_dir=FLAGS.data_dir)
        run_ids = reevaluation.select_runs(runs, parse_trials(FLAGS.trials) if FLAGS.trials else None)
        if not run_ids:
            raise RunsError(f"--runs={FLAGS.runs}: none of its {len(runs.runs)} runs holds a model (model.keras, "
                            f"saved_model/ or checkpoints/; im-train keeps them with --save_model)")
    except (points.PointsError, RunsError, order.OrderError) as e:
        raise _error(e) from None
    logging.info("%d runs of %s (r=%g, trained on %s: %d examples, ids: %s) on %d new points of %s -> %s",
                 len(run_ids), FLAGS.runs, FLAGS.subset_ratio, dataset.name, dataset.num_train, runs.order.note,
                 new_points.num_test, FLAGS.points, FLAGS.workdir)
    started, failure = time.time(), None
    flag_record = {f.name: f.value for f in FLAGS.get_flags_for_module(__name__)}
    try:
        summary = reevaluation.reevaluate_runs(
            runs, run_ids, FLAGS.workdir, verify=FLAGS.verify, verify_train=FLAGS.verify_train,
            tolerance=FLAGS.verify_tolerance, batch_size=FLAGS.eval_batch_size,
            strategy=strategy_lib.get(FLAGS.strategy, FLAGS.num_gpus),
            stale_seconds=FLAGS.claim_timeout_minutes * 60, flag_record=flag_record)
    except (RunsError, ArchError, ValueError) as e:
        raise _error(e) from None
    except reevaluation.RunsFailed as e:
        summary, failure = e.summary, e
    accuracy = summary["test_accuracy"]
    logging.info("finished in %.1fs: %d runs evaluated, %d skipped (done or claimed by another worker), %d failed%s",
                 time.time() - started, len(summary["done"]), len(summary["skipped"]), len(summary["failed"]),
                 f"; mean accuracy on the points {sum(accuracy) / len(accuracy):.4f}" if accuracy else "")
    if failure:
        raise _error(failure)


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
