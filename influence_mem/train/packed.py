"""Train K trials at once as one packed model (--pack_trials=K).

A small model leaves the device idle and per-step overhead dominates, so K
trials step together: one graph step gathers each trial's own batch ([K, B]
example ids), runs the K forward/backward passes as batched ops
(models.packed.PackedModel) and applies one SGD update to the stacked weights.

Each packed trial is the trial it would be alone (train.trial.train_trial):
- its subset, init, shuffle and augment seeds come from data.subsets;
- its initial weights are the registry model built after
  keras.utils.set_random_seed(seeds['init']), i.e. identical to K = 1;
- its data order is a fresh uniform permutation of its subset every epoch
  and each example gets its own augmentation seed, drawn from its own
  shuffle/augment seeds and the epoch (epoch_order), so they do not depend
  on the pack.  They are not the tf.data pipeline's draws (tf.data shuffles
  cost ~5 us per example, as much as the training itself here): a packed
  trial equals its unpacked self in distribution, not bit for bit;
- same lr schedule, momentum, weight decay (Keras SGD on the stacked
  variables: element-wise, so per model) and per-model batch size.
Subsets of one ratio have equal size m, so all K trials take ceil(m/B) steps
per epoch.  Outputs are written per trial by train.trial.finish_trial.
"""
import dataclasses
import json
import math
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem.data.augment import augment_fn
from influence_mem.data.datasets import Dataset
from influence_mem.data.pipeline import epoch_order
from influence_mem.data.subsets import subset_indices, subset_size, trial_seeds
from influence_mem.models.packed import PackedModel
from influence_mem.train.strategy import check_batch_size
from influence_mem.train.trial import (TrainConfig, augmentation, build_model, finish_trial, make_optimizer,
                                       predict_correct)


def in_memory_train_set(dataset: Dataset):
    """(images, labels) of the whole training split as tensors, index order, as the pipeline converts them."""
    whole = next(iter(dataset.source("train").batch(dataset.num_train)))
    return whole["image"], whole["label"]


def _augment_all(images, seeds, augment):
    """Apply `augment(image, seed)` to every image of [K, b, ...] with its own seed [K, b, 2]."""
    shape = tf.shape(images)
    flat = tf.reshape(images, tf.concat([[-1], shape[2:]], 0))
    flat_seeds = tf.reshape(seeds, [-1, 2])
    out = tf.vectorized_map(lambda args: augment(*args), (flat, flat_seeds), fallback_to_while_loop=True)
    return tf.reshape(out, shape)


def _split_for_replicas(strategy, *tensors):
    """Per-replica slices of [K, b, ...] tensors along the per-model batch axis (data parallel)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return tensors
    batch = int(tensors[0].shape[1])
    bounds = np.linspace(0, batch, replicas + 1).round().astype(int)
    return tuple(strategy.experimental_distribute_values_from_function(
        lambda ctx, t=t: t[:, bounds[ctx.replica_id_in_sync_group]:bounds[ctx.replica_id_in_sync_group + 1]])
        for t in tensors)


class PackedTrainer:
    """The per-step function of a pack: gather, augment, forward/backward, SGD update."""

    def __init__(self, packed: PackedModel, optimizer, images, labels, subsets, seeds, augment, strategy):
        self.packed, self.optimizer, self.strategy = packed, optimizer, strategy
        self.images, self.labels = images, labels
        self.subsets, self.seeds, self.augment = subsets, seeds, augment
        self.step = tf.function(self._step)
        # The SGD update is memory-bound (K x every weight, several passes); XLA fuses it, ~2x faster.
        # Not under a multi-replica strategy: there the update all-reduces gradients first.
        apply = lambda grads: optimizer.apply(grads, packed.trainable)  # noqa: E731
        self.apply = tf.function(apply, jit_compile=True) if strategy.num_replicas_in_sync == 1 else apply

    def _replica_step(self, ids, seeds):
        images, labels = tf.gather(self.images, ids), tf.gather(self.labels, ids)
        if self.augment is not None:
            images = _augment_all(images, seeds, self.augment)
        with tf.GradientTape() as tape:
            logits, state, extra = self.packed.forward(images, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)  # [K, b]
            per_model = tf.reduce_mean(loss, axis=1) + extra
            # Like Keras under a strategy: per-replica mean loss / replicas, gradients summed.
            total = tf.reduce_sum(per_model) / self.strategy.num_replicas_in_sync
        grads = tape.gradient(total, self.packed.trainable)
        self.apply(grads)
        self.packed.set_state(state)
        return per_model

    def _step(self, ids, seeds):
        per_model = self.strategy.run(self._replica_step, args=(ids, seeds))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_model, axis=None)

    def run_epoch(self, epoch: int, batch_size: int) -> np.ndarray:
        """Train one epoch; each model's mean loss over it (weighted by batch size, as Keras reports)."""
        drawn = [epoch_order(subset, seeds["shuffle"], seeds["augment"], epoch, self.augment is not None)
                 for subset, seeds in zip(self.subsets, self.seeds)]
        order = np.stack([ids for ids, _ in drawn])  # [K, m]
        aug_seeds = np.stack([s for _, s in drawn]) if self.augment is not None else None
        total, count = 0.0, 0
        for start in range(0, order.shape[1], batch_size):
            ids = tf.constant(order[:, start:start + batch_size])
            seeds = (tf.constant(aug_seeds[:, start:start + batch_size]) if aug_seeds is not None
                     else tf.zeros(ids.shape + (2,), tf.int64))
            per_model = self.step(*_split_for_replicas(self.strategy, ids, seeds))
            total, count = total + per_model.numpy() * ids.shape[1], count + ids.shape[1]
        return total / count


_LAST_TRAINER = {}


def _trainer(dataset, config, members, strategy, augment) -> PackedTrainer:
    """A PackedTrainer holding `members`' initial weights and a fresh optimizer.

    The last one is kept and reused (weights reloaded, optimizer state zeroed)
    for the next pack of the same shape, so its graph is traced once per run,
    not once per pack.
    """
    key = (id(dataset), id(strategy), len(members), json.dumps(dataclasses.asdict(config), sort_keys=True,
                                                               default=str))
    cached = _LAST_TRAINER.get(key, (None, None, None))[2]  # the entry keeps dataset and strategy alive
    if cached is not None:
        cached.packed.load(members)
        cached.optimizer.iterations.assign(0)
        for momentum in cached.optimizer.momentums:
            momentum.assign(tf.zeros_like(momentum))
        return cached
    steps_per_epoch = math.ceil(subset_size(dataset.num_train, config.subset_ratio) / config.batch_size)
    images, labels = in_memory_train_set(dataset)
    with strategy.scope():
        packed = PackedModel(members)
        _, optimizer = make_optimizer(config, steps_per_epoch)
        optimizer.build(packed.trainable)
    trainer = PackedTrainer(packed, optimizer, images, labels, [], [], augment, strategy)
    _LAST_TRAINER.clear()
    _LAST_TRAINER[key] = (dataset, strategy, trainer)
    return trainer


def train_pack(dataset: Dataset, config: TrainConfig, trials, out_dirs, strategy=None) -> list:
    """Train `trials` together and write trial k's outputs into out_dirs[k]; their metrics dicts.

    Every output file is the same as train_trial's for that trial.
    """
    started = time.time()
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(strategy, config.batch_size)
    if len(out_dirs) != len(trials):
        raise ValueError(f"{len(trials)} trials but {len(out_dirs)} output directories")
    if dataset.stream is not None:
        raise ValueError(f"--pack_trials > 1 needs an in-memory dataset; {dataset.name} is streamed")
    padding, flip = augmentation(config, dataset)
    augment = augment_fn(padding, flip)
    subsets, seeds, members = [], [], []
    for trial in trials:
        subsets.append(subset_indices(dataset.num_train, config.subset_ratio, config.seed, trial))
        seeds.append(trial_seeds(config.seed, config.subset_ratio, trial))
        keras.utils.set_random_seed(seeds[-1]["init"])  # as train_trial: the same initial weights
        members.append(build_model(config, dataset))
    if len({len(s) for s in subsets}) != 1:
        raise ValueError("packed trials need subsets of one size (one --subset_ratio)")
    trainer = _trainer(dataset, config, members, strategy, augment)
    trainer.subsets, trainer.seeds = subsets, seeds
    packed = trainer.packed
    label = f"trials {trials[0]}..{trials[-1]} (pack of {len(trials)})"
    for epoch in range(config.epochs):
        losses = trainer.run_epoch(epoch, config.batch_size)
        if (epoch + 1) % max(1, config.log_every_epochs) == 0 or epoch + 1 == config.epochs:
            logging.info("%s epoch %d/%d mean loss %.4f (%.4f..%.4f) (%.1fs)", label, epoch + 1, config.epochs,
                         losses.mean(), losses.min(), losses.max(), time.time() - started)
    train_eval = predict_correct(packed, dataset, "train", config.eval_batch_size)
    test_eval = predict_correct(packed, dataset, "test", config.eval_batch_size)
    trained = time.time() - started
    results = []
    for k, trial in enumerate(trials):
        extra = {"final_loss": float(losses[k]), "resumed_from_epoch": 0,
                 "replicas": strategy.num_replicas_in_sync, "pack": {"size": len(trials), "position": k},
                 "wall_seconds": round(trained / len(trials), 3)}
        results.append(finish_trial(dataset, config, trial, subsets[k], seeds[k], packed.member(k, members[k]),
                                    (train_eval[0], train_eval[1][k]), (test_eval[0], test_eval[1][k]),
                                    out_dirs[k], extra))
    return results
