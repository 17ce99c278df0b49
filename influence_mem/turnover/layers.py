"""Turn-over dropout layers: a deterministic half/half split of a layer's units per training example.

The mask of example `index` in a layer is a function of (seed, layer id,
index) only, so it is the same in every epoch and at evaluation.  Exactly
half of the units (dense: neurons; spatial: whole feature maps of a
convolution, paper 002 app. B) are on for the example; `flip` = 1 selects
the other half.  Training always uses flip = 0, so example z only ever
updates its "unmuted" sub-network and the "muted" half never sees z.
"""
import keras
import numpy as np
import tensorflow as tf

_P = 2_147_483_647  # 2^31 - 1 (prime); products of two residues fit in int64
_A, _B, _C, _D = 1_103_515_245, 12_345, 69_069, 2_654_435_761 % _P


def _mix(x):
    """An integer hash of int64 values in [0, P): two multiplicative rounds with xor-shifts."""
    for mult in (_A, _D):
        x = (x * mult + _B) % _P
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13))
    return x


def half_mask(index, units: int, seed: int, layer_id: int):
    """[batch, units] float32 masks, each with exactly units // 2 ones (units even) for example `index`.

    The units of a layer are paired once by a permutation fixed by (seed,
    layer_id); for each pair a hash bit of (seed, layer_id, index, pair)
    says which of the two is on.  So every mask has exactly half the units,
    each unit is on for half of the examples, and there are 2^(units/2)
    masks.  O(units) per example (a per-example sort was 4x slower on the
    4,096-unit MLP).  Deterministic: pure integer arithmetic, no random state.
    """
    pairs = units // 2
    order = np.random.default_rng([int(seed), int(layer_id)]).permutation(2 * pairs)
    position = np.argsort(order)  # unit u sits at column position[u] of the paired layout
    index = tf.cast(tf.reshape(index, [-1, 1]), tf.int64)
    pair = tf.range(pairs, dtype=tf.int64)[None, :]
    key = _mix(tf.constant((int(seed) * _C + int(layer_id) * 40_503 + 7) % _P, tf.int64))
    bit = tf.bitwise.bitwise_and(tf.bitwise.right_shift(_mix((_mix(index % _P) * 31 + pair * _C + key) % _P), 16), 1)
    first = tf.cast(bit, tf.float32)
    paired = tf.reshape(tf.stack([first, 1.0 - first], axis=-1), [-1, 2 * pairs])  # columns order[0], order[1], ...
    return tf.gather(paired, position, axis=1)


@keras.saving.register_keras_serializable("influence_mem")
class TurnOverDropout(keras.layers.Layer):
    """x * mask(index) * 2 (or the complementary half when flip = 1); inputs [x, index, flip].

    spatial=True masks whole channels of [batch, h, w, channels] feature maps.
    The factor 2 keeps the activation scale of the full layer, as inverted
    dropout with keep probability 1/2 does.
    """

    def __init__(self, seed: int = 0, layer_id: int = 0, spatial: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.layer_id, self.spatial = int(seed), int(layer_id), bool(spatial)

    def call(self, inputs):
        x, index, flip = inputs
        units = x.shape[-1]
        if units % 2:
            raise ValueError(f"{self.name}: turn-over dropout needs an even number of units, got {units}")
        mask = half_mask(index, units, self.seed, self.layer_id)
        flip = tf.cast(tf.reshape(flip, [-1, 1]), tf.float32)
        mask = mask * (1.0 - flip) + (1.0 - mask) * flip
        if self.spatial:
            mask = mask[:, None, None, :]
        return x * tf.cast(2.0 * mask, x.dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "layer_id": self.layer_id, "spatial": self.spatial}
