"""One training run with turn-over dropout -> memorization and influence of every example (paper 002 eq. 5-6).

mem[i]     = L(muted sub-network of i, z_i) - L(unmuted sub-network of i, z_i)
infl[i, j] = L(muted sub-network of i, z'_j) - L(unmuted sub-network of i, z'_j)

L is the cross-entropy (nats), so the scores are loss differences, not the
accuracy differences of the subsampled estimator.  The muted sub-network of
i was never updated on z_i: it stands in for the model trained without z_i.
Influence is computed for same-class pairs only (the released format's
per-class blocks): |train class c| x |test class c| pairs, two forward passes
each.
The run trains under config.precision like every trainer (train.recipe: low-precision
compute, float32 variables and logits); the scores are computed from float32 logits.
"""
import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem.data import pipeline
from influence_mem.data.base import Dataset
from influence_mem.train import recipe
from influence_mem.train.config import TrainConfig
from influence_mem.train.plan import plan_full_run
from influence_mem.turnover.model import turnover_model

RUN_ID = 0  # the one run's seeds are train.plan.plan_full_run's (trial_seeds(seed, 1.0, RUN_ID))


def train_pipeline(dataset: Dataset, batch_size: int, seeds: dict, padding: int, flip: bool,
                   epochs: int) -> tf.data.Dataset:
    """({image, index, flip=0}, label) batches of `epochs` epochs over the whole training set.

    The trial pipeline's batches (data.pipeline.train_batches) of the run's
    seeds; fit them with steps_per_epoch=ceil(n / batch_size).
    """
    ds = pipeline.train_batches(dataset, np.arange(dataset.num_train), batch_size=batch_size,
                                shuffle_seed=seeds["shuffle"], augment_seed=seeds["augment"], crop_padding=padding,
                                flip=flip, epochs=epochs)
    ds = ds.map(lambda b: ({"image": b["image"], "index": b["index"], "flip": tf.zeros_like(b["index"], tf.float32)},
                           b["label"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def train(dataset: Dataset, config: TrainConfig, strategy=None, callbacks=()) -> keras.Model:
    """The turn-over model trained once on the whole training set (masks seeded by config.seed)."""
    if dataset.x_train is None:
        raise ValueError(f"dataset {dataset.name} streams its images; turn-over dropout needs an in-memory dataset "
                         f"(digits, mnist, cifar10, cifar100, npz:PATH)")
    plan = plan_full_run(dataset.num_train, config, RUN_ID)
    model, schedule, _ = recipe.compiled_model(config, dataset, plan, strategy,
                                               wrap=lambda base: turnover_model(base, seed=config.seed))
    padding, flip = recipe.augmentation(config, dataset)
    recipe.fit(model, train_pipeline(dataset, config.batch_size, plan.seeds, padding, flip, config.epochs), config,
               plan, callbacks=[recipe.EpochLogger(RUN_ID, config.epochs, config.log_every_epochs, schedule),
                                *callbacks])
    return model


@functools.lru_cache(maxsize=2)  # one traced function per model, shared by self_influence and influence_blocks
def _loss_fn(model):
    """tf.function (images, mask ids, labels) -> (loss unmuted, loss muted, correct unmuted, correct muted)."""
    @tf.function(reduce_retracing=True)
    def losses(images, index, labels):
        out = []
        for flip in (0.0, 1.0):
            logits = tf.cast(model({"image": images, "index": index, "flip": tf.fill(tf.shape(index), flip)},
                                   training=False), tf.float32)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            out += [loss, tf.equal(tf.argmax(logits, -1), labels)]
        return out[0], out[2], out[1], out[3]
    return losses


def split_arrays(dataset: Dataset, split: str):
    """(images, labels) of a split in original-index order, as the model sees them ([0, 1] floats)."""
    images, labels = [], []
    for batch in dataset.source(split).batch(4096):
        images.append(batch["image"].numpy())
        labels.append(batch["label"].numpy())
    return np.concatenate(images), np.concatenate(labels)


def self_influence(model: keras.Model, dataset: Dataset, batch_size: int = 1024) -> dict:
    """Per training example (original order): loss/correct of its unmuted and muted sub-network, and mem."""
    losses = _loss_fn(model)
    images, labels = split_arrays(dataset, "train")
    parts = []
    for start in range(0, len(labels), batch_size):
        stop = min(start + batch_size, len(labels))
        parts.append([np.asarray(v) for v in losses(images[start:stop], tf.range(start, stop, dtype=tf.int64),
                                                   tf.constant(labels[start:stop]))])
    lu, lm, cu, cm = (np.concatenate(p) for p in zip(*parts))
    return {"loss_unmuted": lu, "loss_muted": lm, "correct_unmuted": cu, "correct_muted": cm, "mem": lm - lu}


def influence_blocks(model: keras.Model, dataset: Dataset, batch_size: int = 1024):
    """(tr_classidx, tt_classidx, blocks): per class c, infl of train ids of c on test ids of c."""
    losses = _loss_fn(model)
    images, labels = split_arrays(dataset, "test")
    tr_classidx, tt_classidx, blocks = {}, {}, {}
    started, done, total = time.time(), 0, 0
    classes = np.union1d(np.unique(dataset.train_labels), np.unique(labels))
    for c in classes:
        tr_classidx[c] = np.flatnonzero(dataset.train_labels == c)
        tt_classidx[c] = np.flatnonzero(labels == c)
        total += len(tr_classidx[c]) * len(tt_classidx[c])
    for c in classes:
        tr, tt = tr_classidx[c], tt_classidx[c]
        block = np.zeros((len(tr), len(tt)), np.float32)
        if len(tt):
            rows = max(1, batch_size // len(tt))  # train examples per batch of pairs
            x = images[tt]
            y = tf.constant(labels[tt])
            for start in range(0, len(tr), rows):
                ids = tr[start:start + rows]
                batch_x = np.tile(x, (len(ids),) + (1,) * (x.ndim - 1))
                mask_ids = tf.constant(np.repeat(ids, len(tt)))
                lu, lm, _, _ = losses(batch_x, mask_ids, tf.tile(y, [len(ids)]))
                block[start:start + len(ids)] = (np.asarray(lm) - np.asarray(lu)).reshape(len(ids), len(tt))
        blocks[int(c)] = block
        done += block.size
        logging.info("influence: class %d done, %d/%d pairs (%.0f pairs/s)", c, done, total,
                     done / max(1e-9, time.time() - started))
    return ({int(c): v for c, v in tr_classidx.items()}, {int(c): v for c, v in tt_classidx.items()}, blocks)


@dataclasses.dataclass
class TurnoverEstimates:
    self: dict                # self_influence's arrays, [n] each
    tr_classidx: dict
    tt_classidx: dict
    blocks: dict              # class -> infl [len(tr_classidx[c]), len(tt_classidx[c])]


def turnover_estimates(model: keras.Model, dataset: Dataset, batch_size: int = 1024) -> TurnoverEstimates:
    return TurnoverEstimates(self_influence(model, dataset, batch_size), *influence_blocks(model, dataset, batch_size))
