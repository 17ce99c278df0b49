"""data.corrupt: planted label noise: exactly the recorded ids change, to a uniformly drawn other class."""
import numpy as np
import pytest

from influence_mem.data import corrupt

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


def test_corrupt_dataset_trains_on_corrupted_labels_and_records_them(digits):
    bad = corrupt.corrupt_dataset(digits, FRACTION, seed=1)
    assert len(bad.corrupted_idx) == round(FRACTION * digits.num_train)
    labels = np.concatenate([b["label"].numpy() for b in bad.source("train").batch(512)])
    np.testing.assert_array_equal(labels, bad.train_labels)
    assert np.all(labels[bad.corrupted_idx] != digits.train_labels[bad.corrupted_idx])
    np.testing.assert_array_equal(bad.test_labels, digits.test_labels)
    meta = bad.meta()
    np.testing.assert_array_equal(meta["tr_labels"], bad.train_labels)
    np.testing.assert_array_equal(meta["corrupted_idx"], bad.corrupted_idx)
