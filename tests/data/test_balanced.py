"""data.balanced: the first N examples of each class, in the original order, mapped back by dataset_meta.npz."""
import numpy as np
import pytest

from influence_mem.data import balanced, corrupt
from influence_mem.data.base import Dataset, DatasetError
from influence_mem.train import flags as train_flags


def labelled(train_labels, test_labels):
    train_labels, test_labels = np.asarray(train_labels, np.int64), np.asarray(test_labels, np.int64)
    x_train = np.arange(len(train_labels), dtype=np.uint8).reshape(-1, 1, 1, 1)  # pixel = original position
    x_test = np.arange(len(test_labels), dtype=np.uint8).reshape(-1, 1, 1, 1)
    return Dataset(name="toy", num_classes=3, image_shape=(1, 1, 1), train_labels=train_labels,
                   test_labels=test_labels, default_crop_padding=0, default_flip=False, x_train=x_train,
                   x_test=x_test, train_filenames=np.array([f"f{i}".encode() for i in range(len(train_labels))]))


def test_first_per_class_in_original_order():
    ds = labelled([2, 0, 0, 1, 2, 0, 1, 1, 2, 2], [1, 0, 2, 2, 0, 1])
    part = balanced.first_per_class(ds, train_per_class=2, test_per_class=1)
    # brute force: walk the labels, keep an example while its class has fewer than 2
    expected, seen = [], {}
    for i, y in enumerate(ds.train_labels):
        if seen.get(y, 0) < 2:
            expected.append(i)
            seen[y] = seen.get(y, 0) + 1
    np.testing.assert_array_equal(part.train_original_idx, expected)
    np.testing.assert_array_equal(part.train_original_idx, [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(part.x_train[:, 0, 0, 0], expected)  # the images moved with their labels
    np.testing.assert_array_equal(part.train_labels, ds.train_labels[expected])
    np.testing.assert_array_equal(part.train_filenames, ds.train_filenames[expected])
    np.testing.assert_array_equal(part.test_original_idx, [0, 1, 2])
    np.testing.assert_array_equal(part.x_test[:, 0, 0, 0], [0, 1, 2])
    assert part.num_classes == 3 and part.num_train == 6 and part.num_test == 3
    meta = part.meta()
    np.testing.assert_array_equal(meta["tr_original_idx"], expected)
    np.testing.assert_array_equal(meta["tt_original_idx"], [0, 1, 2])
    assert "first 2 training examples of each class" in str(meta["example_order"])


def test_zero_keeps_a_split_whole_and_too_few_is_an_error():
    ds = labelled([0, 1, 1, 0, 1], [0, 1])
    assert balanced.first_per_class(ds) is ds
    part = balanced.first_per_class(ds, train_per_class=2)
    assert part.x_test is ds.x_test and part.test_original_idx is None and "tt_original_idx" not in part.meta()
    with pytest.raises(DatasetError, match=r"--train_per_class=3: class 0 has only 2 examples"):
        balanced.first_per_class(ds, train_per_class=3)
    with pytest.raises(DatasetError, match=r"--test_per_class=2: class 0 has only 1 examples"):
        balanced.first_per_class(ds, test_per_class=2)
    corrupted = corrupt.corrupt_dataset(ds, 0.4)
    with pytest.raises(ValueError, match="before corrupting"):
        balanced.first_per_class(corrupted, train_per_class=1)


def test_trainer_flags_select_then_corrupt(program, tmp_path):
    program.parse(train_flags.define_flags, "--dataset=digits", "--train_per_class=20", "--test_per_class=5",
                  "--corrupt_fraction=0.1", f"--workdir={tmp_path}")
    ds = train_flags.dataset_from_flags()
    assert ds.num_train == 200 and ds.num_test == 50
    assert len(ds.corrupted_idx) == 20 and ds.corrupted_idx.max() < 200  # positions in the part
    assert (np.bincount(ds.train_labels[np.setdiff1d(np.arange(200), ds.corrupted_idx)]) <= 20).all()
    program.parse(train_flags.define_flags, "--dataset=digits", "--train_per_class=1000", f"--workdir={tmp_path}")
    with pytest.raises(SystemExit, match=r"--dataset=digits: --train_per_class=1000: class 0 has only"):
        train_flags.dataset_from_flags()
