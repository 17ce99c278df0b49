"""Datasets by name, trial subsets and tf.data pipelines.

Layout: leaves (base, npzio, imagenet_ops) <- one provider per source (digits,
tfds_source, npz_source, imagenet, tfrecord) <- the registry (datasets).
subsets, augment, corrupt and pipeline build on base; build_tfrecords is the
CLI writing tfrecord's format.
"""
from influence_mem.data.base import Dataset, DatasetError  # noqa: F401
from influence_mem.data.datasets import check_name, load, names  # noqa: F401
from influence_mem.data.subsets import subset_indices, trial_seeds  # noqa: F401
