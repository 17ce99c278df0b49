"""`vgg11`: VGG configuration A (Simonyan & Zisserman 2015) without batch norm, as in paper 002.

Eight 3x3 convolutions (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M;
M = 2x2 max-pool) with bias and ReLU.  At ImageNet size (>= 224 px) the head
is the paper's 4096-4096 fully connected layers with dropout 0.5
(132,863,336 parameters for 1,000 classes); at CIFAR size the 1x1x512
feature map goes straight to the classifier, the usual CIFAR VGG (paper 002
does not describe its head).
"""
import keras
from keras import layers

from influence_mem.models import image_input, register

CONFIG_A = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
IMAGENET_SIZE = 224


@register("vgg11")
def build_vgg11(input_shape, num_classes, options):
    inputs, x = image_input(input_shape, options)
    conv = 0
    for item in CONFIG_A:
        if item == "M":
            x = layers.MaxPooling2D(2, name=f"pool{conv}")(x)
        else:
            conv += 1
            x = layers.Conv2D(item, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                              name=f"conv{conv}")(x)
    x = layers.Flatten(name="flatten")(x)
    if min(input_shape[:2]) >= IMAGENET_SIZE:
        for k in (1, 2):
            x = layers.Dense(4096, activation="relu", name=f"fc{k}")(x)
            x = layers.Dropout(0.5, name=f"dropout{k}")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="vgg11")
