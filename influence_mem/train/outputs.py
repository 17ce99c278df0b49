"""Writing a trial: <workdir>/<subset_ratio>/<trial>/{aux_arrays.npz, metrics.json, [model.keras, saved_model/]}.

The names and keys are estimate.trial_format's.  A trial is written in a
hidden work dir (trial_format.work_dir: .<trial>.inprogress/out)
and renamed into place only when complete, so a crash or SIGKILL never leaves
a directory the aggregator would count, and of two workers racing on one trial
the second to finish discards its copy.  All I/O goes through tf.io.gfile
(local paths, gs://).
"""
import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from influence_mem.data.npzio import read_npz, write_npz
from influence_mem.formats.released import check_output_dir
from influence_mem.formats.trial import (AUX_FILE, EXPERIMENT_FILE, META_FILE, aux_arrays,
                                         config_differences, experiment_record, training_fields,
                                         trial_dir)
from influence_mem.train.recipe import augmentation


def is_complete(workdir: str, ratio: float, trial: int) -> bool:
    return tf.io.gfile.exists(os.path.join(trial_dir(workdir, ratio, trial), AUX_FILE))


def check_workdir(workdir: str, flag: str = "--workdir") -> None:
    """Raise ValueError (naming `flag`) unless `workdir` is, or can be made, a writable directory.

    Checked before anything is written, so a bad --workdir leaves nothing behind.
    """
    if not workdir or not workdir.strip():
        raise ValueError(f"{flag} is empty; give the directory the trials go to")
    if "://" not in workdir:
        check_output_dir(workdir, flag)
    elif tf.io.gfile.exists(workdir) and not tf.io.gfile.isdir(workdir):
        raise ValueError(f"{flag}={workdir}: exists and is not a directory")
    # (object stores: permissions are known only when writing)


def write_json(path: str, obj: dict) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def commit_trial(temp_dir: str, final_dir: str) -> bool:
    """Rename a finished temporary trial directory into place.

    Returns False (and removes the temporary copy) when another worker already
    completed the trial; an existing complete trial is never overwritten.
    """
    if tf.io.gfile.exists(os.path.join(final_dir, AUX_FILE)):
        tf.io.gfile.rmtree(temp_dir)
        return False
    if tf.io.gfile.exists(final_dir) and not tf.io.gfile.isdir(final_dir):
        raise ValueError(f"{final_dir}: a file stands where the trial's directory goes; move it away and rerun")
    if tf.io.gfile.exists(final_dir):  # a leftover without AUX_FILE: incomplete, replace it
        tf.io.gfile.rmtree(final_dir)
    try:
        tf.io.gfile.rename(temp_dir, final_dir, overwrite=False)
    except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
        tf.io.gfile.rmtree(temp_dir)
        return False
    return True


def ensure_dataset_meta(workdir: str, meta: dict) -> None:
    """Write <workdir>/dataset_meta.npz once; later runs must be on the same dataset."""
    path = os.path.join(workdir, META_FILE)
    if tf.io.gfile.exists(path):
        existing = read_npz(path)
        for key in ("tr_labels", "tt_labels"):
            if key not in existing or not np.array_equal(existing[key], meta[key]):
                raise ValueError(f"{path}: {key} differ from dataset {meta['dataset']}; "
                                 f"this workdir holds trials of another dataset")
        return
    tf.io.gfile.makedirs(workdir)
    temp = f"{path}.tmp-{os.getpid()}"
    write_npz(temp, meta)
    tf.io.gfile.rename(temp, path, overwrite=True)


def check_experiment(workdir: str, config) -> None:
    """Raise ValueError (one line listing the differing flags) if <workdir>/experiment.json records another
    training config than `config` (a TrainConfig); writes nothing."""
    path = os.path.join(workdir, EXPERIMENT_FILE)
    if not tf.io.gfile.exists(path):
        return
    try:
        with tf.io.gfile.GFile(path) as f:
            recorded = json.loads(f.read())["config"]
        if not isinstance(recorded, dict):
            raise TypeError(f"'config' is a {type(recorded).__name__}")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable experiment record ({type(e).__name__}: {e}); "
                         f"move it away if the workdir's trials share one config") from None
    differences = config_differences(recorded, training_fields(dataclasses.asdict(config)))
    if differences:
        raise ValueError(f"{workdir} holds trials of another experiment ({'; '.join(differences)}); "
                         f"use these flags or another --workdir")


def ensure_experiment(workdir: str, config) -> None:
    """Record the workdir's training config in <workdir>/experiment.json the first time (trial_format.
    experiment_record); later runs must train under the same config (check_experiment)."""
    check_experiment(workdir, config)
    path = os.path.join(workdir, EXPERIMENT_FILE)
    if tf.io.gfile.exists(path):
        return
    tf.io.gfile.makedirs(workdir)
    temp = f"{path}.tmp-{os.getpid()}"
    write_json(temp, experiment_record(dataclasses.asdict(config)))
    try:
        tf.io.gfile.rename(temp, path, overwrite=False)
    except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
        tf.io.gfile.remove(temp)  # another worker recorded it first: it must be ours
        check_experiment(workdir, config)



MODEL_FILE = "model.keras"   # keras.models.load_model(<trial>/model.keras)
SAVED_MODEL_DIR = "saved_model"  # tf.saved_model.load: serving signature images -> logits


def save_model(model, out_dir: str) -> None:
    """<out_dir>/model.keras (Keras 3, as turn-over's <name>_turnover.keras) and <out_dir>/saved_model/.

    model.keras holds the trained network without its optimizer or compile settings (an uncompiled copy
    with the same weights): our lr schedules are custom Keras classes, and a compiled model's file would
    load only where influence_mem.train.schedules was imported.  So `keras.models.load_model(path)` works
    in any Python with Keras; resuming training is the checkpoints' job (train.checkpoints).
    """
    inference_copy(model).save(os.path.join(out_dir, MODEL_FILE))
    model.export(os.path.join(out_dir, SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)


def inference_copy(model):
    """`model` itself when it is not compiled, else an uncompiled copy holding its weights (rebuilt from its
    config: keras.models.clone_model would compile the copy too)."""
    if not getattr(model, "compiled", False):
        return model
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


TENSORBOARD_DIR = "tensorboard"  # --tensorboard: tensorboard --logdir=<workdir> shows every trial


def write_tensorboard(log_dir: str, history: dict) -> None:
    """One scalar series per history key (loss, accuracy, lr), step = epoch, as TensorBoard event files.

    Written with TensorFlow's own summary op and the scalars plugin's metadata, so writing needs no
    `tensorboard` package (viewing does: pip install tensorboard; tensorboard --logdir=<workdir>)."""
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for key, values in history.items():
            if key == "epoch":
                continue
            for epoch, value in zip(history["epoch"], values):
                tf.summary.write(key, tf.constant(float(value), tf.float32), step=int(epoch), metadata=metadata)
    writer.close()


def write_aux(out_dir: str, subset, train_eval, test_eval) -> dict:
    """<out_dir>/aux_arrays.npz of a model trained on `subset` with (index, correct) over the whole training
    set and the test split (formats.trial.aux_arrays); its arrays.  The one aux writer: of trained trials
    and of runs evaluated again on new points."""
    aux = aux_arrays(subset, *train_eval, *test_eval)
    write_npz(os.path.join(out_dir, AUX_FILE), aux)
    return aux


def write_trial(dataset, config, trained, out_dir: str, on_trained=None) -> dict:
    """Write a trained trial (plan.TrainedTrial) into `out_dir`: aux_arrays.npz and, when
    config.saves_model(trial), model.keras and its SavedModel; its metrics dict.

    The one writer of both backends, so a trial's files do not depend on how
    it was trained.  `on_trained(model, out_dir)` runs on the trained model
    first (e.g. the last-layer mode's feature extraction).
    """
    plan = trained.plan
    aux = write_aux(out_dir, plan.ids, trained.train_eval, trained.test_eval)
    if on_trained is not None:
        on_trained(trained.model, out_dir)
    if config.saves_model(plan.trial) and trained.model is not None:
        save_model(trained.model, out_dir)
    if config.tensorboard and trained.extra.get("history"):
        write_tensorboard(os.path.join(out_dir, TENSORBOARD_DIR), trained.extra["history"])
    padding, flip = augmentation(config, dataset)
    return {
        "trial": plan.trial, "subset_ratio": config.subset_ratio, "num_subset": int(len(plan.ids)),
        "train_accuracy": float(aux["correctness_train"].mean()),
        "removed_accuracy": float(aux["correctness_removed"].mean()) if len(aux["correctness_removed"]) else None,
        "test_accuracy": float(aux["correctness_test"].mean()),
        "epochs": config.epochs, "seeds": plan.seeds,
        "config": dataclasses.asdict(config), "crop_padding": padding, "flip": flip, **trained.extra,
    }
