"""Launchers: GPU pinning and trial blocks (pure functions), local CPU workers, a local Ray instance, Slurm mapping."""
import json
import os
import subprocess
import sys

import pytest
from absl import flags

from conftest import REPO

sys.path.insert(0, str(REPO / "launchers"))
import local  # noqa: E402

TINY = ["--flagfile=configs/digits_mlp.cfg", "--epochs=2", "--save_model=false", "--mlp_hidden=32"]


def run_script(*argv, env_extra=None, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    return subprocess.run([*map(str, argv)], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


def test_visible_gpus_from_environment_or_nvidia_smi():
    assert local.visible_gpus("0,1,3") == ["0", "1", "3"]
    assert local.visible_gpus("") == [] and local.visible_gpus("-1") == []
    listing = "\n".join(f"GPU {k}: Tesla P100-PCIE-16GB (UUID: GPU-{k})" for k in range(8))
    assert local.visible_gpus(None, listing) == [str(k) for k in range(8)]
    assert local.visible_gpus(None, "") == []


def test_device_groups_pin_one_gpu_or_a_mirrored_group_per_process():
    gpus = [str(k) for k in range(8)]
    assert local.device_groups(gpus, "per_gpu") == gpus
    assert local.device_groups(gpus, "mirrored") == ["0,1,2,3,4,5,6,7"]
    assert local.device_groups(gpus, "mirrored", 2) == ["0,1", "2,3", "4,5", "6,7"]
    assert local.device_groups(["4", "6"], "per_gpu") == ["4", "6"]
    assert local.device_groups([], "per_gpu", cpu_workers=3) == ["", "", ""]
    with pytest.raises(ValueError, match="--gpus_per_process=3 does not divide the 8 GPUs"):
        local.device_groups(gpus, "mirrored", 3)


def test_blocks_cover_the_trials_in_order():
    from influence_mem.estimate.trial_format import parse_trials

    for spec, size in (("0-3999", 10), ("0-34", 10), ("3,7,9-12", 2), ("5", 4)):
        trials = parse_trials(spec)
        got = local.blocks(trials, size)
        assert [t for b in got for t in b] == trials
        assert all(1 <= len(b) <= size for b in got) and all(len(b) == size for b in got[:-1])
    command = local.trainer_command([10, 11, 12, 20], ["--workdir=/w"], mirrored=True, python="py")
    assert command == ["py", "-m", "influence_mem.train", "--workdir=/w", "--strategy=mirrored", "--num_gpus=0",
                       "--trials=10-12,20"]
    assert local.trainer_command([1], [], False, "py", "influence_mem.train.last_layer")[:3] == \
        ["py", "-m", "influence_mem.train.last_layer"]


def test_forwarded_flags_are_the_ones_set_minus_launcher_flags():
    values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "", flag_values=values)
    flags.DEFINE_string("trials", "0", "", flag_values=values)
    flags.DEFINE_integer("epochs", 30, "", flag_values=values)
    flags.DEFINE_float("base_lr", 0.1, "", flag_values=values)
    flags.DEFINE_integer("cpu_workers", 1, "", flag_values=values)
    values(["prog", "--workdir=/w", "--trials=0-9", "--epochs=5", "--cpu_workers=4"])
    assert local.forwarded_flags(values) == ["--epochs=5", "--workdir=/w"]


def test_each_slot_runs_its_processes_with_its_devices(tmp_path):
    show = [sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    results = local.run_blocks([(f"b{k}", show) for k in range(6)], ["0", "1,2"], str(tmp_path))
    assert sorted(name for name, _ in results) == [f"b{k}" for k in range(6)]
    assert all(code == 0 for _, code in results)
    seen = {(tmp_path / f"trials-b{k}.log").read_text().strip() for k in range(6)}
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
    assert out.returncode == 2 and "error: 'x' is not a non-negative integer" in out.stderr
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    out = subprocess.run(["bash", "launchers/slurm_array.sh", "0", "9", "5"], capture_output=True, text=True,
                         cwd=REPO, env=env)
    assert out.returncode == 2 and "SLURM_ARRAY_TASK_ID is unset" in out.stderr
