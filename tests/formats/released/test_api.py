"""The notebook API of released: load() returns the typed object (kind as an attribute), InflMatrix.to_frame,
top_influencers / most_influenced as DataFrames, compact reprs."""
import numpy as np
import pandas as pd
import pytest

from influence_mem import released


def _write_set(directory, with_stats=True):
    rng = np.random.RandomState(0)
    tr_labels, tt_labels = np.array([0, 1, 0, 1, 0, 0]), np.array([1, 0, 0, 1])
    mem = np.array([0.1, 0.5, 0.0, 0.3, 0.9, 0.2], np.float32)
    tr = {c: np.flatnonzero(tr_labels == c) for c in (0, 1)}
    tt = {c: np.flatnonzero(tt_labels == c) for c in (0, 1)}
    blocks = {c: rng.uniform(-0.1, 0.2, (len(tr[c]), len(tt[c]))).astype(np.float32) for c in (0, 1)}
    blocks[0][2, 1] = 0.8  # train 4 (row 2 of class 0) -> test 2 (column 1)
    pairs = {"tr_idx": np.array([4]), "tt_idx": np.array([2]), "infl": np.array([0.8]), "mem": np.array([0.9])}
    stats = dict(num_trials=np.int64(8), subset_ratio=np.float64(0.7), n_in=np.arange(6) + 3,
                 n_out=8 - (np.arange(6) + 3), mem_se=np.full(6, 0.05))
    released.write_estimate_set(directory, "toy", tr_labels, tt_labels, mem, tr, tt, blocks, pairs, 0.25, 0.15,
                                stats)
    if not with_stats:
        (directory / released.stats_filename("toy")).unlink()
    return blocks


def test_load_returns_typed_objects_with_their_kind(tmp_path):
    _write_set(tmp_path)
    matrix = released.load(tmp_path / "toy_infl_matrix.npz")
    assert isinstance(matrix, released.InflMatrix) and matrix.kind == "infl_matrix"
    pairs = released.load(tmp_path / released.high_infl_pairs_filename("toy", 0.15, 0.25))
    assert isinstance(pairs, pd.DataFrame) and pairs.kind == "high_infl_pairs"
    assert pairs[pairs.infl > 0].kind == "high_infl_pairs"  # slices keep it
    stats = released.load(tmp_path / released.stats_filename("toy"))
    assert stats.kind == "estimates_stats" and int(stats["num_trials"]) == 8
    assert {k for k in released.KINDS} >= {matrix.kind, pairs.kind, stats.kind}


def test_to_frame_with_and_without_the_sidecar(tmp_path):
    _write_set(tmp_path)
    frame = released.load(tmp_path / "toy_infl_matrix.npz").to_frame()
    assert list(frame.columns) == ["label", "mem", "trials_in", "trials_out", "mem_se"]
    assert frame.index.name == "index" and len(frame) == 6
    assert frame.loc[4, "mem"] == pytest.approx(0.9) and frame.loc[4, "trials_in"] == 7
    assert frame.sort_values("mem", ascending=False).index[0] == 4
    (tmp_path / released.stats_filename("toy")).unlink()
    bare = released.load_infl_matrix(tmp_path / "toy_infl_matrix.npz")
    assert bare.stats is None and list(bare.to_frame().columns) == ["label", "mem"]


def test_top_influencers_and_most_influenced(tmp_path):
    blocks = _write_set(tmp_path)
    matrix = released.load(tmp_path / "toy_infl_matrix.npz")
    top = matrix.top_influencers(2, k=2)
    assert list(top.columns) == ["tr_idx", "infl", "mem", "label"] and len(top) == 2
    assert top.iloc[0].tr_idx == 4 and top.iloc[0].infl == pytest.approx(0.8)
    assert top.infl.is_monotonic_decreasing and (top.label == 0).all()
    column = blocks[0][:, 1]
    assert sorted(matrix.top_influencers(2, k=10).infl) == pytest.approx(sorted(column))
    influenced = matrix.most_influenced(4, k=1)
    assert list(influenced.columns) == ["tt_idx", "infl", "label"]
    assert influenced.iloc[0].tt_idx == 2 and influenced.iloc[0].infl == pytest.approx(0.8)
    np.testing.assert_allclose(matrix.influence(4, 2), 0.8)


def test_reprs_are_short(tmp_path):
    _write_set(tmp_path)
    matrix = released.load(tmp_path / "toy_infl_matrix.npz")
    text = repr(matrix)
    assert text.startswith("InflMatrix(6 train x 4 test examples, 2 classes") and "8 trials" in text
    assert len(text) < 200 and "\n" not in text
    cs = released.CScores(np.linspace(0, 1, 5), np.array([0, 1, 0, 1, 1]))
    assert repr(cs) == "CScores(5 examples, 2 classes, mean 0.500)"
