"""SavedModel round trips of the authors' full-size architectures (tens of seconds each on a shared CPU)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models


@pytest.mark.integration
# Full-size round trips of one model per family (tests/models/ round-trips shallow versions of every one).
@pytest.mark.parametrize("arch,shape", [("resnet18_cifar", (8, 8, 3)), ("inception_small", (28, 28, 1))])
def test_saved_model_round_trip(arch, shape, tmp_path):
    keras.utils.set_random_seed(1)
    model = models.build(arch, shape, 5)
    rng = np.random.RandomState(0)
    for weight in model.trainable_weights:  # zero-initialised logits and scales: make the outputs non-zero
        if not np.any(weight.numpy()) and not weight.path.endswith(("beta", "bias")):
            weight.assign(rng.normal(0.5, 0.1, weight.shape).astype(np.float32))
    x = np.random.RandomState(1).rand(3, *shape).astype(np.float32)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    expected = model(x, training=False).numpy()
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
