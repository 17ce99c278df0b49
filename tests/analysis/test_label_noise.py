"""analysis.label_noise: the AUROC table on known answers, and estimators in different units compared side by side
(the end-to-end comparison of the estimators on planted mislabels is tests/integration/test_label_noise.py)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from influence_mem import released
from influence_mem.analysis import label_noise


def test_auroc_table_known_answers():
    corrupted = [3, 4]
    table = label_noise.auroc_table({"perfect": [0, 0.1, 0.2, 0.9, 1.0], "reversed": [1, 1, 1, 0, 0],
                                     "constant": [0.5] * 5}, corrupted)
    assert table.set_index("estimator")["auroc"].to_dict() == {"perfect": 1.0, "reversed": 0.0, "constant": 0.5}
    row = table.iloc[0]
    assert row["num_corrupted"] == 2 and row["num_clean"] == 3 and row["unit"] == label_noise.UNSPECIFIED
    assert row["mem_mean_corrupted"] == pytest.approx(0.95) and row["mem_mean_clean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="outside"):
        label_noise.auroc_table({"x": [0, 1]}, [5])


def test_scores_must_be_name_equals_dir():
    with pytest.raises(ValueError, match="is not NAME=DIR"):
        label_noise.load_scores(["turnover"])


N_TRAIN, CORRUPTED = 40, [2, 5, 11, 17, 23, 31]


def _estimate_set(directory, name, mem, sidecar_extra=None, first_label=0):
    """An estimate set of N_TRAIN training / 8 test examples in 2 classes (alternating from `first_label`) with
    memorization `mem`; the sidecar says its unit as the aggregator's (no unit key: accuracy) or
    im-turnover's (`unit`='nats') do."""
    labels, tt = (np.arange(N_TRAIN) + first_label) % 2, np.arange(8) % 2
    tr_idx = {c: np.flatnonzero(labels == c) for c in (0, 1)}
    tt_idx = {c: np.flatnonzero(tt == c) for c in (0, 1)}
    blocks = {c: np.zeros((len(tr_idx[c]), len(tt_idx[c])), np.float32) for c in (0, 1)}
    empty = {"tr_idx": np.zeros(0, np.int64), "tt_idx": np.zeros(0, np.int64), "infl": np.zeros(0, np.float32),
             "mem": np.zeros(0, np.float32)}
    stats = {"num_trials": np.int64(1), "subset_ratio": np.float64(1.0), "n_in": np.ones(N_TRAIN, np.int64),
             "n_out": np.zeros(N_TRAIN, np.int64), "mem_se": np.zeros(N_TRAIN), **(sidecar_extra or {})}
    released.write_estimate_set(directory, name, labels, tt, mem.astype(np.float32), tr_idx, tt_idx, blocks, empty,
                                0.25, 0.15, stats)
    return directory


@pytest.fixture
def mixed_sets(tmp_path):
    """An accuracy-based set (differences of accuracies in [0, 1]) and a turn-over set in nats (scores up to
    ~30), whose scores overlap between clean and corrupted examples differently (AUROCs strictly inside (0, 1))."""
    rng = np.random.default_rng(3)
    bad = np.zeros(N_TRAIN, bool)
    bad[CORRUPTED] = True
    accuracy = np.clip(rng.normal(0.15, 0.15, N_TRAIN) + 0.35 * bad, 0, 1)
    nats = rng.gamma(2.0, 2.0, N_TRAIN) + 6.0 * bad
    sets = {"sub": _estimate_set(tmp_path / "sub", "dg", accuracy),
            "to": _estimate_set(tmp_path / "to", "dg", nats, {"estimator": np.array("turnover"),
                                                              "unit": np.array("nats")})}
    return sets, {"sub": accuracy.astype(np.float32), "to": nats.astype(np.float32)}, bad


def test_mixed_units_give_each_estimator_its_unit_and_sklearn_auroc(mixed_sets):
    sets, mem, bad = mixed_sets
    scores, units = label_noise.load_scores([f"sub={sets['sub']}", f"to={sets['to']}"])  # no flag needed
    assert units == {"sub": "accuracy", "to": "nats"}
    table = label_noise.auroc_table(scores, CORRUPTED, units).set_index("estimator")
    assert table["unit"].to_dict() == units
    for name in ("sub", "to"):
        expected = roc_auc_score(bad, mem[name])
        assert 0 < expected < 1
        assert table.loc[name, "auroc"] == pytest.approx(expected, abs=1e-12)
        # each estimator's means in its own unit (the file's float32 values, averaged in float64)
        assert table.loc[name, "mem_mean_corrupted"] == pytest.approx(mem[name][bad].astype(np.float64).mean())
        assert table.loc[name, "mem_mean_clean"] == pytest.approx(mem[name][~bad].astype(np.float64).mean())
    assert table.loc["to", "mem_mean_corrupted"] > 5  # nats, not rescaled to the accuracy set's [0, 1]


def test_cli_compares_mixed_units_and_draws_one_axis_per_estimator(mixed_sets, tmp_path, program):
    sets, mem, bad = mixed_sets
    np.save(tmp_path / "corrupted_idx.npy", np.array(CORRUPTED))
    out = tmp_path / "noise"
    result = program.invoke(label_noise.define_flags, label_noise.main, f"--estimates=sub={sets['sub']},to={sets['to']}",
                            f"--corrupted={tmp_path / 'corrupted_idx.npy'}", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr
    assert "units differ" in result.stdout
    table = pd.read_csv(out / "label_noise_auroc.csv")
    assert list(table.columns[:3]) == ["estimator", "unit", "auroc"]
    assert table.set_index("estimator")["unit"].to_dict() == {"sub": "accuracy", "to": "nats"}
    assert (out / "label_noise_hist.png").stat().st_size > 0
    figure = label_noise.plot_histograms(mem, CORRUPTED, units={"sub": "accuracy", "to": "nats"})
    first, second = figure.axes
    assert "nats" in second.get_xlabel() and "accuracy" in first.get_xlabel()
    assert first.get_xlim()[1] <= 1.1 < 5 < second.get_xlim()[1]  # own x axis each, not one shared range
    # the old flag is still accepted, with a note that it does nothing
    again = program.invoke(label_noise.define_flags, label_noise.main, f"--estimates=sub={sets['sub']},to={sets['to']}",
                           f"--corrupted={tmp_path / 'corrupted_idx.npy'}", f"--output_dir={tmp_path / 'again'}",
                           "--allow_mixed_units")
    assert again.returncode == 0 and "deprecated and has no effect" in again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "label_noise_auroc.csv"), table)


def test_labels_must_agree_and_names_be_distinct(mixed_sets, tmp_path):
    sets, mem, _ = mixed_sets
    with pytest.raises(ValueError, match="given twice"):
        label_noise.load_scores([f"sub={sets['sub']}", f"sub={sets['to']}"])
    other = _estimate_set(tmp_path / "other", "dg", np.zeros(N_TRAIN), first_label=1)
    with pytest.raises(ValueError, match="training labels differ"):
        label_noise.load_scores([f"sub={sets['sub']}", f"x={other}"])
