"""The workdir's experiment record (experiment.json): written the first time, other configs refused with
nothing written; truncated checkpoints restart their trial, alone and in a pack (docs/reliability.md)."""
import dataclasses
import glob
import json
import os

import pytest

from influence_mem.formats import trial as trial_format
from influence_mem.train import checkpoints, outputs
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import run_trials


def test_the_record_holds_the_training_fields_only(tmp_path):
    config = TrainConfig(epochs=3, save_model=False)
    outputs.ensure_experiment(str(tmp_path), config)
    record = json.loads((tmp_path / trial_format.EXPERIMENT_FILE).read_text())
    assert record["config"]["epochs"] == 3 and record["config"]["decay_epochs"] == [30, 60, 90]
    assert not set(record["config"]) & set(trial_format.NOT_TRAINING + ("subset_ratio",))
    # fields that do not change training, and the subset ratio (a directory level), may differ
    outputs.ensure_experiment(str(tmp_path), dataclasses.replace(config, save_model=True, eval_batch_size=7,
                                                                  subset_ratio=0.3))
    assert checkpoints.NOT_TRAINING is trial_format.NOT_TRAINING


def test_another_config_is_refused_in_one_line_listing_the_flags(tmp_path):
    outputs.ensure_experiment(str(tmp_path), TrainConfig(epochs=3))
    with pytest.raises(ValueError) as e:
        outputs.check_experiment(str(tmp_path), TrainConfig(epochs=5, base_lr=0.5))
    assert "--base_lr: 0.1 (recorded) != 0.5; --epochs: 3 (recorded) != 5" in str(e.value)
    assert "\n" not in str(e.value)


def test_run_trials_under_another_config_writes_nothing(tmp_path, digits):
    outputs.ensure_experiment(str(tmp_path), TrainConfig(epochs=3, save_model=False))
    with pytest.raises(ValueError, match="another experiment"):
        run_trials(digits, TrainConfig(epochs=4, save_model=False), [0], str(tmp_path))
    assert os.listdir(tmp_path) == [trial_format.EXPERIMENT_FILE]


def test_an_unreadable_record_is_one_error(tmp_path):
    (tmp_path / trial_format.EXPERIMENT_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable experiment record"):
        outputs.check_experiment(str(tmp_path), TrainConfig())


@pytest.mark.slow
@pytest.mark.parametrize("pack", [1, 2])
def test_a_truncated_checkpoint_is_moved_aside_and_its_trials_restart(tmp_path, digits, pack, caplog):
    from influence_mem.train.one_model import OneModel
    from influence_mem.train.pack import Pack
    from influence_mem.train.plan import plan_trial

    config = TrainConfig(epochs=2, save_model=False, log_every_epochs=10)
    plans = [plan_trial(digits.num_train, config, t) for t in range(pack)]
    dirs = [os.path.join(trial_format.work_dir(str(tmp_path), 0.7, t), "ckpt") for t in range(pack)]
    backend = OneModel(digits, config) if pack == 1 else Pack(digits, config, pack)
    list(backend.train(plans, dirs))  # checkpoints of finished trials, as a killed run leaves them
    for directory in dirs:
        assert checkpoints.latest_epoch(directory) >= 1
        for data in glob.glob(os.path.join(directory, "*.data-*")):
            with open(data, "r+b") as f:
                f.truncate(100)
    summary = run_trials(digits, config, list(range(pack)), str(tmp_path), pack_trials=pack)
    assert sorted(summary["done"]) == list(range(pack))
    assert caplog.text.count("checkpoint cannot be restored") + caplog.text.count("starts over") >= 1
    for t in range(pack):
        assert (tmp_path / "0.7" / str(t) / trial_format.AUX_FILE).exists()
