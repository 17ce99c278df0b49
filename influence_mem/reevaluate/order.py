"""Which dataset example each id in a run's aux arrays stands for.

An im-train workdir's runs use the dataset's own ids (data.base.Dataset: the original order).  The
authors' CIFAR runs number examples by their position in TFDS order (their libdata/tfds.py loads the
split in that order and libdata/numpy.py numbers it 0..n-1), which data.tfds_source puts back in the
original order: their id k is our example tfds_source.original_index_by_position(...)[k].  Their
ImageNet ids are positions in their `imagenet_index.npz`, which data.imagenet follows when given that
file (so: the dataset's order).  Re-evaluated trials keep the runs' ids, so the estimates come out in
the runs' order, as the authors' released estimate files are.
"""
import dataclasses
from typing import Optional

import numpy as np

from influence_mem.data import tfds_source
from influence_mem.data.base import Dataset

ORDERS = ("auto", "dataset", "tfds_position")
TFDS_POSITION_DATASETS = ("cifar10", "cifar100")  # registry datasets reordered by their TFDS id


class OrderError(ValueError):
    """The runs' order cannot be mapped onto the dataset (one line)."""


@dataclasses.dataclass
class ExampleOrder:
    """Run ids -> dataset ids per split (None: the same ids), and a note for dataset_meta.npz."""
    note: str
    train: Optional[np.ndarray] = None  # train[k] = the dataset's id of the runs' training id k
    test: Optional[np.ndarray] = None

    def dataset_ids(self, split: str, run_ids: np.ndarray) -> np.ndarray:
        """The dataset's ids of `run_ids` (one split)."""
        table = self.train if split == "train" else self.test
        return np.asarray(run_ids, np.int64) if table is None else table[np.asarray(run_ids, np.int64)]

    def in_run_order(self, split: str, values_by_dataset_id: np.ndarray) -> np.ndarray:
        """values[k] for the runs' id k, from values indexed by the dataset's id."""
        table = self.train if split == "train" else self.test
        return np.asarray(values_by_dataset_id) if table is None else np.asarray(values_by_dataset_id)[table]


def choose(name: str, dataset: Dataset, authors_layout: bool) -> str:
    """--runs_order=auto: the TFDS position for the authors' CIFAR release, else the dataset's order."""
    if name != "auto":
        return name
    return "tfds_position" if authors_layout and dataset.name in TFDS_POSITION_DATASETS else "dataset"


def example_order(name: str, dataset: Dataset, data_dir: Optional[str] = None) -> ExampleOrder:
    """The ExampleOrder called `name` ('dataset' or 'tfds_position'; see choose() for 'auto')."""
    if name == "dataset":
        return ExampleOrder(f"the dataset's own ids ({dataset.index_note})")
    if name != "tfds_position":
        raise OrderError(f"--runs_order={name}: expected one of {', '.join(ORDERS)}")
    if dataset.name not in TFDS_POSITION_DATASETS:
        raise OrderError(f"--runs_order=tfds_position: only for {', '.join(TFDS_POSITION_DATASETS)} (datasets put "
                         f"in the original order by their TFDS id), not {dataset.name}")
    train, test = (tfds_source.original_index_by_position(dataset.name, split, data_dir) for split in ("train", "test"))
    for split, table, n in (("train", train, dataset.num_train), ("test", test, dataset.num_test)):
        if len(table) != n:
            raise OrderError(f"--runs_order=tfds_position: TFDS {dataset.name} {split} has {len(table)} examples, "
                             f"the dataset {n}")
    return ExampleOrder(f"position in TFDS {dataset.name} (the authors' release order)", train, test)
