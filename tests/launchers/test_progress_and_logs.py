"""The launchers: one progress line per finished block (trials done/total, rate, ETA); the Ray task body keeps
its trainer's whole log in a file."""
import sys

import pytest

from influence_mem.train import progress
from influence_mem_launchers import local


def test_run_blocks_reports_progress_per_block(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(progress, "interactive", lambda: False)  # log lines, not a bar (pytest may hold ipykernel)
    monkeypatch.setattr(progress.logging, "info", lambda fmt, *args: logged.append(fmt % args))
    commands = [("0-3", [sys.executable, "-c", "print('a')"]), ("4-5", [sys.executable, "-c", "print('b')"])]
    results = local.run_blocks(commands, ["", ""], str(tmp_path))
    assert sorted(results) == [("0-3", 0), ("4-5", 0)]
    lines = [line for line in logged if "trials/min" in line]
    assert len(lines) == 2 and lines[-1].startswith("trials 6/6, ") and "exit 0" in lines[-1]
    assert (tmp_path / "trials-0-3.log").read_text() == "a\n"


def test_ray_task_keeps_its_log(tmp_path):
    ray_trials = pytest.importorskip("influence_mem_launchers.ray_trials")
    log = tmp_path / "logs" / "trials-0-9.log"
    for _ in range(2):  # a retried task appends
        code, host, tail = ray_trials.run_block(["python", "-c", "print('trained')"], str(log))
    assert code == 0 and tail == "trained\n"
    text = log.read_text()
    assert text.count("trained\n") == 2 and text.count("=== exit 0") == 2
