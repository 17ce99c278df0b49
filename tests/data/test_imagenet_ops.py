"""data.imagenet_ops: the paper's centre-crop geometry."""
import numpy as np
import tensorflow as tf

from influence_mem.data import imagenet_ops


def test_center_crop_closed_form():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = (0, 255, 0)  # the centre third green
    crop = imagenet_ops.center_crop(tf.constant(image), 32)
    assert crop.shape == (32, 32, 3)
    # resized to height 32 * 256/224 = 36.6, width 109.7: the central 32 x 32 lies inside the green third
    np.testing.assert_allclose(np.asarray(crop, np.float32).mean(axis=(0, 1)) / np.max(crop), [0, 1, 0], atol=0.03)
    assert imagenet_ops.center_crop(tf.zeros((500, 375, 3), tf.uint8)).shape == (224, 224, 3)
