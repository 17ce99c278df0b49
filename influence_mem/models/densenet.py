"""`densenet100`: DenseNet-BC (Huang et al. 2017) for 32x32 inputs, depth 100, growth rate k = 12.

Three dense blocks of 16 bottleneck layers each ((100 - 4) / 6), every layer
BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) concatenated onto its input;
transitions BN-ReLU-Conv1x1 with compression 0.5 then 2x2 average pooling;
a 3x3 stem convolution with 2k channels; final BN-ReLU, global pooling, and
the classifier.  Huang et al. Table 2 lists 0.8M parameters (CIFAR).
"""
import keras
from keras import layers

from influence_mem.models import image_input, register

BN = dict(momentum=0.9, epsilon=1e-5)


def bn_relu_conv(x, filters, kernel, name):
    x = layers.BatchNormalization(**BN, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal",
                         name=f"{name}_conv")(x)


def densenet_bc(input_shape, num_classes, options, depth, growth, name, compression=0.5):
    layers_per_block = (depth - 4) // 6
    inputs, x = image_input(input_shape, options)
    x = layers.Conv2D(2 * growth, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      name="stem_conv")(x)
    for block in range(3):
        for k in range(layers_per_block):
            y = bn_relu_conv(x, 4 * growth, 1, f"block{block + 1}_layer{k + 1}_a")
            y = bn_relu_conv(y, growth, 3, f"block{block + 1}_layer{k + 1}_b")
            x = layers.Concatenate(name=f"block{block + 1}_layer{k + 1}_concat")([x, y])
        if block < 2:
            x = bn_relu_conv(x, int(x.shape[-1] * compression), 1, f"transition{block + 1}")
            x = layers.AveragePooling2D(2, name=f"transition{block + 1}_pool")(x)
    x = layers.BatchNormalization(**BN, name="final_bn")(x)
    x = layers.ReLU(name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


@register("densenet100")
def build_densenet100(input_shape, num_classes, options):
    return densenet_bc(input_shape, num_classes, options, depth=100, growth=12, name="densenet100")
