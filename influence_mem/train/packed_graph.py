"""The graph of a pack: K models' steps as batched ops (PackedTrainer), held as sub-packs run in one call.

One graph step gathers each trial's own batch ([K, B] example ids), runs the K
forward/backward passes as batched ops (models.packed_model.PackedModel) and
applies one SGD update to the stacked weights (train.packed_sgd).  A pack is
held as sub-packs (SubPacks), one per CPU core, whose steps and evaluation run
in one graph call.  What the trials are (their subsets and seeds) is not part of
the graph: the backend (train.pack) hands each epoch's batches in.
"""
import itertools

import keras
import numpy as np
import tensorflow as tf

from influence_mem.data.pipeline import augment_batch, batches_of
from influence_mem.models.packed_model import PackedModel, dense_chain
from influence_mem.train.packed_sgd import fused_sgd
from influence_mem.train.recipe import l2_kernels, predict_correct, reset_optimizer
from influence_mem.train.strategy import cpu_cores


def size_slices(sizes) -> list:
    """The slice of each part of a sequence cut into consecutive parts of `sizes` (a pack's sub-packs)."""
    ends = list(itertools.accumulate(sizes))
    return [slice(end - size, end) for size, end in zip(sizes, ends)]


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


def held_splits(splits: dict, template: keras.Model, augment, strategy) -> dict:
    """The splits as a pack holds them: images already in the compute dtype of `template`'s first Dense
    layer (bfloat16 under mixed_bfloat16) when the pack's low-precision path is what reads them first (a
    Dense chain, no augmentation, one replica: PackedModel.forward_weights); otherwise as given.

    That path casts the gathered images before anything else, and a cast commutes with a gather, so
    every value is the same; a step then gathers half the bytes and casts nothing, and the split is
    held in half the memory.
    """
    chain = dense_chain(template)
    dtype = chain[0][1] if chain else None
    if dtype is None or augment is not None or strategy.num_replicas_in_sync > 1:
        return splits
    return {name: dict(split, image=tf.cast(split["image"], dtype)) for name, split in splits.items()}


def augment_all(images, seeds, augment):
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
    """The ops of a pack's step: gather, augment, forward/backward, SGD update.

    step() and steps() build ops in the caller's graph (SubPacks traces every
    sub-pack's into one tf.function); wrap them in tf.function to run one alone.
    """

    def __init__(self, packed: PackedModel, optimizer, splits: dict, augment, strategy, l2: float = 0.0):
        """`splits`: {split: pipeline.in_memory_split}; steps gather from 'train', evaluation reads them all.
        `augment`: data.augment.augment_fn's function, or None.  `optimizer`: built on packed.trainable.
        `l2`: coupled L2 (config.l2), l2/2 * ||kernels||^2 added to each model's loss."""
        self.packed, self.optimizer, self.strategy = packed, optimizer, strategy
        self.splits, self.augment, self.l2 = splits, augment, l2
        kernels = {id(v) for v in l2_kernels(packed.template)}
        self.kernel_ids = [j for j, v in enumerate(packed.template.trainable_variables) if id(v) in kernels]
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
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
            images = augment_all(images, seeds, self.augment)
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

    def step(self, ids, seeds):
        """One step on the batches ids [K, b] (augment seeds [K, b, 2]); each model's mean loss [K]."""
        per_model = self.strategy.run(self._replica_step, args=(ids, seeds))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_model, axis=None)

    def steps(self, ids, seeds):
        """Steps over ids [S, K, b] (seeds [S, K, b, 2]) as one graph loop; the sum of each model's step
        losses [K]."""
        def body(i, total):
            return i + 1, total + self.step(ids[i], seeds[i])
        return tf.while_loop(lambda i, _: i < tf.shape(ids)[0], body, (0, tf.zeros([self.packed.size])))[1]


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

    def __init__(self, template: keras.Model, stacked, sizes, splits: dict, augment, strategy, make_optimizer,
                 l2: float = 0.0):
        """Sub-packs of `sizes` holding `stacked` (K models' (trainable, non-trainable) [K, ...] values of
        `template`'s architecture), each with a fresh optimizer from `make_optimizer()`; `splits`,
        `augment`, `l2` as PackedTrainer's."""
        self.sizes, self.size, self.augment = list(sizes), sum(sizes), augment
        self.splits = splits = held_splits(splits, template, augment, strategy)
        self.trainers = []
        for part in self._parts(stacked):
            with strategy.scope():
                packed = PackedModel(template, part)
                optimizer = make_optimizer()
                optimizer.build(packed.trainable)
            self.trainers.append(PackedTrainer(packed, optimizer, splits, augment, strategy, l2))
        self._steps = tf.function(lambda ids, seeds: [t.steps(i, s) for t, i, s in zip(self.trainers, ids, seeds)],
                                  autograph=False)
        self._step = tf.function(lambda ids, seeds: [t.step(i, s) for t, i, s in zip(self.trainers, ids, seeds)],
                                 autograph=False)
        # An epoch's full batches and its short last one in one call: no round trip to Python between them.
        self._epoch = tf.function(lambda ids, seeds, last_ids, last_seeds: [
            (t.steps(i, s), t.step(li, ls)) for t, i, s, li, ls in zip(self.trainers, ids, seeds, last_ids, last_seeds)],
            autograph=False)

    def _parts(self, stacked) -> list:
        """Each sub-pack's share of `stacked` weights."""
        return [tuple([v[part] for v in values] for values in stacked) for part in size_slices(self.sizes)]

    def load(self, stacked) -> None:
        """Every sub-pack takes its share of `stacked` weights and a zeroed optimizer."""
        for trainer, part in zip(self.trainers, self._parts(stacked)):
            trainer.packed.load(part)
            reset_optimizer(trainer.optimizer)

    def run_epoch(self, order: np.ndarray, seeds: np.ndarray, batch_size: int) -> np.ndarray:
        """Train one epoch on every model's example ids `order` [K, m] in order (augment seeds [K, m, 2]);
        each model's mean loss over it (weighted by batch size, as Keras reports)."""
        size, full = order.shape[1], order.shape[1] // batch_size * batch_size
        parts = size_slices(self.sizes)

        def batches(a):  # each sub-pack's full batches of the epoch, as [S, k, B]
            return [tf.constant(np.moveaxis(a[p, :full].reshape((p.stop - p.start, -1, batch_size) + a.shape[2:]), 1, 0))
                    for p in parts]

        def last(a):  # each sub-pack's short last batch, as fit() takes it
            return [tf.constant(a[p, full:]) for p in parts]

        if full and full < size:
            losses = self._epoch(batches(order), batches(seeds), last(order), last(seeds))
            full_losses, last_losses = [l for l, _ in losses], [l for _, l in losses]
        elif full:
            full_losses, last_losses = self._steps(batches(order), batches(seeds)), None
        else:
            full_losses, last_losses = None, self._step(last(order), last(seeds))
        total = np.zeros(self.size)
        if full_losses is not None:
            total += np.concatenate([l.numpy() for l in full_losses]) * batch_size
        if last_losses is not None:
            total += np.concatenate([l.numpy() for l in last_losses]) * (size - full)
        return total / size

    def evaluate(self, batch_size: int) -> dict:
        """{split: (original index, correct [K, n])} of every model over the whole train and test splits."""
        return {split: predict_correct(self, batches_of(self.splits[split], batch_size)) for split in ("train", "test")}

    def __call__(self, images, training: bool = False):
        """Shared images [b, ...] -> logits [K, b, C] of every trial (inference; PackedModel.__call__)."""
        if training:
            raise ValueError("SubPacks(images) is inference; train through run_epoch()")
        return tf.concat([t.packed.infer(images) for t in self.trainers], axis=0)

    def members(self, model: keras.Model):
        """Yield `model` holding trial 0, 1, ..., K-1's weights in turn (PackedModel.members)."""
        return itertools.chain.from_iterable(t.packed.members(model) for t in self.trainers)
