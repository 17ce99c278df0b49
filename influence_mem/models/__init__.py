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

Your own model: `--arch=my_pkg.my_module:build` calls `build(input_shape, num_classes, options)` from an
importable module (docs/own_data.md); name its output layer `logits` for --precision and the last-layer mode.
"""
import importlib
from typing import Callable, Dict

import keras

_BUILDERS: Dict[str, Callable[..., keras.Model]] = {}
_TAKE_VECTORS = set()  # registered names whose models also take feature vectors [d], not only images


def register(name: str, vectors: bool = False):
    """Decorator: the builder of architecture `name`; `vectors` if it also builds for feature vectors
    (input_shape [d]: tabular data, embeddings), as mlp and linear do."""
    def wrap(fn):
        _BUILDERS[name] = fn
        if vectors:
            _TAKE_VECTORS.add(name)
        return fn
    return wrap


def check_input(name: str, input_shape) -> None:
    """ValueError (one line naming --arch) when `input_shape` is a feature vector [d] and the registered
    architecture `name` needs images; a user function (`module:function`) is left to decide."""
    if len(tuple(input_shape)) != 1 or is_user_arch(name):
        return
    _import_all()
    if name in _BUILDERS and name not in _TAKE_VECTORS:
        raise ValueError(f"--arch={name} needs images [height, width, channels], but the dataset holds feature "
                         f"vectors of {tuple(input_shape)[0]} values; use "
                         f"{' or '.join(f'--arch={n}' for n in sorted(_TAKE_VECTORS))} (or your own module:function)")


def names() -> list:
    _import_all()
    return sorted(_BUILDERS)


def is_user_arch(name: str) -> bool:
    """`my_pkg.my_module:build`: a user's function instead of a registered name."""
    return ":" in str(name)


def _user_builder(spec: str) -> Callable[..., keras.Model]:
    """The function named by `module.path:function` (ValueError, naming --arch, if it is not importable)."""
    module_name, _, attr = str(spec).partition(":")
    if not module_name or not attr:
        raise ValueError(f"--arch={spec!r}: expected my_pkg.my_module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"--arch={spec}: cannot import {module_name} ({e}); is it on PYTHONPATH?") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise ValueError(f"--arch={spec}: {module_name} has no function {attr}")
    return fn


def check_name(name: str) -> None:
    """ValueError (one line naming --arch) unless `name` is a registered architecture or an importable
    user function `my_pkg.my_module:build`."""
    if is_user_arch(name):
        _user_builder(name)
    elif name not in names():
        raise ValueError(f"--arch={name!r}: unknown; known: {', '.join(names())}, or my_pkg.my_module:function "
                         f"(a function (input_shape, num_classes, options) -> keras.Model)")


def build(name: str, input_shape, num_classes: int, options: dict = None) -> keras.Model:
    """The model `name` (a registered name, or `my_pkg.my_module:build`: a user function with the registry's
    signature (input_shape, num_classes, options) -> keras.Model mapping images to logits).

    A user function that fails, or returns anything but such a model, is a ValueError naming --arch and what
    the function must return (the trainer builds it once before anything starts: train.flags.check_arch)."""
    if not is_user_arch(name):  # ours: built as registered
        _import_all()
        if name not in _BUILDERS:
            raise ValueError(f"unknown arch {name!r}; known: {', '.join(sorted(_BUILDERS))}")
        check_input(name, input_shape)
        model = _BUILDERS[name](tuple(input_shape), int(num_classes), dict(options or {}))
        if not isinstance(model, keras.Model):
            raise ValueError(f"arch {name!r} returned {type(model).__name__}, not a keras.Model")
        return model
    builder = _user_builder(name)
    try:
        model = builder(tuple(input_shape), int(num_classes), dict(options or {}))
    except Exception as e:  # the user's code: whatever it raises means it is not a model builder
        raise ValueError(f"--arch={name}: calling it failed ({type(e).__name__}: {e}); "
                         f"{_user_contract(input_shape, num_classes)}") from None
    problem = _not_a_classifier(model, input_shape, num_classes)
    if problem:
        raise ValueError(f"--arch={name}: {problem}; {_user_contract(input_shape, num_classes)}")
    return model


def _user_contract(input_shape, num_classes) -> str:
    return (f"it must be a function (input_shape, num_classes, options) returning a keras.Model that maps images "
            f"of shape {tuple(input_shape)} to {int(num_classes)} logits")


def _not_a_classifier(model, input_shape, num_classes):
    """Why `model` cannot be a trial's model for these images and classes (None if it can)."""
    if not isinstance(model, keras.Model):
        return f"returned {type(model).__name__}, not a keras.Model"
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None  # a subclassed model not built yet: its shapes are known only when it is called
    if not outputs or len(outputs) != 1:
        return f"returned a model with {len(outputs or [])} outputs, not one output of logits"
    width = outputs[0].shape[-1]
    if width is not None and int(width) != int(num_classes):
        return f"returned a model with {width} outputs per example, not {int(num_classes)} (one per class)"
    inputs = model.inputs or []
    if len(inputs) == 1 and tuple(inputs[0].shape[1:]) != tuple(input_shape) and None not in inputs[0].shape[1:]:
        return f"returned a model taking inputs of shape {tuple(inputs[0].shape[1:])}, not {tuple(input_shape)}"
    return None


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
