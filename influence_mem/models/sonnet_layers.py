"""Keras layers that compute what Sonnet 2's Conv2D, BatchNorm and Linear compute, for the authors' models.

The authors (Feldman & Zhang's released code, heldout-influence-estimation
`libarch/`) build their networks from Sonnet 2 modules.  Those modules differ
from Keras's defaults in ways that change the numbers:

- `snt.Conv2D(padding=snt.pad.same)` pads (k - 1) // 2 before and k // 2 after
  whatever the stride (Sonnet's `pad.same`), then convolves VALID; TF's
  "SAME" puts the extra pixel of a strided convolution after instead.  With
  stride 1 and an odd kernel both are the same, so only strided convolutions
  get an explicit `ZeroPadding2D`.  `padding="SAME"` (a string, as their
  inception.py uses) is TF's SAME, i.e. Keras's "same".
- Weights start from a normal truncated at two standard deviations with
  stddev 1 / sqrt(fan_in) (Sonnet's default `w_init` for Conv2D and Linear);
  biases start at 0.
- `snt.BatchNorm` keeps debiased exponential moving averages of the batch
  mean and variance (decay `decay_rate`, default 0.999; `eps` default 1e-5).
  Keras's BatchNormalization (momentum = decay_rate, same epsilon) computes
  the same normalization in training and at inference from its moving
  statistics, but its moving averages start at (0, 1) without debiasing, so
  in the first ~1 / (1 - decay) steps its statistics differ from Sonnet's.

Layer names are the Sonnet module names joined with "." (Keras forbids "/"),
e.g. `block_group_1.block_0.conv_0`, so a variable reads as Sonnet names it.
"""
import math

import keras
from keras import layers


def truncated_normal(fan_in: int) -> keras.initializers.Initializer:
    """Sonnet's default weight initializer: truncated normal (2 sigma), stddev 1 / sqrt(fan_in)."""
    return keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0 / math.sqrt(fan_in))


def conv(x, filters: int, kernel: int, stride: int, name: str, *, sonnet_pad_same: bool = True,
         use_bias: bool = False, kernel_initializer=None):
    """snt.Conv2D(filters, kernel, stride, padding=snt.pad.same or "SAME", with_bias=use_bias) on x."""
    if kernel_initializer is None:
        kernel_initializer = truncated_normal(kernel * kernel * int(x.shape[-1]))
    padding = "same"
    if sonnet_pad_same and stride > 1 and kernel > 1:
        x = layers.ZeroPadding2D(((kernel - 1) // 2, kernel // 2), name=f"{name}.pad")(x)
        padding = "valid"
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, name=name)(x)


def batch_norm(x, name: str, *, decay_rate: float = 0.999, eps: float = 1e-5, scale_init="ones"):
    """snt.BatchNorm(create_scale=True, create_offset=True, decay_rate, eps, scale_init) on x."""
    return layers.BatchNormalization(momentum=decay_rate, epsilon=eps, gamma_initializer=scale_init,
                                     name=name)(x)


def linear(x, units: int, name: str, *, zero_weights: bool = False):
    """snt.Linear(units) on x (w_init=snt.initializers.Zeros() when zero_weights); float32 logits."""
    initializer = "zeros" if zero_weights else truncated_normal(int(x.shape[-1]))
    return layers.Dense(units, kernel_initializer=initializer, bias_initializer="zeros", dtype="float32",
                        name=name)(x)
