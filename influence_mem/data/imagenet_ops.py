"""ImageNet-style input shared by more than one module: the authors' preprocessing and the example order.

A leaf of data/: the TFDS provider (data.imagenet) and the indexed TFRecords
provider (data.tfrecord) both stream encoded images through EncodedImages and
normalize with MEAN/STD; data.imagenet and data.build_tfrecords both order
examples with released_order.  Keeping them here lets neither provider import
the other.

Preprocessing: the authors' (heldout-influence-estimation
libdata/imagenet_preprocessing.py), as float32 in [0, 1]:
- evaluation (and every image the trainer predicts on): center_crop_encoded, their
  `_decode_and_center_crop` (lines 113-135): the central square of side
  int(size / (size + CROP_PADDING) * shorter side), CROP_PADDING = 32, then a
  bilinear resize to size x size;
- training with `--imagenet_augment=inception_crop` (the default): train_crop,
  their `preprocess_for_train` (lines 151-165): a random crop covering 8-100%
  of the image area with aspect ratio (width / height) in [3/4, 4/3] (lines
  85-110: `tf.image.sample_distorted_bounding_box`, at most 10 attempts; when
  the box is the whole image the centre crop is used instead), resized to
  size x size, then a random left-right flip.  Ours draws both from stateless
  seeds (data.pipeline gives each example its own), theirs from TensorFlow's
  global random state; otherwise the operations are the same;
- `--imagenet_augment=padded_crop`: paper 000 appendix B's wording ("random
  padded (... 32 pixels for ImageNet) cropping and random left-right
  flipping"): the evaluation image, zero-padded by 32 pixels and randomly
  cropped back to size x size (data.augment.pad_crop_flip), as for CIFAR.
The mean/std normalization (their `_normalize`) is part of the model
(Dataset.input_mean/input_std), so a SavedModel takes [0, 1] images.

Example order: the released `imagenet_index.npz` lists training file names
(`tr_filenames`, `tr_labels`) and validation file names (`tt_filenames`,
`tt_labels`) in the authors' order (their build_dataset.py
`_build_index_lookup` reads the same four keys); without it the order is the
sorted file names (deterministic, but not the authors').
"""
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.base import DatasetError
from influence_mem.data.npzio import read_npz
from influence_mem.formats.npz import NpzError

IMAGE_SIZE = 224
CROP_PADDING = 32            # their CROP_PADDING: the centre crop is size / (size + 32) of the shorter side
AREA_RANGE = (0.08, 1.0)     # their _decode_and_random_crop: fraction of the image area
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
MIN_OBJECT_COVERED = 0.1
MAX_ATTEMPTS = 10
MEAN = (0.485, 0.456, 0.406)  # ImageNet per-channel mean / std of [0, 1] RGB
STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("inception_crop", "padded_crop")  # --imagenet_augment; the first is the authors' and the default


def decode(image_bytes: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG/PNG bytes -> uint8 [h, w, 3]."""
    return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def _shape(image_bytes: tf.Tensor) -> tf.Tensor:
    """[h, w, 3] of an encoded image (a JPEG's from its header, as theirs; others decoded)."""
    return tf.cond(tf.io.is_jpeg(image_bytes),
                   lambda: tf.image.extract_jpeg_shape(image_bytes),
                   lambda: tf.shape(decode(image_bytes), out_type=tf.int32))


def _decode_window(image_bytes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """uint8 pixels of window [top, left, height, width]: tf.image.decode_and_crop_jpeg for a JPEG, as theirs
    (its chroma upsampling at the window's edges differs from decoding all and slicing), else a slice."""
    return tf.cond(tf.io.is_jpeg(image_bytes),
                   lambda: tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3),
                   lambda: tf.slice(decode(image_bytes), tf.stack([window[0], window[1], 0]),
                                    tf.stack([window[2], window[3], 3])))


def _to_unit_resized(image: tf.Tensor, size: int) -> tf.Tensor:
    # As theirs: convert_image_dtype (uint8 -> float32 in [0, 1]) before the bilinear resize.
    image = tf.image.convert_image_dtype(image, tf.float32)
    return tf.image.resize([image], [size, size])[0]


def _center_window(shape: tf.Tensor, size: int) -> tf.Tensor:
    height, width = shape[0], shape[1]
    side = tf.cast((size / (size + CROP_PADDING)) * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    return tf.stack([((height - side) + 1) // 2, ((width - side) + 1) // 2, side, side])


def center_crop_encoded(image_bytes: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
    """Encoded image -> float32 [size, size, 3] in [0, 1]: their _decode_and_center_crop.

    The central square of side int(size / (size + CROP_PADDING) * min(h, w)),
    offset ((h - side) + 1) // 2 (likewise for w), resized bilinearly to size.
    """
    image = _decode_window(image_bytes, _center_window(_shape(image_bytes), size))
    return tf.reshape(_to_unit_resized(image, size), [size, size, 3])


def center_crop(image: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
    """center_crop_encoded's crop of an already decoded uint8 [h, w, 3] image."""
    window = _center_window(tf.shape(image), size)
    crop = image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
    return tf.reshape(_to_unit_resized(crop, size), [size, size, 3])


def random_crop(image_bytes: tf.Tensor, seed: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
    """Encoded image -> float32 [size, size, 3]: their _decode_and_random_crop with a stateless seed [2].

    A box of 8-100% of the area, aspect ratio in [3/4, 4/3]
    (tf.image.stateless_sample_distorted_bounding_box, min_object_covered 0.1,
    10 attempts, the whole image if none fits) resized to size; when the box
    is the whole image, center_crop_encoded instead.
    """
    shape = _shape(image_bytes)
    begin, box, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4]), seed=seed,
        min_object_covered=MIN_OBJECT_COVERED, aspect_ratio_range=ASPECT_RATIO_RANGE, area_range=AREA_RANGE,
        max_attempts=MAX_ATTEMPTS, use_image_if_no_bounding_boxes=True)
    whole = tf.logical_and(tf.equal(box[0], shape[0]), tf.equal(box[1], shape[1]))
    window = tf.stack([begin[0], begin[1], box[0], box[1]])
    return tf.reshape(tf.cond(whole, lambda: center_crop_encoded(image_bytes, size),
                              lambda: _to_unit_resized(_decode_window(image_bytes, window), size)),
                      [size, size, 3])


def train_crop(image_bytes: tf.Tensor, seed: tf.Tensor, size: int = IMAGE_SIZE, flip: bool = True) -> tf.Tensor:
    """Their preprocess_for_train: random_crop of the encoded image, then (if `flip`) a random left-right flip.

    `seed` is a [2] integer tensor; the result is a deterministic function of it.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    image = random_crop(image_bytes, crop_seed, size)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


class EncodedImages:
    """A streamed dataset's `stream`: records with the encoded image, preprocessed on the way out.

    `records(split)` yields {image: encoded bytes, label, index}.  Calling the
    object (`Dataset.stream(split)`) gives {image: float32 [size, size, 3]
    (center_crop), label, index}, what evaluation and padded_crop training
    read; `encoded(split)` gives the records themselves, which the training
    pipeline shuffles and then decodes with train_crop (inception_crop), so the
    random crop is taken from the whole image as theirs is.
    """

    def __init__(self, records: Callable[[str], tf.data.Dataset], size: int = IMAGE_SIZE):
        self.records, self.size = records, size

    def encoded(self, split: str) -> tf.data.Dataset:
        return self.records(split)

    def __call__(self, split: str) -> tf.data.Dataset:
        size = self.size
        return self.records(split).map(lambda ex: {**ex, "image": center_crop_encoded(ex["image"], size)},
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _basename(name) -> bytes:
    return os.path.basename(name if isinstance(name, bytes) else str(name).encode())


def released_order(filenames, index_file: Optional[str], labels: Optional[np.ndarray] = None,
                   split: str = "tr") -> np.ndarray:
    """Original index of each of `filenames` (matched by base name).

    `split` is "tr" (training: keys tr_filenames, tr_labels) or "tt"
    (validation: tt_filenames, tt_labels), their _build_index_lookup's keys.
    With `index_file`: the position in <split>_filenames; every file must be
    listed and every listed file present, and `labels` must agree with
    <split>_labels when both exist.  Without an index file, or for "tt" with an
    index file that has no tt_filenames (e.g. our `<name>_index.npz`): the rank
    in sorted base-name order.
    """
    what = {"tr": "training", "tt": "validation"}[split]
    names = [_basename(f) for f in filenames]
    if len(set(names)) != len(names):
        raise DatasetError(f"{what} file names are not unique; cannot index examples by file name")
    released = None
    if index_file is not None:
        try:
            released = read_npz(index_file)
        except NpzError as e:
            raise DatasetError(f"{index_file}: not a readable .npz index file ({e.detail})") from None
        if split == "tr" and "tr_filenames" not in released:
            raise DatasetError(f"{index_file}: has no 'tr_filenames' (keys: {sorted(released)})")
    key = f"{split}_filenames"
    if released is None or key not in released:
        return np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable").astype(np.int64)
    lookup = {_basename(name): k for k, name in enumerate(released[key])}
    missing = [n for n in names if n not in lookup]
    if missing:
        raise DatasetError(f"{index_file}: {what} file {missing[0].decode()!r} is not listed in {key} "
                           f"({len(missing)} files not listed)")
    order = np.array([lookup[n] for n in names], np.int64)
    if len(lookup) != len(names):
        absent = sorted(set(lookup) - set(names))
        raise DatasetError(f"{index_file}: lists {len(lookup)} {what} files but {len(names)} were found "
                           f"(e.g. {absent[0].decode()!r} is missing)")
    label_key = f"{split}_labels"
    if labels is not None and label_key in released:
        wrong = np.flatnonzero(released[label_key][order] != labels)
        if len(wrong):
            k = wrong[0]
            raise DatasetError(f"{index_file}: {len(wrong)} labels differ from {label_key}, e.g. "
                               f"{names[k].decode()!r} has label {labels[k]} but {label_key} says "
                               f"{released[label_key][order[k]]} (are the class folders the 1,000 synsets, sorted?)")
    return order
