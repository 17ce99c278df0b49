"""J / D consistency (appendix C, eq. 4) against values computed by hand on two tiny estimate sets."""
import numpy as np
import pytest

from influence_mem.analysis import consistency
from influence_mem.released import InflMatrix

MEM_A = np.array([0.1, 0.3, 0.6, 0.9])
MEM_B = np.array([0.2, 0.2, 0.7, 0.5])


def _matrix(mem, block0, block1):
    # train labels 0,0,1,1; test labels 0,1,0
    return InflMatrix(tr_labels=np.array([0, 0, 1, 1]), tt_labels=np.array([0, 1, 0]), tr_mem=mem,
                      tr_classidx={0: np.array([0, 1]), 1: np.array([2, 3])},
                      tt_classidx={0: np.array([0, 2]), 1: np.array([1])},
                      blocks={0: np.array(block0), 1: np.array(block1)})


A = _matrix(MEM_A, [[0.5, 0.5], [0.2, 0.05]], [[0.3], [0.1]])
B = _matrix(MEM_B, [[0.5, 0.5], [0.1, 0.3]], [[0.2], [0.4]])


def test_memorization_jaccard_and_mean_difference():
    t = consistency.memorization_consistency(MEM_A, MEM_B, [0.25, 0.8, 0.95]).set_index("theta")
    # θ=0.25: I={1,2,3}, I'={2,3}; D over {1,2,3}: (0.1 + 0.1 + 0.4) / 3
    assert t.loc[0.25, "jaccard"] == pytest.approx(2 / 3)
    assert t.loc[0.25, "mean_abs_diff"] == pytest.approx(0.2)
    assert t.loc[0.25, ["size_a", "size_b", "intersection", "union"]].tolist() == [3, 2, 2, 3]
    # θ=0.8: I={3}, I'={} -> J=0, D=|0.9-0.5|
    assert t.loc[0.8, "jaccard"] == 0 and t.loc[0.8, "mean_abs_diff"] == pytest.approx(0.4)
    # θ=0.95: both empty
    assert np.isnan(t.loc[0.95, "jaccard"]) and np.isnan(t.loc[0.95, "mean_abs_diff"])


def test_influence_with_memorization_condition():
    t = consistency.influence_consistency(A, B, [0.15]).iloc[0]
    # A: (1,0)=0.2 [mem .3], (2,1)=0.3 [mem .6]; B: (2,1)=0.2, (3,1)=0.4 (train 0, 1 have mem .2 in B)
    assert [t.size_a, t.size_b, t.intersection, t.union] == [2, 2, 1, 3]
    assert t.jaccard == pytest.approx(1 / 3)
    assert t.mean_abs_diff == pytest.approx((0.1 + 0.1 + 0.3) / 3)


def test_influence_without_memorization_condition_fig_c3():
    t = consistency.influence_consistency(A, B, [0.15], mem_threshold=None).iloc[0]
    # A: (0,0) (0,2) (1,0) (2,1); B: (0,0) (0,2) (1,2) (2,1) (3,1)
    assert [t.size_a, t.size_b, t.intersection, t.union] == [4, 5, 3, 6]
    assert t.jaccard == pytest.approx(0.5)
    assert t.mean_abs_diff == pytest.approx((0 + 0 + 0.1 + 0.1 + 0.3 + 0.25) / 6)


def test_identical_runs_are_fully_consistent_and_plot(tmp_path):
    t = consistency.memorization_consistency(MEM_A, MEM_A, [0.05, 0.5])
    assert t.jaccard.tolist() == [1.0, 1.0] and t.mean_abs_diff.tolist() == [0.0, 0.0]
    consistency.plot_consistency({"A vs A": t}, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


def test_mismatched_estimates_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        consistency.memorization_consistency(MEM_A, MEM_A[:3])
    other = _matrix(MEM_A, [[0.5, 0.5], [0.2, 0.05]], [[0.3], [0.1]])
    other.tt_labels = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="different training or test labels"):
        consistency.influence_consistency(A, other)
