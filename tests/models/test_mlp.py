"""models.mlp and models.linear: closed-form parameter counts; feature vectors [d] as input."""
import numpy as np
import pytest

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_mlp_and_linear_closed_form_counts():
    # Paper 002: one hidden layer of 4096 on MNIST.
    mlp = models.build("mlp", (28, 28, 1), 10, {"mlp_hidden": "4096"})
    assert trainable_count(mlp) == 784 * 4096 + 4096 + 4096 * 10 + 10
    assert trainable_count(models.build("linear", (2048,), 100)) == 2048 * 100 + 100


def test_mlp_and_linear_take_feature_vectors_as_they_are():
    """A [d] input shape (npz feature matrices): no flattening needed, the logits are the dense layers' output."""
    x = np.random.default_rng(0).normal(0, 50, (5, 13)).astype(np.float32)  # any scale: used as given
    mlp = models.build("mlp", (13,), 3, {"mlp_hidden": "8"})
    assert trainable_count(mlp) == 13 * 8 + 8 + 8 * 3 + 3
    hidden, logits = mlp.get_layer("hidden0"), mlp.get_layer("logits")
    expected = np.maximum(x @ hidden.kernel.numpy() + hidden.bias.numpy(), 0) @ logits.kernel.numpy() \
        + logits.bias.numpy()
    np.testing.assert_allclose(mlp(x).numpy(), expected, rtol=1e-5, atol=1e-4)
    linear = models.build("linear", (13,), 3)
    dense = linear.get_layer("logits")
    np.testing.assert_allclose(linear(x).numpy(), x @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-5, atol=1e-4)


def test_image_architectures_refuse_feature_vectors_in_one_line():
    with pytest.raises(ValueError, match=r"--arch=small_cnn needs images .* feature vectors of 13 values; use "
                                         r"--arch=linear or --arch=mlp"):
        models.build("small_cnn", (13,), 3)
    models.check_input("small_cnn", (8, 8, 1))  # images: fine
    models.check_input("mlp", (13,))
    models.check_input("my_pkg.my_module:build", (13,))  # a user's function decides for itself
