"""models.vgg: VGG-11 (configuration A) on ImageNet and its CIFAR head."""
import keras
import numpy as np

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_vgg11_imagenet_parameter_count():
    # Simonyan & Zisserman 2015 Table 2: configuration A, 133M; exactly 132,863,336 (torchvision vgg11).
    model = models.build("vgg11", (224, 224, 3), 1000)
    assert trainable_count(model) == 132_863_336
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_vgg11_cifar_head_is_one_linear_layer():
    convs = 9 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 256 + 256 * 512 + 3 * 512 * 512) + 64 + 128 + 2 * 256 + 4 * 512
    assert convs + 512 * 10 + 10 == 9_225_610
    assert trainable_count(models.build("vgg11", (32, 32, 3), 10)) == convs + 512 * 10 + 10
