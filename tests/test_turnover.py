"""Turn-over dropout: deterministic half/half masks, sub-network isolation, estimates, CLI, configs."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from influence_mem import models, released
from influence_mem.data import corrupt, datasets
from influence_mem.train.trial import TrainConfig
from influence_mem.turnover import trainer as turnover
from influence_mem.turnover.layers import TurnOverDropout, half_mask
from influence_mem.turnover.model import turnover_model
from tests.conftest import REPO, run_module


@pytest.mark.parametrize("units", [2, 8, 64, 4096])
def test_masks_split_each_layer_exactly_in_half(units):
    masks = half_mask(tf.range(300), units, seed=0, layer_id=1).numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks.sum(axis=1), units // 2)
    if units >= 64:
        assert len({m.tobytes() for m in masks}) == 300  # no two examples share a mask
        assert 0.35 < masks.mean(axis=0).min() and masks.mean(axis=0).max() < 0.65  # every unit in ~half


def test_masks_are_deterministic_and_independent_of_the_batch():
    ids = tf.constant([5, 17, 123456, 0], tf.int64)
    a = half_mask(ids, 64, seed=3, layer_id=2).numpy()
    np.testing.assert_array_equal(a, half_mask(ids, 64, seed=3, layer_id=2).numpy())
    alone = half_mask(tf.constant([123456], tf.int64), 64, seed=3, layer_id=2).numpy()
    np.testing.assert_array_equal(alone[0], a[2])
    other_layer = half_mask(ids, 64, seed=3, layer_id=3).numpy()
    other_seed = half_mask(ids, 64, seed=4, layer_id=2).numpy()
    assert not np.array_equal(a, other_layer) and not np.array_equal(a, other_seed)


def test_flip_selects_the_complement_and_spatial_masks_whole_feature_maps():
    ids = tf.constant([1, 2, 3], tf.int64)
    layer = TurnOverDropout(seed=0, layer_id=1, spatial=True)
    x = tf.ones([3, 4, 5, 8])
    on = layer([x, ids, tf.zeros([3])]).numpy()
    off = layer([x, ids, tf.ones([3])]).numpy()
    mask = half_mask(ids, 8, 0, 1).numpy()
    np.testing.assert_array_equal(on, 2 * np.broadcast_to(mask[:, None, None, :], on.shape))
    np.testing.assert_array_equal(on + off, 2 * np.ones_like(on))  # complementary halves
    assert np.all((on == 0).all(axis=(1, 2)) | (on == 2).all(axis=(1, 2)))  # whole maps on or off


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


@pytest.fixture(scope="module")
def trained():
    digits = datasets.load("digits")
    config = TrainConfig(arch_options={"mlp_hidden": "64"}, epochs=3, batch_size=128, base_lr=0.1,
                         lr_schedule="constant", log_every_epochs=100)
    return digits, turnover.train(digits, config)


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


# The CLI on 2 logical CPU devices (TF fixes devices at start-up, hence a subprocess).
WITH_DEVICES = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from influence_mem.turnover.main import run
sys.argv = ["im-turnover"] + sys.argv[1:]
run()
"""


def test_mirrored_cli_writes_released_files_and_sidecar(tmp_path):
    args = [f"--flagfile={REPO / 'configs' / 'digits_mlp.cfg'}", "--mlp_hidden=32", "--epochs=3", "--batch_size=64",
            "--corrupt_fraction=0.1", "--save_model=false", "--mem_threshold=0.5", "--infl_threshold=0.2",
            f"--workdir={tmp_path}", "--strategy=mirrored"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", WITH_DEVICES, *args], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mirroring over 2 CPU device(s)" in result.stderr
    digits = datasets.load("digits")
    # The same run on one device: same masks, init, batches and augmentation; only float reduction order
    # differs, so the estimates agree closely.
    one = turnover.train(corrupt.corrupt_dataset(digits, 0.1, 0),
                         TrainConfig(arch_options={"mlp_hidden": "32"}, epochs=3, batch_size=64, base_lr=0.1,
                                     log_every_epochs=100))
    reference = turnover.self_influence(one, corrupt.corrupt_dataset(digits, 0.1, 0))["mem"]
    kind, matrix = released.load(tmp_path / "digits_infl_matrix.npz")
    pairs_kind, pairs = released.load(tmp_path / "digits_high_infl_pairs_infl0.2_mem0.5.npz")
    assert (kind, pairs_kind) == ("infl_matrix", "high_infl_pairs")
    stats = released.load_estimates_stats(tmp_path / "digits_estimates_stats.npz")
    assert str(stats["estimator"]) == "turnover" and len(stats["corrupted_idx"]) == round(0.1 * digits.num_train)
    np.testing.assert_array_equal(matrix.tt_labels, digits.test_labels)
    assert np.sum(matrix.tr_labels != digits.train_labels) == len(stats["corrupted_idx"])  # trained-on labels
    np.testing.assert_allclose(matrix.tr_mem, stats["loss_muted"] - stats["loss_unmuted"], atol=1e-5)
    assert np.corrcoef(matrix.tr_mem, reference)[0, 1] > 0.99  # 0.87 when the orders differed
    assert sum(b.size for b in matrix.blocks.values()) == sum(
        np.sum(matrix.tr_labels == c) * np.sum(matrix.tt_labels == c) for c in range(10))
    assert np.all(pairs["mem"] >= 0.5) and np.all(pairs["infl"] >= 0.2)
    np.testing.assert_allclose(pairs["infl"], matrix.influence(pairs["tr_idx"], pairs["tt_idx"]), atol=1e-6)


PAPER_002 = {  # appendix A
    "mnist_mlp": dict(dataset="mnist", arch="mlp", mlp_hidden="4096", epochs=200, batch_size=256, base_lr=0.06,
                      lr_schedule="constant", momentum=0.0, weight_decay=0.0, crop_padding=0),
    "cifar10_vgg11": dict(dataset="cifar10", arch="vgg11", epochs=200, batch_size=256, base_lr=0.01,
                          lr_schedule="warmup_piecewise", warmup_epochs=0, decay_epochs=["100", "150"],
                          momentum=0.9, weight_decay=0.0),
}


@pytest.mark.parametrize("name", sorted(PAPER_002))
def test_turnover_configs_match_paper_002(name):
    from influence_mem.train import main  # noqa: F401  (defines the trainer flags)

    FLAGS = flags.FLAGS
    FLAGS.unparse_flags()
    try:
        FLAGS(["test", f"--flagfile={REPO / 'configs' / 'turnover' / (name + '.cfg')}", "--workdir=/tmp/unused"])
        for flag, value in PAPER_002[name].items():
            assert FLAGS[flag].value == value, f"{name}.cfg: --{flag}={FLAGS[flag].value}, paper 002 says {value}"
    finally:
        FLAGS.unparse_flags()
