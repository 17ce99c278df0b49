"""Pixel-distance ranks of pairs, checked against a brute-force sort."""
import numpy as np
import pytest

from influence_mem.analysis import neighbors


def brute_rank(x_train, x_test, i, j):
    d = ((x_train.reshape(len(x_train), -1).astype(float) - x_test[j].reshape(-1).astype(float)) ** 2).sum(1)
    return int(np.sum(d < d[i]))


def test_ranks_equal_brute_force_sort():
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (200, 6, 6, 1), dtype=np.uint8)
    x_test = rng.integers(0, 256, (30, 6, 6, 1), dtype=np.uint8)
    tr, tt = rng.integers(0, 200, 50), rng.integers(0, 30, 50)
    ranks = neighbors.pixel_ranks(x_train, x_test, tr, tt, chunk=7)
    assert ranks.tolist() == [brute_rank(x_train, x_test, i, j) for i, j in zip(tr, tt)]


def test_a_planted_duplicate_ranks_first_and_beats_random_pairs():
    rng = np.random.default_rng(1)
    x_train = rng.random((300, 8, 8)).astype(np.float32)
    x_test = rng.random((20, 8, 8)).astype(np.float32)
    x_test[5] = x_train[42] + 0.001  # a near duplicate of training image 42
    tr_labels, tt_labels = np.arange(300) % 3, np.arange(20) % 3
    tt_labels[5] = tr_labels[42]
    table = neighbors.near_duplicate_table({"tr_idx": [42], "tt_idx": [5]}, x_train, x_test, tr_labels, tt_labels)
    found = table.set_index("pairs")
    assert found.loc["high influence", "median_rank"] == 0
    assert found.loc["high influence", "within_nearest"] == 1.0
    assert found.loc["random same-class", "median_rank"] > 0


def test_random_pairs_keep_the_class():
    tr_labels, tt_labels = np.array([0, 1, 0, 1, 2]), np.array([1, 2, 0])
    picks = neighbors.random_same_class_pairs(tr_labels, tt_labels, [0, 1, 2, 0], seed=3)
    assert [tr_labels[p] for p in picks] == [1, 2, 0, 1]


def test_ids_outside_the_images_are_refused():
    x = np.zeros((4, 2, 2))
    with pytest.raises(ValueError, match="tr_idx outside"):
        neighbors.pixel_ranks(x, x, [4], [0])
