"""data.augment: the papers' pad-crop-flip."""
import numpy as np
import tensorflow as tf

from influence_mem.data.augment import pad_crop_flip


def test_augmentation_shape_range_and_determinism():
    image = tf.random.stateless_uniform((32, 32, 3), seed=(1, 2))
    seed = tf.constant([5, 6], tf.int64)
    out = pad_crop_flip(image, seed, padding=4, flip=True)
    assert out.shape == (32, 32, 3)
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_array_equal(out.numpy(), pad_crop_flip(image, seed, 4, True).numpy())
    # The crop is a shifted window of the zero-padded image: every output pixel is 0 or an input pixel.
    padded = np.pad(image.numpy(), [(4, 4), (4, 4), (0, 0)])
    found = False
    for dy in range(9):
        for dx in range(9):
            window = padded[dy:dy + 32, dx:dx + 32]
            if np.array_equal(window, out.numpy()) or np.array_equal(window[:, ::-1], out.numpy()):
                found = True
    assert found
    # Different seeds give different crops for most seeds.
    outs = {pad_crop_flip(image, tf.constant([k, 0], tf.int64), 4, True).numpy().tobytes() for k in range(10)}
    assert len(outs) > 5
