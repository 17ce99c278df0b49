"""Datasets by name, trial subsets and tf.data pipelines.

Layout: leaves (base, npzio, imagenet_ops) <- one provider per source (digits,
tfds_source, npz_source, imagenet, tfrecord) <- the registry (datasets).
subsets, augment, corrupt and pipeline build on base; build_tfrecords is the
CLI writing tfrecord's format.
"""
from influence_mem.data.base import Dataset, DatasetError  # noqa: F401
from influence_mem.data.subsets import subset_indices, trial_seeds  # noqa: F401

_REGISTRY = ("check_name", "load", "names", "prepare")


def __getattr__(name):
    """data.load / names / check_name / prepare: the registry (data.datasets), imported on first use because
    it imports every provider and so TensorFlow; `from influence_mem.data import digits` stays TF-free."""
    if name in _REGISTRY:
        from influence_mem.data import datasets
        return getattr(datasets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
