"""Datasets by name, trial subsets and tf.data pipelines.

Layout: leaves (base, npzio, imagenet_ops) <- one provider per source (digits,
tfds_source, npz_source, imagenet, tfrecord) <- the registry (datasets).
subsets, augment, corrupt and pipeline build on base; build_tfrecords is the
CLI writing tfrecord's format.  This face imports nothing, so the numpy-only
side (estimate/) can use data.subsets without loading TensorFlow.
"""
