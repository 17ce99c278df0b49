"""K models of one registry architecture held as one: every weight stacked on a leading model axis.

The forward pass is the registry model's own layers (Keras `stateless_call`),
vectorized over the model axis with `tf.vectorized_map`: dense layers become
batched matmuls, batch norm keeps per-model statistics, and ops pfor cannot
batch (convolutions with per-model filters on CPU: TF has no grouped conv2d
kernel there) run as a loop inside the same graph step.  So slice k of a pack
computes exactly what the registry model holding slice k's weights computes.
"""
import keras
import numpy as np
import tensorflow as tf


class PackedModel:
    """K same-architecture Keras models as stacked variables, with a vectorized forward pass."""

    def __init__(self, members):
        """Stack the weights of `members` (built registry models, same architecture).

        Call inside a strategy's scope to get mirrored variables.
        """
        if not members:
            raise ValueError("a pack needs at least one model")
        self.template = members[0]

        def stack(index, pick):
            reference = pick(self.template)[index]
            value = np.stack([np.asarray(pick(member)[index]) for member in members])
            return keras.Variable(value, dtype=reference.dtype, trainable=reference.trainable,
                                  aggregation=reference.aggregation, name="packed_" + reference.name)

        trainable = lambda model: model.trainable_variables  # noqa: E731
        non_trainable = lambda model: model.non_trainable_variables  # noqa: E731
        self.trainable = [stack(i, trainable) for i in range(len(trainable(self.template)))]
        self.non_trainable = [stack(i, non_trainable) for i in range(len(non_trainable(self.template)))]
        self.size = len(members)

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
        """Shared images [b, ...] -> logits [K, b, C] of every model (inference)."""
        def one(args):
            trainable, non_trainable = args
            logits = self.template.stateless_call(trainable, non_trainable, images, training=training)[0]
            return tf.cast(logits, tf.float32)

        values = ([v.value for v in self.trainable], [v.value for v in self.non_trainable])
        return tf.vectorized_map(one, values, fallback_to_while_loop=True)

    def set_state(self, state) -> None:
        """Assign the non-trainable state `forward(training=True)` returned (e.g. batch-norm moving stats)."""
        for variable, value in zip(self.non_trainable, state):
            variable.assign(value)

    def member(self, k: int, model: keras.Model) -> keras.Model:
        """`model` (a registry model of the same architecture) with slice k's weights; returns it."""
        if not 0 <= k < self.size:
            raise IndexError(f"pack member {k} out of range 0..{self.size - 1}")
        for target, stacked in zip(model.trainable_variables, self.trainable):
            target.assign(stacked[k])
        for target, stacked in zip(model.non_trainable_variables, self.non_trainable):
            target.assign(stacked[k])
        return model
