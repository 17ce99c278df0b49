"""A small convolutional network for 8x8 to 32x32 inputs: a fast conv baseline.

Two conv-conv-pool stages (32 and 64 channels, batch norm, ReLU), global
average pooling and a linear classifier; spatial pooling is skipped once the
feature map is 4x4 so 8x8 digits work too.
"""
import keras

from influence_mem.models import register


@register("small_cnn")
def build_small_cnn(input_shape, num_classes, options):
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    size = input_shape[0]
    for stage, channels in enumerate((32, 64)):
        for k in range(2):
            x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{stage}_{k}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{stage}_{k}")(x)
            x = keras.layers.ReLU()(x)
        if size > 4:
            x = keras.layers.MaxPooling2D(2)(x)
            size //= 2
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="small_cnn")
