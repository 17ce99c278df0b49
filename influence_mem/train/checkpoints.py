"""Per-epoch tf.train.Checkpoint of a trial, so a killed or pre-empted trial resumes where it stopped.

Checkpoints live in the trial's work dir (claims.work_dir(...)/ckpt), never in
the trial directory the aggregator reads.  A checkpoint holds the model, the
optimizer (its step counter drives the learning-rate schedule) and the number
of finished epochs, plus the trial's config; one written under another config
is discarded rather than resumed.

A resumed trial sees the same data as an uninterrupted one: its input
pipeline (data.pipeline.train_pipeline) starts at the first unfinished epoch
and holds no random state, so nothing needs replaying.
The tests check the result bitwise against an uninterrupted run.
"""
import dataclasses
import json
import os
import time

import keras
import tensorflow as tf
from absl import logging

from influence_mem.formats.trial import NOT_TRAINING  # a checkpoint stays valid when only these differ
from influence_mem.train.config import TrainConfig

CONFIG_FILE = "config.json"


class TrialCheckpoint:
    """Save and restore (model, optimizer, finished epochs) in `directory`, keeping the last one."""

    def __init__(self, directory: str, model: keras.Model, optimizer, config: TrainConfig):
        kept = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_TRAINING}
        self.directory, self.config = directory, json.dumps(kept, sort_keys=True, default=str)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="finished_epochs")
        optimizer.build(model.trainable_variables)  # restore needs the slot variables to exist
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=1)

    def restore(self) -> int:
        """Load the latest checkpoint; the number of epochs it had finished (0 if none)."""
        path = self.manager.latest_checkpoint
        if path is None:
            return 0
        config_path = os.path.join(self.directory, CONFIG_FILE)
        saved = None
        if tf.io.gfile.exists(config_path):
            with tf.io.gfile.GFile(config_path) as f:
                saved = f.read()
        if saved != self.config:
            logging.warning("%s: checkpoint was written under another trial config; starting over", path)
            tf.io.gfile.rmtree(self.directory)
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=1)
            return 0
        try:
            _read_all(path)  # a truncated or corrupt checkpoint fails here, before any variable is touched
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as e:  # noqa: BLE001  (any failure to read it: truncated, corrupt, other shapes)
            self._move_aside(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            return 0
        return int(self.epoch.numpy())

    def _move_aside(self, reason: str) -> None:
        """Keep an unusable checkpoint for inspection (<dir>.corrupt-<time>) and start the trial over."""
        aside = f"{self.directory.rstrip('/')}.corrupt-{int(time.time())}"
        logging.warning("%s: checkpoint cannot be restored (%s); moved to %s, the trial starts over",
                        self.directory, reason, aside)
        tf.io.gfile.rename(self.directory, aside, overwrite=True)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=1)

    def save(self, finished_epochs: int) -> str:
        if not tf.io.gfile.exists(os.path.join(self.directory, CONFIG_FILE)):
            tf.io.gfile.makedirs(self.directory)
            with tf.io.gfile.GFile(os.path.join(self.directory, CONFIG_FILE), "w") as f:
                f.write(self.config)
        self.epoch.assign(finished_epochs)
        return self.manager.save(checkpoint_number=finished_epochs)


class SaveSchedule:
    """Which finished epochs are saved: every `every` epochs (0: none), at most one save per `seconds`
    (0: no limit), counted from the start and from each save.

    A pack saves K checkpoints at once, seconds of work for a large pack (Fashion-MNIST's
    MLP, K = 32: docs/performance.md), so im-train saves at most once a minute by default
    (--checkpoint_seconds): a killed run loses at most that plus `every` epochs.
    """

    def __init__(self, every: int, seconds: float = 0.0, clock=time.monotonic):
        self.every, self.seconds, self.clock = every, seconds, clock
        self.last = clock()

    def due(self, finished_epochs: int) -> bool:
        return self.every > 0 and finished_epochs % self.every == 0 and self.clock() - self.last >= self.seconds

    def saved(self) -> None:
        self.last = self.clock()


class CheckpointEveryEpochs(keras.callbacks.Callback):
    """Save every `every` epochs, at most once per `seconds` (SaveSchedule), and after the last; stop
    training if `still_ours()` turns False."""

    def __init__(self, checkpoint: TrialCheckpoint, every: int, epochs: int, still_ours=lambda: True,
                 seconds: float = 0.0):
        super().__init__()
        self.checkpoint, self.every, self.epochs, self.still_ours = checkpoint, every, epochs, still_ours
        self.schedule = SaveSchedule(every, seconds)

    def on_train_begin(self, logs=None):
        self.schedule.saved()  # the time limit counts from here, not from construction

    def on_epoch_end(self, epoch, logs=None):
        if not self.still_ours():
            logging.warning("the trial's claim was taken over by another worker; stopping this copy")
            self.model.stop_training = True
            return
        if self.schedule.due(epoch + 1) or (self.every > 0 and epoch + 1 == self.epochs):
            self.checkpoint.save(epoch + 1)
            self.schedule.saved()


def _read_all(path: str) -> None:
    """Read every tensor of checkpoint `path` (raises tf.errors.OpError if any is unreadable)."""
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)


def latest_epoch(directory: str) -> int:
    """Finished epochs of the newest checkpoint in `directory` (0 if none or unreadable), without building
    a model."""
    try:
        path = tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(directory) else None
        return int(path.rsplit("-", 1)[1]) if path else 0
    except (tf.errors.OpError, ValueError, IndexError):
        return 0
