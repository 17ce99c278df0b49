"""train.one_model: one compiled model serves a run, and a trial trained on it after another trial is
bitwise the trial trained on a model of its own (initial weights and optimizer state reset)."""
import pytest
import numpy as np

from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.plan import plan_trial


@pytest.mark.slow
def test_a_reused_model_trains_each_trial_as_a_fresh_one(digits):
    config = TrainConfig(epochs=2, arch_options={"mlp_hidden": "32"}, save_model=False, log_every_epochs=10)
    plans = [plan_trial(digits.num_train, config, trial) for trial in (0, 1)]
    shared = OneModel(digits, config)
    first, second = list(shared.train(plans))
    assert first.model is second.model  # one compiled model (and one traced training step) for the run
    alone = OneModel(digits, config).train_one(plans[1])
    assert alone.model is not second.model
    for ours, theirs in zip(second.model.get_weights(), alone.model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(second.test_eval[1], alone.test_eval[1])
    assert second.extra["final_loss"] == alone.extra["final_loss"]
