"""K models of one registry architecture held as one: every weight stacked on a leading model axis.

The forward pass is the registry model's own layers (Keras `stateless_call`),
vectorized over the model axis with `tf.vectorized_map`: dense layers become
batched matmuls, batch norm keeps per-model statistics, and ops pfor has no
batched rule for (convolutions with per-model filters; a grouped convolution
would need per-architecture code) run as a loop inside the same graph step.
So slice k of a pack computes what the registry model holding slice k's
weights computes, for every registry architecture.
"""
import keras
import numpy as np
import tensorflow as tf


class PackedModel:
    """K same-architecture Keras models as stacked variables, with a vectorized forward pass."""

    def __init__(self, template: keras.Model, stacked):
        """A pack holding `stacked` = (trainable, non-trainable) lists of [K, ...] values
        (stack_weights, or models.initial_weights.InitialWeights.stacked) of models
        with `template`'s architecture.

        Call inside a strategy's scope to get mirrored variables.
        """
        self.template, self.size = template, packed_size(stacked)

        def variables(template_variables, values):
            return [keras.Variable(value, dtype=v.dtype, trainable=v.trainable, aggregation=v.aggregation,
                                   name="packed_" + v.name) for v, value in zip(template_variables, values)]

        self.trainable = variables(self.template.trainable_variables, stacked[0])
        self.non_trainable = variables(self.template.non_trainable_variables, stacked[1])
        self._infer = tf.function(self._infer_all)

    def load(self, stacked) -> None:
        """Overwrite the pack with `stacked` weights (as in __init__; as many models as the pack holds)."""
        if packed_size(stacked) != self.size:
            raise ValueError(f"a pack of {self.size} cannot load {packed_size(stacked)} models")
        for variable, value in zip(self.trainable + self.non_trainable, stacked[0] + stacked[1]):
            variable.assign(value)

    def forward(self, images, training: bool):
        """Per-model images [K, b, ...] -> (logits [K, b, C] float32, new non-trainable state, extra losses [K]).

        The extra losses are each model's own regularization losses (0 if none).
        """
        def one(args):
            trainable, non_trainable, x = args
            logits, state, losses = self.template.stateless_call(
                trainable, non_trainable, x, training=training, return_losses=True)
            extra = tf.add_n([tf.cast(l, tf.float32) for l in losses]) if losses else tf.zeros([])
            return tf.cast(logits, tf.float32), state, extra

        values = ([v.value for v in self.trainable], [v.value for v in self.non_trainable], images)
        return tf.vectorized_map(one, values, fallback_to_while_loop=True)

    def __call__(self, images, training: bool = False):
        """Shared images [b, ...] -> logits [K, b, C] of every model (inference).

        Every model gets its own copy of the batch: batched matmuls over [K, b, ...]
        ran 10-18% faster than pfor's one wide matmul on the shared batch plus
        a transpose of its [b, K x units] result (digits MLP, K = 32).
        """
        if training:
            raise ValueError("PackedModel(images) is inference; train through forward()")
        return self._infer(images)

    def _infer_all(self, images):
        tiled = tf.broadcast_to(images[None], tf.concat([[self.size], tf.shape(images)], 0))
        return self.forward(tiled, training=False)[0]

    def set_state(self, state) -> None:
        """Assign the non-trainable state `forward(training=True)` returned (e.g. batch-norm moving stats)."""
        for variable, value in zip(self.non_trainable, state):
            variable.assign(value)

    def members(self, model: keras.Model):
        """Yield `model` (a registry model of the same architecture) holding slice 0, 1, ..., K-1 in turn."""
        stacks = [v.numpy() for v in self.trainable + self.non_trainable]  # one read, then numpy slices
        targets = model.trainable_variables + model.non_trainable_variables
        for k in range(self.size):
            for target, stacked in zip(targets, stacks):
                target.assign(stacked[k])
            yield model


def stack_weights(weights) -> tuple:
    """(trainable, non-trainable) lists of [K, ...] arrays from K models' weights (initial_weights.weights_of)."""
    if not weights:
        raise ValueError("a pack needs at least one model")
    return tuple([np.stack(values) for values in zip(*[w[part] for w in weights])] for part in (0, 1))


def packed_size(stacked) -> int:
    """K of stacked weights (their leading axis)."""
    values = stacked[0] + stacked[1]
    if not values:
        raise ValueError("a pack needs at least one variable")
    return int(values[0].shape[0])
