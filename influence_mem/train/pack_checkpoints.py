"""Checkpoints of a pack: each packed trial's slice in its own directory, in the one-model format.

Every trial's slice (weights, momentum, step, finished epochs) is saved as
checkpoints.TrialCheckpoint saves one model, so a killed pack resumes, in a pack or
alone, from its last saved epoch.
"""
import keras
import numpy as np
from absl import logging

from influence_mem.train import checkpoints
from influence_mem.train.config import TrainConfig
from influence_mem.train.packed_graph import PackedTrainer, SubPacks, size_slices
from influence_mem.train.recipe import make_optimizer


class PackCheckpoints:
    """The checkpoints of the trials of `sub_packs`, directories[k] holding trial k's (in pack order)."""

    def __init__(self, directories, sub_packs: SubPacks, template: keras.Model, config: TrainConfig,
                 steps_per_epoch: int):
        """`template`: a model of the pack's architecture, into which each slice is copied to be saved."""
        self.directories, self.sub_packs = list(directories), sub_packs
        # One model and optimizer stage every trial's slice on its way to or from its checkpoint.
        self.template, self.optimizer = template, make_optimizer(config, steps_per_epoch)[1]
        self.checkpoints = [checkpoints.TrialCheckpoint(d, template, self.optimizer, config) for d in directories]

    def _parts(self):
        """(trainer, its trials' positions in the pack) per sub-pack."""
        return zip(self.sub_packs.trainers, size_slices(self.sub_packs.sizes))

    def _pairs(self, trainer: PackedTrainer):
        """(one model's variable, the pack's) for the weights and the optimizer state."""
        single = self.template.trainable_variables + self.template.non_trainable_variables + self.optimizer.variables
        packed = trainer.packed.trainable + trainer.packed.non_trainable + trainer.optimizer.variables
        return list(zip(single, packed))

    def save(self, finished_epochs: int, still_ours) -> None:
        """Save every trial's slice whose claim `still_ours[k]()` holds (another worker owns the others)."""
        for trainer, part in self._parts():
            pairs = self._pairs(trainer)
            values = [packed.numpy() for _, packed in pairs]
            for k, (checkpoint, ours) in enumerate(zip(self.checkpoints[part], still_ours[part])):
                if not ours():
                    continue
                for (single, _), value in zip(pairs, values):  # stacked [k, ...] values give slice k; scalars are shared
                    single.assign(value if value.shape == tuple(single.shape) else value[k])
                checkpoint.save(finished_epochs)

    def restore(self, initial, label: str) -> int:
        """Load every trial's checkpoint into its slice; the epoch the pack resumes from.

        A pack resumes only if all its trials saved the same epoch (run_trials packs them so);
        otherwise, or if a checkpoint is unusable, it starts over: 0, every sub-pack holding its share
        of `initial` (the trials' initial weights) and a zeroed optimizer.
        """
        resumed = {self._restore_part(trainer, part) for trainer, part in self._parts()}
        if len(resumed) > 1:  # some sub-packs restored, others could not
            logging.warning("%s: its sub-packs' checkpoints are at different epochs; starting the pack over", label)
            self.sub_packs.load(initial)
            return 0
        return resumed.pop()

    def _restore_part(self, trainer: PackedTrainer, part: slice) -> int:
        """One sub-pack's restore: its epoch, or 0 with nothing loaded."""
        directories, trial_checkpoints = self.directories[part], self.checkpoints[part]
        saved = {checkpoints.latest_epoch(d) for d in directories}
        if saved == {0}:
            return 0
        if len(saved) > 1:
            logging.warning("pack of %d: its trials' checkpoints are at epochs %s; starting the pack over",
                            len(directories), sorted(saved))
            return 0
        epoch = saved.pop()
        pairs = self._pairs(trainer)
        values = [np.array(packed.numpy()) for _, packed in pairs]  # writable, 0-d arrays for scalars
        for k, checkpoint in enumerate(trial_checkpoints):
            if checkpoint.restore() != epoch:
                logging.warning("%s: checkpoint unusable; starting the pack over", directories[k])
                return 0
            for (single, _), value in zip(pairs, values):
                if value.shape == tuple(single.shape):
                    value[...] = single.numpy()
                else:
                    value[k] = single.numpy()
        for (_, packed), value in zip(pairs, values):
            packed.assign(value)
        trainer.packed.sync_low()
        return epoch
