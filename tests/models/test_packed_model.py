"""models.packed_model: K models as one packed model; slice k computes the registry model with slice k's weights."""
import keras
import numpy as np
import pytest

from influence_mem import models
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights


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
