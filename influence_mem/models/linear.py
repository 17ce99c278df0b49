"""`linear`: softmax regression on feature vectors (the last-layer-only trials of paper 000, section 3).

It is the mlp with no hidden layer: flatten, one Dense layer named `logits`.
"""
import keras

from influence_mem.models import register
from influence_mem.models.mlp import build_mlp


@register("linear", vectors=True)
def build_linear(input_shape, num_classes, options):
    model = build_mlp(input_shape, num_classes, {**options, "mlp_hidden": ""})
    return keras.Model(model.inputs[0], model.outputs[0], name="linear")
