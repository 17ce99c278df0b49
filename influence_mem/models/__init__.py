"""Model registry: architectures by name, so the trainer never names one.

A builder takes (input_shape, num_classes, options) and returns an unbuilt-free
keras.Model mapping images to logits.  `options` is a dict of architecture
flags (e.g. mlp_hidden); builders ignore the ones they do not use.
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


def _import_all():
    # Importing a family module registers its architectures.
    from influence_mem.models import convnet, mlp  # noqa: F401
