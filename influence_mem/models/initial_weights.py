"""A registry model's initial weights for many seeds, without building the model again.

A trial's initial weights are those of the registry model built right after
`keras.utils.set_random_seed(seed)` (train.recipe.compiled_model).  Building a Keras model
costs ~25 ms for the digits MLP, a third of what training it in a pack costs,
so packs replay the build instead.  Keras gives each random initializer an
integer seed when its layer is constructed (Python `random.randint(1, 10**9)`,
keras.src.random.seed_generator.make_default_seed), and the initializer's
output is a stateless function of (seed, shape).  Two templates built under
two seeds tell which variables are random, which initializer made each, and
at which draw its seed was taken; a new seed's weights are those initializers
re-run with the draws of `random.Random(seed)`.  Every variable must be
explained and both templates reproduced exactly, else `Unsupported` is raised
and the caller builds one model per seed, as before.
"""
import copy
import random

import keras
import numpy as np
import tensorflow as tf

SEED_RANGE = (1, int(1e9))  # keras.src.random.seed_generator.make_default_seed


class Unsupported(Exception):
    """The model's initialization is not a replayable function of the seed."""


def weights_of(model: keras.Model) -> tuple:
    """(trainable, non-trainable) variable values of `model` as numpy arrays, in Keras's order."""
    return ([np.asarray(v) for v in model.trainable_variables],
            [np.asarray(v) for v in model.non_trainable_variables])


def _draws(seed: int, count: int) -> list:
    """The first `count` seeds Keras draws for initializers after set_random_seed(seed)."""
    rng = random.Random(seed)
    return [rng.randint(*SEED_RANGE) for _ in range(count)]


def _initializers_by_variable(model: keras.Model) -> dict:
    """id(variable) -> the integer-seeded initializers held by the layers that own it."""
    found = {}
    for layer in model._flatten_layers(include_self=False):
        seeded = [value for value in vars(layer).values()
                  if isinstance(value, keras.initializers.Initializer) and type(getattr(value, "seed", None)) is int]
        for variable in layer.weights:
            found.setdefault(id(variable), []).extend(seeded)
    return found


class InitialWeights:
    """`self(seed)` = weights_of(build()) after keras.utils.set_random_seed(seed); `stacked(seeds)` for a pack."""

    def __init__(self, build, seeds=(1, 2)):
        """`build()` makes the registry model; it is called twice, under seeds[0] and seeds[1].

        The model built under seeds[0] is kept as `self.template` (e.g. to export slices into).
        """
        templates = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            templates.append(build())
        self.template = templates[0]
        first, second = (weights_of(m) for m in templates)
        flat_first, flat_second = first[0] + first[1], second[0] + second[1]
        self.split = len(first[0])
        variables = self.template.trainable_variables + self.template.non_trainable_variables
        candidates = _initializers_by_variable(self.template)
        count = 2 * sum(len(c) for c in candidates.values()) + 100
        draws = _draws(seeds[0], count)
        self.count, self.constants, self.random = count, {}, []  # random: (index, initializer, draw, shape, dtype)
        for i, (variable, value) in enumerate(zip(variables, flat_first)):
            if np.array_equal(value, flat_second[i]):
                self.constants[i] = value
                continue
            match = [init for init in candidates.get(id(variable), []) if init.seed in draws
                     and np.array_equal(np.asarray(init(value.shape, dtype=variable.dtype)), value)]
            if not match:
                raise Unsupported(f"variable {variable.path} changes with the seed but no seeded initializer "
                                  f"of its layer made it")
            self.random.append((i, copy.copy(match[0]), draws.index(match[0].seed), value.shape, variable.dtype))
        self._generators = [keras.random.SeedGenerator(0) for _ in self.random]
        for (_, initializer, _, _, _), generator in zip(self.random, self._generators):
            initializer.seed = generator  # draws [state, 0] like an integer seed, but from a graph input
        self._compute_all = tf.function(self._compute_many)
        got = self._flat(seeds)
        for k, (seed, expected) in enumerate(zip(seeds, (flat_first, flat_second))):
            if not all(np.array_equal(np.asarray(a)[k], b) for a, b in zip(got, expected)):
                raise Unsupported(f"replaying the initializers does not reproduce the model built under seed {seed}")

    def _compute_random(self, draws):
        """draws [R] (one model's seed for each random variable) -> that model's random variables."""
        values = []
        for j, ((_, initializer, _, shape, dtype), generator) in enumerate(zip(self.random, self._generators)):
            generator.state.assign(tf.cast(tf.stack([draws[j], 0]), generator.state.dtype))
            values.append(initializer(shape, dtype=dtype))
        return values

    def _compute_many(self, draws):
        """draws [K, R] -> each random variable's [K, ...] values: one graph call for a whole pack (a call
        per model cost ~1.8 ms, a tenth of what training a digits MLP trial in a pack costs)."""
        arrays = [tf.TensorArray(dtype, size=tf.shape(draws)[0], element_shape=shape)
                  for _, _, _, shape, dtype in self.random]
        for k in tf.range(tf.shape(draws)[0]):
            arrays = [array.write(k, value) for array, value in zip(arrays, self._compute_random(draws[k]))]
        return [array.stack() for array in arrays]

    def _flat(self, seeds) -> list:
        """[K, ...] values of every variable (trainable first) for the models built under `seeds`."""
        flat = {i: np.broadcast_to(value, (len(seeds),) + value.shape) for i, value in self.constants.items()}
        if self.random:  # traced once, whatever the pack size
            draws = tf.constant([[d[at] for _, _, at, _, _ in self.random]
                                 for d in (_draws(seed, self.count) for seed in seeds)], tf.int64)
            flat.update({i: values for (i, *_), values in zip(self.random, self._compute_all(draws))})
        return [flat[i] for i in range(len(flat))]

    def stacked(self, seeds) -> tuple:
        """(trainable, non-trainable) [K, ...] values for K seeds: a pack's initial weights."""
        flat = self._flat(list(seeds))
        return flat[:self.split], flat[self.split:]

    def __call__(self, seed: int) -> tuple:
        """weights_of the model built under `seed`."""
        trainable, non_trainable = self.stacked([seed])
        return [np.asarray(v[0]) for v in trainable], [np.asarray(v[0]) for v in non_trainable]
