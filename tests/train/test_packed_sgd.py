"""train.packed_sgd: a pack's SGD update is Keras SGD's, in fewer memory passes."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.models import packed_model
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train import packed_sgd
from influence_mem.train.config import TrainConfig
from influence_mem.train.recipe import build_model, make_optimizer


@pytest.mark.parametrize("precision,in_float32", [("float32", False), ("mixed_bfloat16", False),
                                                   ("mixed_bfloat16", True)])
@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_the_fused_sgd_update_is_keras_sgds_update(digits, precision, in_float32, momentum, monkeypatch):
    """fused_sgd (TensorFlow's training kernels; one XLA pass with the low copies) computes what
    keras.optimizers.SGD.apply computes (bitwise in float32), step by step through the warmup schedule,
    on the same state; low copies held in float32 (packed_model.matmul_dtype) hold bfloat16 values."""
    monkeypatch.setattr(packed_model, "bfloat16_matmuls_in_float32", lambda: in_float32)
    config = TrainConfig(arch="mlp", arch_options={"mlp_hidden": "32"}, momentum=momentum, precision=precision,
                         epochs=2)
    try:
        template = build_model(config, digits)
        stacked = stack_weights([weights_of(template)] * 3)
        fused_pack, keras_pack = PackedModel(template, stacked), PackedModel(template, stacked)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert bool(fused_pack.low) == (precision != "float32")
    fused_optimizer, keras_optimizer = make_optimizer(config, 3)[1], make_optimizer(config, 3)[1]
    fused_optimizer.build(fused_pack.trainable)
    keras_optimizer.build(keras_pack.trainable)
    update = tf.function(packed_sgd.fused_sgd(fused_optimizer, fused_pack))
    rng = np.random.default_rng(0)
    for _ in range(4):  # the lr warms up: each step takes the schedule's lr at its own iteration
        grads = [tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in fused_pack.trainable]
        low_grads = [tf.cast(g, fused_pack.low_dtype[j]) if j in fused_pack.low else g for j, g in enumerate(grads)]
        update(low_grads)
        keras_optimizer.apply([tf.cast(g, tf.float32) for g in low_grads], keras_pack.trainable)
    assert int(fused_optimizer.iterations.numpy()) == int(keras_optimizer.iterations.numpy()) == 4
    for a, b in zip(fused_pack.trainable + fused_optimizer.variables, keras_pack.trainable + keras_optimizer.variables):
        if precision == "float32":  # TensorFlow's kernels round as Keras's ops do
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        else:  # XLA may fuse a multiply-add
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    for j, low in fused_pack.low.items():  # the copies follow the updated weights, rounded to bfloat16
        assert low.dtype == ("float32" if in_float32 else "bfloat16")
        rounded = tf.cast(fused_pack.trainable[j], tf.bfloat16)
        np.testing.assert_array_equal(low.numpy(), tf.cast(rounded, low.dtype).numpy())


@pytest.mark.parametrize("change", [dict(weight_decay=1e-3), dict(precision="mixed_float16")])
def test_the_fused_sgd_update_leaves_what_it_does_not_do_to_keras(digits, change):
    """Weight decay and float16's loss scaling run through optimizer.apply (fused_sgd says None)."""
    config = TrainConfig(arch="mlp", arch_options={"mlp_hidden": "32"}, **change)
    try:
        template = build_model(config, digits)
        packed = PackedModel(template, stack_weights([weights_of(template)] * 2))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    optimizer = make_optimizer(config, 3)[1]
    optimizer.build(packed.trainable)
    assert packed_sgd.fused_sgd(optimizer, packed) is None
    assert packed_sgd.fused_sgd(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True), packed) is None
