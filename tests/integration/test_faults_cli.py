"""The programs under bad input, run as a user runs them: one clear line on stderr, exit code != 0, nothing
written (docs/reliability.md)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from influence_mem.estimate import simulate
from influence_mem.formats import trial as trial_format
from tests.helpers import REPO, subprocess_env

pytestmark = pytest.mark.integration


def _run(*argv, env_extra=None, timeout=300):
    env = subprocess_env(**(env_extra or {}))
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def _error_line(proc) -> str:
    """The last non-empty stderr line, checked to be the program's one error line (no traceback)."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.strip()][-1]


def _workdir(root, n=20, n_test=6, dataset="simulated"):
    work = root / "work"
    simulate.write_dataset_meta(work, np.arange(n) % 2, np.arange(n_test) % 2, dataset=dataset)
    rng = np.random.default_rng(0)
    for k in range(3):
        mask = np.zeros(n, bool)
        mask[rng.permutation(n)[:n // 2]] = True
        simulate.write_trial(work / "0.5", k, mask, rng.random(n) < 0.8, rng.random(n_test) < 0.7)
    return work


def test_slurm_array_accepts_only_an_integer_task_id(tmp_path):
    marker = tmp_path / "x"
    proc = _run("bash", "launchers/slurm_array.sh", 0, 9, 1, "--",
                env_extra={"SLURM_ARRAY_TASK_ID": f"first[$(touch {marker})]", "DRY_RUN": "1"})
    assert "is not a non-negative integer" in _error_line(proc)
    assert not marker.exists()


def test_im_aggregate_refuses_a_crafted_labels_file(tmp_path):
    work = _workdir(tmp_path)
    crafted = tmp_path / "meta.npz"
    target = tmp_path / "pwn"
    np.savez(crafted, tr_labels=np.arange(20) % 2, tt_labels=np.arange(6) % 2, dataset=np.array(str(target)))
    before = sorted(os.listdir(work))
    proc = _run(sys.executable, "-m", "influence_mem.aggregate", f"--workdir={work}", "--subset_ratio=0.5",
                f"--labels_from={crafted}")
    assert "output name" in _error_line(proc)
    assert sorted(os.listdir(work)) == before and not list(tmp_path.glob("pwn*"))


def test_im_aggregate_refuses_an_output_dir_that_is_a_file(tmp_path):
    work = _workdir(tmp_path)
    (tmp_path / "f").write_text("x")
    proc = _run(sys.executable, "-m", "influence_mem.aggregate", f"--workdir={work}", "--subset_ratio=0.5",
                f"--output_dir={tmp_path / 'f'}")
    assert "not a directory" in _error_line(proc)


def test_im_report_checks_its_inputs_and_output_before_writing(tmp_path):
    work = _workdir(tmp_path)
    ok = _run(sys.executable, "-m", "influence_mem.aggregate", f"--workdir={work}", "--subset_ratio=0.5")
    assert ok.returncode == 0, ok.stderr[-2000:]
    out = tmp_path / "report"
    proc = _run(sys.executable, "-m", "influence_mem.analysis.report", f"--estimates={work}",
                f"--output_dir={out}", "--compare=/nonexistent", "--nolongtail")
    assert "/nonexistent" in _error_line(proc)
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    proc = _run(sys.executable, "-m", "influence_mem.analysis.report", f"--estimates={work}",
                f"--output_dir={tmp_path / 'file'}", "--nolongtail")
    assert "not a directory" in _error_line(proc)
    proc = _run(sys.executable, "-m", "influence_mem.analysis.report", f"--estimates={work}", "--name=../x")
    assert "output name" in _error_line(proc)


def _status(work, *extra):
    return _run(sys.executable, "-m", "influence_mem.train.status", f"--workdir={work}", *extra)


def test_im_status_on_bad_ranges_and_corrupt_claim_files(tmp_path):
    work = _workdir(tmp_path)
    proc = _status(work, "--trials=5-1")
    _error_line(proc)
    assert "range '5-1' is empty" in proc.stderr
    unfinished = [trial_format.work_dir(str(work), 0.5, t) for t in (7, 8, 9, 10)]
    for path in unfinished:
        os.makedirs(path)
    open(os.path.join(unfinished[0], trial_format.FAILED_FILE), "w").write("{corrupt")
    open(os.path.join(unfinished[1], trial_format.FAILED_FILE), "w").write(json.dumps([1, 2]))
    open(os.path.join(unfinished[2], trial_format.CLAIM_FILE), "w").write(json.dumps({"pid": "abc", "host": "h"}))
    os.makedirs(os.path.join(unfinished[3], trial_format.CLAIM_FILE))
    proc = _status(work, "--trials=0-10")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_ray_run_block_raises_for_a_killed_trainer_so_ray_retries_it():
    sys.path.insert(0, str(REPO / "launchers"))
    try:
        import ray_trials
    finally:
        sys.path.pop(0)
    code, _, _ = ray_trials.run_block(["python", "-c", "import sys; sys.exit(3)"])
    assert code == 3  # an ordinary failure is reported, not retried
    with pytest.raises(ray_trials.TrainerKilled, match="signal 9"):
        ray_trials.run_block(["python", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
