"""Units never mix where thresholds or differences compare: turn-over sets say "nats" in their sidecar;
consistency and the report refuse to compare an accuracy-based with a loss-based set unless --allow_mixed_units;
label-noise's AUROCs (rankings) compare them, naming each unit."""
import numpy as np
import pytest

from influence_mem import released
from influence_mem.analysis import consistency, label_noise, report


def _write(directory, name, stats_extra=None, with_stats=True):
    n, labels, tt = 12, np.arange(12) % 3, np.arange(6) % 3
    classes = range(3)
    tr_idx = {c: np.flatnonzero(labels == c) for c in classes}
    tt_idx = {c: np.flatnonzero(tt == c) for c in classes}
    blocks = {c: np.zeros((len(tr_idx[c]), len(tt_idx[c])), np.float32) for c in classes}
    mem = np.linspace(0, 1, n).astype(np.float32)
    stats = {"num_trials": np.int64(1), "subset_ratio": np.float64(1.0), "n_in": np.ones(n, np.int64),
             "n_out": np.zeros(n, np.int64), "mem_se": np.zeros(n), **(stats_extra or {})}
    empty = {"tr_idx": np.zeros(0, np.int64), "tt_idx": np.zeros(0, np.int64), "infl": np.zeros(0, np.float32),
             "mem": np.zeros(0, np.float32)}
    paths = released.write_estimate_set(directory, name, labels, tt, mem, tr_idx, tt_idx, blocks, empty, 0.25, 0.15,
                                        stats)
    if not with_stats:
        paths[released.stats_filename(name)].unlink()
    return str(directory)


@pytest.fixture
def sets(tmp_path):
    return {"acc": _write(tmp_path / "acc", "a"),
            "authors": _write(tmp_path / "authors", "b", with_stats=False),
            "turnover": _write(tmp_path / "to", "c", {"estimator": np.array("turnover"), "unit": np.array("nats")}),
            "old_turnover": _write(tmp_path / "old", "d", {"estimator": np.array("turnover")})}


def test_estimate_unit(sets):
    units = {k: consistency.estimate_unit(released.find_estimate_set(d)) for k, d in sets.items()}
    assert units == {"acc": "accuracy", "authors": "accuracy", "turnover": "nats", "old_turnover": "nats"}


def test_check_units():
    consistency.check_units({"a": "accuracy", "b": "accuracy"})
    consistency.check_units({"a": "accuracy", "b": "nats"}, allow_mixed=True)
    with pytest.raises(consistency.MixedUnitsError, match="allow_mixed_units"):
        consistency.check_units({"a": "accuracy", "b": "nats"})


def test_label_noise_reads_each_sets_unit(sets):
    """AUROCs only rank within an estimator: label_noise compares mixed units, and says each one."""
    spec = [f"sub={sets['acc']}", f"to={sets['turnover']}", f"b={sets['authors']}", f"old={sets['old_turnover']}"]
    scores, units = label_noise.load_scores(spec)
    assert set(scores) == {"sub", "to", "b", "old"}
    assert units == {"sub": "accuracy", "to": "nats", "b": "accuracy", "old": "nats"}


@pytest.mark.slow
def test_report_refuses_mixed_units_and_labels_the_unit(sets, tmp_path):
    with pytest.raises(consistency.MixedUnitsError):
        report.build_report(sets["acc"], str(tmp_path / "r1"), compare=[sets["turnover"]], with_longtail=False)
    assert not (tmp_path / "r1").exists() or not any((tmp_path / "r1").iterdir())
    written = report.build_report(sets["turnover"], str(tmp_path / "r2"), compare=[sets["old_turnover"]],
                                  with_longtail=False)
    text = next(p for p in map(str, written) if p.endswith(".md"))
    assert "differences of cross-entropy loss (nats)" in open(text).read()
    report.build_report(sets["acc"], str(tmp_path / "r3"), compare=[sets["turnover"]], with_longtail=False,
                        allow_mixed_units=True)
