"""tf.data pipelines: training (subset -> shuffle -> augment -> batch -> prefetch) and evaluation.

Every random choice is seeded from the trial's seeds (data.subsets.trial_seeds),
so a trial's data order and augmentation do not depend on where it runs.
"""
import numpy as np
import tensorflow as tf

from influence_mem.data.augment import augment_fn
from influence_mem.data.datasets import Dataset

SHUFFLE_BUFFER_BYTES = 2 * 1024**3  # decoded images held by the shuffle buffer (ImageNet: ~3,500)


def shuffle_buffer_size(num_examples: int, image_shape) -> int:
    """The whole subset for in-memory datasets; at most ~2 GB of decoded float32 images otherwise."""
    image_bytes = 4 * int(np.prod(image_shape))
    return max(1, min(num_examples, SHUFFLE_BUFFER_BYTES // image_bytes))


def epoch_order(subset: np.ndarray, shuffle_seed: int, augment_seed: int, epoch: int, augment: bool):
    """(example ids in this epoch's order [m], per-example augment seeds [m, 2] int64 or None) of one trial."""
    order = subset[np.random.default_rng([shuffle_seed, epoch]).permutation(len(subset))]
    if not augment:
        return order, None
    seeds = np.random.default_rng([augment_seed, epoch]).integers(0, np.iinfo(np.int64).max, (len(subset), 2))
    return order, seeds


def train_pipeline(dataset: Dataset, ids: np.ndarray, *, batch_size: int, shuffle_seed: int,
                   augment_seed: int, crop_padding: int, flip: bool) -> tf.data.Dataset:
    """Batches of (image, label) over the examples `ids`, reshuffled every epoch."""
    ds = dataset.source("train", ids)
    buffer = len(ids) if dataset.stream is None else shuffle_buffer_size(len(ids), dataset.image_shape)
    ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    augment = augment_fn(crop_padding, flip)
    if augment is not None:
        # One stateless seed pair per element, different every epoch, fixed by augment_seed.
        seeds = tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda ex, seed: {**ex, "image": augment(ex["image"], seed)}, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda ex: (ex["image"], ex["label"]))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def eval_pipeline(dataset: Dataset, split: str, batch_size: int) -> tf.data.Dataset:
    """Batches of {image, label, index} over a whole split, in a fixed order."""
    return dataset.source(split).batch(batch_size).prefetch(tf.data.AUTOTUNE)
