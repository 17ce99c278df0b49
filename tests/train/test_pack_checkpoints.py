"""train.pack_checkpoints: a killed pack resumes from its trials' checkpoints, in a pack or alone; sub-packs
that restore different epochs start the whole pack over; a time limit between saves holds for packs and one
model alike."""
import json
import shutil

import numpy as np
import pytest

from influence_mem.train.checkpoints import latest_epoch
from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.pack import Pack
from influence_mem.train.plan import plan_trial
from influence_mem.train.run import run_trials


@pytest.mark.slow
def test_a_killed_pack_resumes_from_its_trials_checkpoints_in_a_pack_or_alone(digits, tmp_path):
    config = TrainConfig(epochs=3, save_model=False)
    plans = [plan_trial(digits.num_train, config, t) for t in (0, 1)]
    ckpts = [str(tmp_path / "ckpt" / str(t)) for t in (0, 1)]
    # Uninterrupted, saving each trial's slice after epoch 2 (the last epoch is not saved: it is committed).
    full = list(Pack(digits, config, 2, checkpoint_every=2).train(plans, ckpts))
    assert [t.extra["resumed_from_epoch"] for t in full] == [0, 0]
    assert [latest_epoch(c) for c in ckpts] == [2, 2]
    # As if killed after epoch 2: the pack resumes there and ends where the uninterrupted one did.
    resumed = list(Pack(digits, config, 2, checkpoint_every=2).train(plans, ckpts))
    assert [t.extra["resumed_from_epoch"] for t in resumed] == [2, 2]
    for k in range(2):
        assert resumed[k].extra["final_loss"] == pytest.approx(full[k].extra["final_loss"], rel=1e-6)
        np.testing.assert_array_equal(resumed[k].test_eval[1], full[k].test_eval[1])
    workdir = tmp_path / "workdir"  # for run_trials below, as a killed worker left it
    for t in (0, 1):
        shutil.copytree(ckpts[t], workdir / "0.7" / f".{t}.inprogress" / "ckpt")
    # The slice checkpoint is the one-model format: trial 1 resumes alone from epoch 2, same batches.
    alone = OneModel(digits, config, checkpoint_every=2).train_one(plans[1], ckpts[1])
    assert alone.extra["resumed_from_epoch"] == 2
    assert alone.extra["final_loss"] == pytest.approx(full[1].extra["final_loss"], rel=1e-4)
    # run_trials packs trials by resume epoch: 0 and 1 resume together at epoch 2, 2 starts from 0.
    run_trials(digits, config, [0, 1, 2], str(workdir), checkpoint_every=2, pack_trials=2)
    metrics = [json.loads((workdir / "0.7" / str(t) / "metrics.json").read_text()) for t in (0, 1, 2)]
    assert [m["resumed_from_epoch"] for m in metrics] == [2, 2, 0]
    assert [m["pack"]["size"] for m in metrics] == [2, 2, 1]
    assert metrics[1]["final_loss"] == pytest.approx(full[1].extra["final_loss"], rel=1e-6)


@pytest.mark.slow
def test_sub_packs_restored_at_different_epochs_start_the_pack_over(digits, tmp_path):
    config = TrainConfig(epochs=3, save_model=False, arch_options={"mlp_hidden": "64"})
    plans = [plan_trial(digits.num_train, config, t) for t in range(4)]
    ckpts = [str(tmp_path / str(t)) for t in range(4)]
    list(Pack(digits, config, 2, checkpoint_every=1, parts=1).train(plans[:2], ckpts[:2]))  # trials 0, 1 at epoch 2
    fresh = list(Pack(digits, config, 4, checkpoint_every=0, parts=2).train(plans))
    mixed = list(Pack(digits, config, 4, checkpoint_every=1, parts=2).train(plans, ckpts))  # 2, 3 have none
    assert [t.extra["resumed_from_epoch"] for t in mixed] == [0] * 4
    for a, b in zip(fresh, mixed):  # the restored sub-pack was reloaded with its initial weights
        assert b.extra["final_loss"] == pytest.approx(a.extra["final_loss"], rel=1e-5)


def test_no_save_before_the_time_limit_in_a_pack_or_alone(digits, tmp_path):
    config = TrainConfig(epochs=3, save_model=False, arch_options={"mlp_hidden": "16"})
    plans = [plan_trial(digits.num_train, config, t) for t in (0, 1)]
    packed = [str(tmp_path / "pack" / str(t)) for t in (0, 1)]
    list(Pack(digits, config, 2, checkpoint_every=1, checkpoint_seconds=3600).train(plans, packed))
    assert [latest_epoch(c) for c in packed] == [0, 0]  # epochs 1 and 2 came too soon; the last is never saved
    unlimited = [str(tmp_path / "unlimited" / str(t)) for t in (0, 1)]
    list(Pack(digits, config, 2, checkpoint_every=1, checkpoint_seconds=0).train(plans, unlimited))
    assert [latest_epoch(c) for c in unlimited] == [2, 2]
    alone = str(tmp_path / "alone")
    OneModel(digits, config, checkpoint_every=1, checkpoint_seconds=3600).train_one(plans[0], alone)
    assert latest_epoch(alone) == 3  # one model still saves after its last epoch
