"""Train K trials at once as one packed model (--pack_trials=K).

A small model leaves the device idle and per-step overhead dominates, so K
trials step together: one graph step gathers each trial's own batch ([K, B]
example ids), runs the K forward/backward passes as batched ops
(models.packed_model.PackedModel) and applies one SGD update to the stacked weights.

Each packed trial is the trial it would be alone (train.one_model):
- its subset, init, shuffle and augment seeds come from data.subsets;
- its initial weights are the registry model built after
  keras.utils.set_random_seed(seeds['init']), i.e. identical to K = 1
  (replayed by models.initial_weights instead of built once per trial);
- its data order and per-example augmentation seeds are
  data.pipeline.epoch_order's for its own shuffle/augment seeds and the
  epoch, as the one-model pipeline draws them for in-memory datasets, so
  they do not depend on the pack;
- same lr schedule, momentum, weight decay (Keras SGD on the stacked
  variables: element-wise, so per model) and per-model batch size.
Subsets of one ratio have equal size m, so all K trials take ceil(m/B) steps
per epoch.  Outputs are written per trial by train.outputs.write_trial, as for one model.
"""
import dataclasses
import itertools
import json
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem.data.augment import augment_fn
from influence_mem.data.base import Dataset
from influence_mem.data.pipeline import augment_batch, batches_of, epoch_order, in_memory_split
from influence_mem.models.initial_weights import InitialWeights, Unsupported, weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train import checkpoints
from influence_mem.train.config import TrainConfig
from influence_mem.train.packed_sgd import fused_sgd
from influence_mem.train.plan import TrainedTrial
from influence_mem.train.recipe import (augmentation, build_model, history_record, l2_kernels, make_optimizer,
                                       predict_correct, reset_optimizer)
from influence_mem.train.strategy import check_batch_size, cpu_cores


def _augment_all(images, seeds, augment):
    """Apply `augment(image, seed)` to every image of [K, b, ...] with its own seed [K, b, 2]."""
    shape = tf.shape(images)
    flat = augment_batch(tf.reshape(images, tf.concat([[-1], shape[2:]], 0)), tf.reshape(seeds, [-1, 2]), augment)
    return tf.reshape(flat, shape)


def _replica_part(tensor):
    """This replica's slice of a [K, b, ...] tensor along the per-model batch axis (data parallel)."""
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    if replicas == 1:
        return tensor
    batch = tf.shape(tensor)[1]
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    start, end = batch * replica // replicas, batch * (replica + 1) // replicas
    return tensor[:, start:end]


class PackedTrainer:
    """The per-step function of a pack: gather, augment, forward/backward, SGD update."""

    def __init__(self, packed: PackedModel, optimizer, splits: dict, subsets, seeds, augment, strategy,
                 l2: float = 0.0):
        """`splits`: {split: pipeline.in_memory_split}; steps gather from 'train', evaluation reads them all.
        `l2`: coupled L2 (config.l2), l2/2 * ||kernels||^2 added to each model's loss."""
        self.packed, self.optimizer, self.strategy = packed, optimizer, strategy
        kernels = {id(v) for v in l2_kernels(packed.template)}
        self.l2 = l2
        self.kernel_ids = [j for j, v in enumerate(packed.template.trainable_variables) if id(v) in kernels]
        self.splits = splits
        self.subsets, self.seeds, self.augment = subsets, seeds, augment
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.step = tf.function(self._step)
        # A whole epoch's full-size batches run as one graph loop: no Python round trip per step.
        self.steps = tf.function(self._steps)
        # Mixed precision (one replica): gradients arrive in the compute dtype, and the update also
        # rewrites the weights' low-precision copies (PackedModel.sync_low).
        self.low_precision = bool(packed.low) and strategy.num_replicas_in_sync == 1
        if strategy.num_replicas_in_sync > 1:  # the update all-reduces gradients first: Keras's own
            self.apply = lambda grads: optimizer.apply(grads, packed.trainable)
        else:
            self.apply = fused_sgd(optimizer, packed) or tf.function(self._keras_apply, jit_compile=True)

    def _keras_apply(self, grads):
        """optimizer.apply on the pack, under XLA (the update is memory-bound; XLA fuses its passes)."""
        packed = self.packed
        self.optimizer.apply([tf.cast(g, v.dtype) for g, v in zip(grads, packed.trainable)], packed.trainable)
        if self.low_precision:
            packed.sync_low()

    def _replica_step(self, ids, seeds):
        ids, seeds = _replica_part(ids), _replica_part(seeds)
        train = self.splits["train"]
        images, labels = tf.gather(train["image"], ids), tf.gather(train["label"], ids)
        if self.augment is not None:
            images = _augment_all(images, seeds, self.augment)
        weights = self.packed.train_weights() if self.low_precision else self.packed.trainable
        with tf.GradientTape() as tape:
            if self.low_precision:
                tape.watch(weights)
                logits, state, extra = self.packed.forward_weights(images, weights)
            else:
                logits, state, extra = self.packed.forward(images, training=True)
            # The op Keras's from_logits sparse categorical cross-entropy runs, without its shape checks.
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int64), logits=logits)
            per_model = tf.reduce_mean(loss, axis=1) + extra  # [K]
            if self.l2:  # coupled L2, as recipe.compiled_model's regularizers: l2/2 * ||kernels||^2 per model
                per_model += self.l2 / 2 * tf.add_n([
                    tf.reduce_sum(tf.square(tf.cast(weights[j], tf.float32)),
                                  axis=list(range(1, len(weights[j].shape)))) for j in self.kernel_ids])
            # Like Keras under a strategy: per-replica mean loss / replicas, gradients summed.
            total = tf.reduce_sum(per_model) / self.strategy.num_replicas_in_sync
            if self.loss_scaled:  # mixed_float16: Keras's dynamic loss scale (apply() unscales, skips non-finite)
                total = self.optimizer.scale_loss(total)
        grads = tape.gradient(total, weights)
        self.apply(grads)
        self.packed.set_state(state)
        return per_model

    def _step(self, ids, seeds):
        """One step on the batches ids [K, b] (augment seeds [K, b, 2]); each model's mean loss [K]."""
        per_model = self.strategy.run(self._replica_step, args=(ids, seeds))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_model, axis=None)

    def _steps(self, ids, seeds):
        """Steps over ids [S, K, b] (seeds [S, K, b, 2]); the sum of each model's step losses [K]."""
        def body(i, total):
            return i + 1, total + self._step(ids[i], seeds[i])
        return tf.while_loop(lambda i, _: i < tf.shape(ids)[0], body, (0, tf.zeros([self.packed.size])))[1]


def part_sizes(size: int, parts: int) -> list:
    """Sizes of the sub-packs of a pack of `size` trials split in `parts`, as even as possible, none empty."""
    parts = max(1, min(parts, size))
    return [size // parts + (i < size % parts) for i in range(parts)]


def default_parts(strategy) -> int:
    """Sub-packs a pack steps at once: one per CPU core on a host without GPUs (SubPacks), one on
    GPUs or under a multi-replica strategy (there one op already fills the devices)."""
    if strategy.num_replicas_in_sync > 1 or tf.config.list_physical_devices("GPU"):
        return 1
    return cpu_cores()


class SubPacks:
    """A pack held as sub-packs (a PackedTrainer each) whose steps and evaluation run in one graph call.

    The sub-packs share no tensor, so TensorFlow runs their ops at once on its
    inter-op threads: on a CPU each core works through its own sub-pack's
    matmuls and element-wise passes, with no fork and join inside every op
    (strategy.configure_cpu_packs gives each op one thread).  Digits MLP, K = 32
    on 2 cores: 11.4 against 16.3 ms a bfloat16 step, 20.0 against 23.8 float32.
    Every op is per model, so a trial's results do not depend on how its pack
    is split beyond float rounding.
    """

    def __init__(self, trainers):
        self.trainers = list(trainers)
        self.sizes = [t.packed.size for t in self.trainers]
        self.size = sum(self.sizes)
        self._steps = tf.function(lambda ids, seeds: [t._steps(i, s) for t, i, s in zip(self.trainers, ids, seeds)],
                                  autograph=False)
        self._step = tf.function(lambda ids, seeds: [t._step(i, s) for t, i, s in zip(self.trainers, ids, seeds)],
                                 autograph=False)
        # An epoch's full batches and its short last one in one call: no round trip to Python between them.
        self._epoch = tf.function(lambda ids, seeds, last_ids, last_seeds: [
            (t._steps(i, s), t._step(li, ls)) for t, i, s, li, ls in zip(self.trainers, ids, seeds, last_ids, last_seeds)],
            autograph=False)

    def _split(self, array: np.ndarray, axis: int) -> list:
        """One tensor per sub-pack of `array`'s model axis `axis`."""
        return [tf.constant(part) for part in np.split(array, np.cumsum(self.sizes)[:-1], axis=axis)]

    def set_trials(self, subsets, seeds) -> None:
        """The trials' subsets and seed dicts, in pack order: each sub-pack takes its share."""
        at = 0
        for trainer, size in zip(self.trainers, self.sizes):
            trainer.subsets, trainer.seeds = list(subsets[at:at + size]), list(seeds[at:at + size])
            at += size

    def load(self, stacked) -> None:
        """Every sub-pack takes its share of `stacked` weights and a zeroed optimizer."""
        at = 0
        for trainer, size in zip(self.trainers, self.sizes):
            trainer.packed.load(tuple([v[at:at + size] for v in part] for part in stacked))
            reset_optimizer(trainer.optimizer)
            at += size

    def run_epoch(self, epoch: int, batch_size: int) -> np.ndarray:
        """Train one epoch; each model's mean loss over it (weighted by batch size, as Keras reports)."""
        augment = self.trainers[0].augment
        drawn = [epoch_order(subset, seeds["shuffle"], seeds["augment"], epoch, augment is not None)
                 for t in self.trainers for subset, seeds in zip(t.subsets, t.seeds)]
        order = np.stack([ids for ids, _ in drawn])  # [K, m]
        aug_seeds = (np.stack([s for _, s in drawn]) if augment is not None
                     else np.zeros(order.shape + (2,), np.int64))
        size, full = order.shape[1], order.shape[1] // batch_size * batch_size

        def batches(a):  # the epoch's full batches as [S, K, B]
            return self._split(np.moveaxis(a[:, :full].reshape((len(a), -1, batch_size) + a.shape[2:]), 1, 0), 1)

        def last(a):  # the short last batch, as fit() takes it
            return self._split(a[:, full:], 0)

        if full and full < size:
            losses = self._epoch(batches(order), batches(aug_seeds), last(order), last(aug_seeds))
            full_losses, last_losses = [l for l, _ in losses], [l for _, l in losses]
        elif full:
            full_losses, last_losses = self._steps(batches(order), batches(aug_seeds)), None
        else:
            full_losses, last_losses = None, self._step(last(order), last(aug_seeds))
        total = np.zeros(self.size)
        if full_losses is not None:
            total += np.concatenate([l.numpy() for l in full_losses]) * batch_size
        if last_losses is not None:
            total += np.concatenate([l.numpy() for l in last_losses]) * (size - full)
        return total / size

    def __call__(self, images, training: bool = False):
        """Shared images [b, ...] -> logits [K, b, C] of every trial (inference; PackedModel.__call__)."""
        if training:
            raise ValueError("SubPacks(images) is inference; train through run_epoch()")
        return tf.concat([t.packed._infer_all(images) for t in self.trainers], axis=0)

    def members(self, model: keras.Model):
        """Yield `model` holding trial 0, 1, ..., K-1's weights in turn (PackedModel.members)."""
        return itertools.chain.from_iterable(t.packed.members(model) for t in self.trainers)


class PackCheckpoints:
    """Each packed trial's slice checkpointed in its own directory in the one-model format
    (checkpoints.TrialCheckpoint: model, optimizer, finished epochs), so a killed
    pack resumes, in a pack or alone, from its last saved epoch."""

    def __init__(self, directories, template: keras.Model, config: TrainConfig, steps_per_epoch: int):
        self.template, self.optimizer = template, make_optimizer(config, steps_per_epoch)[1]
        self.checkpoints = [checkpoints.TrialCheckpoint(d, template, self.optimizer, config)
                            for d in directories]
        self.directories = list(directories)

    def _pairs(self, trainer: PackedTrainer):
        """(one model's variable, the pack's) for the weights and the optimizer state."""
        single = self.template.trainable_variables + self.template.non_trainable_variables + self.optimizer.variables
        packed = trainer.packed.trainable + trainer.packed.non_trainable + trainer.optimizer.variables
        return list(zip(single, packed))

    def save(self, trainer: PackedTrainer, finished_epochs: int, still_ours) -> None:
        """Save every trial's slice whose claim `still_ours[k]()` holds (another worker owns the others)."""
        pairs = self._pairs(trainer)
        values = [packed.numpy() for _, packed in pairs]
        for k, checkpoint in enumerate(self.checkpoints):
            if not still_ours[k]():
                continue
            for (single, _), value in zip(pairs, values):  # stacked [K, ...] values give slice k; scalars are shared
                single.assign(value if value.shape == tuple(single.shape) else value[k])
            checkpoint.save(finished_epochs)

    def restore(self, trainer: PackedTrainer) -> int:
        """Load every trial's checkpoint into its slice; the epoch the pack resumes from.

        A pack resumes only if all its trials saved the same epoch (run_trials packs them so);
        otherwise, or if a checkpoint is unusable, it starts over and returns 0 with nothing loaded.
        """
        saved = {checkpoints.latest_epoch(d) for d in self.directories}
        if saved == {0}:
            return 0
        if len(saved) > 1:
            logging.warning("pack of %d: its trials' checkpoints are at epochs %s; starting the pack over",
                            len(self.directories), sorted(saved))
            return 0
        epoch = saved.pop()
        pairs = self._pairs(trainer)
        values = [np.array(packed.numpy()) for _, packed in pairs]  # writable, 0-d arrays for scalars
        for k, checkpoint in enumerate(self.checkpoints):
            if checkpoint.restore() != epoch:
                logging.warning("%s: checkpoint unusable; starting the pack over", self.directories[k])
                return 0
            for (single, _), value in zip(pairs, values):
                if value.shape == tuple(single.shape):
                    value[...] = single.numpy()
                else:
                    value[k] = single.numpy()
        for (_, packed), value in zip(pairs, values):
            packed.assign(value)
        trainer.packed.sync_low()
        return epoch


# The last runs' entries (a few configs, e.g. the benchmark's precisions side by side); each keeps its
# dataset and strategy alive.
_CACHE = {"initial": {}, "trainer": {}}
_CACHE_SIZE = 2


def _remember(kind: str, key, value) -> None:
    """Keep `value` under `key`, dropping the oldest entries beyond _CACHE_SIZE."""
    entries = _CACHE[kind]
    entries.pop(key, None)
    entries[key] = value
    while len(entries) > _CACHE_SIZE:
        entries.pop(next(iter(entries)))


def _config_key(dataset, config) -> tuple:
    return id(dataset), json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def _initial_weights(dataset, config, seed: int):
    """The registry model's initialization as a replay (models.initial_weights.InitialWeights), or None
    where it cannot be.

    Kept for the run's next packs: it costs two model builds once, then ~0.5 ms
    per trial instead of a ~25 ms Keras build (digits MLP).
    """
    key = _config_key(dataset, config)
    if key not in _CACHE["initial"]:
        try:
            initial = InitialWeights(lambda: build_model(config, dataset), seeds=(seed, seed + 1))
        except Unsupported as e:
            logging.warning("packed trials: %s; building a Keras model per trial for its initial weights", e)
            initial = None
        _remember("initial", key, (dataset, initial))
    return _CACHE["initial"][key][1]


def _sub_packs(dataset, config, template, stacked, sizes, strategy, augment, steps_per_epoch: int) -> SubPacks:
    """SubPacks of `sizes` holding `stacked` (the trials' initial weights) and fresh optimizers.

    The last ones are kept and reused (weights reloaded, optimizer state zeroed)
    for the next pack of the same sizes, so their graph is traced once per run,
    not once per pack.
    """
    key = (id(strategy), tuple(sizes)) + _config_key(dataset, config)
    cached = _CACHE["trainer"].get(key, (None, None, None))[2]
    if cached is not None:
        cached.load(stacked)
        return cached
    splits = {split: in_memory_split(dataset, split) for split in ("train", "test")}
    trainers, at = [], 0
    for size in sizes:
        with strategy.scope():
            packed = PackedModel(template, tuple([v[at:at + size] for v in part] for part in stacked))
            _, optimizer = make_optimizer(config, steps_per_epoch)
            optimizer.build(packed.trainable)
        trainers.append(PackedTrainer(packed, optimizer, splits, [], [], augment, strategy, config.l2))
        at += size
    sub_packs = SubPacks(trainers)
    _remember("trainer", key, (dataset, strategy, sub_packs))
    return sub_packs


class Pack:
    """Trains plans K at a time as one packed model; one TrainedTrial per plan, as if trained alone."""

    def __init__(self, dataset: Dataset, config: TrainConfig, size: int, strategy=None, checkpoint_every: int = 1,
                 keep_models: bool = False, parts: int = None):
        """`keep_models`: lend each TrainedTrial a model holding its slice (always with config.save_model).
        `parts`: sub-packs stepped at once (SubPacks; default: default_parts)."""
        self.dataset, self.config, self.size = dataset, config, size
        self.strategy = strategy or tf.distribute.get_strategy()
        self.parts = default_parts(self.strategy) if parts is None else parts
        if self.parts < 1:
            raise ValueError(f"a pack needs at least one part, got {self.parts}")
        self.checkpoint_every = checkpoint_every
        self.keep_models = keep_models or config.save_model
        check_batch_size(self.strategy, config.batch_size)
        if dataset.stream is not None:
            raise ValueError(f"--pack_trials > 1 needs an in-memory dataset; {dataset.name} is streamed")

    def train(self, plans, checkpoint_dirs=None, still_ours=None):
        """Train `plans` together; a TrainedTrial per plan, in order.

        With `checkpoint_dirs` (one per plan), each trial's slice is saved there
        every `checkpoint_every` epochs in the one-model format, and a pack whose
        trials all saved the same epoch resumes from it.  `still_ours[k]()` says
        whether trial k's claim still holds; a trial taken over by another
        worker is not saved.
        """
        started = time.time()
        dataset, config, strategy = self.dataset, self.config, self.strategy
        if checkpoint_dirs is not None and len(checkpoint_dirs) != len(plans):
            raise ValueError(f"{len(plans)} trials but {len(checkpoint_dirs)} checkpoint directories")
        if len({len(p.ids) for p in plans}) != 1:
            raise ValueError("packed trials need subsets of one size (one --subset_ratio)")
        padding, flip = augmentation(config, dataset)
        augment = augment_fn(padding, flip)
        seeds = [p.seeds for p in plans]
        # Initial weights: those of the registry model built after set_random_seed(init seed), as one model's.
        initial = _initial_weights(dataset, config, seeds[0]["init"])
        if initial is not None:
            template, stacked = initial.template, initial.stacked([s["init"] for s in seeds])
        else:
            weights = []
            for s in seeds:
                keras.utils.set_random_seed(s["init"])
                template = build_model(config, dataset)
                weights.append(weights_of(template))
            stacked = stack_weights(weights)
        steps_per_epoch = plans[0].steps_per_epoch  # subsets of one ratio have one size
        sizes = part_sizes(len(plans), self.parts)
        group = _sub_packs(dataset, config, template, stacked, sizes, strategy, augment, steps_per_epoch)
        group.set_trials([p.ids for p in plans], seeds)
        label = f"trials {plans[0].trial}..{plans[-1].trial} (pack of {len(plans)})"
        savers, initial_epoch = None, 0
        if checkpoint_dirs and self.checkpoint_every > 0:
            bounds = np.cumsum([0] + sizes)
            savers = [PackCheckpoints(checkpoint_dirs[a:b], template, config, steps_per_epoch)
                      for a, b in zip(bounds[:-1], bounds[1:])]
            resumed = {saver.restore(trainer) for saver, trainer in zip(savers, group.trainers)}
            initial_epoch = resumed.pop() if len(resumed) == 1 else 0
            if resumed:  # sub-packs restored at different epochs: all start over
                logging.warning("%s: its sub-packs' checkpoints are at different epochs; starting the pack over",
                                label)
                group.load(stacked)
            if initial_epoch:
                logging.info("%s: resuming from checkpoints at epoch %d/%d", label, initial_epoch, config.epochs)
        losses = np.full(len(plans), np.nan)
        epoch_losses = []  # per epoch run here: [K] mean losses (metrics.json "history")
        for epoch in range(initial_epoch, config.epochs):
            losses = group.run_epoch(epoch, config.batch_size)
            epoch_losses.append(losses)
            if savers is not None and (epoch + 1) % self.checkpoint_every == 0 and epoch + 1 < config.epochs:
                ours = list(still_ours or [lambda: True] * len(plans))
                for saver, trainer in zip(savers, group.trainers):
                    saver.save(trainer, epoch + 1, ours[:trainer.packed.size])
                    ours = ours[trainer.packed.size:]
            if (epoch + 1) % max(1, config.log_every_epochs) == 0 or epoch + 1 == config.epochs:
                logging.info("%s epoch %d/%d mean loss %.4f (%.4f..%.4f) (%.1fs)", label, epoch + 1, config.epochs,
                             losses.mean(), losses.min(), losses.max(), time.time() - started)
        splits = group.trainers[0].splits
        train_eval, test_eval = (predict_correct(group, batches_of(splits[split], config.eval_batch_size))
                                 for split in ("train", "test"))
        trained = time.time() - started
        # One registry model takes each trial's slice in turn: the writer uses it before the next is loaded.
        # When nobody reads the model, no slice is copied.
        models = group.members(template) if self.keep_models else itertools.repeat(None)
        for k, (plan, model) in enumerate(zip(plans, models)):
            extra = {"final_loss": None if np.isnan(losses[k]) else float(losses[k]),  # None: no epoch left to run
                     "resumed_from_epoch": initial_epoch,
                     "replicas": strategy.num_replicas_in_sync, "pack": {"size": len(plans), "position": k},
                     "wall_seconds": round(trained / len(plans), 3),
                     "history": history_record(config, steps_per_epoch, range(initial_epoch + 1, config.epochs + 1),
                                               loss=[e[k] for e in epoch_losses])}
            yield TrainedTrial(plan, (train_eval[0], train_eval[1][k]), (test_eval[0], test_eval[1][k]), extra,
                               model=model)
