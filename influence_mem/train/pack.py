"""Backend: train K trials at once as one packed model (--pack_trials=K).

A small model leaves the device idle and per-step overhead dominates, so K
trials step together in one graph (train.packed_graph: batched forward and
backward passes, one SGD update of the stacked weights, a sub-pack per core).

Each packed trial is the trial it would be alone (train.one_model):
- its subset, init, shuffle and augment seeds come from data.subsets;
- its initial weights are the registry model built after
  keras.utils.set_random_seed(seeds['init']), i.e. identical to K = 1
  (replayed by models.initial_weights instead of built once per trial);
- its data order and per-example augmentation seeds are
  data.pipeline.epoch_order's for its own shuffle/augment seeds and the
  epoch, as the one-model pipeline draws them for in-memory datasets, so
  they do not depend on the pack;
- same lr schedule, momentum, weight decay (Keras SGD on the stacked
  variables: element-wise, so per model) and per-model batch size.
Subsets of one ratio have equal size m, so all K trials take ceil(m/B) steps
per epoch.  Each trial is checkpointed in the one-model format
(train.pack_checkpoints) and written by train.outputs.write_trial, as for one model.
"""
import itertools
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem.data.augment import augment_fn
from influence_mem.data.base import Dataset
from influence_mem.data.pipeline import epoch_order, in_memory_split
from influence_mem.models.initial_weights import InitialWeights, Unsupported, weights_of
from influence_mem.models.packed_model import stack_weights
from influence_mem.train.checkpoints import SaveSchedule
from influence_mem.train.config import TrainConfig
from influence_mem.train.pack_checkpoints import PackCheckpoints
from influence_mem.train.packed_graph import SubPacks, default_parts, part_sizes
from influence_mem.train.plan import TrainedTrial
from influence_mem.train.recipe import augmentation, build_model, history_record, make_optimizer
from influence_mem.train.strategy import check_batch_size

_NOT_BUILT = object()


class PackCache:
    """What the packs of one dataset, config and strategy build once and then reuse: the replay of the
    registry model's initialization, and sub-packs (weights reloaded, optimizers zeroed), so that their
    graph is traced once, not once per pack.

    Each Pack makes its own; hand one to several (run_trials' `pack_cache`) to share it across runs,
    as the benchmark's runs do.
    """
    KEPT = 2  # sub-packs kept, by sizes: a run's full packs and its last one

    def __init__(self, dataset: Dataset, config: TrainConfig, strategy=None):
        self.dataset, self.config = dataset, config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.augment = augment_fn(*augmentation(config, dataset))
        self._initial = _NOT_BUILT
        self._sub_packs = {}  # sizes -> SubPacks, the last used last

    def serves(self, dataset: Dataset, config: TrainConfig, strategy) -> bool:
        return dataset is self.dataset and config == self.config and strategy is self.strategy

    def kept(self) -> list:
        """The sub-packs kept for later packs, the last used last."""
        return list(self._sub_packs.values())

    def initial_weights(self, seed: int):
        """The registry model's initialization as a replay (models.initial_weights.InitialWeights), or None
        where it cannot be.

        Built on first use: it costs two model builds once, then ~0.5 ms per trial
        instead of a ~25 ms Keras build (digits MLP).
        """
        if self._initial is _NOT_BUILT:
            try:
                self._initial = InitialWeights(lambda: build_model(self.config, self.dataset), seeds=(seed, seed + 1))
            except Unsupported as e:
                logging.warning("packed trials: %s; building a Keras model per trial for its initial weights", e)
                self._initial = None
        return self._initial

    def sub_packs(self, sizes, template: keras.Model, stacked, steps_per_epoch: int) -> SubPacks:
        """SubPacks of `sizes` holding `stacked` (the trials' initial weights) and fresh optimizers: the
        kept ones of these sizes, else new ones."""
        key = tuple(sizes)
        sub_packs = self._sub_packs.pop(key, None)
        if sub_packs is None:
            splits = {split: in_memory_split(self.dataset, split) for split in ("train", "test")}
            sub_packs = SubPacks(template, stacked, sizes, splits, self.augment, self.strategy,
                                 lambda: make_optimizer(self.config, steps_per_epoch)[1], self.config.l2)
        else:
            sub_packs.load(stacked)
        self._sub_packs[key] = sub_packs
        while len(self._sub_packs) > self.KEPT:
            self._sub_packs.pop(next(iter(self._sub_packs)))
        return sub_packs


def _epoch_order(plans, epoch: int, augmented: bool):
    """Every trial's example ids in `epoch`'s order [K, m] and their augment seeds [K, m, 2] (zeros
    without augmentation), as each trial alone draws them (data.pipeline.epoch_order)."""
    drawn = [epoch_order(p.ids, p.seeds["shuffle"], p.seeds["augment"], epoch, augmented) for p in plans]
    order = np.stack([ids for ids, _ in drawn])
    seeds = np.stack([s for _, s in drawn]) if augmented else np.zeros(order.shape + (2,), np.int64)
    return order, seeds


class Pack:
    """Trains plans K at a time as one packed model; one TrainedTrial per plan, as if trained alone."""

    def __init__(self, dataset: Dataset, config: TrainConfig, size: int, strategy=None, checkpoint_every: int = 1,
                 keep_models: bool = False, parts: int = None, cache: PackCache = None,
                 checkpoint_seconds: float = 0.0):
        """`checkpoint_every`, `checkpoint_seconds`: save every N epochs, at most once per that many seconds
        (checkpoints.SaveSchedule).
        `keep_models`: lend each TrainedTrial a model holding its slice (always with config.save_model).
        `parts`: sub-packs stepped at once (SubPacks; default: default_parts).
        `cache`: what earlier packs of this dataset, config and strategy built (default: a new one)."""
        self.dataset, self.config, self.size = dataset, config, size
        self.strategy = strategy or tf.distribute.get_strategy()
        self.parts = default_parts(self.strategy) if parts is None else parts
        if self.parts < 1:
            raise ValueError(f"a pack needs at least one part, got {self.parts}")
        self.checkpoint_every, self.checkpoint_seconds = checkpoint_every, checkpoint_seconds
        self.keep_models = keep_models or config.save_model
        check_batch_size(self.strategy, config.batch_size)
        if dataset.stream is not None:
            raise ValueError(f"--pack_trials > 1 needs an in-memory dataset; {dataset.name} is streamed")
        self.cache = cache or PackCache(dataset, config, self.strategy)
        if not self.cache.serves(dataset, config, self.strategy):
            raise ValueError("a PackCache serves the packs of one dataset, config and strategy only")

    def train(self, plans, checkpoint_dirs=None, still_ours=None):
        """Train `plans` together; a TrainedTrial per plan, in order.

        With `checkpoint_dirs` (one per plan), each trial's slice is saved there
        every `checkpoint_every` epochs, at most once per `checkpoint_seconds`, in
        the one-model format, and a pack whose trials all saved the same epoch
        resumes from it.  `still_ours[k]()` says
        whether trial k's claim still holds; a trial taken over by another
        worker is not saved.
        """
        started = time.time()
        if checkpoint_dirs is not None and len(checkpoint_dirs) != len(plans):
            raise ValueError(f"{len(plans)} trials but {len(checkpoint_dirs)} checkpoint directories")
        if len({len(p.ids) for p in plans}) != 1:
            raise ValueError("packed trials need subsets of one size (one --subset_ratio)")
        label = f"trials {plans[0].trial}..{plans[-1].trial} (pack of {len(plans)})"
        steps_per_epoch = plans[0].steps_per_epoch  # subsets of one ratio have one size
        template, initial = self._initial_weights([p.seeds["init"] for p in plans])
        sub_packs = self.cache.sub_packs(part_sizes(len(plans), self.parts), template, initial, steps_per_epoch)
        saved = None
        if checkpoint_dirs and self.checkpoint_every > 0:
            saved = PackCheckpoints(checkpoint_dirs, sub_packs, template, self.config, steps_per_epoch)
        first_epoch = self._resume(saved, initial, label)
        epoch_losses = self._run_epochs(sub_packs, plans, first_epoch, saved, still_ours, label, started)
        evaluation = sub_packs.evaluate(self.config.eval_batch_size)
        seconds = time.time() - started
        # One registry model takes each trial's slice in turn: the writer uses it before the next is loaded.
        # When nobody reads the model, no slice is copied.
        models = sub_packs.members(template) if self.keep_models else itertools.repeat(None)
        (train_index, train_correct), (test_index, test_correct) = evaluation["train"], evaluation["test"]
        for k, (plan, model) in enumerate(zip(plans, models)):
            extra = {"final_loss": float(epoch_losses[-1][k]) if epoch_losses else None,  # None: no epoch left to run
                     "resumed_from_epoch": first_epoch,
                     "replicas": self.strategy.num_replicas_in_sync, "pack": {"size": len(plans), "position": k},
                     "wall_seconds": round(seconds / len(plans), 3),
                     "history": history_record(self.config, steps_per_epoch,
                                               range(first_epoch + 1, self.config.epochs + 1),
                                               loss=[losses[k] for losses in epoch_losses])}
            yield TrainedTrial(plan, (train_index, train_correct[k]), (test_index, test_correct[k]), extra,
                               model=model)

    def _initial_weights(self, seeds) -> tuple:
        """(a registry model, the (trainable, non-trainable) [K, ...] initial weights of the trials of init
        `seeds`): each the registry model's built after set_random_seed(seed), as one model's."""
        initial = self.cache.initial_weights(seeds[0])
        if initial is not None:
            return initial.template, initial.stacked(seeds)
        weights = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            template = build_model(self.config, self.dataset)
            weights.append(weights_of(template))
        return template, stack_weights(weights)

    def _resume(self, saved: PackCheckpoints, initial, label: str) -> int:
        """The epoch the pack resumes from: its trials' checkpoints' (PackCheckpoints.restore), or 0."""
        if saved is None:
            return 0
        epoch = saved.restore(initial, label)
        if epoch:
            logging.info("%s: resuming from checkpoints at epoch %d/%d", label, epoch, self.config.epochs)
        return epoch

    def _run_epochs(self, sub_packs: SubPacks, plans, first_epoch: int, saved, still_ours, label: str,
                    started: float) -> list:
        """Train epochs first_epoch.. of `plans`, saving as checkpoints.SaveSchedule says; each epoch's [K] mean
        losses."""
        config = self.config
        ours = list(still_ours or [lambda: True] * len(plans))
        schedule = SaveSchedule(self.checkpoint_every, self.checkpoint_seconds)
        epoch_losses = []
        for epoch in range(first_epoch, config.epochs):
            order, seeds = _epoch_order(plans, epoch, sub_packs.augment is not None)
            losses = sub_packs.run_epoch(order, seeds, config.batch_size)
            epoch_losses.append(losses)
            if saved is not None and epoch + 1 < config.epochs and schedule.due(epoch + 1):
                saved.save(epoch + 1, ours)
                schedule.saved()
            if (epoch + 1) % max(1, config.log_every_epochs) == 0 or epoch + 1 == config.epochs:
                logging.info("%s epoch %d/%d mean loss %.4f (%.4f..%.4f) (%.1fs)", label, epoch + 1, config.epochs,
                             losses.mean(), losses.min(), losses.max(), time.time() - started)
        return epoch_losses
