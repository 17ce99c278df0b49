"""Backend: one Keras model per trial (--pack_trials=1), under any tf.distribute strategy.

Trains a TrialPlan with the recipe's model.fit, checkpointing every
`checkpoint_every` epochs so a killed trial resumes bitwise where it stopped
(train.checkpoints), and evaluates it on both splits.
"""
import time

import keras
import tensorflow as tf
from absl import logging

from influence_mem.data import pipeline
from influence_mem.data.base import Dataset
from influence_mem.train import checkpoints, recipe
from influence_mem.train.config import TrainConfig
from influence_mem.train.plan import TrainedTrial, TrialPlan
from influence_mem.train.strategy import check_batch_size


class OneModel:
    """Trains plans one at a time, each as its own Keras model (one compiled model, reset per trial)."""
    size = 1

    def __init__(self, dataset: Dataset, config: TrainConfig, strategy=None, checkpoint_every: int = 1,
                 checkpoint_seconds: float = 0.0):
        """Checkpoints every `checkpoint_every` epochs, at most once per `checkpoint_seconds`
        (checkpoints.SaveSchedule), and after the last."""
        self.dataset, self.config = dataset, config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.checkpoint_every, self.checkpoint_seconds = checkpoint_every, checkpoint_seconds
        check_batch_size(self.strategy, config.batch_size)
        self._compiled = None  # (model, schedule, optimizer) reused by every trial: traced once

    def _model(self, plan: TrialPlan):
        """The compiled model holding `plan`'s initial weights and a fresh optimizer.

        Every trial reuses one compiled model (its weights and optimizer state
        reset), because each newly compiled model leaves its traced training
        step in TensorFlow's function library for the life of the process
        (~5 MB a trial: bench/memory.py).  Its initial weights are those of the
        registry model built after set_random_seed(init seed), as a new model's
        would be.  float16 rebuilds (its loss-scale state is not a zero reset).
        """
        config, dataset, strategy = self.config, self.dataset, self.strategy
        if self._compiled is None or config.precision == "mixed_float16":
            self._compiled = recipe.compiled_model(config, dataset, plan, strategy)
            return self._compiled
        model, _, optimizer = self._compiled
        keras.utils.set_random_seed(plan.seeds["init"])
        with strategy.scope():
            model.set_weights(recipe.build_model(config, dataset).get_weights())
            for variable in optimizer.variables:
                variable.assign(tf.zeros_like(variable))
        return self._compiled

    def train(self, plans, checkpoint_dirs=None, still_ours=None):
        """A TrainedTrial per plan, in order.  checkpoint_dirs[k] (None: no checkpoints) holds plan k's
        checkpoints; training of plan k stops early once still_ours[k]() turns False."""
        checkpoint_dirs = checkpoint_dirs or [None] * len(plans)
        still_ours = still_ours or [lambda: True] * len(plans)
        for plan, directory, ours in zip(plans, checkpoint_dirs, still_ours):
            yield self.train_one(plan, directory, ours)

    def train_one(self, plan: TrialPlan, checkpoint_dir: str = None, still_ours=lambda: True) -> TrainedTrial:
        started = time.time()
        config, dataset, strategy = self.config, self.dataset, self.strategy
        model, schedule, optimizer = self._model(plan)
        checkpoint, initial_epoch = None, 0
        if checkpoint_dir and self.checkpoint_every > 0:
            with strategy.scope():
                checkpoint = checkpoints.TrialCheckpoint(checkpoint_dir, model, optimizer, config)
                initial_epoch = checkpoint.restore()
        callbacks = [recipe.EpochLogger(plan.trial, config.epochs, config.log_every_epochs, schedule)]
        if checkpoint:
            callbacks.append(checkpoints.CheckpointEveryEpochs(checkpoint, self.checkpoint_every, config.epochs,
                                                               still_ours, self.checkpoint_seconds))
        if initial_epoch:
            logging.info("trial %d: resuming from checkpoint at epoch %d/%d", plan.trial, initial_epoch,
                         config.epochs)
        # The epochs left, from one iterator: a resumed run reads what it would have read.
        history = recipe.fit(model, recipe.train_batches(dataset, config, plan, initial_epoch), config, plan,
                             initial_epoch, callbacks)
        train_eval, test_eval = (recipe.predict_correct(model, pipeline.eval_pipeline(dataset, split,
                                                                                      config.eval_batch_size))
                                 for split in ("train", "test"))
        losses = history.history.get("loss")
        return TrainedTrial(plan, train_eval, test_eval, model=model, extra={
            "final_loss": float(losses[-1]) if losses else None, "resumed_from_epoch": initial_epoch,
            "replicas": strategy.num_replicas_in_sync, "wall_seconds": round(time.time() - started, 3),
            "history": recipe.history_record(config, plan.steps_per_epoch, range(initial_epoch + 1, config.epochs + 1),
                                             **{k: history.history.get(k, []) for k in ("loss", "accuracy")})})
