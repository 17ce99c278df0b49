"""`resnet50`: Sonnet's `snt.nets.ResNet50`, the network of the authors' released ImageNet checkpoints.

The authors' demo (heldout-influence-estimation demo.py, lines 117 and 139-146)
loads their ImageNet ResNet-50 checkpoints into `resnet_sonnet.ResNet50`,
which their libarch/resnet_sonnet.py (lines 23-24) defines as Sonnet's own
`snt.nets.ResNet50`, not into the pre-activation `ResNet50` of their
libarch/resnet.py (that one is `resnet50_v2` here, see resnet_v2.py).
`snt.nets.ResNet50` has `resnet_v2=False` by default (dm-sonnet 2.0.0 and
2.0.2, sonnet/src/nets/resnet.py; line numbers below are 2.0.2's), i.e. a
post-activation ResNet:

- stem: 7x7/2 convolution (no bias), batch norm, ReLU, 3x3/2 max-pool
  (lines 265-277, 303-309);
- groups of (3, 4, 6, 3) `BottleNeckBlockV1` (lines 28-104) of output width
  256, 512, 1024, 2048 and bottleneck width a quarter of that, strides
  1, 2, 2, 2 (line 280) on the 3x3 convolution ("v1.5"); block 0 of every
  group has a 1x1 projection shortcut followed by batch norm (lines 46-55,
  209), even in group 0;
- conv -> batch norm -> ReLU, three times, without the last ReLU; the
  last batch norm's scale starts at zero (line 88); ReLU after the sum (line 104);
- global average pooling and a biased linear layer whose weights start at
  zero (lines 298-299, 317);
- batch norm decay 0.9, eps 1e-5 (lines 246-247); no convolution has a bias.

The parameter count is that of the textbook ResNet-50 (`resnet50_v15`,
25,557,032 at 1,000 classes); the numbers differ from it through the
zero-initialized scales and logits, Sonnet's initializers and the padding
of strided convolutions (sonnet_layers.py).
"""
import keras
from keras import layers

from influence_mem.models import image_input, register
from influence_mem.models.sonnet_layers import batch_norm, conv, linear

BN = dict(decay_rate=0.9, eps=1e-5)
WIDTHS = (256, 512, 1024, 2048)


def block_v1(x, channels: int, stride: int, projection: bool, name: str):
    """Sonnet's BottleNeckBlockV1 with output width `channels` (bottleneck width channels // 4)."""
    shortcut = x
    if projection:
        shortcut = conv(x, channels, 1, stride, f"{name}.shortcut_conv")
        shortcut = batch_norm(shortcut, f"{name}.shortcut_batchnorm", **BN)
    net = x
    for i, (filters, kernel, conv_stride) in enumerate(((channels // 4, 1, 1), (channels // 4, 3, stride),
                                                        (channels, 1, 1))):
        net = conv(net, filters, kernel, conv_stride, f"{name}.conv_{i}")
        net = batch_norm(net, f"{name}.batchnorm_{i}", scale_init="zeros" if i == 2 else "ones", **BN)
        if i < 2:
            net = layers.ReLU(name=f"{name}.relu_{i}")(net)
    return layers.ReLU(name=f"{name}.relu")(layers.Add(name=f"{name}.add")([net, shortcut]))


def resnet_v1_sonnet(input_shape, num_classes, options, *, blocks_per_group=(3, 4, 6, 3), widths=WIDTHS,
                     name="resnet50"):
    """snt.nets.ResNet(blocks_per_group, num_classes, resnet_v2=False, channels_per_group_list=widths)."""
    inputs, x = image_input(input_shape, options)
    x = conv(x, 64, 7, 2, "initial_conv")
    x = batch_norm(x, "initial_batchnorm", **BN)
    x = layers.ReLU(name="initial_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="initial_max_pool")(x)
    for group, (blocks, channels) in enumerate(zip(blocks_per_group, widths)):
        for block in range(blocks):
            stride = 2 if group > 0 and block == 0 else 1
            x = block_v1(x, channels, stride, block == 0, f"block_group_{group}.block_{block}")
    x = layers.GlobalAveragePooling2D(name="final_avg_pool")(x)
    logits = linear(x, num_classes, "logits", zero_weights=True)
    return keras.Model(inputs, logits, name=name)


@register("resnet50")
def build_resnet50(input_shape, num_classes, options):
    return resnet_v1_sonnet(input_shape, num_classes, options)
