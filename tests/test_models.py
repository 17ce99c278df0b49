"""Architectures of the papers: parameter counts against published figures, one training step each,
SavedModel round trips, input normalization and mixed precision."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def batchnorm_count(model) -> int:
    return int(sum(np.prod(w.shape) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
                   for w in layer.trainable_weights))


def test_registry_has_every_paper_architecture():
    expected = {"resnet50", "resnet50_v2", "resnet50_cifar", "resnet18_cifar", "inception_small",  # the authors'
                "resnet50_v15", "resnet50_v15_cifar", "resnet18_v1", "resnet18_v1_cifar", "inception_zhang2017",
                "densenet100", "vgg11", "mlp", "linear"}
    assert expected <= set(models.names())


# ------------------------------------------------------------------ parameter counts (sourced)
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
    assert trainable_count(model) == expected


def test_inception_zhang2017_matches_zhang_table1():
    # Zhang et al. 2017 Table 1: Inception on 28x28x3 CIFAR-10 crops has 1,649,402 parameters, the same
    # with and without batch norm, i.e. counted without batch norm's gamma/beta.
    model = models.build("inception_zhang2017", (28, 28, 3), 10)
    assert trainable_count(model) - batchnorm_count(model) == 1_649_402
    assert model.get_layer("pool").output.shape[1:] == (1104 - 768,)  # 176 + 160 channels at the top


def test_densenet100_matches_huang_table2():
    # Huang et al. 2017 Table 2: DenseNet-BC (L=100, k=12) has 0.8M parameters (CIFAR).
    params = trainable_count(models.build("densenet100", (32, 32, 3), 10))
    assert round(params / 1e6, 1) == 0.8


def test_vgg11_imagenet_parameter_count():
    # Simonyan & Zisserman 2015 Table 2: configuration A, 133M; exactly 132,863,336 (torchvision vgg11).
    model = models.build("vgg11", (224, 224, 3), 1000)
    assert trainable_count(model) == 132_863_336
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_vgg11_cifar_head_is_one_linear_layer():
    convs = 9 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 256 + 256 * 512 + 3 * 512 * 512) + 64 + 128 + 2 * 256 + 4 * 512
    assert trainable_count(models.build("vgg11", (32, 32, 3), 10)) == convs + 512 * 10 + 10


def test_mlp_and_linear_closed_form_counts():
    # Paper 002: one hidden layer of 4096 on MNIST.
    mlp = models.build("mlp", (28, 28, 1), 10, {"mlp_hidden": "4096"})
    assert trainable_count(mlp) == 784 * 4096 + 4096 + 4096 * 10 + 10
    assert trainable_count(models.build("linear", (2048,), 100)) == 2048 * 100 + 100


# ------------------------------------------------------------------ one training step each
STEP_CASES = [
    ("resnet50", (64, 64, 3), 1000),
    ("resnet50_v2", (64, 64, 3), 10),
    ("resnet50_cifar", (32, 32, 3), 100),
    ("resnet18_cifar", (32, 32, 3), 100),
    ("resnet50_v15", (224, 224, 3), 1000),
    ("resnet18_v1", (64, 64, 3), 10),
    ("resnet18_v1_cifar", (32, 32, 3), 100),
    ("inception_small", (28, 28, 1), 10),
    ("inception_small", (32, 32, 3), 100),
    ("inception_zhang2017", (28, 28, 1), 10),
    ("densenet100", (32, 32, 3), 100),
    ("vgg11", (32, 32, 3), 10),
    ("mlp", (28, 28, 1), 10),
    ("linear", (2048,), 100),
]


@pytest.mark.parametrize("arch,shape,classes", STEP_CASES, ids=[f"{a}-{s[0]}" for a, s, _ in STEP_CASES])
def test_one_training_step(arch, shape, classes):
    keras.utils.set_random_seed(0)
    model = models.build(arch, shape, classes)
    # Eager: one step does not pay for tracing a 100-layer graph.
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    x = np.random.RandomState(0).rand(2, *shape).astype(np.float32)
    y = np.array([0, classes - 1])
    # The authors' ResNets start with zero logit weights (and `resnet50` with zero last-batch-norm scales):
    # no gradient reaches the layers below them at the first step.  Give those weights values first.
    rng = np.random.RandomState(1)
    for w in model.trainable_weights:
        if not np.any(w.numpy()) and not w.path.endswith(("beta", "bias")):
            w.assign(rng.normal(0, 0.05, w.shape).astype(np.float32))
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed), f"{sum(not c for c in changed)} weights did not move"
    assert model.predict_on_batch(x).shape == (2, classes)


# ------------------------------------------------------------------ SavedModel round trip per family
ROUND_TRIP = [
    ("resnet18_v1_cifar", (32, 32, 3), 10),
    ("inception_zhang2017", (28, 28, 1), 10),
    ("densenet100", (32, 32, 3), 10),
    ("vgg11", (32, 32, 3), 10),
    ("linear", (16,), 5),
]


@pytest.mark.parametrize("arch,shape,classes", ROUND_TRIP, ids=[a for a, _, _ in ROUND_TRIP])
def test_saved_model_round_trip(arch, shape, classes, tmp_path):
    keras.utils.set_random_seed(1)
    model = models.build(arch, shape, classes)
    x = np.random.RandomState(1).rand(3, *shape).astype(np.float32)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), model(x, training=False).numpy(),
                               rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ options and precision
def test_input_normalization_is_part_of_the_model():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    options = {"input_mean": mean, "input_std": std}
    inputs, normalized = models.image_input((2, 2, 3), options)
    x = np.random.RandomState(2).rand(5, 2, 2, 3).astype(np.float32)
    np.testing.assert_allclose(keras.Model(inputs, normalized)(x).numpy(), (x - np.array(mean)) / np.array(std),
                               rtol=1e-5, atol=1e-5)
    for arch in ("resnet18_v1", "inception_small", "densenet100", "vgg11", "resnet18_cifar", "resnet50"):
        model = models.build(arch, (32, 32, 3), 10, options)
        assert model.layers[1].name == "normalize", arch
        assert "normalize" not in [layer.name for layer in models.build(arch, (32, 32, 3), 10).layers]


def test_mixed_precision_keeps_float32_variables_and_logits():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build("resnet18_v1_cifar", (32, 32, 3), 10)
        assert model.get_layer("stem_conv").compute_dtype == "float16"
        logits = model(np.zeros((1, 32, 32, 3), np.float32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert logits.dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
