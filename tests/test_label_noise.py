"""Label corruption (data.corrupt, --corrupt_fraction) and the estimator comparison (analysis.label_noise).

Planted mislabels: digits with 5% of the training labels flipped to another
class; the subsampled, last-layer-only and turn-over dropout estimators must
each rank the flipped examples above the clean ones (AUROC > 0.9).
"""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from influence_mem.analysis import label_noise
from influence_mem.data import corrupt, datasets
from influence_mem.estimate import trial_format
from influence_mem.train import outputs
from tests.conftest import REPO, run_module

FRACTION = 0.05


def test_corrupt_labels_changes_exactly_the_recorded_ids_to_another_class():
    labels = np.arange(1000) % 10
    new, ids = corrupt.corrupt_labels(labels, 10, 0.3, seed=4)
    assert len(ids) == 300 and len(np.unique(ids)) == 300 and np.all(np.diff(ids) > 0)
    changed = np.flatnonzero(new != labels)
    np.testing.assert_array_equal(changed, ids)  # every recorded id changed, nothing else did
    assert new.min() >= 0 and new.max() <= 9
    again, ids_again = corrupt.corrupt_labels(labels, 10, 0.3, seed=4)
    np.testing.assert_array_equal(again, new)
    np.testing.assert_array_equal(ids_again, ids)
    assert not np.array_equal(corrupt.corrupt_labels(labels, 10, 0.3, seed=5)[1], ids)
    same, none = corrupt.corrupt_labels(labels, 10, 0.0)
    assert len(none) == 0 and np.array_equal(same, labels)
    with pytest.raises(ValueError, match="corrupt_fraction"):
        corrupt.corrupt_labels(labels, 10, 1.5)


def test_new_labels_are_uniform_over_the_other_classes():
    labels = np.zeros(90_000, np.int64)
    new, ids = corrupt.corrupt_labels(labels, 10, 1.0, seed=0)
    counts = np.bincount(new[ids], minlength=10)
    assert counts[0] == 0
    expected = 90_000 / 9
    assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))  # 5 sigma


def test_corrupt_dataset_trains_on_corrupted_labels_and_records_them():
    digits = datasets.load("digits")
    bad = corrupt.corrupt_dataset(digits, FRACTION, seed=1)
    assert len(bad.corrupted_idx) == round(FRACTION * digits.num_train)
    labels = np.concatenate([b["label"].numpy() for b in bad.source("train").batch(512)])
    np.testing.assert_array_equal(labels, bad.train_labels)
    assert np.all(labels[bad.corrupted_idx] != digits.train_labels[bad.corrupted_idx])
    np.testing.assert_array_equal(bad.test_labels, digits.test_labels)
    meta = bad.meta()
    np.testing.assert_array_equal(meta["tr_labels"], bad.train_labels)
    np.testing.assert_array_equal(meta["corrupted_idx"], bad.corrupted_idx)


def test_auroc_table_known_answers():
    corrupted = [3, 4]
    table = label_noise.auroc_table({"perfect": [0, 0.1, 0.2, 0.9, 1.0], "reversed": [1, 1, 1, 0, 0],
                                     "constant": [0.5] * 5}, corrupted)
    assert table.set_index("estimator")["auroc"].to_dict() == {"perfect": 1.0, "reversed": 0.0, "constant": 0.5}
    row = table.iloc[0]
    assert row["num_corrupted"] == 2 and row["num_clean"] == 3
    assert row["mem_mean_corrupted"] == pytest.approx(0.95) and row["mem_mean_clean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="outside"):
        label_noise.auroc_table({"x": [0, 1]}, [5])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Digits with 5% flipped labels; estimates of all three estimators (small, trained to fit the noise)."""
    from influence_mem.estimate.aggregator import aggregate_workdir
    from influence_mem.train.last_layer import run_last_layer
    from influence_mem.train.config import TrainConfig
    from influence_mem.turnover import trainer as turnover
    from influence_mem.turnover.main import write_estimates

    root = tmp_path_factory.mktemp("label_noise")
    dataset = corrupt.corrupt_dataset(datasets.load("digits"), FRACTION, seed=0)
    # Constant lr, momentum, 60 epochs: enough for the MLP to fit most flipped labels when it sees them.
    config = TrainConfig(arch_options={"mlp_hidden": "512"}, epochs=60, batch_size=64, base_lr=0.1,
                         lr_schedule="constant", save_model=False, log_every_epochs=100)
    trials = list(range(12))
    # The subsampled trials through the trainer CLI: --corrupt_fraction must give the same corrupted dataset.
    result = run_module("influence_mem.train", "--dataset=digits", "--mlp_hidden=512", "--epochs=60",
                        "--batch_size=64", "--base_lr=0.1", "--lr_schedule=constant", "--momentum=0.9",
                        "--save_model=false", "--trials=0-11", "--pack_trials=12", f"--corrupt_fraction={FRACTION}",
                        "--corrupt_seed=0", f"--workdir={root / 'sub'}")
    assert result.returncode == 0, result.stderr[-3000:]
    aggregate_workdir(root / "sub", 0.7, output_dir=root / "subsampled")
    run_last_layer(dataset, config, trials, str(root / "ll"), linear_epochs=40, pack_trials=12)
    aggregate_workdir(root / "ll", 0.7, output_dir=root / "last_layer", name="digits")
    model = turnover.train(dataset, dataclasses.replace(config, epochs=20))
    write_estimates(str(root / "turnover"), "digits", dataset, turnover.turnover_estimates(model, dataset), 0.25, 0.15)
    return root, dataset


def test_trainer_cli_records_corrupted_ids_per_trial(planted):
    root, dataset = planted
    for trial in (0, 11):
        path = root / "sub" / "0.7" / str(trial)
        np.testing.assert_array_equal(np.load(path / corrupt.CORRUPTED_FILE), dataset.corrupted_idx)
        metrics = json.loads((path / "metrics.json").read_text())
        assert metrics["num_corrupted"] == len(dataset.corrupted_idx)
        assert metrics["flags"]["corrupt_fraction"] == FRACTION and metrics["flags"]["corrupt_seed"] == 0
        assert set(outputs.read_npz(str(path / "aux_arrays.npz"))) == set(trial_format.AUX_KEYS)  # heldout format kept
    from influence_mem.estimate.trials import load_dataset_meta

    meta = load_dataset_meta(root / "sub" / "dataset_meta.npz")  # the aggregator reads it as before
    np.testing.assert_array_equal(meta.tr_labels, dataset.train_labels)  # the labels trained on
    np.testing.assert_array_equal(np.load(root / "sub" / "dataset_meta.npz")["corrupted_idx"], dataset.corrupted_idx)


def test_planted_mislabels_get_high_estimates_from_each_estimator(planted):
    root, dataset = planted
    spec = [f"{name}={root / name}" for name in ("subsampled", "last_layer", "turnover")]
    result = run_module("influence_mem.analysis.label_noise", f"--estimates={','.join(spec)}",
                        f"--corrupted={root / 'sub' / 'dataset_meta.npz'}", f"--output_dir={root / 'out'}")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(root / "out" / "label_noise_auroc.csv").set_index("estimator")
    assert list(table.index) == ["subsampled", "last_layer", "turnover"]
    assert (table["num_corrupted"] == len(dataset.corrupted_idx)).all()
    for name, row in table.iterrows():
        assert row["auroc"] > 0.9, f"{name}: AUROC {row['auroc']:.3f} for planted mislabels"
        assert row["mem_mean_corrupted"] > row["mem_mean_clean"] + 0.3, name
    assert (root / "out" / "label_noise_hist.png").stat().st_size > 10_000
    # The turn-over sidecar carries the same corrupted ids.
    np.testing.assert_array_equal(label_noise.load_corrupted_idx(root / "turnover" / "digits_estimates_stats.npz"),
                                  dataset.corrupted_idx)


def test_label_noise_errors_name_the_problem(planted):
    root, _ = planted
    with pytest.raises(ValueError, match="metrics.json"):
        label_noise.load_corrupted_idx(root / "sub" / "0.7" / "0" / "metrics.json")
    with pytest.raises(ValueError, match="no 'corrupted_idx' key"):
        label_noise.load_corrupted_idx(root / "turnover" / "digits_infl_matrix.npz")
    with pytest.raises(ValueError, match="is not NAME=DIR"):
        label_noise.load_scores(["turnover"])
