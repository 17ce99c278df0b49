"""train.recipe.augmentation: a trial's crop padding and flip; image augmentations refused on feature vectors."""
import dataclasses

import numpy as np
import pytest

from influence_mem.data.base import Dataset
from influence_mem.train import recipe
from influence_mem.train.config import TrainConfig


def _dataset(shape, padding=0, flip=False):
    labels = np.arange(6) % 2
    return Dataset(name="npz:tab.npz", num_classes=2, image_shape=shape, train_labels=labels, test_labels=labels,
                   default_crop_padding=padding, default_flip=flip, x_train=np.zeros((6,) + shape, np.float32),
                   x_test=np.zeros((6,) + shape, np.float32))


def test_config_values_or_the_dataset_defaults():
    images = _dataset((8, 8, 1), padding=4, flip=True)
    assert recipe.augmentation(TrainConfig(), images) == (4, True)
    assert recipe.augmentation(TrainConfig(crop_padding=2, flip=False), images) == (2, False)
    assert recipe.augmentation(TrainConfig(), _dataset((13,))) == (0, False)


@pytest.mark.parametrize("changes", [{"crop_padding": 2}, {"flip": True}])
def test_crops_and_flips_of_feature_vectors_are_refused(changes):
    config = dataclasses.replace(TrainConfig(), **changes)
    with pytest.raises(ValueError, match=r"crops and flips augment images, but npz:tab.npz holds feature vectors "
                                         r"of 13 values; use --crop_padding=0 --flip=false"):
        recipe.augmentation(config, _dataset((13,)))
