"""turnover.trainer: one turn-over dropout run; its estimates are the loss differences of the two sub-networks."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.train.config import TrainConfig
from influence_mem.turnover import trainer as turnover


@pytest.fixture(scope="module")
def trained(digits):
    config = TrainConfig(arch_options={"mlp_hidden": "64"}, epochs=3, batch_size=128, base_lr=0.1,
                         lr_schedule="constant", log_every_epochs=100)
    return digits, turnover.train(digits, config)


@pytest.mark.slow
def test_estimates_are_the_loss_differences_of_the_two_subnetworks(trained):
    digits, model = trained
    est = turnover.turnover_estimates(model, digits, batch_size=256)
    x_train, y_train = turnover.split_arrays(digits, "train")
    x_test, y_test = turnover.split_arrays(digits, "test")

    def loss(images, labels, mask_id, flip):
        n = len(labels)
        logits = model({"image": tf.constant(images), "index": tf.fill([n], tf.constant(mask_id, tf.int64)),
                        "flip": tf.fill([n], float(flip))})
        return keras.losses.sparse_categorical_crossentropy(tf.constant(labels), logits, from_logits=True).numpy()

    for i in (0, 700, digits.num_train - 1):  # brute force, one example at a time
        expected = loss(x_train[i:i + 1], y_train[i:i + 1], i, 1) - loss(x_train[i:i + 1], y_train[i:i + 1], i, 0)
        assert est.self["mem"][i] == pytest.approx(expected[0], abs=1e-4)
    c = 4
    tr, tt = est.tr_classidx[c], est.tt_classidx[c]
    np.testing.assert_array_equal(tr, np.flatnonzero(digits.train_labels == c))
    assert est.blocks[c].shape == (len(tr), len(tt))
    for row in (0, len(tr) - 1):
        expected = loss(x_test[tt], y_test[tt], tr[row], 1) - loss(x_test[tt], y_test[tt], tr[row], 0)
        np.testing.assert_allclose(est.blocks[c][row], expected, atol=1e-4)
