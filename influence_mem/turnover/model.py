"""A registry architecture with turn-over dropout after every hidden layer (paper 002: all layers).

The turn-over model shares the layers (and so the weights) of a model built
by influence_mem.models; it takes {image, index, flip} and returns logits.
Dense hidden layers get a unit mask, Conv2D layers a spatial (feature-map)
mask (paper 002 app. B); the `logits` layer is never masked.
"""
import keras

from influence_mem.turnover.layers import TurnOverDropout


def _check_chain(base: keras.Model) -> None:
    """Raise ValueError unless `base` is a single-input chain (each layer feeds only the next)."""
    previous = base.layers[0].output
    for layer in base.layers[1:]:
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            raise ValueError(f"model {base.name!r}: turn-over dropout supports chain architectures (mlp, vgg11, "
                             f"small_cnn, linear); layer {layer.name!r} does not take the previous layer's output")
        previous = layer.output


def turnover_model(base: keras.Model, seed: int = 0) -> keras.Model:
    """{image, index, flip} -> logits of `base`, with a TurnOverDropout after each hidden Dense/Conv2D."""
    _check_chain(base)
    image = keras.Input(base.inputs[0].shape[1:], name="image")
    index = keras.Input((), dtype="int64", name="index")
    flip = keras.Input((), dtype="float32", name="flip")
    x, masked = image, 0
    for layer in base.layers[1:]:
        x = layer(x)
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)) and layer.name != "logits":
            masked += 1
            x = TurnOverDropout(seed, masked, spatial=isinstance(layer, keras.layers.Conv2D),
                                name=f"turnover_{layer.name}")([x, index, flip])
    if not masked:
        raise ValueError(f"model {base.name!r} has no hidden Dense/Conv2D layer to apply turn-over dropout to")
    return keras.Model({"image": image, "index": index, "flip": flip}, x, name=f"{base.name}_turnover")
