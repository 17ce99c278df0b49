"""ImageNet from TFDS `imagenet2012` (`--dataset=imagenet2012`): streamed, indexed by file name.

One provider per source: this one scans TFDS for labels and file names,
orders the examples with imagenet_ops.released_order and streams
center-cropped images (imagenet_ops.center_crop).  Indexed TFRecords of your
own copy are the data.tfrecord provider.

Example order: the released `imagenet_index.npz` lists training file names
(`tr_filenames`) in the authors' order.  With an index file (`index_file` or
$INFLUENCE_MEM_IMAGENET_INDEX) we use it; without, the order is the sorted
file names (deterministic, but not the authors').  Test (validation)
examples are in sorted file-name order.

Preprocessing (paper 000 appendix B): every image is resized (shorter side
256) and center-cropped to 224x224, as float32 in [0, 1]; the training
pipeline then adds the random 32-px padded crop and flip at 224x224 like for
every dataset.  The mean/std normalization is part of the model
(Dataset.input_mean/input_std), so a SavedModel takes [0, 1] images.
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.data.base import Dataset, DatasetError
from influence_mem.data.imagenet_ops import IMAGE_SIZE, MEAN, STD, center_crop, released_order

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
    test_order = released_order(test_files, None)
    labels_by_index = np.empty_like(train_labels)
    labels_by_index[train_order] = train_labels
    test_labels_by_index = np.empty_like(test_labels)
    test_labels_by_index[test_order] = test_labels
    files_by_index = np.empty_like(train_files)
    files_by_index[train_order] = train_files
    order_tables = {"train": tf.constant(train_order), "test": tf.constant(test_order)}

    def stream(split):
        import tensorflow_datasets as tfds

        tfds_split = "train" if split == "train" else "validation"
        ds = tfds.load(name, split=tfds_split, data_dir=data_dir, shuffle_files=False).enumerate()
        table = order_tables[split]

        def convert(position, ex):
            return {"image": center_crop(ex["image"]), "label": ex["label"], "index": tf.gather(table, position)}

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    note = f"order of {index_file}" if index_file else "sorted TFDS file names (no imagenet_index.npz given)"
    return Dataset(name=name, num_classes=1000, image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                   train_labels=labels_by_index, test_labels=test_labels_by_index, default_crop_padding=32,
                   default_flip=True, train_filenames=files_by_index.astype(bytes), index_note=note,
                   input_mean=MEAN, input_std=STD, stream=stream)
