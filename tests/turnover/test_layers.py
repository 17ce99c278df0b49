"""turnover.layers: deterministic half/half masks per example and layer; the turn-over dropout layer."""
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.turnover.layers import TurnOverDropout, half_mask


@pytest.mark.parametrize("units", [2, 8, 64, 4096])
def test_masks_split_each_layer_exactly_in_half(units):
    masks = half_mask(tf.range(300), units, seed=0, layer_id=1).numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks.sum(axis=1), units // 2)
    if units >= 64:
        assert len({m.tobytes() for m in masks}) == 300  # no two examples share a mask
        assert 0.35 < masks.mean(axis=0).min() and masks.mean(axis=0).max() < 0.65  # every unit in ~half


def test_masks_are_deterministic_and_independent_of_the_batch():
    ids = tf.constant([5, 17, 123456, 0], tf.int64)
    a = half_mask(ids, 64, seed=3, layer_id=2).numpy()
    np.testing.assert_array_equal(a, half_mask(ids, 64, seed=3, layer_id=2).numpy())
    alone = half_mask(tf.constant([123456], tf.int64), 64, seed=3, layer_id=2).numpy()
    np.testing.assert_array_equal(alone[0], a[2])
    other_layer = half_mask(ids, 64, seed=3, layer_id=3).numpy()
    other_seed = half_mask(ids, 64, seed=4, layer_id=2).numpy()
    assert not np.array_equal(a, other_layer) and not np.array_equal(a, other_seed)


def test_flip_selects_the_complement_and_spatial_masks_whole_feature_maps():
    ids = tf.constant([1, 2, 3], tf.int64)
    layer = TurnOverDropout(seed=0, layer_id=1, spatial=True)
    x = tf.ones([3, 4, 5, 8])
    on = layer([x, ids, tf.zeros([3])]).numpy()
    off = layer([x, ids, tf.ones([3])]).numpy()
    mask = half_mask(ids, 8, 0, 1).numpy()
    np.testing.assert_array_equal(on, 2 * np.broadcast_to(mask[:, None, None, :], on.shape))
    np.testing.assert_array_equal(on + off, 2 * np.ones_like(on))  # complementary halves
    assert np.all((on == 0).all(axis=(1, 2)) | (on == 2).all(axis=(1, 2)))  # whole maps on or off
