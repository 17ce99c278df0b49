"""Last-layer-only mode (paper 000 sec. 3 "Does the last layer suffice for memorization?", Fig. C.3).

  python -m influence_mem.train.last_layer --flagfile=configs/cifar100_last_layer.cfg --workdir=DIR

1. Trains one model (the trainer flags: --arch, --epochs, ...) on the full
   training set: trial 0 at subset ratio 1, written like any trial under
   <representation_dir>/1/0/ (default <workdir>/representation), plus
   features.npz = its penultimate-layer outputs (the input of the `logits`
   layer) for every train and test example, rows in original index order.
2. Trains subset trials of a fresh `linear` classifier on those features
   (--linear_epochs, the other hyper-parameters as the trainer flags, no
   augmentation), in the usual <workdir>/<subset_ratio>/<trial>/ layout with
   the same subsets as full-model trials, so im-aggregate works unchanged.
Both steps skip what is already complete.
"""
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from influence_mem.data import pipeline
from influence_mem.data.base import Dataset
from influence_mem.data.npzio import read_npz, write_npz
from influence_mem.formats.trial import parse_trials
from influence_mem.formats.trial import trial_dir
from influence_mem.programs import shared_flags, start
from influence_mem.train import claims, outputs
from influence_mem.train import flags as train_flags
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import TrialsFailed, run_trials

FLAGS = flags.FLAGS
FEATURES_FILE = "features.npz"
REPRESENTATION_TRIAL = 0



def define_flags() -> None:
    """The trainer flags plus this mode's own (once per process)."""
    train_flags.define_flags()
    if "linear_epochs" in FLAGS:
        return
    flags.DEFINE_integer("linear_epochs", 40, "Epochs of each linear trial on the features (paper: 40).")
    flags.DEFINE_string("representation_dir", None, "Where the full-training-set model and its features.npz go "
                        "(default <workdir>/representation).")
    flags.register_validator("linear_epochs", lambda v: v >= 1, "--linear_epochs must be >= 1")
    flags.register_validator("representation_dir", lambda v: v is None or shared_flags.valid(
        lambda path: outputs.check_workdir(path, "--representation_dir"), v), "see the message above")


def penultimate_model(model: keras.Model) -> keras.Model:
    """images -> the input of the layer named `logits` (every registry architecture has one)."""
    try:
        logits = model.get_layer("logits")
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named 'logits'; cannot take its penultimate layer")
    return keras.Model(model.inputs[0], logits.input)


def extract_features(model: keras.Model, dataset: Dataset, batch_size: int) -> dict:
    """{train_features [n, d], test_features [n_test, d]} (float32), row = original index."""
    features = penultimate_model(model)
    infer = tf.function(lambda images: features(images, training=False))
    out = {}
    for split, count in (("train", dataset.num_train), ("test", dataset.num_test)):
        rows = None
        for batch in pipeline.eval_pipeline(dataset, split, batch_size):
            values = np.asarray(infer(batch["image"]), np.float32)
            if rows is None:
                rows = np.zeros((count, values.shape[-1]), np.float32)
            rows[batch["index"].numpy()] = values
        out[f"{split}_features"] = rows
    return out


def representation_config(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(config, subset_ratio=1.0)


def linear_config(config: TrainConfig, epochs: int) -> TrainConfig:
    """The representation run's hyper-parameters with a `linear` model, `epochs` epochs, no augmentation."""
    return dataclasses.replace(config, arch="linear", arch_options={}, epochs=epochs, crop_padding=0, flip=False,
                               precision="float32")


def features_path(representation_dir: str) -> str:
    return os.path.join(trial_dir(representation_dir, 1.0, REPRESENTATION_TRIAL), FEATURES_FILE)


def ensure_representation(dataset: Dataset, config: TrainConfig, representation_dir: str, flag_record=None,
                          strategy=None, checkpoint_every: int = 1, stale_seconds: float = claims.STALE_SECONDS):
    """Train the full-set model once (skipped if complete) and return its features.npz content."""
    eval_batch = config.eval_batch_size

    def write_features(model, out_dir):
        arrays = extract_features(model, dataset, eval_batch)
        arrays.update(train_labels=dataset.train_labels, test_labels=dataset.test_labels)
        write_npz(os.path.join(out_dir, FEATURES_FILE), arrays)

    run_trials(dataset, representation_config(config), [REPRESENTATION_TRIAL], representation_dir,
                       flag_record, strategy=strategy, checkpoint_every=checkpoint_every,
                       stale_seconds=stale_seconds, on_trained=write_features)
    path = features_path(representation_dir)
    if not outputs.is_complete(representation_dir, 1.0, REPRESENTATION_TRIAL):
        raise ValueError(f"{os.path.dirname(path)}: the full-set model is not complete (another worker may be "
                         f"training it); rerun when it is")
    if not tf.io.gfile.exists(path):
        raise ValueError(f"{path}: missing (the representation trial is complete but has no features; "
                         f"was it trained by im-train? remove {os.path.dirname(path)} to retrain it)")
    features = read_npz(path, max_bytes=None)  # our own output, as large as the dataset (ImageNet: ~10 GB)
    if not (np.array_equal(features["train_labels"], dataset.train_labels)
            and np.array_equal(features["test_labels"], dataset.test_labels)):
        raise ValueError(f"{path}: labels differ from dataset {dataset.name}; it belongs to another dataset")
    return features


def feature_dataset(dataset: Dataset, features: dict) -> Dataset:
    """The dataset with each image replaced by its feature vector (same labels, indices, file names)."""
    return Dataset(name=f"{dataset.name}/penultimate_features", num_classes=dataset.num_classes,
                   image_shape=tuple(features["train_features"].shape[1:]), train_labels=dataset.train_labels,
                   test_labels=dataset.test_labels, default_crop_padding=0, default_flip=False,
                   train_filenames=dataset.train_filenames, index_note=dataset.index_note,
                   x_train=features["train_features"], x_test=features["test_features"])


def run_last_layer(dataset: Dataset, config: TrainConfig, trials, workdir: str, linear_epochs: int = 40,
                   representation_dir: str = None, flag_record=None, strategy=None, checkpoint_every: int = 1,
                   stale_seconds: float = claims.STALE_SECONDS, pack_trials: int = 1) -> dict:
    """Both steps; returns run_trials' summary of the linear trials."""
    representation_dir = representation_dir or os.path.join(workdir, "representation")
    features = ensure_representation(dataset, config, representation_dir, flag_record, strategy,
                                     checkpoint_every, stale_seconds)
    logging.info("features: %d train / %d test vectors of %d dims from %s", len(features["train_features"]),
                 len(features["test_features"]), features["train_features"].shape[1], representation_dir)
    return run_trials(feature_dataset(dataset, features), linear_config(config, linear_epochs), trials,
                              workdir, flag_record, checkpoint_every=checkpoint_every,
                              stale_seconds=stale_seconds, pack_trials=pack_trials)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    dataset = train_flags.dataset_from_flags()  # --corrupt_fraction applies here too
    config = train_flags.config_from_flags()
    trials = parse_trials(FLAGS.trials)
    record = {**train_flags.flag_values(), "linear_epochs": FLAGS.linear_epochs,
              "representation_dir": FLAGS.representation_dir}
    started = time.time()
    try:
        summary = run_last_layer(dataset, config, trials, FLAGS.workdir, FLAGS.linear_epochs,
                                 FLAGS.representation_dir, record,
                                 strategy=train_flags.strategy_from_flags(),
                                 checkpoint_every=FLAGS.checkpoint_every,
                                 stale_seconds=FLAGS.claim_timeout_minutes * 60, pack_trials=FLAGS.pack_trials)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    except TrialsFailed as e:
        raise SystemExit(f"error: {e}") from None
    accuracy = summary["test_accuracy"]
    logging.info("finished in %.1fs: %d linear trials trained, %d skipped%s", time.time() - started,
                 len(summary["done"]), len(summary["skipped"]),
                 f", mean test accuracy {sum(accuracy) / len(accuracy):.4f}" if accuracy else "")


def run():
    start.run(main, define_flags, lambda: flags.mark_flag_as_required("workdir"))


if __name__ == "__main__":
    run()
