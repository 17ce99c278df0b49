"""--save_model_trials (the paper's configs save trials 0-9 only), model.keras beside the SavedModel,
metrics.json's per-epoch `history`, --tensorboard event files, and the progress line of run_trials."""
import json

import keras
import numpy as np
import pytest

from influence_mem.train import flags as train_flags
from influence_mem.train import progress
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import run_trials
from tests.helpers import CONFIGS


def test_saves_model_selection():
    assert TrainConfig().saves_model(123)  # default: every trial
    assert not TrainConfig(save_model=False, save_model_trials="0-9").saves_model(0)
    config = TrainConfig(save_model_trials="0-9,20")
    assert [t for t in range(25) if config.saves_model(t)] == list(range(10)) + [20]


def test_save_model_trials_flag(program):
    values = program.parse(train_flags.define_flags, "--save_model_trials=0-2,5", "--workdir=w")
    assert train_flags.config_from_flags().save_model_trials == values.save_model_trials == "0-2,5"
    with pytest.raises(Exception, match="--save_model_trials='x-1'"):
        program.parse(train_flags.define_flags, "--save_model_trials=x-1", "--workdir=w")


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.cfg") if p.stem != "digits_mlp"))
def test_paper_configs_save_only_ten_models(path, program):
    program.parse(train_flags.define_flags, f"--flagfile={path}", "--workdir=w", "--undefok=linear_epochs")
    config = train_flags.config_from_flags()
    assert [t for t in range(4000) if config.saves_model(t)] == list(range(10)), path.name


@pytest.mark.slow
@pytest.mark.parametrize("pack", [1, 2])
def test_saved_trials_write_a_keras_file_history_and_tensorboard(pack, digits, tmp_path, monkeypatch):
    logged = []  # the progress lines (exporting a SavedModel may raise the absl logger's level meanwhile)
    monkeypatch.setattr(progress.logging, "info", lambda fmt, *args: logged.append(fmt % args))
    config = TrainConfig(epochs=2, save_model_trials="1", tensorboard=True)
    summary = run_trials(digits, config, [0, 1], str(tmp_path), pack_trials=pack, progress_bar=False)
    assert summary["done"] == [0, 1]
    saved, unsaved = tmp_path / "0.7" / "1", tmp_path / "0.7" / "0"
    assert not (unsaved / "model.keras").exists() and not (unsaved / "saved_model").exists()
    model = keras.models.load_model(saved / "model.keras")
    assert (saved / "saved_model" / "saved_model.pb").is_file()
    assert model.predict(digits.x_test[:4].astype(np.float32) / 16.0 if digits.x_test.dtype != np.uint8
                         else digits.x_test[:4], verbose=0).shape == (4, 10)
    history = json.loads((saved / "metrics.json").read_text())["history"]
    assert history["epoch"] == [1, 2] and len(history["loss"]) == 2 and history["lr"][-1] == 0
    if pack == 1:
        assert len(history["accuracy"]) == 2
    assert list((saved / "tensorboard").iterdir())  # event files
    lines = [line for line in logged if "trials/min" in line]
    assert lines and lines[-1].startswith("trials 2/2, ") and "ETA 0:00:00" in lines[-1]
