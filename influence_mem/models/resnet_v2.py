"""The authors' pre-activation ResNets (ResNet V2), layer for layer: `resnet50_v2`, `resnet50_cifar`, `resnet18_cifar`.

Source: heldout-influence-estimation libarch/resnet.py (the code released with
paper 000), whose `ResNetV2` Sonnet module these functions rebuild in Keras:

- `resnet50_v2` = their `ResNet50` (lines 304-312): blocks (3, 4, 6, 3) of
  bottleneck blocks, ImageNet stem 7x7/2 convolution + 3x3/2 max-pool (lines
  77-84, 112-114).
- `resnet50_cifar` = their `CifarResNet50` (lines 315-324): the same with the
  small-input stem, one 3x3/1 convolution and no max-pool (lines 69-76).
- `resnet18_cifar` = their `CifarResNet18` (lines 327-336): blocks (2, 2, 2, 2)
  of `BasicBlockV2`, small-input stem.

What makes these differ from the textbook ResNets of resnet.py:

- Pre-activation (lines 226-239, 289-301): every block applies batch norm ->
  ReLU before each convolution; the projection shortcut is taken from the
  first pre-activated tensor (lines 235-236, 297-298); the sum is not followed
  by a ReLU.  After the last group come a batch norm and a ReLU (lines 99-103,
  119-120), then global average pooling (line 121).
- Block 0 of every group has a 1x1 projection shortcut, even group 0's where
  the stride is 1 (line 156); the stride sits on the 3x3 convolution (lines
  204-210, 279-285); groups 1-3 have stride 2 (lines 87-88).
- Widths 64, 128, 256, 512 (line 36); a bottleneck block's output and
  shortcut have 4x the width (lines 187, 215).
- Their `BasicBlockV2` is a 1x1 convolution then a 3x3 convolution (lines
  269-285), not the two 3x3 convolutions of He et al.'s basic block; we keep
  their 1x1, so `resnet18_cifar` has about 7.0M parameters, not ResNet-18's 11M.
- No convolution has a bias (lines 74, 82, 190, 198, 208, 218, 265, 273, 283);
  the logits layer is a biased linear layer whose weights start at zero
  (lines 105-106).
- Batch norm: decay 0.9, eps 1e-5, scale and offset (lines 55-56, 182-183).
- Sonnet's padding and initializers: see sonnet_layers.py.
"""
import keras
from keras import layers

from influence_mem.models import image_input, register
from influence_mem.models.sonnet_layers import batch_norm, conv, linear

BN = dict(decay_rate=0.9, eps=1e-5)  # their libarch/resnet.py, line 56
WIDTHS = (64, 128, 256, 512)  # their line 36


def block_v2(x, channels: int, stride: int, projection: bool, bottleneck: bool, name: str):
    """Their BottleNeckBlockV2 (bottleneck) or BasicBlockV2: pre-activation convolutions plus a shortcut."""
    out = 4 * channels if bottleneck else channels
    convs = [(channels, 1, 1), (channels, 3, stride)] + ([(out, 1, 1)] if bottleneck else [])
    shortcut, net = x, x
    for i, (filters, kernel, conv_stride) in enumerate(convs):
        net = batch_norm(net, f"{name}.batchnorm_{i}", **BN)
        net = layers.ReLU(name=f"{name}.relu_{i}")(net)
        if i == 0 and projection:
            shortcut = conv(net, out, 1, stride, f"{name}.shortcut_conv")
        net = conv(net, filters, kernel, conv_stride, f"{name}.conv_{i}")
    return layers.Add(name=f"{name}.add")([net, shortcut])


def resnet_v2(input_shape, num_classes, options, *, blocks_per_group, bottleneck: bool, small_input: bool,
              name: str, widths=WIDTHS):
    """Their ResNetV2(num_classes, blocks_per_group, bottleneck, small_input, widths) as a Keras model."""
    inputs, x = image_input(input_shape, options)
    if small_input:
        x = conv(x, 64, 3, 1, "initial_conv")
    else:
        x = conv(x, 64, 7, 2, "initial_conv")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="initial_max_pool")(x)
    for group, (blocks, channels) in enumerate(zip(blocks_per_group, widths)):
        for block in range(blocks):
            stride = 2 if group > 0 and block == 0 else 1
            x = block_v2(x, channels, stride, block == 0, bottleneck, f"block_group_{group}.block_{block}")
    x = batch_norm(x, "final_batchnorm", **BN)
    x = layers.ReLU(name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="final_avg_pool")(x)
    logits = linear(x, num_classes, "logits", zero_weights=True)
    return keras.Model(inputs, logits, name=name)


@register("resnet50_v2")
def build_resnet50_v2(input_shape, num_classes, options):
    return resnet_v2(input_shape, num_classes, options, blocks_per_group=(3, 4, 6, 3), bottleneck=True,
                     small_input=False, name="resnet50_v2")


@register("resnet50_cifar")
def build_resnet50_cifar(input_shape, num_classes, options):
    return resnet_v2(input_shape, num_classes, options, blocks_per_group=(3, 4, 6, 3), bottleneck=True,
                     small_input=True, name="resnet50_cifar")


@register("resnet18_cifar")
def build_resnet18_cifar(input_shape, num_classes, options):
    return resnet_v2(input_shape, num_classes, options, blocks_per_group=(2, 2, 2, 2), bottleneck=False,
                     small_input=True, name="resnet18_cifar")
