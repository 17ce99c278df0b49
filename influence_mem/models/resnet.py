"""Textbook ResNets (He et al. 2016), not the authors': `resnet50_v15`, `resnet50_v15_cifar`, `resnet18_v1`,
`resnet18_v1_cifar`, with the ImageNet or paper 000's CIFAR stem.

The ImageNet stem is a 7x7/2 convolution and a 3x3/2 max-pool; paper 000
(appendix B) replaces both by one 3x3/1 convolution for 32x32 CIFAR images.
Convolutions have no bias (batch norm follows each); the stride of a
bottleneck block sits on its 3x3 convolution (as in TF official / torchvision
"v1.5"; the parameter count is the same as v1: 25,557,032 for ImageNet).

The authors' own networks are in resnet_v2.py (their pre-activation ResNets)
and resnet_sonnet.py (Sonnet's ResNet-50 of their ImageNet checkpoints).
"""
import keras
from keras import layers

from influence_mem.models import image_input, register

BN = dict(momentum=0.9, epsilon=1e-5)


def conv_bn(x, filters, kernel, stride, name, relu=True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(**BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def basic_block(x, filters, stride, name):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)
    x = conv_bn(x, filters, 3, stride, f"{name}_a")
    x = conv_bn(x, filters, 3, 1, f"{name}_b", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, x]))


def bottleneck_block(x, filters, stride, name):
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = conv_bn(x, 4 * filters, 1, stride, f"{name}_proj", relu=False)
    x = conv_bn(x, filters, 1, 1, f"{name}_a")
    x = conv_bn(x, filters, 3, stride, f"{name}_b")
    x = conv_bn(x, 4 * filters, 1, 1, f"{name}_c", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, x]))


def resnet(input_shape, num_classes, options, *, block, depths, stem, name):
    """A ResNet with stages of `depths` blocks at widths 64, 128, 256, 512; stem 'imagenet' or 'cifar'."""
    inputs, x = image_input(input_shape, options)
    if stem == "imagenet":
        x = conv_bn(x, 64, 7, 2, "stem")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    else:
        x = conv_bn(x, 64, 3, 1, "stem")
    for stage, (depth, filters) in enumerate(zip(depths, (64, 128, 256, 512))):
        for k in range(depth):
            stride = 2 if stage > 0 and k == 0 else 1
            x = block(x, filters, stride, f"stage{stage + 1}_block{k + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


@register("resnet50_v15")
def build_resnet50_v15(input_shape, num_classes, options):
    return resnet(input_shape, num_classes, options, block=bottleneck_block, depths=(3, 4, 6, 3),
                  stem="imagenet", name="resnet50_v15")


@register("resnet50_v15_cifar")
def build_resnet50_v15_cifar(input_shape, num_classes, options):
    return resnet(input_shape, num_classes, options, block=bottleneck_block, depths=(3, 4, 6, 3),
                  stem="cifar", name="resnet50_v15_cifar")


@register("resnet18_v1")
def build_resnet18_v1(input_shape, num_classes, options):
    return resnet(input_shape, num_classes, options, block=basic_block, depths=(2, 2, 2, 2),
                  stem="imagenet", name="resnet18_v1")


@register("resnet18_v1_cifar")
def build_resnet18_v1_cifar(input_shape, num_classes, options):
    return resnet(input_shape, num_classes, options, block=basic_block, depths=(2, 2, 2, 2),
                  stem="cifar", name="resnet18_v1_cifar")
