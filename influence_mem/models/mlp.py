"""Multi-layer perceptron on flattened images, or on feature vectors as they are (the digits demo, paper 002's MNIST MLP)."""
import keras

from influence_mem.models import register


def parse_hidden(spec) -> list:
    """'512,256' -> [512, 256]; '' -> [] (softmax regression)."""
    if isinstance(spec, (list, tuple)):
        return [int(h) for h in spec]
    return [int(h) for h in str(spec).split(",") if h.strip()]


@register("mlp", vectors=True)
def build_mlp(input_shape, num_classes, options):
    hidden = parse_hidden(options.get("mlp_hidden", "512,256"))
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Flatten()(inputs)
    for k, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden{k}")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
