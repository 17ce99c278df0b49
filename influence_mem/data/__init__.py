"""Datasets by name, trial subsets and tf.data pipelines."""
from influence_mem.data.datasets import Dataset, DatasetError, check_name, load, names  # noqa: F401
from influence_mem.data.subsets import parse_trials, subset_indices, trial_seeds  # noqa: F401
