"""--l2: coupled L2 regularization, l2/2 * ||kernels||^2 added to the loss (one model and pack alike);
l2 = 0 changes nothing."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data.pipeline import in_memory_split
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train.config import TrainConfig
from influence_mem.train.packed_graph import PackedTrainer
from influence_mem.train.plan import plan_trial
from influence_mem.train.recipe import build_model, compiled_model, l2_kernels, make_optimizer


def _config(**kw):
    return TrainConfig(arch="mlp", arch_options={"mlp_hidden": "32"}, epochs=2, lr_schedule="constant",
                       base_lr=0.1, **kw)


def test_l2_zero_adds_no_loss(digits):
    config = _config()
    model = compiled_model(config, digits, plan_trial(digits.num_train, config, 0))[0]
    assert model.losses == []
    assert all(v.regularizer is None for v in model.trainable_variables)


def test_the_loss_term_is_l2_over_two_times_the_squared_kernels(digits):
    config = _config(l2=0.1)
    model = compiled_model(config, digits, plan_trial(digits.num_train, config, 0))[0]
    kernels = l2_kernels(model)
    assert len(kernels) == 2 and all(len(k.shape) == 2 for k in kernels)  # 64-32-10 MLP: kernels, not biases
    expected = 0.05 * sum(float(np.sum(k.numpy().astype(np.float64) ** 2)) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_coupled_l2_enters_the_sgd_gradient(digits):
    """One SGD step (momentum 0): w_l2' - w_0' = -lr * l2 * w, the coupled gradient of l2/2 ||w||^2."""
    x, y = digits.x_train[:32], digits.train_labels[:32]
    after = {}
    for l2 in (0.0, 0.5):
        config = _config(l2=l2, momentum=0.0)
        model = compiled_model(config, digits, plan_trial(digits.num_train, config, 0))[0]
        before = [k.numpy().copy() for k in l2_kernels(model)]
        model.train_on_batch(x, y)
        after[l2] = [k.numpy() for k in l2_kernels(model)]
    for w, plain, regularized in zip(before, after[0.0], after[0.5]):
        np.testing.assert_allclose(regularized - plain, -0.1 * 0.5 * w, atol=2e-6)


@pytest.mark.slow
def test_packed_l2_steps_equal_the_one_model_steps(digits):
    config = _config(l2=0.05)
    plans = [plan_trial(digits.num_train, config, t) for t in (0, 1)]
    references = [compiled_model(config, digits, plan)[0] for plan in plans]
    members = []
    for plan in plans:
        keras.utils.set_random_seed(plan.seeds["init"])
        members.append(build_model(config, digits))
    packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
    optimizer = make_optimizer(config, 3)[1]
    optimizer.build(packed.trainable)
    trainer = PackedTrainer(packed, optimizer, {"train": in_memory_split(digits, "train")}, None,
                            tf.distribute.get_strategy(), config.l2)
    step = tf.function(trainer.step)
    rng = np.random.default_rng(2)
    for size in (16, 16, 9):
        ids = rng.integers(0, digits.num_train, (2, size))
        per_model = step(tf.constant(ids), tf.zeros((2, size, 2), tf.int64)).numpy()
        for k, model in enumerate(references):
            loss = model.train_on_batch(digits.x_train[ids[k]], digits.train_labels[ids[k]])[0]  # [loss, accuracy]
            assert per_model[k] == pytest.approx(loss, rel=1e-4)
    for k, model in enumerate(references):
        for stacked, variable in zip(packed.trainable, model.trainable_variables):
            np.testing.assert_allclose(stacked.numpy()[k], variable.numpy(), rtol=1e-4, atol=1e-6)
