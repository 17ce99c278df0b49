"""The launchers running real processes: slots with their devices, local CPU workers, a local Ray instance,
the Slurm array mapping."""
import json
import os
import subprocess
import sys

import pytest

from influence_mem_launchers import local
from tests.helpers import DIGITS_MLP, REPO, subprocess_env

pytestmark = pytest.mark.integration

TINY = [f"--flagfile={DIGITS_MLP}", "--epochs=2", "--save_model=false", "--mlp_hidden=32"]


def run_script(*argv, env_extra=None, timeout=300):
    return subprocess.run([*map(str, argv)], capture_output=True, text=True, cwd=REPO,
                          env=subprocess_env(**(env_extra or {})), timeout=timeout)


def test_each_slot_runs_its_processes_with_its_devices(tmp_path):
    show = [sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    # A block's name is its --trials spec.
    results = local.run_blocks([(str(k), show) for k in range(6)], ["0", "1,2"], str(tmp_path))
    assert sorted(name for name, _ in results) == [str(k) for k in range(6)]
    assert all(code == 0 for _, code in results)
    seen = {(tmp_path / f"trials-{k}.log").read_text().strip() for k in range(6)}
    assert seen <= {"0", "1,2"} and len(seen) >= 1


def test_local_launcher_on_cpu_workers_summarizes_done_and_claimed(tmp_path):
    # Trial 3 is held by a live worker elsewhere: left alone, reported, exit status 1.
    work = tmp_path / "0.7" / ".3.inprogress"
    work.mkdir(parents=True)
    (work / "claim.json").write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    out = run_script(sys.executable, "launchers/local.py", *TINY, f"--workdir={tmp_path}", "--trials=0-3",
                     "--cpu_workers=2", "--trials_per_process=2", "--gpus=")
    assert out.returncode == 1, out.stderr[-3000:]
    assert "done: 3 trials (0-2)" in out.stderr
    assert "in progress elsewhere: trial 3 (elsewhere pid 1, no checkpoint yet)" in out.stderr
    assert sorted(p.name for p in (tmp_path / "0.7").iterdir()) == [".3.inprogress", "0", "1", "2"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["trials-0-1.log", "trials-2-3.log"]
    metrics = json.loads((tmp_path / "0.7" / "0" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["flags"]["mlp_hidden"] == "32"  # trainer flags were forwarded


def test_ray_launcher_runs_trials_as_tasks_on_a_local_instance(tmp_path):
    out = run_script(sys.executable, "launchers/ray_trials.py", *TINY, f"--workdir={tmp_path}", "--trials=0-3",
                     "--gpus_per_trial=0", "--cpus_per_trial=1", "--num_cpus=2", "--trials_per_task=2",
                     env_extra={"RAY_USAGE_STATS_ENABLED": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 trials in 2 Ray tasks" in out.stderr and "done: 4 trials (0-3)" in out.stderr
    for trial in range(4):
        assert (tmp_path / "0.7" / str(trial) / "aux_arrays.npz").exists()
    assert sorted(p.name for p in (tmp_path / "0.7").iterdir()) == ["0", "1", "2", "3"]


@pytest.mark.parametrize("task,expected", [(0, "--trials=0-9"), (1, "--trials=10-19"), (3, "--trials=30-35"),
                                           (4, "no trials left")])
def test_slurm_array_task_maps_to_a_block(task, expected):
    out = run_script("bash", "launchers/slurm_array.sh", 0, 35, 10, "--", "--workdir=/w",
                     env_extra={"SLURM_ARRAY_TASK_ID": str(task), "DRY_RUN": "1"})
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout
    if "trials=" in expected:
        assert out.stdout.strip().endswith(f"python -m influence_mem.train --workdir=/w {expected}")


def test_slurm_array_rejects_bad_arguments():
    out = run_script("bash", "launchers/slurm_array.sh", 0, "x", 10, env_extra={"SLURM_ARRAY_TASK_ID": "0"})
    assert out.returncode == 1 and "error: 'x' is not a non-negative integer" in out.stderr
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    out = subprocess.run(["bash", "launchers/slurm_array.sh", "0", "9", "5"], capture_output=True, text=True,
                         cwd=REPO, env=env)
    assert out.returncode == 1 and "SLURM_ARRAY_TASK_ID is unset" in out.stderr


def test_slurm_array_runs_the_program_PROGRAM_names():
    out = run_script("bash", "launchers/slurm_array.sh", 0, 35, 10, "--", "--runs=/r", "--workdir=/w",
                     env_extra={"SLURM_ARRAY_TASK_ID": "1", "DRY_RUN": "1", "PROGRAM": "reevaluate"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("python -m influence_mem.reevaluate --runs=/r --workdir=/w --trials=10-19")
    out = run_script("bash", "launchers/slurm_array.sh", 0, 35, 10, env_extra={"SLURM_ARRAY_TASK_ID": "1",
                                                                            "PROGRAM": "train; rm -rf /"})
    assert out.returncode == 1 and "error: PROGRAM='train; rm -rf /': expected train, train.last_layer or " \
                                   "reevaluate" in out.stderr
