"""The authors' ResNets: their libarch/resnet.py ResNetV2 family (`resnet50_v2`, `resnet50_cifar`,
`resnet18_cifar`) and Sonnet's snt.nets.ResNet50 of their ImageNet checkpoints (`resnet50`).

Parameter counts are counted by hand from their definitions (heldout-influence-estimation
libarch/resnet.py; dm-sonnet sonnet/src/nets/resnet.py), one expression per stage.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models
from influence_mem.models import resnet_sonnet, resnet_v2


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def bn(c):  # batch norm: scale + offset per channel (create_scale=True, create_offset=True)
    return 2 * c


# ------------------------------------------------------------------ parameter counts by hand
def test_cifar_resnet18_parameter_count():
    # Their BasicBlockV2 (lines 242-301): [1x1 projection in block 0], BN(in), 1x1 conv in->c, BN(c), 3x3 conv c->c.
    # Block 0 of every group projects (line 156), group 0 included.  No conv biases.
    stem = 3 * 3 * 3 * 64                                                                     # 3x3/1 conv (69-76)
    group0 = ((64 * 64 + bn(64) + 64 * 64 + bn(64) + 9 * 64 * 64)                             # block 0
              + (bn(64) + 64 * 64 + bn(64) + 9 * 64 * 64))                                    # block 1
    group1 = ((64 * 128 + bn(64) + 64 * 128 + bn(128) + 9 * 128 * 128)
              + (bn(128) + 128 * 128 + bn(128) + 9 * 128 * 128))
    group2 = ((128 * 256 + bn(128) + 128 * 256 + bn(256) + 9 * 256 * 256)
              + (bn(256) + 256 * 256 + bn(256) + 9 * 256 * 256))
    group3 = ((256 * 512 + bn(256) + 256 * 512 + bn(512) + 9 * 512 * 512)
              + (bn(512) + 512 * 512 + bn(512) + 9 * 512 * 512))
    final = bn(512)                                                                           # final_batchnorm
    logits = 512 * 100 + 100                                                                  # biased Linear
    assert (stem, group0, group1, group2, group3) == (1_728, 86_528, 328_576, 1_312_512, 5_246_464)
    expected = stem + group0 + group1 + group2 + group3 + final + logits
    assert expected == 7_028_132
    assert trainable_count(models.build("resnet18_cifar", (32, 32, 3), 100)) == expected


def bottleneck_v2(cin, c, projection):
    """Their BottleNeckBlockV2 (lines 167-239): [1x1 proj cin->4c], BN(cin), 1x1 cin->c, BN(c), 3x3 c->c,
    BN(c), 1x1 c->4c."""
    return (cin * 4 * c if projection else 0) + bn(cin) + cin * c + bn(c) + 9 * c * c + bn(c) + c * 4 * c


def resnet50_v2_groups():
    group0 = bottleneck_v2(64, 64, True) + 2 * bottleneck_v2(256, 64, False)         # 74,112 + 2 x 70,400
    group1 = bottleneck_v2(256, 128, True) + 3 * bottleneck_v2(512, 128, False)      # 377,856 + 3 x 280,064
    group2 = bottleneck_v2(512, 256, True) + 5 * bottleneck_v2(1024, 256, False)     # 1,509,376 + 5 x 1,117,184
    group3 = bottleneck_v2(1024, 512, True) + 2 * bottleneck_v2(2048, 512, False)    # 6,033,408 + 2 x 4,462,592
    assert (group0, group1, group2, group3) == (214_912, 1_218_048, 7_095_296, 14_958_592)
    return group0 + group1 + group2 + group3 + bn(2048)                              # + final_batchnorm


@pytest.mark.slow
def test_resnet50_v2_parameter_count():
    # Their ResNet50 (lines 304-312): 7x7/2 stem (77-84), groups (3, 4, 6, 3), zero-init logits (105-106).
    expected = 7 * 7 * 3 * 64 + resnet50_v2_groups() + 2048 * 1000 + 1000
    assert expected == 25_549_352
    assert trainable_count(models.build("resnet50_v2", (64, 64, 3), 1000)) == expected


def test_cifar_resnet50_parameter_count():
    # Their CifarResNet50 (lines 315-324): the same with the 3x3/1 stem; paper 000's "more than 200k" last layer.
    expected = 3 * 3 * 3 * 64 + resnet50_v2_groups() + 2048 * 100 + 100
    assert expected == 23_697_572
    assert trainable_count(models.build("resnet50_cifar", (32, 32, 3), 100)) == expected


def bottleneck_v1(cin, c, projection):
    """Sonnet's BottleNeckBlockV1: [1x1 proj cin->4c + BN(4c)], 1x1 cin->c + BN, 3x3 c->c + BN, 1x1 c->4c + BN."""
    return (cin * 4 * c + bn(4 * c) if projection else 0) + cin * c + bn(c) + 9 * c * c + bn(c) + c * 4 * c + bn(4 * c)


@pytest.mark.slow
def test_resnet50_sonnet_v1_parameter_count():
    stem = 7 * 7 * 3 * 64 + bn(64)                                                     # initial conv + batchnorm
    group0 = bottleneck_v1(64, 64, True) + 2 * bottleneck_v1(256, 64, False)
    group1 = bottleneck_v1(256, 128, True) + 3 * bottleneck_v1(512, 128, False)
    group2 = bottleneck_v1(512, 256, True) + 5 * bottleneck_v1(1024, 256, False)
    group3 = bottleneck_v1(1024, 512, True) + 2 * bottleneck_v1(2048, 512, False)
    assert (group0, group1, group2, group3) == (215_808, 1_219_584, 7_098_368, 14_964_736)
    expected = stem + group0 + group1 + group2 + group3 + 2048 * 1000 + 1000
    assert expected == 25_557_032  # = the textbook ResNet-50's count (torchvision resnet50)
    assert trainable_count(models.build("resnet50", (64, 64, 3), 1000)) == expected
    assert trainable_count(models.build("resnet50_v15", (64, 64, 3), 1000)) == expected


# ------------------------------------------------------------------ structure
def inbound(model, name):
    return model.get_layer(name)._inbound_nodes[0].parent_nodes[0].operation.name


def test_resnet_v2_block_is_pre_activation():
    model = models.build("resnet18_cifar", (8, 8, 3), 10)
    block = "block_group_1.block_0"
    assert inbound(model, f"{block}.batchnorm_0") == "block_group_0.block_1.add"      # no ReLU after a sum
    assert inbound(model, f"{block}.relu_0") == f"{block}.batchnorm_0"
    assert inbound(model, f"{block}.shortcut_conv") == f"{block}.relu_0"              # shortcut from pre-activated
    assert inbound(model, f"{block}.conv_0") == f"{block}.relu_0"
    assert model.get_layer(f"{block}.conv_0").kernel_size == (1, 1)                   # their BasicBlockV2's 1x1
    assert model.get_layer(f"{block}.conv_1").kernel_size == (3, 3)
    assert model.get_layer(f"{block}.conv_1").strides == (2, 2)
    assert inbound(model, f"{block}.conv_1") == f"{block}.conv_1.pad"                # Sonnet's pad.same
    assert model.get_layer(f"{block}.conv_1.pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("block_group_0.block_0.shortcut_conv").strides == (1, 1)   # group 0 projects too
    assert inbound(model, "final_avg_pool") == "final_relu"
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert all((layer.momentum, layer.epsilon) == (0.9, 1e-5)
               for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    logits = model.get_layer("logits")
    assert not np.any(logits.kernel.numpy()) and logits.use_bias                       # zero-initialised weights


def test_resnet50_sonnet_v1_block():
    model = models.build("resnet50", (64, 64, 3), 10)
    block = "block_group_2.block_0"
    assert inbound(model, "initial_max_pool") == "initial_relu"
    assert inbound(model, f"{block}.shortcut_batchnorm") == f"{block}.shortcut_conv"
    assert model.get_layer(f"{block}.conv_1").strides == (2, 2)                       # stride on the 3x3
    assert not np.any(model.get_layer(f"{block}.batchnorm_2").gamma.numpy())           # zero-init last scale
    assert np.all(model.get_layer(f"{block}.batchnorm_1").gamma.numpy() == 1)
    assert model.get_layer("initial_conv.pad").padding == ((3, 3), (3, 3))
    assert not np.any(model.get_layer("logits").kernel.numpy())


@pytest.mark.parametrize("arch,shape,classes,features", [
    ("resnet18_cifar", (32, 32, 3), 100, 512), ("resnet50_cifar", (32, 32, 3), 100, 2048),
    ("resnet50_v2", (224, 224, 3), 1000, 2048), ("resnet50", (224, 224, 3), 1000, 2048)])
@pytest.mark.slow
def test_output_shapes(arch, shape, classes, features):
    model = models.build(arch, shape, classes)
    assert model.output.shape == (None, classes)
    assert model.get_layer("final_avg_pool").output.shape == (None, features)
    last_map = model.get_layer("final_avg_pool")._inbound_nodes[0].parent_nodes[0].operation.output
    assert last_map.shape[1:3] == ((4, 4) if shape[0] == 32 else (7, 7))


# ------------------------------------------------------------------ SavedModel round trip
# Shallow, narrow members of each family keep this in seconds (every layer type of the full networks);
# the full registry networks: tests/integration/test_reference_archs_saved_model.py.
SHALLOW = {
    "v2_basic": lambda: resnet_v2.resnet_v2((8, 8, 3), 5, {}, blocks_per_group=(1, 1, 1, 1), bottleneck=False,
                                            small_input=True, name="t", widths=(4, 8, 8, 8)),
    "v2_bottleneck": lambda: resnet_v2.resnet_v2((16, 16, 3), 5, {}, blocks_per_group=(1, 1, 1, 1),
                                                 bottleneck=True, small_input=False, name="t", widths=(4, 4, 4, 4)),
    "v1_sonnet": lambda: resnet_sonnet.resnet_v1_sonnet((16, 16, 3), 5, {}, blocks_per_group=(1, 1, 1, 1),
                                                        widths=(8, 8, 8, 8)),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SHALLOW))
def test_saved_model_round_trip(kind, tmp_path):
    keras.utils.set_random_seed(1)
    model = SHALLOW[kind]()
    randomize_zero_weights(model)
    x = np.random.RandomState(1).rand(3, *model.input_shape[1:]).astype(np.float32)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    expected = model(x, training=False).numpy()
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def randomize_zero_weights(model):
    """Zero-initialised logits and scales make every output 0: give them values so the outputs say something."""
    rng = np.random.RandomState(0)
    for weight in model.trainable_weights:
        if not np.any(weight.numpy()) and not weight.path.endswith(("beta", "bias")):
            weight.assign(rng.normal(0.5, 0.1, weight.shape).astype(np.float32))
