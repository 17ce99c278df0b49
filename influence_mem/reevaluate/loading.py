"""A run's trained model as a callable images -> logits, from whichever form the run kept.

- `model.keras` (im-train --save_model): keras.models.load_model without compiling, so files written
  before the trainer saved them uncompiled (their optimizer used our custom lr schedules) load too.
- `saved_model/` (im-train's export: its `serve` endpoint, [0, 1] images -> logits) through
  keras.layers.TFSMLayer.
- `checkpoints/` (the authors' release): models.load_reference_checkpoint into our Keras model of
  --arch, as their demo.py restores it (heldout-influence-estimation demo.py lines 45-55).

A model of the previous run with the same structure (`reuse`) receives the new weights instead of a
new model being kept: its traced prediction is reused, so a release of thousands of runs traces it once
(each new model would leave its own traced function in TensorFlow's library for the life of the process).

Every form takes the images the evaluation pipeline makes (data.pipeline.eval_pipeline: float32 in
[0, 1]); normalization is part of each model.  RunError (one line) when the model cannot be loaded.
"""
import os

import keras
import tensorflow as tf

from influence_mem import models
from influence_mem.reevaluate.runs import CHECKPOINT_DIR, MODEL_FILE, SAVED_MODEL_DIR, RunError, require_model


class ArchError(ValueError):
    """--arch does not fit the authors' checkpoints (the whole input is wrong: nothing is written)."""


def load_run_model(run_dir: str, arch: str = None, strategy=None, reuse=None):
    """(model, kind) of the run in `run_dir`, built under `strategy`'s scope (default: one device); `reuse`
    (the previous run's model, or None) holds the weights instead when it has the same structure."""
    kind = require_model(run_dir)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        if kind == "checkpoint":
            return _checkpoint(run_dir, arch, reuse if isinstance(reuse, keras.Model) else None), kind
        try:
            if kind == "keras":
                model = keras.models.load_model(os.path.join(run_dir, MODEL_FILE), compile=False)
                if isinstance(reuse, keras.Model) and reuse.get_config() == model.get_config():
                    reuse.set_weights(model.get_weights())
                    return reuse, kind
                return model, kind
            return keras.layers.TFSMLayer(os.path.join(run_dir, SAVED_MODEL_DIR), call_endpoint="serve"), kind
        except Exception as e:  # a corrupt or foreign file: Keras and TensorFlow raise many types
            path = os.path.join(run_dir, MODEL_FILE if kind == "keras" else SAVED_MODEL_DIR)
            raise RunError(f"{path}: cannot be loaded ({type(e).__name__}: {_first_line(e)})") from None


def _checkpoint(run_dir: str, arch: str, reuse=None):
    path = os.path.join(run_dir, CHECKPOINT_DIR)
    if not arch:
        raise ArchError(f"{path}: the authors' checkpoints need --arch (their CIFAR runs: inception_small; "
                        f"ImageNet: resnet50)")
    try:
        return models.load_reference_checkpoint(path, arch, model=reuse)
    except ValueError as e:
        message = _first_line(e)
        if "no reference checkpoint layout" in message or "is this a checkpoint of their" in message \
                or "have no place" in message or "does not fit" in message or "no '" in message:
            raise ArchError(f"--arch={arch} does not fit {path}: {message}") from None
        raise RunError(f"{path}: {message}") from None
    except Exception as e:  # a truncated or corrupt checkpoint (DataLossError, NotFoundError, ...)
        raise RunError(f"{path}: cannot be read ({type(e).__name__}: {_first_line(e)})") from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
