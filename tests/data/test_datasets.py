"""data.datasets: the registry."""
import pytest

from influence_mem.data import datasets
from influence_mem.data.base import DatasetError


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar1000'"):
        datasets.load("cifar1000")


def test_names_and_check_name():
    names = datasets.names()
    assert {"digits", "mnist", "cifar10", "cifar100", "imagenet2012"} <= set(names)
    datasets.check_name("npz:/some/file.npz")
    with pytest.raises(DatasetError, match="unknown dataset 'cifar1000'"):
        datasets.check_name("cifar1000")
