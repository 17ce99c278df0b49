"""train.checkpoints: a trial checkpoint restores its weights and is discarded under another config."""
import dataclasses

import keras
import numpy as np

from influence_mem.train.checkpoints import TrialCheckpoint, latest_epoch
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
