"""`inception_zhang2017`: the simplified Inception of Zhang et al. 2017 (ICLR, "Understanding deep
learning requires rethinking generalization", appendix A, Figure 3), which paper 000 uses for
MNIST and in its CIFAR-100 architecture comparison.

Modules (Figure 3): Conv = conv -> batch norm -> ReLU; Inception(c1, c3) =
concat[Conv 1x1 c1, Conv 3x3 c3]; Downsample(c3) = concat[Conv 3x3/2 c3,
max-pool 3x3/2].  Network: Conv 3x3 96, Inception(32,32), Inception(32,48),
Downsample(80), Inception(112,48), Inception(96,64), Inception(80,80),
Inception(48,96), Downsample(96), Inception(176,160), Inception(176,160),
global mean pooling, fully connected.  The authors' own network (their
SmallInception, global max pooling, no max-pool branch) is `inception_small`,
small_inception.py.  Convolutions keep their bias, which
gives Table 1's 1,649,402 convolution and dense parameters on 28x28x3
CIFAR-10 crops (Table 1 leaves out batch norm's 2 per channel, 3,424 here).
"""
import keras
from keras import layers

from influence_mem.models import image_input, register

BN = dict(momentum=0.9, epsilon=1e-3)


def conv_module(x, filters, kernel, stride, name):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", kernel_initializer="he_normal",
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(**BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def inception_module(x, ch1, ch3, name):
    return layers.Concatenate(name=f"{name}_concat")(
        [conv_module(x, ch1, 1, 1, f"{name}_1x1"), conv_module(x, ch3, 3, 1, f"{name}_3x3")])


def downsample_module(x, ch3, name):
    return layers.Concatenate(name=f"{name}_concat")(
        [conv_module(x, ch3, 3, 2, f"{name}_3x3"),
         layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)])


@register("inception_zhang2017")
def build_inception_zhang2017(input_shape, num_classes, options):
    inputs, x = image_input(input_shape, options)
    x = conv_module(x, 96, 3, 1, "stem")
    x = inception_module(x, 32, 32, "inc1a")
    x = inception_module(x, 32, 48, "inc1b")
    x = downsample_module(x, 80, "down1")
    for k, (ch1, ch3) in enumerate(((112, 48), (96, 64), (80, 80), (48, 96))):
        x = inception_module(x, ch1, ch3, f"inc2{'abcd'[k]}")
    x = downsample_module(x, 96, "down2")
    x = inception_module(x, 176, 160, "inc3a")
    x = inception_module(x, 176, 160, "inc3b")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="inception_zhang2017")
