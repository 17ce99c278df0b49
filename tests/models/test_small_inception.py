"""`inception_small`: the authors' SmallInception (heldout-influence-estimation libarch/inception.py).

The parameter count is counted by hand from their definition, one expression per stage.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def conv_bn_relu(cin, cout, k):
    """Their ConvBNReLU (lines 114-128): k x k conv without bias + batch norm scale and offset."""
    return k * k * cin * cout + 2 * cout


@pytest.mark.parametrize("shape,classes", [((32, 32, 3), 10), ((32, 32, 3), 100), ((28, 28, 1), 10)])
def test_parameter_count(shape, classes):
    cin = shape[-1]
    conv1 = conv_bn_relu(cin, 96, 3)                                                    # line 37
    stage1 = (conv_bn_relu(96, 32, 1) + conv_bn_relu(96, 32, 3)                         # block1 -> 64
              + conv_bn_relu(64, 32, 1) + conv_bn_relu(64, 48, 3)                       # block2 -> 80
              + conv_bn_relu(80, 160, 3))                                               # downsample 3x3/2 -> 160
    stage2 = (conv_bn_relu(160, 112, 1) + conv_bn_relu(160, 48, 3)                      # -> 160
              + conv_bn_relu(160, 96, 1) + conv_bn_relu(160, 64, 3)                     # -> 160
              + conv_bn_relu(160, 80, 1) + conv_bn_relu(160, 80, 3)                     # -> 160
              + conv_bn_relu(160, 48, 1) + conv_bn_relu(160, 96, 3)                     # -> 144
              + conv_bn_relu(144, 240, 3))                                              # downsample -> 240
    stage3 = (conv_bn_relu(240, 176, 1) + conv_bn_relu(240, 160, 3)                     # -> 336
              + conv_bn_relu(336, 176, 1) + conv_bn_relu(336, 160, 3))                  # -> 336, no downsample
    pred = 336 * classes + classes                                                      # biased Linear (line 45)
    assert (stage1, stage2, stage3) == (176_224, 781_248, 932_160)
    expected = conv1 + stage1 + stage2 + stage3 + pred
    if shape == (32, 32, 3) and classes == 10:
        assert expected == 2_784 + 176_224 + 781_248 + 932_160 + 3_370 == 1_895_786
    if shape == (28, 28, 1):
        assert expected == 1_894_058  # MNIST (docs/architectures.md)
    assert trainable_count(models.build("inception_small", shape, classes)) == expected


def test_structure():
    model = models.build("inception_small", (32, 32, 3), 10)
    assert model.get_layer("global_max_pool").output.shape == (None, 336)               # 176 + 160, max pooled
    assert isinstance(model.get_layer("global_max_pool"), keras.layers.GlobalMaxPooling2D)
    assert model.get_layer("stage1.downsample.conv").strides == (2, 2)
    assert model.get_layer("stage1.downsample.conv").padding == "same"                 # their "SAME" string
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert all((layer.momentum, layer.epsilon) == (0.999, 1e-5)                         # snt.BatchNorm defaults
               for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    # concat order: [1x1, 3x3] (their line 79)
    concat = model.get_layer("stage2.block4.concat")
    assert [n.operation.name for n in concat._inbound_nodes[0].parent_nodes] == [
        "stage2.block4.conv1x1.relu", "stage2.block4.conv3x3.relu"]
    assert model.get_layer("stage2.downsample.conv").output.shape == (None, 8, 8, 240)
    assert model.get_layer("stage3.block2.concat").output.shape == (None, 8, 8, 336)
    assert model.output.shape == (None, 10)
    assert np.any(model.get_layer("logits").kernel.numpy())                             # default (random) init


def test_output_shapes_mnist():
    model = models.build("inception_small", (28, 28, 1), 10)
    assert model.get_layer("stage1.downsample.conv").output.shape == (None, 14, 14, 160)
    assert model.get_layer("stage2.downsample.conv").output.shape == (None, 7, 7, 240)
    assert model.output.shape == (None, 10)


@pytest.mark.slow
def test_saved_model_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    model = models.build("inception_small", (12, 12, 3), 10)
    x = np.random.RandomState(1).rand(3, 12, 12, 3).astype(np.float32)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    expected = model(x, training=False).numpy()
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
