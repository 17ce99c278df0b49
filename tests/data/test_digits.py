"""data.digits: the fixed digits split."""
import numpy as np

from influence_mem.data import datasets


def test_digits_split_is_fixed_and_complete():
    ds = datasets.load("digits")
    assert (ds.num_train, ds.num_test) == (1437, 360)
    assert ds.image_shape == (8, 8, 1)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Train and test together are every sklearn digit exactly once.
    all_images = np.concatenate([ds.x_train, ds.x_test])[..., 0] * 16.0
    assert sorted(map(bytes, all_images.astype(np.uint8))) == sorted(map(bytes, bunch.images.astype(np.uint8)))
    again = datasets.load("digits")
    np.testing.assert_array_equal(ds.train_labels, again.train_labels)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
