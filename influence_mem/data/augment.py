"""The paper's training augmentation: random padded crop and left-right flip (appendix B).

CIFAR (4 px), MNIST/digits (none) and, with --imagenet_augment=padded_crop,
ImageNet (32 px, applied to the centre crop: paper 000 appendix B's wording).
ImageNet's default is the authors' code instead, their random-area crop of the
whole image (data.imagenet_ops.train_crop); data.pipeline chooses between them.
"""
import tensorflow as tf


def pad_crop_flip(image: tf.Tensor, seed: tf.Tensor, padding: int, flip: bool) -> tf.Tensor:
    """Zero-pad by `padding` pixels each side, take a random crop of the original size, maybe flip.

    `seed` is a [2] integer tensor; the result is a deterministic function of it.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    if padding > 0:
        shape = tf.shape(image)
        padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
        image = tf.image.stateless_random_crop(padded, shape, seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


def augment_fn(padding: int, flip: bool):
    """A function (image, seed) -> image, or None when augmentation is off."""
    if padding < 0:
        raise ValueError(f"crop padding must be >= 0, got {padding}")
    if padding == 0 and not flip:
        return None
    return lambda image, seed: pad_crop_flip(image, seed, padding, flip)
