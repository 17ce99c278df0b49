"""ImageNet from TFDS `imagenet2012` (`--dataset=imagenet2012`): streamed, indexed by file name.

One provider per source: this one scans TFDS for labels and file names,
orders the examples with imagenet_ops.released_order and streams the encoded
images (imagenet_ops.EncodedImages: centre-cropped for evaluation, cropped by
the training pipeline).  Indexed TFRecords of your own copy are the
data.tfrecord provider.

Example order: the released `imagenet_index.npz` lists training file names
(`tr_filenames`) in the authors' order.  With an index file (`index_file` or
$INFLUENCE_MEM_IMAGENET_INDEX) we use it; without, the order is the sorted
file names (deterministic, but not the authors').  Test (validation)
examples are at their position in the index file's `tt_filenames` (the
authors' file has it), else in sorted file-name order.

Preprocessing: the authors' (see data.imagenet_ops): evaluation images are
their centre crop (CROP_PADDING 32) at 224x224, float32 in [0, 1]; training
images are their random-area crop of the whole image and flip
(--imagenet_augment=inception_crop, the default), or paper 000 appendix B's
random 32-px padded crop and flip of the centre crop (padded_crop).  The
mean/std normalization is part of the model (Dataset.input_mean/input_std),
so a SavedModel takes [0, 1] images.
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.base import Dataset, DatasetError
from influence_mem.data.imagenet_ops import IMAGE_SIZE, MEAN, STD, EncodedImages, released_order

INDEX_FILE_ENV = "INFLUENCE_MEM_IMAGENET_INDEX"


def _scan(name, split, data_dir):
    """Labels and file names in TFDS order without decoding images."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False,
                   decoders={"image": tfds.decode.SkipDecoding()})
    labels, files = [], []
    for ex in ds.map(lambda ex: {"label": ex["label"], "file_name": ex["file_name"]}).batch(4096).as_numpy_iterator():
        labels.append(ex["label"])
        files.append(ex["file_name"])
    return np.concatenate(labels).astype(np.int64), np.concatenate(files)


def load(data_dir: Optional[str] = None, name: str = "imagenet2012", index_file: Optional[str] = None) -> Dataset:
    """TFDS imagenet2012; `index_file` (or $INFLUENCE_MEM_IMAGENET_INDEX) gives the released order."""
    index_file = index_file or os.environ.get(INDEX_FILE_ENV)
    try:
        train_labels, train_files = _scan(name, "train", data_dir)
        test_labels, test_files = _scan(name, "validation", data_dir)
    except Exception as e:
        raise DatasetError(f"TFDS {name!r} could not be read (download and prepare it into --data_dir "
                           f"manually): {e}") from None
    train_order = released_order(train_files, index_file, train_labels)
    test_order = released_order(test_files, index_file, test_labels, split="tt")
    labels_by_index = np.empty_like(train_labels)
    labels_by_index[train_order] = train_labels
    test_labels_by_index = np.empty_like(test_labels)
    test_labels_by_index[test_order] = test_labels
    files_by_index = np.empty_like(train_files)
    files_by_index[train_order] = train_files
    order_tables = {"train": tf.constant(train_order), "test": tf.constant(test_order)}

    def records(split):
        import tensorflow_datasets as tfds

        tfds_split = "train" if split == "train" else "validation"
        ds = tfds.load(name, split=tfds_split, data_dir=data_dir, shuffle_files=False,
                       decoders={"image": tfds.decode.SkipDecoding()}).enumerate()
        table = order_tables[split]

        def convert(position, ex):
            return {"image": ex["image"], "label": ex["label"], "index": tf.gather(table, position)}

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    stream = EncodedImages(records)

    note = f"order of {index_file}" if index_file else "sorted TFDS file names (no imagenet_index.npz given)"
    return Dataset(name=name, num_classes=1000, image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                   train_labels=labels_by_index, test_labels=test_labels_by_index, default_crop_padding=32,
                   default_flip=True, train_filenames=files_by_index.astype(bytes), index_note=note,
                   input_mean=MEAN, input_std=STD, stream=stream)
