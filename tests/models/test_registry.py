"""models (the registry): every paper architecture is registered, trains a step, round-trips through a
SavedModel; input normalization and mixed precision."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models


def test_registry_has_every_paper_architecture():
    expected = {"resnet50", "resnet50_v2", "resnet50_cifar", "resnet18_cifar", "inception_small",  # the authors'
                "resnet50_v15", "resnet50_v15_cifar", "resnet18_v1", "resnet18_v1_cifar", "inception_zhang2017",
                "densenet100", "vgg11", "mlp", "linear"}
    assert expected <= set(models.names())


# ------------------------------------------------------------------ one training step each
# Full-size and 100-layer models take seconds each to build and step eagerly: integration (`make test`).
# One case per block structure: resnet50_cifar, resnet18_v1_cifar and inception_small at 32x32 share theirs
# with resnet50_v2, resnet18_v1 and inception_small at 28x28 (their own files test their shapes and counts).
SLOW = pytest.mark.integration
STEP_CASES = [
    pytest.param("resnet50", (64, 64, 3), 1000, marks=SLOW),
    pytest.param("resnet50_v2", (64, 64, 3), 10, marks=SLOW),
    ("resnet18_cifar", (32, 32, 3), 100),
    pytest.param("resnet50_v15", (224, 224, 3), 1000, marks=SLOW),
    ("resnet18_v1", (64, 64, 3), 10),
    ("inception_small", (28, 28, 1), 10),
    ("inception_zhang2017", (28, 28, 1), 10),
    pytest.param("densenet100", (32, 32, 3), 100, marks=SLOW),
    ("vgg11", (32, 32, 3), 10),
    ("mlp", (28, 28, 1), 10),
    ("linear", (2048,), 100),
]


def _case_id(case):
    arch, shape, _ = case.values if hasattr(case, "values") else case
    return f"{arch}-{shape[0]}"


@pytest.mark.slow
@pytest.mark.parametrize("arch,shape,classes", STEP_CASES, ids=[_case_id(c) for c in STEP_CASES])
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
# (densenet100's, ~30 s on a shared CPU, is left out: its layers are those the other families export.)
ROUND_TRIP = [
    pytest.param("resnet18_v1_cifar", (32, 32, 3), 10, marks=SLOW),
    pytest.param("inception_zhang2017", (28, 28, 1), 10, marks=SLOW),
    ("vgg11", (32, 32, 3), 10),
    ("linear", (16,), 5),
]


@pytest.mark.slow
@pytest.mark.parametrize("arch,shape,classes", ROUND_TRIP, ids=[_case_id(c).split("-")[0] for c in ROUND_TRIP])
def test_saved_model_round_trip(arch, shape, classes, tmp_path):
    keras.utils.set_random_seed(1)
    model = models.build(arch, shape, classes)
    x = np.random.RandomState(1).rand(3, *shape).astype(np.float32)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), model(x, training=False).numpy(),
                               rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ options and precision
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_input_normalization_is_part_of_the_model():
    options = {"input_mean": MEAN, "input_std": STD}
    inputs, normalized = models.image_input((2, 2, 3), options)
    x = np.random.RandomState(2).rand(5, 2, 2, 3).astype(np.float32)
    np.testing.assert_allclose(keras.Model(inputs, normalized)(x).numpy(), (x - np.array(MEAN)) / np.array(STD),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["resnet18_v1", "inception_small", pytest.param("densenet100", marks=SLOW), "vgg11",
                                  "resnet18_cifar", pytest.param("resnet50", marks=SLOW)])
@pytest.mark.slow
def test_every_family_puts_the_normalization_first(arch):
    options = {"input_mean": MEAN, "input_std": STD}
    assert models.build(arch, (32, 32, 3), 10, options).layers[1].name == "normalize"
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
