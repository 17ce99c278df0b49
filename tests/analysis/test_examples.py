"""Example selection of Figs. 1 / 3 (appendix D rule) on hand-made estimates."""
import numpy as np
import pandas as pd

from influence_mem.analysis import examples
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.released import InflMatrix


def test_memorization_closest_to_0_half_and_1_per_class():
    labels = np.array([0, 0, 0, 0, 1, 1])
    mem = np.array([0.02, 0.5, 0.97, 0.45, 0.0, 0.0])
    one = examples.select_memorization_near(labels, mem, [0, 1], per_target=1)
    assert {t: ids.tolist() for t, ids in one[0].items()} == {0.0: [0], 0.5: [1], 1.0: [2]}
    two = examples.select_memorization_near(labels, mem, [0, 1], per_target=2)
    assert two[0][0.5].tolist() == [1, 3]
    assert two[1][0.0].tolist() == [4, 5]       # tie: smaller id first
    assert two[1][0.5].tolist() == [] and two[1][1.0].tolist() == []   # nothing within ±0.125
    assert examples.select_memorization_near(labels, mem, [0], tolerance=0.031)[0][1.0].tolist() == [2]
    assert examples.select_memorization_near(labels, mem, [0], tolerance=0.029)[0][1.0].tolist() == []


def test_pair_groups_follow_the_appendix_d_code():
    # train 10..17 with max influence 0.9, 0.8, ..., 0.2, each also with a weaker second pair
    tr = np.arange(10, 18)
    top = 0.9 - 0.1 * np.arange(8)
    pairs = pd.DataFrame({"tr_idx": np.r_[tr, tr], "tt_idx": np.r_[tr + 100, tr + 200],
                          "infl": np.r_[top, top - 0.05], "mem": 0.5}).sample(frac=1, random_state=0)
    groups = examples.select_pair_groups(pairs, n_copies=3, n_egs=5)
    # base = linspace(0, 8 - 3, 5).astype(int) = [0, 1, 2, 3, 5]
    assert groups == [[10, 11, 12, 13, 15], [11, 12, 13, 14, 16], [12, 13, 14, 15, 17]]
    # reference: the paper's code verbatim (np.int -> int)
    idx_train_selected = np.unique(pairs.tr_idx)
    max_infl = np.array([pairs.infl[pairs.tr_idx == i].max() for i in idx_train_selected])
    idx_sort_selected = np.argsort(-max_infl)
    base_idxs = np.linspace(0, len(idx_train_selected) - 3, 5).astype(int)
    assert groups == [[idx_train_selected[idx_sort_selected[x + c]] for x in base_idxs] for c in range(3)]


def test_pair_groups_with_few_pairs_drop_repeats():
    pairs = pd.DataFrame({"tr_idx": [1, 2], "tt_idx": [5, 6], "infl": [0.3, 0.6], "mem": [0.4, 0.4]})
    # base = linspace(0, -1, 5).astype(int) = [0, 0, 0, 0, -1] -> positions in range only
    assert examples.select_pair_groups(pairs, n_copies=3, n_egs=5) == [[2], [2, 1], [1]]
    assert examples.select_pair_groups(pairs.iloc[:0]) == []


def test_most_influenced_takes_the_top_same_class_test_examples():
    m = InflMatrix(tr_labels=np.array([0, 1, 0]), tt_labels=np.array([0, 0, 1, 0]),
                   tr_mem=np.array([0.6, 0.1, 0.3]),
                   tr_classidx={0: np.array([0, 2]), 1: np.array([1])},
                   tt_classidx={0: np.array([0, 1, 3]), 1: np.array([2])},
                   blocks={0: np.array([[0.1, 0.7, 0.7], [0.2, 0.0, 0.5]]), 1: np.array([[0.4]])})
    table = examples.most_influenced(m, [0, 2], n_test=2)
    assert table.tr_idx.tolist() == [0, 0, 2, 2]
    assert table.tt_idx.tolist() == [1, 3, 3, 0]   # 0.7 / 0.7 tie -> smaller test id first
    assert np.allclose(table.infl, [0.7, 0.7, 0.5, 0.2]) and np.allclose(table.mem, [0.6, 0.6, 0.3, 0.3])


def test_figures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    m = InflMatrix(tr_labels=np.array([0, 0, 1]), tt_labels=np.array([0, 1]), tr_mem=np.array([0.9, 0.5, 0.3]),
                   tr_classidx={0: np.array([0, 1]), 1: np.array([2])},
                   tt_classidx={0: np.array([0]), 1: np.array([1])},
                   blocks={0: np.array([[0.5], [0.2]]), 1: np.array([[0.3]])})
    images = rng.random((3, 8, 8, 1)).astype(np.float32)
    chosen = examples.plot_memorization_near(images, m.tr_labels, m.tr_mem, tmp_path / "m.png", classes=[0, 1]).selection
    assert chosen[0][1.0].tolist() == [0] and (tmp_path / "m.png").stat().st_size > 0
    paths = examples.plot_pair_groups(images, images[:2], m, pairs_from_matrix(m), tmp_path / "p{copy}.png",
                                      n_copies=1, n_egs=2, n_test=1)
    assert paths == [str(tmp_path / "p0.png")] and (tmp_path / "p0.png").stat().st_size > 0


def test_as_trained_is_the_part_and_the_labels_a_run_trained_on(digits):
    import pytest

    from influence_mem.data import balanced, corrupt

    part = corrupt.corrupt_dataset(balanced.first_per_class(digits, 10, 5), 0.1, seed=3)
    meta = part.meta()
    seen = examples.as_trained(digits, meta, "w/dataset_meta.npz")
    np.testing.assert_array_equal(seen.x_train, digits.x_train[meta["tr_original_idx"]])
    np.testing.assert_array_equal(seen.x_test, digits.x_test[meta["tt_original_idx"]])
    np.testing.assert_array_equal(seen.train_labels, part.train_labels)  # the flipped labels included
    np.testing.assert_array_equal(seen.corrupted_idx, part.corrupted_idx)
    assert (seen.train_labels != digits.train_labels[meta["tr_original_idx"]]).sum() == 10
    whole = examples.as_trained(digits, digits.meta(), "w/dataset_meta.npz")  # no part, no flips: unchanged
    assert whole.x_train is digits.x_train and whole.corrupted_idx is None

    unexplained = dict(meta, corrupted_idx=meta["corrupted_idx"][1:])
    with pytest.raises(ValueError, match=r"w/dataset_meta.npz: 1 training labels differ from digits's"):
        examples.as_trained(digits, unexplained, "w/dataset_meta.npz")
    with pytest.raises(ValueError, match=r"w/dataset_meta.npz: tr_original_idx must be ids below 1437"):
        examples.as_trained(digits, dict(meta, tr_original_idx=meta["tr_original_idx"] + 1437), "w/dataset_meta.npz")
    with pytest.raises(ValueError, match=r"w/dataset_meta.npz: its labels are for another dataset"):
        examples.as_trained(digits, dict(meta, tt_labels=meta["tt_labels"][:-1]), "w/dataset_meta.npz")
    with pytest.raises(ValueError, match=r"missing keys \['tr_labels'\]"):
        examples.as_trained(digits, {"tt_labels": meta["tt_labels"]}, "w/dataset_meta.npz")
