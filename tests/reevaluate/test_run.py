"""reevaluate.run: runs claimed like trials (done ones skipped, live claims left alone, a killed worker's taken
over), a bad run fails alone with one line and its failed.json, a wrong input as a whole stops before anything
is written."""
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from influence_mem.reevaluate import run as reevaluation
from influence_mem.reevaluate.points import load_points
from influence_mem.reevaluate.runs import RunsError
from tests.helpers import load_aux

pytestmark = pytest.mark.slow


def open_copy(saved_runs, tmp_path, digits):
    runs_dir = tmp_path / "runs"
    shutil.copytree(saved_runs, runs_dir)
    return runs_dir, reevaluation.open_runs(str(runs_dir), 0.7, digits, load_points("digits", digits), "digits")


def test_a_bad_run_fails_alone_with_one_line(saved_runs, tmp_path, digits, caplog):
    runs_dir, runs = open_copy(saved_runs, tmp_path, digits)
    ratio = runs_dir / "0.7"
    (ratio / "1" / "model.keras").unlink()
    shutil.rmtree(ratio / "1" / "saved_model")
    aux = load_aux(ratio / "2")
    aux["index_removed"] = np.append(aux["index_removed"], [len(digits.train_labels), len(digits.train_labels) + 1])
    aux["correctness_removed"] = np.append(aux["correctness_removed"], [True, False])
    np.savez(ratio / "2" / "aux_arrays.npz", **aux)
    out = tmp_path / "out"
    with pytest.raises(reevaluation.RunsFailed) as failure:
        reevaluation.reevaluate_runs(runs, [0, 1, 2, 5], str(out), progress_bar=False)
    failed = failure.value.failed
    reasons = failure.value.summary["failed"]
    assert failed == [1, 2, 5] and failure.value.summary["done"] == [0]
    assert reasons[1].endswith("/0.7/1: no model (model.keras, saved_model/ or checkpoints/ckpt-*.index)")
    assert "aux_arrays.npz: index_train + index_removed (1439 ids, range 0..1438) is not a permutation of " \
           "0..1436" in reasons[2]
    assert reasons[5].endswith("/0.7/5: no such run")
    assert all("\n" not in r for r in reasons.values())
    for run in failed:
        assert json.loads((out / "0.7" / f".{run}.inprogress" / "failed.json").read_text())["error"] == reasons[run]
    assert sorted(os.listdir(out / "0.7")) == [".1.inprogress", ".2.inprogress", ".5.inprogress", "0"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"run {run}: {reasons[run]}" for run in failed]


def test_runs_are_claimed_like_trials(saved_runs, tmp_path, digits):
    runs_dir, runs = open_copy(saved_runs, tmp_path, digits)
    out = tmp_path / "out"
    # Run 1 is held by a live worker (this process); run 2 by a killed one, which left partial outputs.
    live = out / "0.7" / ".1.inprogress"
    live.mkdir(parents=True)
    (live / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": "a"}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = out / "0.7" / ".2.inprogress"
    (killed / "out").mkdir(parents=True)
    (killed / "out" / "aux_arrays.npz").write_text("half written")
    (killed / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "b"}))
    summary = reevaluation.reevaluate_runs(runs, [0, 1, 2], str(out), progress_bar=False)
    assert summary["done"] == [0, 2] and summary["skipped"] == [1] and not summary["failed"]
    assert load_aux(out / "0.7" / "2")["correctness_test"].shape == (digits.num_test,)
    assert not killed.exists()
    (live / "claim.json").unlink()
    summary = reevaluation.reevaluate_runs(runs, [0, 1, 2], str(out), progress_bar=False)
    assert summary["done"] == [1] and summary["skipped"] == [0, 2]
    # Trials of im-train: the experiment record and each trial's config are copied, so im-aggregate checks them.
    assert json.loads((out / "experiment.json").read_text()) == json.loads((runs_dir / "experiment.json").read_text())
    metrics = json.loads((out / "0.7" / "1" / "metrics.json").read_text())
    assert metrics["config"] == json.loads((runs_dir / "0.7" / "1" / "metrics.json").read_text())["config"]
    assert metrics["reevaluated"]["run"] == str(runs_dir / "0.7" / "1") and metrics["reevaluated"]["model"] == "keras"


def test_saved_models_of_a_workdir_are_the_default_selection(saved_runs, tmp_path, digits):
    runs_dir, runs = open_copy(saved_runs, tmp_path, digits)
    (runs_dir / "0.7" / "1" / "model.keras").unlink()  # the SavedModel is used then
    shutil.rmtree(runs_dir / "0.7" / "2" / "saved_model")
    (runs_dir / "0.7" / "2" / "model.keras").unlink()
    assert reevaluation.select_runs(runs) == [0, 1]
    assert reevaluation.select_runs(runs, [2]) == [2]
    summary = reevaluation.reevaluate_runs(runs, [0, 1], str(tmp_path / "out"), verify=True, progress_bar=False)
    assert summary["verify"] == {"runs": 2, "agree": 2 * digits.num_test, "total": 2 * digits.num_test}
    metrics = json.loads((tmp_path / "out" / "0.7" / "1" / "metrics.json").read_text())
    assert metrics["reevaluated"]["model"] == "saved_model" and metrics["verify"]["test"]["agreement"] == 1.0


def test_a_wrong_input_as_a_whole_stops_before_writing(saved_runs, tmp_path, digits):
    runs_dir, runs = open_copy(saved_runs, tmp_path, digits)
    other = digits.__class__(**{**digits.__dict__, "train_labels": (digits.train_labels + 1) % 10})
    with pytest.raises(RunsError, match=r"records 1437 training labels that are not those of --dataset=digits"):
        reevaluation.open_runs(str(runs_dir), 0.7, other, runs.points, "digits")
    with pytest.raises(RunsError, match=r"no runs in"):
        (runs_dir / "0.3").mkdir()
        reevaluation.open_runs(str(runs_dir), 0.3, digits, runs.points, "digits")
    # A first run whose model does not fit the data: nothing would work, nothing is written.
    fewer = digits.__class__(**{**digits.__dict__, "num_classes": 12})
    wrong = reevaluation.open_runs(str(runs_dir), 0.7, fewer, runs.points, "digits")
    with pytest.raises(RunsError, match=r"the first run cannot be used, so none would be: .*/0\.7/0: the model has "
                                        r"10 outputs, digits 12 classes"):
        reevaluation.reevaluate_runs(wrong, [0, 1], str(tmp_path / "out"), progress_bar=False)
    assert not (tmp_path / "out").exists()
