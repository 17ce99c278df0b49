"""train.run.run_trials: skipping complete trials, failed trials, packed runs writing what unpacked runs write."""
import json

import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data.subsets import subset_indices
from influence_mem.data.npzio import read_npz
from influence_mem.formats.trial import AUX_KEYS
from influence_mem.train import run as run_module
from influence_mem.train import status
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import TrialsFailed, run_trials


def test_rerun_skips_completed_trials_and_leaves_no_temp(digits_trial):
    before = (digits_trial["dir"] / "aux_arrays.npz").stat().st_mtime_ns
    summary = run_trials(digits_trial["dataset"], digits_trial["config"], [0], str(digits_trial["workdir"]))
    assert summary == {"done": [], "skipped": [0], "test_accuracy": []}
    assert (digits_trial["dir"] / "aux_arrays.npz").stat().st_mtime_ns == before
    assert [p.name for p in (digits_trial["workdir"] / "0.7").iterdir()] == ["0"]


def test_a_trial_that_raises_is_recorded_as_failed_with_its_error(tmp_path, digits):
    config = TrainConfig(epochs=1, save_model=False, arch_options={"mlp_hidden": "64,oops"})
    with pytest.raises(TrialsFailed) as raised:
        run_trials(digits, config, [0, 1], str(tmp_path))
    assert raised.value.failed == [0, 1] and raised.value.summary["done"] == []
    for trial in (0, 1):  # both trials were attempted, each left its error and no claim
        work = tmp_path / "0.7" / f".{trial}.inprogress"
        assert "ValueError" in json.loads((work / "failed.json").read_text())["error"]
        assert not (work / "claim.json").exists()
    text = status.report(str(tmp_path))
    assert "failed 0: error: ValueError: invalid literal for int() with base 10: 'oops'" in text
    assert text.splitlines()[-1] == "  rerun: --subset_ratio=0.7 --trials=0-1"


def test_a_trial_at_chance_accuracy_is_not_committed(tmp_path, digits):
    config = TrainConfig(epochs=1, lr_schedule="constant", base_lr=0.0, save_model=False)  # stays at its init
    with pytest.raises(TrialsFailed) as raised:
        run_trials(digits, config, [1], str(tmp_path))
    assert raised.value.failed == [1]
    error = json.loads((tmp_path / "0.7" / ".1.inprogress" / "failed.json").read_text())["error"]
    assert "at or below chance (1/10)" in error
    assert not (tmp_path / "0.7" / "1").exists()


@pytest.mark.slow
def test_packed_trials_get_the_same_subsets_init_and_files_as_unpacked(digits, tmp_path, monkeypatch):
    # lr = 0 keeps every trial at its initial weights: the exported packed slice must then be the
    # unpacked trial's model exactly, and the aux arrays must match key by key.  Trials 0-2 in packs of 2:
    # a full pack and a leftover pack of one.  Untrained trials are at chance: let them be committed here.
    monkeypatch.setattr(run_module, "check_trained", lambda metrics, num_classes: None)
    config = TrainConfig(epochs=1, lr_schedule="constant", base_lr=0.0)
    packed = run_trials(digits, config, [0, 1, 2], str(tmp_path / "packed"), pack_trials=2)
    single = run_trials(digits, config, [1], str(tmp_path / "single"))
    assert sorted(packed["done"]) == [0, 1, 2] and single["done"] == [1]
    for trial in (0, 1, 2):
        aux = read_npz(str(tmp_path / "packed" / "0.7" / str(trial) / "aux_arrays.npz"))
        np.testing.assert_array_equal(aux["subsample_idx"], subset_indices(digits.num_train, 0.7, 0, trial))
    p_dir, s_dir = tmp_path / "packed" / "0.7" / "1", tmp_path / "single" / "0.7" / "1"
    p_aux, s_aux = read_npz(str(p_dir / "aux_arrays.npz")), read_npz(str(s_dir / "aux_arrays.npz"))
    assert sorted(p_aux) == sorted(s_aux) == sorted(AUX_KEYS)
    for key in AUX_KEYS:
        assert p_aux[key].dtype == s_aux[key].dtype
        np.testing.assert_array_equal(p_aux[key], s_aux[key])
    images = tf.constant(digits.x_test)
    p_model, s_model = (tf.saved_model.load(str(d / "saved_model")) for d in (p_dir, s_dir))
    np.testing.assert_allclose(p_model.serve(images), s_model.serve(images), rtol=1e-5, atol=1e-6)
    p_metrics = json.loads((p_dir / "metrics.json").read_text())
    s_metrics = json.loads((s_dir / "metrics.json").read_text())
    assert set(s_metrics) <= set(p_metrics) and p_metrics["pack"] == {"size": 2, "position": 1}
    assert p_metrics["seeds"] == s_metrics["seeds"]
    assert json.loads((tmp_path / "packed" / "0.7" / "2" / "metrics.json").read_text())["pack"]["size"] == 1
