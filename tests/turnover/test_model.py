"""turnover.model: a registry chain model with turn-over dropout after every hidden layer."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models
from influence_mem.turnover.layers import TurnOverDropout, half_mask
from influence_mem.turnover.model import turnover_model


def test_an_example_updates_only_its_unmuted_subnetwork():
    base = models.build("mlp", (8, 8, 1), 10, {"mlp_hidden": "16,12"})
    model = turnover_model(base, seed=0)
    image = tf.random.stateless_uniform([1, 8, 8, 1], seed=[1, 2])
    index = tf.constant([42], tf.int64)
    with tf.GradientTape() as tape:
        logits = model({"image": image, "index": index, "flip": tf.zeros([1])})
        loss = keras.losses.sparse_categorical_crossentropy(tf.constant([3]), logits, from_logits=True)
    grads = dict(zip([v.path for v in model.trainable_variables],
                     tape.gradient(loss, model.trainable_variables)))
    m0 = half_mask(index, 16, 0, 1).numpy()[0].astype(bool)
    m1 = half_mask(index, 12, 0, 2).numpy()[0].astype(bool)
    assert np.all(grads["hidden0/kernel"].numpy()[:, ~m0] == 0) and np.any(grads["hidden0/kernel"].numpy()[:, m0])
    assert np.all(grads["hidden0/bias"].numpy()[~m0] == 0)
    k1 = grads["hidden1/kernel"].numpy()
    assert np.all(k1[~m0, :] == 0) and np.all(k1[:, ~m1] == 0)  # muted rows and columns untouched
    assert np.all(grads["logits/kernel"].numpy()[~m1] == 0)


def test_turnover_model_masks_every_hidden_layer_and_rejects_non_chains():
    vgg = turnover_model(models.build("vgg11", (32, 32, 3), 10, {}))
    masks = [layer for layer in vgg.layers if isinstance(layer, TurnOverDropout)]
    assert len(masks) == 8 and all(layer.spatial for layer in masks)  # the 8 convolutions, spatial
    mlp = turnover_model(models.build("mlp", (28, 28, 1), 10, {"mlp_hidden": "4096"}))
    assert [layer.spatial for layer in mlp.layers if isinstance(layer, TurnOverDropout)] == [False]
    assert mlp.count_params() == 784 * 4096 + 4096 + 4096 * 10 + 10
    with pytest.raises(ValueError, match="chain architectures"):
        turnover_model(models.build("resnet18_cifar", (32, 32, 3), 10, {}))
