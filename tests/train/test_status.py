"""python -m influence_mem.train.status: done / in progress / failed / missing trials and the --trials to rerun."""
import json
import socket
import subprocess
import sys

import pytest

from influence_mem.train import status


def make_workdir(root):
    """Ratio 0.7 with trials 0-1 done, 2 in progress (live claim, checkpoint at epoch 3), 3 failed with
    an error, 5 killed (dead owner), 4 and 6 missing; ratio 0.5 with trial 1 done."""
    import tensorflow as tf

    from influence_mem.train import claims

    for ratio, trial in ((0.7, 0), (0.7, 1), (0.5, 1)):
        path = root / str(ratio) / str(trial)
        path.mkdir(parents=True)
        (path / "aux_arrays.npz").write_bytes(b"complete")
    live = claims.claim_trial(str(root), 0.7, 2)
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    tf.train.CheckpointManager(ckpt, f"{live.work}/ckpt", max_to_keep=1).save(checkpoint_number=3)
    claims.claim_trial(str(root), 0.7, 3).release(failure="ResourceExhaustedError: OOM")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    work = root / "0.7" / ".5.inprogress"
    work.mkdir()
    (work / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "t"}))
    (root / "0.7" / "6").mkdir()  # a leftover without aux_arrays.npz does not count as done
    return live, dead.pid


def test_report_classifies_every_trial(tmp_path):
    live, dead_pid = make_workdir(tmp_path)
    try:
        text = status.report(str(tmp_path), expected=range(8))
    finally:
        live.release()
    lines = text.splitlines()
    assert lines[0] == "subset ratio 0.5: 1 done, 0 in progress, 0 failed, 7 missing (of 8: trials 0-7)"
    assert lines[1] == "  rerun: --subset_ratio=0.5 --trials=0,2-7"
    assert lines[2] == "subset ratio 0.7: 2 done, 1 in progress, 3 failed, 2 missing (of 8: trials 0-7)"
    assert lines[3] == f"  in progress 2: {socket.gethostname()} pid {live.owner['pid']}, checkpoint at epoch 3"
    assert lines[4] == "  failed 3: error: ResourceExhaustedError: OOM; no checkpoint yet"
    assert lines[5] == f"  failed 5: interrupted ({socket.gethostname()} pid {dead_pid} gone); no checkpoint yet"
    assert lines[6] == "  failed 6: directory without aux_arrays.npz (incomplete copy)"
    assert lines[7] == "  rerun: --subset_ratio=0.7 --trials=3-7"


def test_main_defaults_to_trials_up_to_the_largest_seen(tmp_path, program, capsys):
    for trial in (0, 3):
        (tmp_path / "0.7" / str(trial)).mkdir(parents=True)
        (tmp_path / "0.7" / str(trial) / "aux_arrays.npz").write_bytes(b"x")
    program.run(status.define_flags, status.main, f"--workdir={tmp_path}")
    assert capsys.readouterr().out.splitlines() == ["subset ratio 0.7: 2 done, 0 in progress, 0 failed, 2 missing (of 4: "
                                       "trials 0-3)", "  rerun: --subset_ratio=0.7 --trials=1-2"]


def test_status_lists_full_set_runs_that_the_aggregator_skips(tmp_path):
    from influence_mem.estimate.trials import ratio_dirs
    from influence_mem.train.status import report

    for name in ("1", "0.7", "notes", "1.5"):
        (tmp_path / name).mkdir()
    (tmp_path / "1" / "0").mkdir()
    (tmp_path / "1" / "0" / "aux_arrays.npz").write_bytes(b"complete")
    assert sorted(ratio_dirs(str(tmp_path))) == [0.7]  # the estimators need held-out examples
    assert sorted(ratio_dirs(str(tmp_path), include_full=True)) == [0.7, 1.0]
    assert "subset ratio 1: 1 done" in report(str(tmp_path))


def test_main_refuses_a_missing_workdir(tmp_path, program):
    with pytest.raises(SystemExit, match="not a directory"):
        program.run(status.define_flags, status.main, f"--workdir={tmp_path / 'nope'}")


def test_quality_reads_the_finished_trials_and_projects_the_error(tmp_path, program, capsys):
    import numpy as np

    from influence_mem.estimate import estimate_from_arrays
    from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial

    rng = np.random.default_rng(0)
    tr_labels, tt_labels = rng.integers(0, 3, 90), rng.integers(0, 3, 30)
    write_dataset_meta(tmp_path, tr_labels, tt_labels)
    learner = make_learner(rng, tr_labels, tt_labels)
    learner.p_in[:] = 0.85  # the trials do not fit their training subsets
    stacks = learner.trials(rng, 0.7, 25)
    for k in range(25):
        write_trial(tmp_path / "0.7", k, *(a[k] for a in stacks))
    median = float(np.median(estimate_from_arrays(*(a[:25] for a in stacks)).mem_se))
    program.run(status.define_flags, status.main, f"--workdir={tmp_path}", "--trials=0-99", "--quality")
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == (f"  quality from 25 finished trials: median mem_se {median:.4f} now, {median / 2:.4f} projected "
                        f"at 100 trials (se falls as 1/sqrt(t))")
    assert lines[3].startswith(f"    accuracy on their training subsets {100 * stacks[1][stacks[0]].mean():.1f}%; "
                               f"noise alone would give ")
    assert lines[4].startswith("  warning: the trials fit their training subsets at 8")
    program.run(status.define_flags, status.main, f"--workdir={tmp_path}")  # opt-in: no trial is read without it
    assert len(capsys.readouterr().out.splitlines()) == 2
    (tmp_path / "dataset_meta.npz").unlink()
    with pytest.raises(SystemExit, match="error: --quality: .*dataset_meta.npz"):
        program.run(status.define_flags, status.main, f"--workdir={tmp_path}", "--quality")
