"""Train and evaluate one trial: the unit of Algorithm 1 (one model on one random subset)."""
import dataclasses
import math
import os
import time
import weakref

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem import models
from influence_mem.data import pipeline
from influence_mem.data.datasets import Dataset
from influence_mem.data.subsets import subset_indices, trial_seeds
from influence_mem.train import checkpoints, outputs, schedules
from influence_mem.train.strategy import check_batch_size


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines how a trial is trained (the trainer flags, minus where and which)."""
    arch: str = "mlp"
    arch_options: dict = dataclasses.field(default_factory=dict)
    subset_ratio: float = 0.7
    seed: int = 0
    epochs: int = 30
    batch_size: int = 128
    base_lr: float = 0.1
    lr_schedule: str = "linear_warmup_decay"
    warmup_fraction: float = 0.15
    warmup_epochs: float = 15
    decay_epochs: tuple = (30, 60, 90)
    momentum: float = 0.9
    weight_decay: float = 0.0
    crop_padding: int = -1       # -1: the dataset's default (paper: 4 CIFAR, 32 ImageNet, 0 MNIST/digits)
    flip: bool = None            # None: the dataset's default
    save_model: bool = True
    eval_batch_size: int = 1024
    log_every_epochs: int = 1
    mixed_precision: bool = False  # float16 compute with float32 variables and logits (GPUs)


class EpochLogger(keras.callbacks.Callback):
    """One absl log line per `every` epochs: loss, accuracy, learning rate, time."""

    def __init__(self, trial, epochs, every, schedule):
        super().__init__()
        self.trial, self.epochs, self.every, self.schedule = trial, epochs, max(1, every), schedule
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        step = int(self.model.optimizer.iterations.numpy())
        logging.info("trial %d epoch %d/%d loss %.4f accuracy %.4f lr %.4g (%.1fs)", self.trial, epoch + 1,
                     self.epochs, logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
                     schedules.value(self.schedule, step), time.time() - self.start)


def build_model(config: TrainConfig, dataset: Dataset) -> keras.Model:
    """The trial's model; sets the global Keras dtype policy first (mixed_float16 or float32)."""
    keras.mixed_precision.set_global_policy("mixed_float16" if config.mixed_precision else "float32")
    options = dict(config.arch_options)
    if dataset.input_mean is not None:
        options.setdefault("input_mean", dataset.input_mean)
        options.setdefault("input_std", dataset.input_std)
    return models.build(config.arch, dataset.image_shape, dataset.num_classes, options)


_PREDICT_CLASSES = weakref.WeakKeyDictionary()  # model -> its compiled images -> class ids function


def predict_correct(model: keras.Model, batches):
    """(index, correct) over `batches` of {image, label, index}: a whole split, e.g.
    pipeline.eval_pipeline's (or pipeline.batches_of a split held in memory).

    `model` maps images to logits [batch, classes], or [K, batch, classes] for
    a pack of K models (models.packed.PackedModel); `correct` is then [K, n].
    The compiled prediction is made once per model object (a pack's is reused
    by every later pack of the run).
    """
    if model not in _PREDICT_CLASSES:
        held = weakref.ref(model)  # the function must not keep its own key alive
        _PREDICT_CLASSES[model] = tf.function(lambda images: tf.argmax(held()(images, training=False), axis=-1),
                                              reduce_retracing=True)  # a short last batch does not retrace
    predict = _PREDICT_CLASSES[model]
    indices, correct = [], []
    for batch in batches:
        correct.append(predict(batch["image"]).numpy() == batch["label"].numpy())
        indices.append(batch["index"].numpy())
    return np.concatenate(indices), np.concatenate(correct, axis=-1)


def augmentation(config: TrainConfig, dataset: Dataset):
    """(crop padding, flip) of a trial: the config's values, or the dataset's defaults."""
    padding = dataset.default_crop_padding if config.crop_padding < 0 else config.crop_padding
    flip = dataset.default_flip if config.flip is None else config.flip
    return padding, flip


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """(lr schedule, SGD optimizer) of a trial; call inside the strategy's scope."""
    schedule = schedules.build(config.lr_schedule, config.base_lr, steps_per_epoch, config.epochs,
                               config.warmup_fraction, config.warmup_epochs, config.decay_epochs)
    optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    return schedule, optimizer


def finish_trial(dataset: Dataset, config: TrainConfig, trial: int, ids, seeds: dict, model: keras.Model,
                 train_eval, test_eval, out_dir: str, extra: dict, on_trained=None) -> dict:
    """Write a trained trial's aux_arrays.npz (and SavedModel) into `out_dir`; its metrics dict.

    `train_eval`/`test_eval` are predict_correct's (index, correct); `extra`
    adds run facts (final_loss, wall_seconds, ...).  Shared by the one-model
    and the packed trainer so both write the same files.
    """
    aux = outputs.aux_arrays(ids, *train_eval, *test_eval)
    outputs.write_npz(os.path.join(out_dir, "aux_arrays.npz"), aux)
    if on_trained is not None:
        on_trained(model, out_dir)
    if config.save_model:
        model.export(os.path.join(out_dir, "saved_model"), format="tf_saved_model", verbose=False)
    padding, flip = augmentation(config, dataset)
    return {
        "trial": int(trial), "subset_ratio": config.subset_ratio, "num_subset": int(len(ids)),
        "train_accuracy": float(aux["correctness_train"].mean()),
        "removed_accuracy": float(aux["correctness_removed"].mean()) if len(aux["correctness_removed"]) else None,
        "test_accuracy": float(aux["correctness_test"].mean()),
        "epochs": config.epochs, "seeds": seeds,
        "config": dataclasses.asdict(config), "crop_padding": padding, "flip": flip, **extra,
    }


def train_trial(dataset: Dataset, config: TrainConfig, trial: int, out_dir: str, on_trained=None, strategy=None,
                checkpoint_dir: str = None, checkpoint_every: int = 1, still_ours=lambda: True) -> dict:
    """Train trial `trial` and write its outputs into `out_dir` (a temporary directory).

    Returns the metrics dict also written to metrics.json.  `on_trained(model,
    out_dir)`, if given, runs on the trained model before it is dropped (e.g.
    to extract features for the last-layer mode).  Trains under `strategy`
    (default: one device) with the global batch config.batch_size.  With
    `checkpoint_dir`, resumes from its checkpoint and saves one every
    `checkpoint_every` epochs; raises outputs.ClaimLost if `still_ours()` turns
    False (another worker took the trial over).
    """
    started = time.time()
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(strategy, config.batch_size)
    ids = subset_indices(dataset.num_train, config.subset_ratio, config.seed, trial)
    seeds = trial_seeds(config.seed, config.subset_ratio, trial)
    keras.utils.set_random_seed(seeds["init"])
    steps_per_epoch = math.ceil(len(ids) / config.batch_size)
    with strategy.scope():
        model = build_model(config, dataset)
        schedule, optimizer = make_optimizer(config, steps_per_epoch)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        checkpoint = (checkpoints.TrialCheckpoint(checkpoint_dir, model, optimizer, dataclasses.asdict(config))
                      if checkpoint_dir else None)
        initial_epoch = checkpoint.restore() if checkpoint else 0
    callbacks = [EpochLogger(trial, config.epochs, config.log_every_epochs, schedule)]
    if checkpoint:
        callbacks.append(checkpoints.CheckpointEveryEpochs(checkpoint, checkpoint_every, config.epochs, still_ours))
    if initial_epoch:
        logging.info("trial %d: resuming from checkpoint at epoch %d/%d", trial, initial_epoch, config.epochs)
    padding, flip = augmentation(config, dataset)
    # The epochs left, from one iterator (steps_per_epoch): a resumed run reads what it would have read.
    train_ds = pipeline.train_pipeline(dataset, ids, batch_size=config.batch_size, shuffle_seed=seeds["shuffle"],
                                       augment_seed=seeds["augment"], crop_padding=padding, flip=flip,
                                       epochs=config.epochs, initial_epoch=initial_epoch)
    history = model.fit(train_ds, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                        verbose=0, shuffle=False, callbacks=callbacks)
    if not still_ours():
        raise outputs.ClaimLost(f"trial {trial}: claim taken over by another worker")
    train_eval, test_eval = (predict_correct(model, pipeline.eval_pipeline(dataset, split, config.eval_batch_size))
                             for split in ("train", "test"))
    return finish_trial(dataset, config, trial, ids, seeds, model, train_eval, test_eval, out_dir,
                        on_trained=on_trained,
                        extra={"final_loss": float(history.history["loss"][-1]) if history.history.get("loss") else None,
                               "resumed_from_epoch": initial_epoch, "replicas": strategy.num_replicas_in_sync,
                               "wall_seconds": round(time.time() - started, 3)})
