"""models.packed_model: K models as one packed model; slice k computes the registry model with slice k's weights;
the mixed-precision Dense chain's own output-layer gradient and one-matmul inference compute the same sums; bfloat16
matmuls run in float32 on CPUs without AVX-512 only."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models
from influence_mem.models.initial_weights import weights_of
from influence_mem.models import packed_model
from influence_mem.models.packed_model import PackedModel, _dense_out, stack_weights


def _members(arch, shape, seeds, options=None):
    out = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        out.append(models.build(arch, shape, 10, options or {}))
    return out


@pytest.mark.parametrize("arch,options,shape", [("mlp", {"mlp_hidden": "32,16"}, (8, 8, 1)),
                                                ("mlp", {"mlp_hidden": "32,16"}, (13,)),  # feature vectors
                                                ("small_cnn", {}, (8, 8, 1)),
                                                pytest.param("inception_small", {}, (28, 28, 1),  # batch norm
                                                             marks=pytest.mark.integration)])
@pytest.mark.slow
def test_slice_k_computes_the_registry_model_with_slice_k_weights(arch, options, shape):
    members = _members(arch, shape, [1, 2], options)
    packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
    rng = np.random.default_rng(0)
    own = rng.random((2, 5) + shape, dtype=np.float32)   # each model its own batch
    shared = rng.random((7,) + shape, dtype=np.float32)
    logits_own, _, _ = packed.forward(own, training=False)
    logits_shared = packed(shared)
    fresh = _members(arch, shape, [9], options)[0]   # other weights, overwritten by the slice
    for k, (member, sliced) in enumerate(zip(members, packed.members(fresh))):
        np.testing.assert_allclose(logits_own[k], member(own[k], training=False), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(logits_shared[k], member(shared, training=False), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sliced(shared), member(shared), rtol=1e-4, atol=1e-5)
    # Training mode: batch norm uses each model's own batch statistics and updates its own moving stats.
    logits_train, state, _ = packed.forward(own, training=True)
    for k, member in enumerate(members):
        np.testing.assert_allclose(logits_train[k], member(own[k], training=True), rtol=1e-4, atol=1e-4)
        for stacked, variable in zip(state, member.non_trainable_variables):
            np.testing.assert_allclose(stacked[k], variable.numpy(), rtol=1e-4, atol=1e-5)


def test_the_output_layers_gradients_are_autodiffs_of_matmul_plus_bias():
    rng = np.random.default_rng(3)
    x, kernel, bias = (tf.constant(rng.normal(size=shape), tf.float32) for shape in ([3, 7, 12], [3, 12, 10], [3, 10]))
    upstream = tf.constant(rng.normal(size=(3, 7, 10)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel, bias])
        ours = _dense_out(x, kernel, bias)
        plain = tf.matmul(x, kernel) + bias[:, None, :]
    np.testing.assert_allclose(ours, plain, rtol=1e-6)
    for a, b in zip(tape.gradient(ours, [x, kernel, bias], upstream), tape.gradient(plain, [x, kernel, bias], upstream)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hidden", ["32", "32,16"])
def test_mixed_chain_inference_of_a_shared_batch_is_each_models_own_forward_pass(hidden):
    """One wide matmul of the shared batch (PackedModel._infer_chain) gives each model's forward pass on its own
    copy of the batch, up to bfloat16 rounding, and the same predicted classes."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        members = _members("mlp", (8, 8, 1), [1, 2, 3], {"mlp_hidden": hidden})
        packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
        assert packed.chain
        shared = np.random.default_rng(0).random((200, 8, 8, 1), dtype=np.float32)
        wide = packed(shared).numpy()
        tiled = np.broadcast_to(shared, (3,) + shared.shape)
        own = packed.forward_weights(tf.constant(tiled), packed.train_weights())[0].numpy()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert wide.shape == own.shape == (3, 200, 10) and wide.dtype == np.float32
    np.testing.assert_allclose(wide, own, rtol=0.02, atol=0.02)
    assert (wide.argmax(-1) == own.argmax(-1)).mean() >= 0.99
    for k, member in enumerate(members):  # and each is the registry model's (its bfloat16 autocast) up to rounding
        np.testing.assert_allclose(wide[k], member(shared).numpy().astype(np.float32), rtol=0.05, atol=0.05)


def test_bfloat16_matmuls_run_in_float32_on_x86_cpus_without_avx512_only(tmp_path, monkeypatch):
    monkeypatch.setattr(packed_model.tf.config, "list_physical_devices", lambda kind=None: [])
    cpus = {"zen3": "processor : 0\nflags : fpu sse2 avx avx2 fma bmi2\n",
            "sapphire": "processor : 0\nflags : fpu sse2 avx avx2 avx512f avx512_bf16 amx_bf16\n",
            "no_flags": "processor : 0\n"}
    for name, text in cpus.items():
        (tmp_path / name).write_text(text)
    gate = packed_model.bfloat16_matmuls_in_float32.__wrapped__  # uncached
    for machine, expected in (("x86_64", {"zen3": True, "sapphire": False, "no_flags": False}),
                              ("arm64", {"zen3": False, "sapphire": False, "no_flags": False})):
        monkeypatch.setattr(packed_model.platform, "machine", lambda: machine)
        assert {name: gate(str(tmp_path / name)) for name in cpus} == expected
        assert gate(str(tmp_path / "missing")) is False
    monkeypatch.setattr(packed_model, "bfloat16_matmuls_in_float32", lambda: True)
    assert packed_model.matmul_dtype(tf.bfloat16) == tf.float32 and packed_model.matmul_dtype(tf.float16) == tf.float16
    monkeypatch.setattr(packed_model, "bfloat16_matmuls_in_float32", lambda: False)
    assert packed_model.matmul_dtype(tf.bfloat16) == tf.bfloat16
