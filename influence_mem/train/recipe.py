"""The one Keras training recipe: seed, build, optimizer, compile, fit, predict.

Trials (one model or the pack's template and optimizer), turn-over dropout,
the training-dynamics analysis and the benchmarks all train through these
functions, so a change of recipe (loss, optimizer, dtype policy) reaches
every one of them.
"""
import functools
import time
import weakref

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem import models
from influence_mem.data import pipeline
from influence_mem.data.base import Dataset
from influence_mem.train import schedules
from influence_mem.train.config import TrainConfig
from influence_mem.train.plan import TrialPlan


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
    """The trial's model, built under the global Keras dtype policy config.precision (set here).

    Under a mixed policy (mixed_bfloat16, mixed_float16) the layers compute in
    the low precision and keep float32 variables; the output layer (every
    registry model names it `logits`) computes in float32, so logits, the loss
    and SavedModel outputs are float32 whatever the precision.  Under float32
    nothing changes.
    """
    keras.mixed_precision.set_global_policy(config.precision)
    options = dict(config.arch_options)
    if dataset.input_mean is not None:
        options.setdefault("input_mean", dataset.input_mean)
        options.setdefault("input_std", dataset.input_std)
    model = models.build(config.arch, dataset.image_shape, dataset.num_classes, options)
    if config.precision != "float32":
        for layer in model._flatten_layers(include_self=False):
            if layer.name == "logits" and layer.compute_dtype != "float32":
                layer.dtype_policy = "float32"
    return model


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """(lr schedule, SGD optimizer) of a trial; call inside the strategy's scope.

    Under mixed_float16 the SGD is wrapped in Keras's dynamic LossScaleOptimizer
    (float16 gradients underflow otherwise); bfloat16 has float32's exponent range
    and needs none.
    """
    schedule = schedules.build(config.lr_schedule, config.base_lr, steps_per_epoch, config.epochs,
                               config.warmup_fraction, config.warmup_epochs, config.decay_epochs)
    optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    if config.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return schedule, optimizer


def reset_optimizer(optimizer) -> None:
    """Zero an optimizer made by make_optimizer (step, momenta, loss scale) for a fresh run on its variables."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        fresh = keras.optimizers.LossScaleOptimizer(optimizer.inner_optimizer)  # the initial dynamic scale
        optimizer.dynamic_scale.assign(fresh.initial_scale)
        optimizer.step_counter.assign(0)
        optimizer = optimizer.inner_optimizer
    optimizer.iterations.assign(0)
    for momentum in optimizer.momentums:
        momentum.assign(tf.zeros_like(momentum))


def augmentation(config: TrainConfig, dataset: Dataset):
    """(crop padding, flip) of a trial: the config's values, or the dataset's defaults.  ValueError (one line
    naming the flags) when they would augment feature vectors (Dataset.vectors): crops and flips are of images."""
    padding = dataset.default_crop_padding if config.crop_padding < 0 else config.crop_padding
    flip = dataset.default_flip if config.flip is None else config.flip
    if dataset.vectors and (padding > 0 or flip):
        raise ValueError(f"--crop_padding={padding} --flip={str(bool(flip)).lower()}: crops and flips augment images, "
                         f"but {dataset.name} holds feature vectors of {dataset.image_shape[0]} values; use "
                         f"--crop_padding=0 --flip=false")
    return padding, flip


_PREDICT_CLASSES = weakref.WeakKeyDictionary()  # model -> its compiled images -> class ids function


def predict_correct(model: keras.Model, batches):
    """(index, correct) over `batches` of {image, label, index}: a whole split, e.g.
    pipeline.eval_pipeline's (or pipeline.batches_of a split held in memory).

    `model` maps images to logits [batch, classes], or [K, batch, classes] for
    a pack of K models (models.packed_model.PackedModel); `correct` is then [K, n].
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


def l2_kernels(model: keras.Model) -> list:
    """The weights coupled L2 (config.l2) penalizes: every Dense/Conv kernel (no biases, no batch norm)."""
    return [v for v in model.trainable_variables if v.name.endswith("kernel")]


def compiled_model(config: TrainConfig, dataset: Dataset, plan: TrialPlan, strategy=None, wrap=None):
    """(model, lr schedule, optimizer): the registry model built after set_random_seed(plan's init seed),
    optionally wrapped (`wrap(model)`, e.g. turn-over dropout), compiled with SGD and the
    from-logits cross-entropy under `strategy`'s scope (default: one device), with XLA
    if config.jit_compile (None: Keras's "auto", which is XLA on GPUs and not on CPU)."""
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(plan.seeds["init"])
    with strategy.scope():
        model = build_model(config, dataset)
        if wrap is not None:
            model = wrap(model)
        if config.l2:  # coupled L2: Keras adds the regularizers' l2/2 * ||kernel||^2 to the loss
            for kernel in l2_kernels(model):
                kernel.regularizer = keras.regularizers.L2(config.l2 / 2)
        schedule, optimizer = make_optimizer(config, plan.steps_per_epoch)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile="auto" if config.jit_compile is None else config.jit_compile)
    return model, schedule, optimizer


def train_batches(dataset: Dataset, config: TrainConfig, plan: TrialPlan, initial_epoch: int = 0):
    """The plan's training batches (data.pipeline.train_pipeline) from `initial_epoch` to config.epochs."""
    padding, flip = augmentation(config, dataset)
    return pipeline.train_pipeline(dataset, plan.ids, batch_size=config.batch_size,
                                   shuffle_seed=plan.seeds["shuffle"], augment_seed=plan.seeds["augment"],
                                   crop_padding=padding, flip=flip, epochs=config.epochs, initial_epoch=initial_epoch,
                                   imagenet_augment=config.imagenet_augment)


@functools.lru_cache(maxsize=8)
def _lr_at_epoch_ends(name, base_lr, steps_per_epoch, epochs, warmup_fraction, warmup_epochs, decay_epochs) -> tuple:
    """The lr at the end of each epoch 1..epochs, computed once per schedule (every trial of a run, and
    each of a pack's K trials, shares it; each value is an eager Keras call of about a millisecond)."""
    schedule = schedules.build(name, base_lr, steps_per_epoch, epochs, warmup_fraction, warmup_epochs, decay_epochs)
    return tuple(schedules.value(schedule, e * steps_per_epoch) for e in range(1, epochs + 1))


def history_record(config: TrainConfig, steps_per_epoch: int, epochs, **per_epoch) -> dict:
    """metrics.json's "history": the 1-based `epochs` run in this process, each's lr at its end, and
    the per-epoch values given (loss, accuracy, ...), as plain floats."""
    lr_at_end = _lr_at_epoch_ends(config.lr_schedule, config.base_lr, steps_per_epoch, config.epochs,
                                  config.warmup_fraction, config.warmup_epochs, tuple(config.decay_epochs))
    epochs = [int(e) for e in epochs]
    record = {"epoch": epochs, "lr": [lr_at_end[e - 1] for e in epochs]}
    record.update({k: [float(v) for v in values] for k, values in per_epoch.items()})
    return record


def fit(model: keras.Model, batches, config: TrainConfig, plan: TrialPlan, initial_epoch: int = 0, callbacks=()):
    """model.fit over `batches` (one iterator of the remaining epochs) as every trainer runs it; its History."""
    return model.fit(batches, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=plan.steps_per_epoch,
                     verbose=0, shuffle=False, callbacks=list(callbacks))
