"""models.mlp and models.linear: closed-form parameter counts."""
import numpy as np

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_mlp_and_linear_closed_form_counts():
    # Paper 002: one hidden layer of 4096 on MNIST.
    mlp = models.build("mlp", (28, 28, 1), 10, {"mlp_hidden": "4096"})
    assert trainable_count(mlp) == 784 * 4096 + 4096 + 4096 * 10 + 10
    assert trainable_count(models.build("linear", (2048,), 100)) == 2048 * 100 + 100
