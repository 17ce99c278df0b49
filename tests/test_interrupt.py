"""Interruptions: a trainer really killed with SIGKILL mid-training, then rerun, resumes from its checkpoint."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

from conftest import REPO, run_module

# ~60 steps per epoch for 40 epochs: long enough to be killed well before the end.
TRAIN = ["--flagfile=configs/digits_mlp.cfg", "--trials=0", "--epochs=40", "--batch_size=16", "--save_model=false"]


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
    while latest_checkpoint_epoch(work) < 2:
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    killed_at = latest_checkpoint_epoch(work)
    assert 2 <= killed_at < 40

    # Nothing the aggregator would count: no trial directory, only the hidden work dir.
    assert not (killed / "0.7" / "0").exists()
    assert list_trials(killed / "0.7") == ([], [])
    assert json.loads((work / "claim.json").read_text())["pid"] == proc.pid

    rerun = run_module("influence_mem.train", *TRAIN, f"--workdir={killed}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"trial 0: resuming from checkpoint at epoch (\d+)/40", rerun.stderr)
    assert resumed and int(resumed.group(1)) >= killed_at
    assert "epoch 1/40 " not in rerun.stderr  # the finished epochs were not retrained
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
