"""Interruptions: a trainer really killed with SIGKILL mid-training, then rerun, resumes from its checkpoint."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

from conftest import REPO, run_module

# ~60 steps per epoch for 24 epochs: long enough to be killed well before the end.
TRAIN = ["--flagfile=configs/digits_mlp.cfg", "--trials=0", "--epochs=24", "--batch_size=16", "--save_model=false",
         "--checkpoint_every=1"]


def start_trainer(workdir, log_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "influence_mem.train", *TRAIN, f"--workdir={workdir}"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def latest_checkpoint_epoch(work):
    """The epoch number of the newest complete checkpoint in a trial's work dir (0 if none)."""
    state = work / "ckpt" / "checkpoint"
    if not state.exists():
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(found.group(1)) if found else 0


def test_sigkill_leaves_nothing_counted_and_rerun_resumes_to_the_same_result(tmp_path):
    from influence_mem.estimate.trials import list_trials

    killed, reference = tmp_path / "killed", tmp_path / "reference"
    ref_proc = start_trainer(reference, tmp_path / "reference.log")
    proc = start_trainer(killed, tmp_path / "killed.log")
    work = killed / "0.7" / ".0.inprogress"
    deadline = time.time() + 240
    while latest_checkpoint_epoch(work) < 1:
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    killed_at = latest_checkpoint_epoch(work)
    assert 1 <= killed_at < 24

    # Nothing the aggregator would count: no trial directory, only the hidden work dir.
    assert not (killed / "0.7" / "0").exists()
    assert list_trials(killed / "0.7") == ([], [])
    assert json.loads((work / "claim.json").read_text())["pid"] == proc.pid

    rerun = run_module("influence_mem.train", *TRAIN, f"--workdir={killed}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"trial 0: resuming from checkpoint at epoch (\d+)/24", rerun.stderr)
    assert resumed and int(resumed.group(1)) >= killed_at
    assert "epoch 1/24 " not in rerun.stderr  # the finished epochs were not retrained
    metrics = json.loads((killed / "0.7" / "0" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == int(resumed.group(1))
    assert sorted(p.name for p in (killed / "0.7").iterdir()) == ["0"]  # work dir removed after commit

    # Resuming replays the same data order, so the result equals an uninterrupted run's.
    assert ref_proc.wait(timeout=300) == 0, (tmp_path / "reference.log").read_text()[-2000:]
    with np.load(killed / "0.7" / "0" / "aux_arrays.npz") as a, \
            np.load(reference / "0.7" / "0" / "aux_arrays.npz") as b:
        for key in ("subsample_idx", "index_test", "correctness_train", "correctness_removed",
                    "correctness_test"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ref_metrics = json.loads((reference / "0.7" / "0" / "metrics.json").read_text())
    assert ref_metrics["resumed_from_epoch"] == 0
    np.testing.assert_allclose(metrics["final_loss"], ref_metrics["final_loss"], rtol=1e-4)


def test_two_workers_on_overlapping_ranges_train_each_trial_once(tmp_path):
    args = ["--flagfile=configs/digits_mlp.cfg", "--epochs=3", "--batch_size=64", "--save_model=false",
            f"--workdir={tmp_path}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    workers = [subprocess.Popen([sys.executable, "-m", "influence_mem.train", *args, f"--trials={spec}"],
                                cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
               for spec in ("0-3", "1-4")]
    logs = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs[0][-2000:] + logs[1][-2000:]

    started = [[int(t) for t in re.findall(r"trial (\d+): claimed by \S+ pid", log)] for log in logs]
    assert sorted(started[0] + started[1]) == [0, 1, 2, 3, 4]  # every trial trained by exactly one worker
    for trial in range(5):
        metrics = json.loads((tmp_path / "0.7" / str(trial) / "metrics.json").read_text())
        owner = 0 if trial in started[0] else 1
        assert metrics["worker"]["pid"] == workers[owner].pid
        with np.load(tmp_path / "0.7" / str(trial) / "aux_arrays.npz") as aux:
            assert len(aux["correctness_train"]) + len(aux["correctness_removed"]) == 1437
    assert sorted(p.name for p in (tmp_path / "0.7").iterdir()) == ["0", "1", "2", "3", "4"]


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path, monkeypatch):
    import socket

    from influence_mem.train import outputs

    workdir = str(tmp_path)
    mine = outputs.claim_trial(workdir, 0.7, 5)
    assert mine is not None and outputs.claim_trial(workdir, 0.7, 5) is None
    assert outputs.claim_state(mine.work)[0] == "live"
    mine.release(failure="ValueError: boom")
    assert json.loads((tmp_path / "0.7" / ".5.inprogress" / "failed.json").read_text())["error"] == "ValueError: boom"
    assert outputs.claim_state(mine.work)[0] == "none"

    # A killed worker on this host: its claim is stale at once; the checkpoints stay.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    work = tmp_path / "0.7" / ".6.inprogress"
    (work / "ckpt").mkdir(parents=True)
    (work / "ckpt" / "keep").write_text("x")
    (work / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "t"}))
    taken = outputs.claim_trial(workdir, 0.7, 6)
    assert taken is not None and taken.owner["pid"] == os.getpid() and (work / "ckpt" / "keep").exists()
    taken.release()

    # Another host: live while its heartbeat is fresh, stale after the timeout.
    work = tmp_path / "0.7" / ".7.inprogress"
    work.mkdir()
    (work / "claim.json").write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "u"}))
    assert outputs.claim_trial(workdir, 0.7, 7, stale_seconds=600) is None
    old = time.time() - 601
    os.utime(work / "claim.json", (old, old))
    assert outputs.claim_state(str(work), 600)[0] == "stale"
    monkeypatch.setattr(outputs, "HEARTBEAT_SECONDS", 0.05)
    taken = outputs.claim_trial(workdir, 0.7, 7, stale_seconds=600)
    assert taken is not None
    os.utime(work / "claim.json", (old, old))
    time.sleep(0.5)  # the heartbeat refreshes it
    assert outputs.claim_state(str(work), 600)[0] == "live"

    # The worker that lost its claim notices and leaves the new owner's claim alone.
    monkeypatch.setattr(outputs, "HEARTBEAT_SECONDS", 60.0)
    time.sleep(0.2)  # the heartbeat thread is now in its long wait
    (work / "claim.json").write_text(json.dumps({"host": "elsewhere", "pid": 2, "token": "v"}))
    assert not taken.held()
    taken.release()
    assert json.loads((work / "claim.json").read_text())["token"] == "v"


def test_a_trial_that_raises_is_recorded_as_failed_with_its_error(tmp_path):
    from influence_mem.train import status
    from influence_mem.data import datasets
    from influence_mem.train.main import TrialsFailed, run_trials
    from influence_mem.train.trial import TrainConfig

    config = TrainConfig(epochs=1, save_model=False, arch_options={"mlp_hidden": "64,oops"})
    try:
        run_trials(datasets.load("digits"), config, [0, 1], str(tmp_path))
    except TrialsFailed as e:
        assert e.failed == [0, 1] and e.summary["done"] == []
    else:
        raise AssertionError("TrialsFailed not raised")
    for trial in (0, 1):  # both trials were attempted, each left its error and no claim
        work = tmp_path / "0.7" / f".{trial}.inprogress"
        assert "ValueError" in json.loads((work / "failed.json").read_text())["error"]
        assert not (work / "claim.json").exists()
    text = status.report(str(tmp_path))
    assert "failed 0: error: ValueError: invalid literal for int() with base 10: 'oops'" in text
    assert text.splitlines()[-1] == "  rerun: --subset_ratio=0.7 --trials=0-1"


def test_checkpoint_restores_weights_and_is_discarded_under_another_config(tmp_path):
    import keras

    from influence_mem.train.checkpoints import TrialCheckpoint, latest_epoch

    def fresh(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        return model, keras.optimizers.SGD(0.1, momentum=0.9)

    config = {"epochs": 30, "base_lr": 0.1, "log_every_epochs": 1}
    model, optimizer = fresh(1)
    TrialCheckpoint(str(tmp_path / "ckpt"), model, optimizer, config).save(3)
    assert latest_epoch(str(tmp_path / "ckpt")) == 3

    other, other_opt = fresh(2)  # only a logging flag differs: resumes, with the saved weights
    assert TrialCheckpoint(str(tmp_path / "ckpt"), other, other_opt, {**config, "log_every_epochs": 5}).restore() == 3
    for saved, restored in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(saved, restored)

    changed, changed_opt = fresh(3)  # another learning rate: the checkpoint is not this trial's
    assert TrialCheckpoint(str(tmp_path / "ckpt"), changed, changed_opt, {**config, "base_lr": 0.2}).restore() == 0
    assert latest_epoch(str(tmp_path / "ckpt")) == 0
