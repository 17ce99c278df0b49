"""models.initial_weights: replaying Keras's initializers must give the built model's weights exactly."""
import keras
import numpy as np
import pytest

from influence_mem import models
from influence_mem.models.initial_weights import InitialWeights, Unsupported, weights_of


def _built(arch, shape, options, seed):
    keras.utils.set_random_seed(seed)
    return weights_of(models.build(arch, shape, 10, options))


@pytest.mark.parametrize("arch,shape,options", [("mlp", (8, 8, 1), {"mlp_hidden": "32,16"}),
                                                ("small_cnn", (8, 8, 1), {}),
                                                ("inception_small", (28, 28, 1), {}),  # batch norm: constants
                                                pytest.param("densenet100", (32, 32, 3), {},  # 100 random kernels
                                                             marks=pytest.mark.integration)])
@pytest.mark.slow
def test_replayed_weights_equal_the_model_built_under_each_seed(arch, shape, options):
    initial = InitialWeights(lambda: models.build(arch, shape, 10, options), seeds=(5, 6))
    assert initial.random  # it found the random variables
    built_under = {seed: _built(arch, shape, options, seed) for seed in (0, 123456789)}
    for seed in (0, 123456789):
        replayed, built = initial(seed), built_under[seed]
        for part in (0, 1):
            assert len(replayed[part]) == len(built[part])
            for got, expected in zip(replayed[part], built[part]):
                assert got.dtype == expected.dtype
                np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(initial(1)[0][0], initial(2)[0][0])  # seeds do change the weights
    stacked = initial.stacked([123456789, 0, 123456789])  # a pack's: [K, ...] per variable, in one call
    for k, seed in enumerate([123456789, 0, 123456789]):
        built = built_under[seed]
        for part in (0, 1):
            for got, expected in zip(stacked[part], built[part]):
                np.testing.assert_array_equal(np.asarray(got)[k], expected)


def test_an_initialization_it_cannot_replay_is_refused_not_guessed():
    def build():  # the kernel comes from numpy's global generator (set_random_seed seeds it), not an initializer
        inputs = keras.Input((4,))
        kernel = keras.initializers.Constant(np.random.standard_normal((4, 3)))
        return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=kernel)(inputs))

    with pytest.raises(Unsupported, match="changes with the seed"):
        InitialWeights(build, seeds=(1, 2))
