"""`inception_small`: the authors' `SmallInception`, layer for layer.

Source: heldout-influence-estimation libarch/inception.py, the network of the
authors' released CIFAR-10 and CIFAR-100 checkpoints (their demo.py, line
111).  It is not the Zhang et al. 2017 figure (that one is
`inception_zhang2017`, inception.py):

- ConvBNReLU (lines 114-128): convolution without bias, TF "SAME" padding,
  then `snt.BatchNorm(True, True)` with Sonnet's defaults (decay 0.999,
  eps 1e-5), then ReLU.
- Multi-branch block (lines 69-80): concat[ConvBNReLU 1x1 c1, ConvBNReLU 3x3 c3]
  along channels, in that order.
- Stage (lines 83-111): its blocks, then, if it has one, down-sampling by one
  ConvBNReLU 3x3 with stride 2 (lines 96-98) -- no max-pool branch.
- Network (lines 28-61): ConvBNReLU 3x3 96 (lines 36-37); stage 1 = blocks
  (32, 32), (32, 48), down-sample to 160; stage 2 = (112, 48), (96, 64),
  (80, 80), (48, 96), down-sample to 240; stage 3 = (176, 160), (176, 160),
  no down-sampling (lines 38-44); global max pooling (line 60); a biased
  linear layer with Sonnet's default initializer (line 45).
- Their `large_inputs=True` variant (7x7/2 ConvBNReLU and a 3x3/2 max-pool,
  lines 34-35, 50-52) is `large_inputs` below; `with_residual` (default off,
  and the shapes of stage 1 do not allow it) is not offered.

Layer names follow their attribute names: `conv1.conv`, `stage2.block3.conv3x3.bn`,
`stage1.downsample.conv`; the linear layer (their `pred`) is `logits`.
"""
import keras
from keras import layers

from influence_mem.models import image_input, register
from influence_mem.models.sonnet_layers import batch_norm, conv, linear

STAGES = (  # (multi-branch (c1, c3) per block, down-sampling channels or 0): their lines 38-44
    (((32, 32), (32, 48)), 160),
    (((112, 48), (96, 64), (80, 80), (48, 96)), 240),
    (((176, 160), (176, 160)), 0),
)


def conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str):
    """Their ConvBNReLU: conv (no bias, TF SAME) -> batch norm (Sonnet defaults) -> ReLU."""
    x = conv(x, filters, kernel, stride, f"{name}.conv", sonnet_pad_same=False)
    x = batch_norm(x, f"{name}.bn")
    return layers.ReLU(name=f"{name}.relu")(x)


def small_inception(input_shape, num_classes, options, *, large_inputs: bool = False, name="inception_small"):
    """Their SmallInception(num_classes, with_residual=False, large_inputs) as a Keras model."""
    inputs, x = image_input(input_shape, options)
    if large_inputs:
        x = conv_bn_relu(x, 96, 7, 2, "conv1")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="conv1.max_pool")(x)
    else:
        x = conv_bn_relu(x, 96, 3, 1, "conv1")
    for stage, (blocks, downsample) in enumerate(STAGES, start=1):
        for block, (ch1, ch3) in enumerate(blocks, start=1):
            prefix = f"stage{stage}.block{block}"
            x = layers.Concatenate(axis=-1, name=f"{prefix}.concat")(
                [conv_bn_relu(x, ch1, 1, 1, f"{prefix}.conv1x1"), conv_bn_relu(x, ch3, 3, 1, f"{prefix}.conv3x3")])
        if downsample:
            x = conv_bn_relu(x, downsample, 3, 2, f"stage{stage}.downsample")
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    logits = linear(x, num_classes, "logits")
    return keras.Model(inputs, logits, name=name)


@register("inception_small")
def build_inception_small(input_shape, num_classes, options):
    return small_inception(input_shape, num_classes, options)
