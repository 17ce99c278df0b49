"""Shared test setup: quiet TensorFlow, the repo root, and a one-trial digits run reused by several tests."""
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RELEASED = REPO.parent / "shared" / "data" / "released"


def run_module(module, *args, timeout=600):
    """Run `python -m module args` in a subprocess; returns CompletedProcess (text)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


@pytest.fixture(scope="session")
def digits_trial(tmp_path_factory):
    """One default-config digits MLP trial (trial 0, r = 0.7), trained in-process once per session."""
    from influence_mem.data import datasets
    from influence_mem.train.main import run_trials
    from influence_mem.train.trial import TrainConfig

    workdir = tmp_path_factory.mktemp("digits_run")
    dataset = datasets.load("digits")
    config = TrainConfig(epochs=20, batch_size=128, base_lr=0.1)
    summary = run_trials(dataset, config, [0], str(workdir))
    return {"workdir": workdir, "dataset": dataset, "config": config, "summary": summary,
            "dir": workdir / "0.7" / "0"}
