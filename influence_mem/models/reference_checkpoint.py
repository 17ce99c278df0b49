"""Read the authors' released TF2 checkpoints (written by their Sonnet modules) into our Keras models.

The authors' demo (heldout-influence-estimation demo.py, lines 45-55) restores
a checkpoint with `tf.train.Checkpoint(model=model, epoch=..., global_step=...)`
from the one `ckpt-*.index` in a run's `checkpoints/` folder.  A TF2
checkpoint names each variable by its object path from that root, i.e. by the
attribute names of the Sonnet modules, e.g.
`model/_block_groups/1/_blocks/0/_conv_0/w/.ATTRIBUTES/VARIABLE_VALUE`
(their libarch/resnet.py) or `model/stage2/_body/0/conv1x1/bn/scale/...`
(their libarch/inception.py).  `load_reference_checkpoint` builds our Keras
model of the same architecture and copies every variable across:

  Sonnet Conv2D `w` -> Conv2D kernel; Linear `w`, `b` -> Dense kernel, bias;
  BatchNorm `scale`, `offset` -> gamma, beta; the debiased moving averages
  `moving_mean/average`, `moving_variance/average` (what Sonnet uses at test
  time) -> moving_mean, moving_variance.

Every weight of the Keras model must be found, and every model variable of
the checkpoint used (Sonnet's `_hidden`/`_counter` moving-average internals
aside), else ValueError: a wrong `arch` cannot load silently.

    model = load_reference_checkpoint("cifar100-inception/0.7/12/checkpoints", "inception_small")
    logits = model(images_in_0_1)        # = their model(images, is_training=False)

Inputs: the authors feed CIFAR images as pixel / 255 (their libdata/tfds.py,
line 45), the [0, 1] images our models take; ImageNet images are normalized
by the mean/std of their libdata/indexed_tfrecords.py (lines 60-63), which
the loaded ImageNet models do themselves (the `normalize` layer) unless
`options` says otherwise.
"""
import re

import keras
import numpy as np
import tensorflow as tf

from influence_mem.models import build

IMAGENET_NORMALIZER = {"input_mean": (0.485, 0.456, 0.406), "input_std": (0.229, 0.224, 0.225)}
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _resnet_v2_path(layer: str) -> str:
    """Our layer name -> attribute path in their libarch/resnet.py ResNetV2 (and snt.nets.ResNet(resnet_v2=True))."""
    top = {"initial_conv": "_initial_conv", "final_batchnorm": "_final_batchnorm", "logits": "_logits"}
    if layer in top:
        return top[layer]
    group, block, leaf = re.fullmatch(r"block_group_(\d+)\.block_(\d+)\.(\w+)", layer).groups()
    leaf = re.sub(r"^batchnorm_(\d)$", r"_bn_\1", leaf)
    leaf = {"shortcut_conv": "_proj_conv"}.get(leaf, leaf if leaf.startswith("_bn_") else "_" + leaf)
    return f"_block_groups/{group}/_blocks/{block}/{leaf}"


def _resnet_sonnet_path(layer: str) -> str:
    """Our layer name -> attribute path in Sonnet's snt.nets.ResNet (resnet_v2=False)."""
    top = {"initial_conv": "_initial_conv", "initial_batchnorm": "_initial_batchnorm", "logits": "_logits"}
    if layer in top:
        return top[layer]
    group, block, leaf = re.fullmatch(r"block_group_(\d+)\.block_(\d+)\.(\w+)", layer).groups()
    kind, _, k = leaf.rpartition("_")
    leaf = {"shortcut_conv": "_proj_conv", "shortcut_batchnorm": "_proj_batchnorm"}.get(
        leaf, f"_layers/{k}/{0 if kind == 'conv' else 1}")
    return f"_block_groups/{group}/_blocks/{block}/{leaf}"


def _inception_path(layer: str) -> str:
    """Our layer name -> attribute path in their libarch/inception.py SmallInception."""
    if layer == "logits":
        return "_pred"
    parts = layer.split(".")
    block = re.fullmatch(r"block(\d+)", parts[1]) if len(parts) > 2 else None
    if block:
        parts[1] = f"_body/{int(block.group(1)) - 1}"
    elif len(parts) > 2 and parts[1] == "downsample":
        parts[1] = "_downsample"
    return "/".join(parts)


PATHS = {"resnet50": _resnet_sonnet_path, "resnet50_v2": _resnet_v2_path, "resnet50_cifar": _resnet_v2_path,
         "resnet18_cifar": _resnet_v2_path, "inception_small": _inception_path}
LOGITS = {"inception_small": "_pred"}  # the rest: "_logits"
FIRST_CONV = {"inception_small": "conv1/conv"}  # the rest: "_initial_conv"
IMAGENET_ARCHS = ("resnet50", "resnet50_v2")


def checkpoint_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix, or from a folder holding one (latest, else the one ckpt-*.index)."""
    if not tf.io.gfile.isdir(path):
        return path
    latest = tf.train.latest_checkpoint(path)
    if latest:
        return latest
    found = tf.io.gfile.glob(f"{path.rstrip('/')}/ckpt-*.index")
    if len(found) != 1:
        raise ValueError(f"{path}: expected one ckpt-*.index, found {len(found)}")
    return found[0][:-len(".index")]


def _variable_key(arch: str, root: str, layer: keras.layers.Layer, weight) -> str:
    """The checkpoint key holding Keras weight `weight` of `layer`."""
    module = f"{root}/{PATHS[arch](layer.name)}" if root else PATHS[arch](layer.name)
    leaf = weight.path.rsplit("/", 1)[-1]
    name = {"kernel": "w", "bias": "b", "gamma": "scale", "beta": "offset",
            "moving_mean": "moving_mean/average", "moving_variance": "moving_variance/average"}[leaf]
    return f"{module}/{name}{SUFFIX}"


def reference_variable_map(model: keras.Model, arch: str, root: str = "model") -> dict:
    """{checkpoint key: Keras variable} for every weight of `model` (a registry model of `arch`)."""
    if arch not in PATHS:
        raise ValueError(f"no reference checkpoint layout for arch {arch!r}; known: {', '.join(sorted(PATHS))}")
    return {_variable_key(arch, root, layer, weight): weight
            for layer in model.layers for weight in layer.weights}


def load_reference_checkpoint(path: str, arch: str, *, input_shape=None, options: dict = None,
                              root: str = "model", model: keras.Model = None) -> keras.Model:
    """Our Keras `arch` model holding the weights of the authors' checkpoint at `path` (prefix or folder).

    arch: `inception_small` (their SmallInception: the released CIFAR-10/100
      checkpoints), `resnet50` (snt.nets.ResNet50: the released ImageNet
      checkpoints), `resnet50_v2`, `resnet50_cifar`, `resnet18_cifar` (their
      libarch/resnet.py ResNetV2 family).
    input_shape: default (None, None, channels of the checkpoint's first
      convolution), i.e. any image size, as their Sonnet modules.
    options: registry options; default: ImageNet normalization for the
      ImageNet architectures, none otherwise (inputs in [0, 1]).
    root: the checkpoint's attribute holding the model (`model` in their demo.py).
    model: a model to fill instead of building `arch` (e.g. one of the same
      family at other depths or widths); input_shape and options are then unused.
    The number of classes is read from the checkpoint's logits bias.
    """
    if arch not in PATHS:
        raise ValueError(f"no reference checkpoint layout for arch {arch!r}; known: {', '.join(sorted(PATHS))}")
    prefix = checkpoint_prefix(path)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    base = f"{root}/" if root else ""
    logits_key = f"{base}{LOGITS.get(arch, '_logits')}/b{SUFFIX}"
    conv_key = f"{base}{FIRST_CONV.get(arch, '_initial_conv')}/w{SUFFIX}"
    for key in (logits_key, conv_key):
        if key not in shapes:
            raise ValueError(f"{prefix}: no {key!r}; is this a checkpoint of their {arch} model under root {root!r}?")
    num_classes, channels = shapes[logits_key][0], shapes[conv_key][2]
    if options is None:
        options = dict(IMAGENET_NORMALIZER) if arch in IMAGENET_ARCHS else {}
    if model is None:
        model = build(arch, input_shape or (None, None, channels), num_classes, options)
    mapping = reference_variable_map(model, arch, root)
    for key, variable in mapping.items():
        if key not in shapes:
            raise ValueError(f"{prefix}: no {key!r} for {variable.path}")
        value = reader.get_tensor(key)
        if value.size != int(np.prod(variable.shape)) or (value.ndim == variable.ndim and
                                                          tuple(value.shape) != tuple(variable.shape)):
            raise ValueError(f"{key}: shape {value.shape} does not fit {variable.path} {tuple(variable.shape)}")
        variable.assign(np.reshape(value, variable.shape))  # Sonnet's moving stats are [1, 1, 1, C]
    unused = [key for key in shapes if key.startswith(base) and key.endswith(SUFFIX) and key not in mapping
              and not re.search(r"/(_hidden|_counter)/", key)]
    if unused:
        raise ValueError(f"{prefix}: {len(unused)} model variables have no place in {arch}, e.g. {unused[:3]}")
    return model
