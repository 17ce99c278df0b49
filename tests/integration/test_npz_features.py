"""Tabular data end to end: scikit-learn's breast-cancer features (569 x 30, bundled, no download) saved as an
npz feature matrix -> im-train (mlp, packed) -> im-aggregate -> im-report, in real processes.  The report has
no pictures to show: it leaves out the example figures and says so.  Image-only architectures and image
augmentations are refused in one line before anything is written."""
import json

import numpy as np
import pytest

from influence_mem.formats import released
from tests.helpers import run_module

pytestmark = pytest.mark.integration

N_TRAIN = 400


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    """breast_cancer.npz as docs/own_data.md makes it: features standardized by the training rows' mean/std."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
    x = (x - mean) / std
    path = tmp_path_factory.mktemp("tabular") / "breast_cancer.npz"
    np.savez(path, x_train=x[:N_TRAIN], y_train=y[:N_TRAIN], x_test=x[N_TRAIN:], y_test=y[N_TRAIN:])
    return path, y


def check(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_train_aggregate_report_on_a_feature_matrix(tabular, tmp_path):
    path, labels = tabular
    work, estimates, report = tmp_path / "work", tmp_path / "estimates", tmp_path / "report"
    check(run_module("influence_mem.train", f"--dataset=npz:{path}", "--arch=mlp", "--mlp_hidden=32", "--trials=0-7",
                     "--pack_trials=4", "--epochs=10", "--batch_size=32", "--save_model=false",
                     "--checkpoint_every=0", f"--workdir={work}"))
    for trial in range(8):
        metrics = json.loads((work / "0.7" / str(trial) / "metrics.json").read_text())
        assert metrics["num_subset"] == round(0.7 * N_TRAIN)
        assert metrics["test_accuracy"] > 0.85, (trial, metrics["test_accuracy"])  # the features were learned
    check(run_module("influence_mem.estimate", f"--workdir={work}", f"--output_dir={estimates}", "--name=cancer"))
    matrix = released.load_infl_matrix(estimates / "cancer_infl_matrix.npz")
    np.testing.assert_array_equal(matrix.tr_labels, labels[:N_TRAIN])
    assert len(matrix.tt_labels) == len(labels) - N_TRAIN and np.isfinite(matrix.tr_mem).all()
    proc = check(run_module("influence_mem.analysis.report", f"--estimates={estimates}", f"--output_dir={report}",
                            f"--dataset=npz:{path}", "--longtail=false"))
    assert "trials: 8" in proc.stdout and "feature vectors" in proc.stderr
    written = {p.name for p in report.iterdir()}
    assert "cancer_influence_histogram.png" in written and "cancer_memorization_counts.csv" in written
    pictures = {"memorization_near_0_05_1.png", "memorization_examples.png", "strongest_pairs.png",
                "near_duplicates.csv"}  # the pixel-distance check too
    assert not {name for name in written if name.endswith(tuple(pictures)) or "pair_examples" in name}, written
    summary = (report / "summary.md").read_text()
    assert "feature vectors" in summary and "no example figures" in summary
    assert "## High-influence pairs" in summary  # the rest of the report is there


@pytest.mark.parametrize("flags,message", [
    (["--arch=small_cnn"], "--arch=small_cnn needs images"),
    (["--arch=mlp", "--crop_padding=2"], "crops and flips augment images"),
])
def test_image_only_choices_are_refused_in_one_line(tabular, tmp_path, flags, message):
    path, _ = tabular
    proc = run_module("influence_mem.train", f"--dataset=npz:{path}", *flags, "--trials=0", "--epochs=1",
                      f"--workdir={tmp_path / 'work'}")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "feature vectors of 30 values" in last, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.npz"))
