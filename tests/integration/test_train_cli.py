"""The im-train program in real processes: SIGKILL mid-training then a rerun that resumes from the checkpoint,
two workers on overlapping trial ranges."""
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from influence_mem.train import main as trainer
from tests.helpers import DIGITS_MLP, REPO, subprocess_env

pytestmark = pytest.mark.integration

# ~60 steps per epoch for 12 epochs of a small MLP: long enough to be killed well before the end.
EPOCHS = 12
TRAIN = [f"--flagfile={DIGITS_MLP}", "--trials=0", f"--epochs={EPOCHS}", "--batch_size=16", "--mlp_hidden=64",
         "--save_model=false", "--checkpoint_every=1", "--checkpoint_seconds=0"]


def start_trainer(workdir, log_path):
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "influence_mem.train", *TRAIN, f"--workdir={workdir}"],
                            cwd=REPO, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)


def latest_checkpoint_epoch(work):
    """The epoch number of the newest complete checkpoint in a trial's work dir (0 if none)."""
    state = work / "ckpt" / "checkpoint"
    if not state.exists():
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(found.group(1)) if found else 0


def test_sigkill_leaves_nothing_counted_and_rerun_resumes_to_the_same_result(tmp_path, program, caplog):
    import logging

    from influence_mem.estimate.trials import list_trials

    killed, reference = tmp_path / "killed", tmp_path / "reference"
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
    assert 1 <= killed_at < EPOCHS

    # Nothing the aggregator would count: no trial directory, only the hidden work dir.
    assert not (killed / "0.7" / "0").exists()
    assert list_trials(killed / "0.7") == ([], [])
    assert json.loads((work / "claim.json").read_text())["pid"] == proc.pid

    # The rerun (im-train's main, in this process) resumes from the killed worker's checkpoint.
    caplog.set_level(logging.INFO)
    program.run(trainer.define_flags, trainer.main, *TRAIN, f"--workdir={killed}")
    resumed = re.search(rf"trial 0: resuming from checkpoint at epoch (\d+)/{EPOCHS}", caplog.text)
    assert resumed and int(resumed.group(1)) >= killed_at
    assert f"epoch 1/{EPOCHS} " not in caplog.text  # the finished epochs were not retrained
    metrics = json.loads((killed / "0.7" / "0" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == int(resumed.group(1))
    assert sorted(p.name for p in (killed / "0.7").iterdir()) == ["0"]  # work dir removed after commit

    # Resuming replays the same data order, so the result equals an uninterrupted run's.
    program.run(trainer.define_flags, trainer.main, *TRAIN, f"--workdir={reference}", "--checkpoint_every=0")
    with np.load(killed / "0.7" / "0" / "aux_arrays.npz") as a, \
            np.load(reference / "0.7" / "0" / "aux_arrays.npz") as b:
        for key in ("subsample_idx", "index_test", "correctness_train", "correctness_removed",
                    "correctness_test"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ref_metrics = json.loads((reference / "0.7" / "0" / "metrics.json").read_text())
    assert ref_metrics["resumed_from_epoch"] == 0
    np.testing.assert_allclose(metrics["final_loss"], ref_metrics["final_loss"], rtol=1e-4)


def test_two_workers_on_overlapping_ranges_train_each_trial_once(tmp_path):
    args = [f"--flagfile={DIGITS_MLP}", "--epochs=2", "--batch_size=64", "--mlp_hidden=64", "--save_model=false",
            f"--workdir={tmp_path}"]
    workers = [subprocess.Popen([sys.executable, "-m", "influence_mem.train", *args, f"--trials={spec}"],
                                cwd=REPO, env=subprocess_env(), stderr=subprocess.PIPE, text=True)
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
