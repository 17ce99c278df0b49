"""Model registry: architectures by name, so the trainer never names one.

A builder takes (input_shape, num_classes, options) and returns an unbuilt-free
keras.Model mapping images to logits.  `options` is a dict of architecture
flags (e.g. mlp_hidden); builders ignore the ones they do not use.  The
options `input_mean`/`input_std` (set from the dataset, e.g. ImageNet) make
the model normalize its input itself, so a SavedModel takes [0, 1] images.

The authors' architectures (their released code, heldout-influence-estimation
libarch/) are `resnet50`, `resnet50_v2`, `resnet50_cifar`, `resnet18_cifar`,
`inception_small`; `load_reference_checkpoint` reads their checkpoints into
them (reference_checkpoint.py).
"""
from typing import Callable, Dict

import keras

_BUILDERS: Dict[str, Callable[..., keras.Model]] = {}


def register(name: str):
    def wrap(fn):
        _BUILDERS[name] = fn
        return fn
    return wrap


def names() -> list:
    _import_all()
    return sorted(_BUILDERS)


def build(name: str, input_shape, num_classes: int, options: dict = None) -> keras.Model:
    _import_all()
    if name not in _BUILDERS:
        raise ValueError(f"unknown arch {name!r}; known: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](tuple(input_shape), int(num_classes), dict(options or {}))


def image_input(input_shape, options: dict):
    """(keras.Input, tensor to build on): the input, per-channel normalized when options name a mean/std."""
    inputs = keras.Input(input_shape, name="image")
    mean, std = options.get("input_mean"), options.get("input_std")
    if mean is None or std is None:
        return inputs, inputs
    variance = [float(s) ** 2 for s in std]
    return inputs, keras.layers.Normalization(mean=list(mean), variance=variance, name="normalize")(inputs)


def _import_all():
    # Importing a family module registers its architectures.
    from influence_mem.models import (convnet, densenet, inception, linear, mlp, resnet, resnet_sonnet,  # noqa: F401
                                      resnet_v2, small_inception, vgg)


from influence_mem.models.reference_checkpoint import load_reference_checkpoint  # noqa: E402,F401
