"""models.resnet: the ResNet v1.5 family's parameter counts against published figures, the CIFAR stem."""
import pytest
import keras
import numpy as np

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.slow
def test_resnet50_imagenet_parameter_count():
    # He et al. 2016 / Keras applications docs: 25.6M; exactly 25,557,032 without convolution biases
    # (torchvision resnet50; Keras applications' 25,636,712 adds a bias to every convolution).
    assert trainable_count(models.build("resnet50_v15", (224, 224, 3), 1000)) == 25_557_032


def test_resnet18_imagenet_parameter_count():
    # He et al. 2016 Table 1 (18-layer); 11.69M = 11,689,512 (torchvision resnet18).
    assert trainable_count(models.build("resnet18_v1", (224, 224, 3), 1000)) == 11_689_512


def test_resnet50_cifar_replaces_stem_and_has_paper_last_layer():
    model = models.build("resnet50_v15_cifar", (32, 32, 3), 100)
    # Paper 000 sec. 3: "the final layer of ResNet50 for CIFAR-100 has more than 200k parameters".
    assert model.get_layer("logits").count_params() == 2048 * 100 + 100 > 200_000
    # Appendix B: the 7x7/2 conv and 3x3/2 max-pool become one 3x3/1 conv; the rest is ResNet-50.
    assert model.get_layer("stem_conv").kernel.shape == (3, 3, 3, 64)
    assert model.get_layer("stem_conv").strides == (1, 1)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    imagenet = 25_557_032
    expected = imagenet - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64 - (2048 * 1000 + 1000) + (2048 * 100 + 100)
    assert expected == 23_705_252
    assert trainable_count(model) == expected
