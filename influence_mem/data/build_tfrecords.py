"""Build indexed TFRecords from a folder of class subfolders of images (your own ImageNet copy).

  python -m influence_mem.data.build_tfrecords --image_dir=/data/imagenet --output_dir=/data/im_tfrec \
      --index_file=imagenet_index.npz --train_shards=1024 --test_shards=64

--image_dir holds train/<class>/<image> and val/<class>/<image> (or
validation/ or test/).  Labels are the positions of the class folder names
in sorted order (for ImageNet: the sorted synsets, as TFDS).  Training
examples get the index of their file name in the index file's `tr_filenames`
(the authors' released order; labels are checked against `tr_labels`), or,
without one, the rank of their file name in sorted order; test examples
likewise get their position in the index file's `tt_filenames` (checked
against `tt_labels`; the authors' imagenet_index.npz has both, as their
build_dataset.py `_build_index_lookup` reads them), or sorted file-name order
without an index file or when it has no `tt_filenames`.  Records are written in index order, then
meta.npz (see influence_mem.data.tfrecord); an existing output is never
overwritten.  Read it with --dataset=tfrecord:OUTPUT_DIR.
"""
import os

import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from influence_mem.data.base import DatasetError
from influence_mem.data.imagenet_ops import released_order
from influence_mem.data.npzio import write_npz
from influence_mem.data.tfrecord import META_FILE, encode_example, shard_name
from influence_mem.formats import released
from influence_mem.programs import shared_flags, start

TEST_DIR_NAMES = ("val", "validation", "test")


def list_images(split_dir: str, class_names=None):
    """(class_names, [(path, label, basename)]) of split_dir/<class>/<file>, classes sorted."""
    found = sorted(d for d in tf.io.gfile.listdir(split_dir) if tf.io.gfile.isdir(os.path.join(split_dir, d)))
    found = [d.rstrip("/") for d in found]
    class_names = class_names or found
    unknown = sorted(set(found) - set(class_names))
    if unknown:
        raise DatasetError(f"{split_dir}: class folder {unknown[0]!r} is not a training class")
    label_of = {name: k for k, name in enumerate(class_names)}
    items = []
    for name in found:
        for file in sorted(tf.io.gfile.listdir(os.path.join(split_dir, name))):
            path = os.path.join(split_dir, name, file)
            if not tf.io.gfile.isdir(path):
                items.append((path, label_of[name], file.encode()))
    if not items:
        raise DatasetError(f"{split_dir}: no images in class subfolders")
    return class_names, items


def check_image(data: bytes, file: str) -> None:
    """DatasetError naming `file` unless `data` decodes as an image (JPEG, PNG, GIF, BMP), as training will
    decode it: a stray non-image file fails here, not as a TensorFlow traceback in every trial."""
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.OpError) as e:
        reason = (e.message or str(e)).strip().splitlines()[0] if (e.message or str(e)).strip() else type(e).__name__
        raise DatasetError(f"{file}: not a decodable image ({reason}); remove it or convert it") from None


def write_split(items, order: np.ndarray, output_dir: str, split: str, num_shards: int) -> None:
    """Write `items` sorted by `order` (their index) into num_shards contiguous shards; each file must
    decode as an image (check_image: DatasetError naming the first that does not; its shard is not kept)."""
    by_index = np.argsort(order)
    for shard, chunk in enumerate(np.array_split(by_index, num_shards)):
        path = os.path.join(output_dir, shard_name(split, shard, num_shards))
        try:
            with tf.io.TFRecordWriter(path + ".tmp") as writer:
                for k in chunk:
                    file, label, name = items[k]
                    with tf.io.gfile.GFile(file, "rb") as f:
                        data = f.read()
                    check_image(data, file)
                    writer.write(encode_example(data, label, int(order[k]), name))
        except DatasetError:
            tf.io.gfile.remove(path + ".tmp")
            raise
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        logging.info("%s: %d examples", path, len(chunk))


def build(image_dir: str, output_dir: str, index_file: str = None, train_shards: int = 16, test_shards: int = 2,
          image_size: int = 224) -> dict:
    """Write the indexed TFRecords and meta.npz; returns the meta arrays."""
    if tf.io.gfile.exists(os.path.join(output_dir, META_FILE)):
        raise DatasetError(f"{output_dir}: already holds a built dataset ({META_FILE}); choose a new --output_dir")
    train_dir = os.path.join(image_dir, "train")
    if not tf.io.gfile.isdir(train_dir):
        raise DatasetError(f"{image_dir}: no train/ subfolder")
    test_dirs = [os.path.join(image_dir, d) for d in TEST_DIR_NAMES if tf.io.gfile.isdir(os.path.join(image_dir, d))]
    if not test_dirs:
        raise DatasetError(f"{image_dir}: no val/, validation/ or test/ subfolder")
    class_names, train = list_images(train_dir)
    _, test = list_images(test_dirs[0], class_names)
    train_labels = np.array([label for _, label, _ in train], np.int64)
    train_order = released_order([name for _, _, name in train], index_file, train_labels)
    test_labels = np.array([label for _, label, _ in test], np.int64)
    test_order = released_order([name for _, _, name in test], index_file, test_labels, split="tt")
    tf.io.gfile.makedirs(output_dir)
    write_split(train, train_order, output_dir, "train", min(train_shards, len(train)))
    write_split(test, test_order, output_dir, "test", min(test_shards, len(test)))
    by_train, by_test = np.argsort(train_order), np.argsort(test_order)
    meta = {
        "tr_labels": train_labels[by_train],
        "tt_labels": test_labels[by_test],
        "tr_filenames": np.array([train[k][2] for k in by_train]),
        "tt_filenames": np.array([test[k][2] for k in by_test]),
        "class_names": np.array(class_names), "image_size": np.array(image_size),
        "index_note": np.array(f"order of {index_file}" if index_file else "sorted file names"),
    }
    write_npz(os.path.join(output_dir, META_FILE), meta)
    return meta


FLAGS = flags.FLAGS


def define_flags():
    """The flags of this tool (called by run(), never at import; idempotent)."""
    if "image_dir" in FLAGS:
        return
    flags.DEFINE_string("image_dir", None, "Folder with train/ and val/ (or validation/, test/) class subfolders.")
    flags.DEFINE_string("output_dir", None, "New folder for the TFRecords and meta.npz.")
    flags.DEFINE_string("index_file", None, "Optional npz with tr_filenames (+ tr_labels, tt_filenames, "
                                            "tt_labels), e.g. the authors' imagenet_index.npz.")
    flags.DEFINE_integer("train_shards", 16, "Number of training TFRecord files (1024 is usual for ImageNet).")
    flags.DEFINE_integer("test_shards", 2, "Number of test TFRecord files.")
    flags.DEFINE_integer("image_size", 224, "Side of the images the records are decoded to (centre crop, resized).")
    flags.mark_flags_as_required(["image_dir", "output_dir"])
    for name in ("train_shards", "test_shards", "image_size"):
        flags.register_validator(name, lambda v: v >= 1, f"--{name} must be >= 1")
    flags.register_validator("output_dir", lambda v: v is None or "://" in v or shared_flags.valid(
        lambda path: released.check_output_dir(path, "--output_dir"), v), "see the message above")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        meta = build(FLAGS.image_dir, FLAGS.output_dir, FLAGS.index_file, FLAGS.train_shards, FLAGS.test_shards,
                     FLAGS.image_size)
    except DatasetError as e:
        raise SystemExit(f"error: {e}") from None
    logging.info("wrote %d train / %d test examples of %d classes to %s", len(meta["tr_labels"]),
                 len(meta["tt_labels"]), len(meta["class_names"]), FLAGS.output_dir)


def run():
    """`python -m influence_mem.data.build_tfrecords`: define the flags (--help lists them), parse them, build."""
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
