"""models.inception: Zhang et al. 2017's Inception against their Table 1."""
import keras
import numpy as np

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def batchnorm_count(model) -> int:
    return int(sum(np.prod(w.shape) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
                   for w in layer.trainable_weights))


def test_inception_zhang2017_matches_zhang_table1():
    # Zhang et al. 2017 Table 1: Inception on 28x28x3 CIFAR-10 crops has 1,649,402 parameters, the same
    # with and without batch norm, i.e. counted without batch norm's gamma/beta.
    model = models.build("inception_zhang2017", (28, 28, 3), 10)
    assert trainable_count(model) - batchnorm_count(model) == 1_649_402
    assert batchnorm_count(model) == 3_424  # what Table 1 leaves out (docs/architectures.md)
    assert model.get_layer("pool").output.shape[1:] == (1104 - 768,)  # 176 + 160 channels at the top
