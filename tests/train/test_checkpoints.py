"""train.checkpoints: a trial checkpoint restores its weights and is discarded under another config; the save
schedule keeps every N epochs and at most one save per time limit."""
import dataclasses

import keras
import numpy as np

from influence_mem.train.checkpoints import SaveSchedule, TrialCheckpoint, latest_epoch
from influence_mem.train.config import TrainConfig


def test_checkpoint_restores_weights_and_is_discarded_under_another_config(tmp_path):
    def fresh(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        return model, keras.optimizers.SGD(0.1, momentum=0.9)

    config = TrainConfig(epochs=30, base_lr=0.1, log_every_epochs=1)
    model, optimizer = fresh(1)
    TrialCheckpoint(str(tmp_path / "ckpt"), model, optimizer, config).save(3)
    assert latest_epoch(str(tmp_path / "ckpt")) == 3

    other, other_opt = fresh(2)  # only a logging flag differs: resumes, with the saved weights
    logging_only = dataclasses.replace(config, log_every_epochs=5)
    assert TrialCheckpoint(str(tmp_path / "ckpt"), other, other_opt, logging_only).restore() == 3
    for saved, restored in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(saved, restored)

    changed, changed_opt = fresh(3)  # another learning rate: the checkpoint is not this trial's
    other_lr = dataclasses.replace(config, base_lr=0.2)
    assert TrialCheckpoint(str(tmp_path / "ckpt"), changed, changed_opt, other_lr).restore() == 0
    assert latest_epoch(str(tmp_path / "ckpt")) == 0


def test_save_schedule_keeps_every_n_epochs_and_at_most_one_save_per_time_limit():
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731

    def saves(every, seconds, epoch_ends):
        """The epochs saved when epoch e (1, 2, ...) ends at time epoch_ends[e - 1], training from time 0."""
        now[0] = 0.0
        schedule, saved = SaveSchedule(every, seconds, clock=clock), []
        for epoch, end in enumerate(epoch_ends, start=1):
            now[0] = end
            if schedule.due(epoch):
                saved.append(epoch)
                schedule.saved()
        return saved

    ends = [25.0 * e for e in range(1, 11)]  # 25 s epochs
    assert saves(1, 0, ends) == list(range(1, 11))
    assert saves(2, 0, ends) == [2, 4, 6, 8, 10]
    assert saves(1, 60, ends) == [3, 6, 9]  # 75 s after the start, then 75 s after each save
    assert saves(2, 60, ends) == [4, 8]  # 100 s: the 50 s at epoch 2 is too soon, so is 50 s after epoch 4
    assert saves(0, 0, ends) == []
    assert saves(1, 60, [10.0, 20.0, 59.9, 60.0]) == [4]  # the limit is inclusive
