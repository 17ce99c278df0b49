"""tf.data pipelines: a trial's training batches over all its epochs, and evaluation.

Every random choice is seeded from the trial's seeds (data.subsets.trial_seeds)
and the epoch, never from state carried between iterators, so a trial's data
order and augmentation do not depend on where or how it runs (alone, packed,
mirrored, resumed from a checkpoint).
"""
import math

import numpy as np
import tensorflow as tf

from influence_mem.data.augment import augment_fn
from influence_mem.data.base import Dataset
from influence_mem.data.imagenet_ops import AUGMENTATIONS, train_crop

SHUFFLE_BUFFER_BYTES = 2 * 1024**3  # decoded images held by the shuffle buffer (ImageNet: ~3,500)


def shuffle_buffer_size(num_examples: int, image_shape) -> int:
    """At most ~2 GB of decoded float32 images (streamed datasets)."""
    image_bytes = 4 * int(np.prod(image_shape))
    return max(1, min(num_examples, SHUFFLE_BUFFER_BYTES // image_bytes))


def epoch_order(subset: np.ndarray, shuffle_seed: int, augment_seed: int, epoch: int, augment: bool):
    """(example ids in this epoch's order [m], per-example augment seeds [m, 2] int64 or None) of one trial."""
    order = subset[np.random.default_rng([shuffle_seed, epoch]).permutation(len(subset))]
    if not augment:
        return order, None
    seeds = np.random.default_rng([augment_seed, epoch]).integers(0, np.iinfo(np.int64).max, (len(subset), 2))
    return order, seeds


def in_memory_split(dataset: Dataset, split: str) -> dict:
    """{image, label, index} tensors of a whole in-memory split, in index order, as the pipeline converts them."""
    return next(iter(dataset.source(split).batch(dataset.num_train if split == "train" else dataset.num_test)))


def batches_of(whole: dict, batch_size: int) -> list:
    """eval_pipeline's batches of a split already held as tensors (in_memory_split), without a tf.data pass."""
    size = int(whole["index"].shape[0])
    return [{key: value[start:start + batch_size] for key, value in whole.items()}
            for start in range(0, size, batch_size)]


def augment_batch(images, seeds, augment):
    """`augment(image, seed)` applied to every image of [b, ...] with its own seed [b, 2]."""
    return tf.vectorized_map(lambda args: augment(*args), (images, seeds), fallback_to_while_loop=True)


def train_batches(dataset: Dataset, ids: np.ndarray, *, batch_size: int, shuffle_seed: int, augment_seed: int,
                  crop_padding: int, flip: bool, epochs: int, initial_epoch: int = 0,
                  imagenet_augment: str = AUGMENTATIONS[0]) -> tf.data.Dataset:
    """Batches of {image, label, index} of epochs [initial_epoch, epochs) of a trial training on `ids`.

    Each epoch is a fresh permutation of `ids` batched on its own: ceil(m / B)
    batches, the last one short.  Train with fit(steps_per_epoch=ceil(m / B),
    initial_epoch=initial_epoch): Keras then reads all epochs from one
    iterator, and since nothing here depends on how many iterators were made,
    a resumed or mirrored run reads the same batches.

    In-memory datasets use epoch_order's ids and augmentation seeds, the
    packed trainer's (train.pack), so a trial sees the same batches alone,
    in a pack or mirrored.  Streamed datasets (ImageNet) cannot be gathered by
    id: they go through a shuffle buffer seeded per epoch.

    The augmentation is chosen here.  Datasets whose stream has the encoded
    images (data.imagenet_ops.EncodedImages: imagenet2012, tfrecord:DIR) follow
    `imagenet_augment`: "inception_crop" (default) is the authors' training
    preprocessing, a random crop of 8-100% of the whole image's area resized
    to the image size, then a flip if `flip` (`crop_padding` is not used);
    "padded_crop" (paper 000 appendix B's wording) pads the centre-cropped
    image by `crop_padding` and crops it back, then flips if `flip`.  Every
    other dataset uses `crop_padding` and `flip` (data.augment).
    """
    if imagenet_augment not in AUGMENTATIONS:
        raise ValueError(f"imagenet_augment {imagenet_augment!r}: expected one of {', '.join(AUGMENTATIONS)}")
    augment = augment_fn(crop_padding, flip)
    encoded = getattr(dataset.stream, "encoded", None)
    if dataset.stream is None:
        ds = _in_memory_epochs(dataset, ids, batch_size, shuffle_seed, augment_seed, augment, epochs, initial_epoch)
    elif encoded is not None and imagenet_augment == "inception_crop":
        size = dataset.image_shape[0]
        source = _of_ids(encoded("train"), ids, dataset.num_train)
        ds = _streamed_epochs(dataset, ids, batch_size, shuffle_seed, augment_seed,
                              lambda image, seed: train_crop(image, seed, size, flip), epochs, initial_epoch,
                              source)
    else:
        ds = _streamed_epochs(dataset, ids, batch_size, shuffle_seed, augment_seed, augment, epochs, initial_epoch)
    steps = (epochs - initial_epoch) * math.ceil(len(ids) / batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def _in_memory_epochs(dataset, ids, batch_size, shuffle_seed, augment_seed, augment, epochs, initial_epoch):
    whole = in_memory_split(dataset, "train")
    images, labels = whole["image"], whole["label"]
    # Seeds are drawn even without augmentation (unused then): epoch_order's ids do not depend on it.
    drawn = [epoch_order(ids, shuffle_seed, augment_seed, e, True) for e in range(initial_epoch, epochs)]
    order = np.array([o for o, _ in drawn], np.int64).reshape(-1, len(ids))
    seeds = np.array([s for _, s in drawn], np.int64).reshape(-1, len(ids), 2)

    def gather(index, seed):
        image = tf.gather(images, index)
        if augment is not None:
            image = augment_batch(image, seed, augment)
        return {"image": image, "label": tf.gather(labels, index), "index": index}

    ds = tf.data.Dataset.from_tensor_slices((order, seeds)).flat_map(
        lambda o, s: tf.data.Dataset.from_tensor_slices((o, s)).batch(batch_size))
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.default_rng([seed, epoch]).integers(2**31))


def _of_ids(ds: tf.data.Dataset, ids: np.ndarray, n: int) -> tf.data.Dataset:
    """The examples of `ds` whose index is in `ids` (as Dataset.source does for its stream)."""
    mask = np.zeros(n, bool)
    mask[ids] = True
    keep = tf.constant(mask)
    return ds.filter(lambda ex: tf.gather(keep, ex["index"])).apply(
        tf.data.experimental.assert_cardinality(len(np.unique(ids))))


def _streamed_epochs(dataset, ids, batch_size, shuffle_seed, augment_seed, augment, epochs, initial_epoch,
                     source=None):
    source = dataset.source("train", ids) if source is None else source
    buffer = shuffle_buffer_size(len(ids), dataset.image_shape)

    def one_epoch(seeds):
        ds = source.shuffle(buffer, seed=seeds[0])
        if augment is not None:
            # One stateless seed pair per element, fixed by the trial's augment seed and the epoch.
            pairs = tf.data.Dataset.random(seed=seeds[1]).batch(2)
            ds = tf.data.Dataset.zip((ds, pairs)).map(lambda ex, seed: {**ex, "image": augment(ex["image"], seed)},
                                                      num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size)

    seeds = np.array([[_epoch_seed(shuffle_seed, e), _epoch_seed(augment_seed, e)]
                      for e in range(initial_epoch, epochs)], np.int64).reshape(-1, 2)
    return tf.data.Dataset.from_tensor_slices(seeds).flat_map(one_epoch)


def train_pipeline(dataset: Dataset, ids: np.ndarray, **kwargs) -> tf.data.Dataset:
    """train_batches as (image, label) for Keras fit, prefetched."""
    return (train_batches(dataset, ids, **kwargs).map(lambda b: (b["image"], b["label"]))
            .prefetch(tf.data.AUTOTUNE))


def eval_pipeline(dataset: Dataset, split: str, batch_size: int) -> tf.data.Dataset:
    """Batches of {image, label, index} over a whole split, in a fixed order."""
    return dataset.source(split).batch(batch_size).prefetch(tf.data.AUTOTUNE)
