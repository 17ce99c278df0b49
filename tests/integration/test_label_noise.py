"""Planted mislabels end to end (data.corrupt, --corrupt_fraction, analysis.label_noise): digits with 5% of
the training labels flipped to another class; the subsampled, last-layer-only and turn-over dropout estimators
must each rank the flipped examples above the clean ones (AUROC > 0.9)."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from influence_mem.analysis import label_noise
from influence_mem.data import corrupt
from influence_mem.formats import trial as trial_format
from influence_mem.data.npzio import read_npz
from tests.helpers import run_program

pytestmark = pytest.mark.integration

FRACTION = 0.05


@pytest.fixture(scope="module")
def planted(tmp_path_factory, digits):
    """Digits with 5% flipped labels; estimates of all three estimators (small, trained to fit the noise)."""
    from influence_mem.estimate.aggregator import aggregate_workdir
    from influence_mem.train.last_layer import run_last_layer
    from influence_mem.train.config import TrainConfig
    from influence_mem.turnover import trainer as turnover
    from influence_mem.train import main as trainer
    from influence_mem.turnover.main import write_estimates

    root = tmp_path_factory.mktemp("label_noise")
    dataset = corrupt.corrupt_dataset(digits, FRACTION, seed=0)
    # Constant lr, momentum, 60 epochs: enough for the MLP to fit most flipped labels when it sees them.
    config = TrainConfig(arch_options={"mlp_hidden": "512"}, epochs=60, batch_size=64, base_lr=0.1,
                         lr_schedule="constant", save_model=False, log_every_epochs=100)
    trials = list(range(12))
    # The subsampled trials through the trainer CLI: --corrupt_fraction must give the same corrupted dataset.
    run_program(trainer.define_flags, trainer.main, "--dataset=digits", "--mlp_hidden=512", "--epochs=60",
                "--batch_size=64", "--base_lr=0.1", "--lr_schedule=constant", "--momentum=0.9",
                "--save_model=false", "--trials=0-11", "--pack_trials=12", f"--corrupt_fraction={FRACTION}",
                "--corrupt_seed=0", f"--workdir={root / 'sub'}")
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
        assert set(read_npz(str(path / "aux_arrays.npz"))) == set(trial_format.AUX_KEYS)  # heldout format kept
    from influence_mem.estimate.trials import load_dataset_meta

    meta = load_dataset_meta(root / "sub" / "dataset_meta.npz")  # the aggregator reads it as before
    np.testing.assert_array_equal(meta.tr_labels, dataset.train_labels)  # the labels trained on
    np.testing.assert_array_equal(np.load(root / "sub" / "dataset_meta.npz")["corrupted_idx"], dataset.corrupted_idx)


def test_planted_mislabels_get_high_estimates_from_each_estimator(planted, program):
    root, dataset = planted
    spec = [f"{name}={root / name}" for name in ("subsampled", "last_layer", "turnover")]
    program.run(label_noise.define_flags, label_noise.main, f"--estimates={','.join(spec)}",
                f"--corrupted={root / 'sub' / 'dataset_meta.npz'}", f"--output_dir={root / 'out'}")
    # AUROCs compare rankings: the accuracy-based and the turn-over (nats) sets need no flag
    table = pd.read_csv(root / "out" / "label_noise_auroc.csv").set_index("estimator")
    assert list(table.index) == ["subsampled", "last_layer", "turnover"]
    assert table["unit"].to_dict() == {"subsampled": "accuracy", "last_layer": "accuracy", "turnover": "nats"}
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
