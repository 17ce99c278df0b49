"""load_reference_checkpoint: a TF2 checkpoint written by Sonnet modules of the authors' structure
(attribute names as theirs, written like their demo.py restores it) gives our Keras model the same logits.

The Sonnet modules below are written for this test after the structure of
heldout-influence-estimation libarch/resnet.py (ResNetV2, BlockGroup,
BottleNeckBlockV2, BasicBlockV2) and libarch/inception.py (SmallInception,
SmallInceptionStage, MultiBranchBlock, ConvBNReLU); the ImageNet ResNets use
Sonnet's own snt.nets.ResNet, as their libarch/resnet_sonnet.py does.
"""
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models
from influence_mem.models import reference_checkpoint, resnet_sonnet, resnet_v2, small_inception

snt = pytest.importorskip("sonnet")


# ------------------------------------------------------------------ Sonnet modules of their structure
class ResNetV2Module(snt.Module):
    """Their ResNetV2: attribute names _initial_conv, _block_groups, _final_batchnorm, _logits."""

    def __init__(self, num_classes, blocks, bottleneck, small_input, widths, name=None):
        super().__init__(name=name)
        self._small_input = small_input
        bn = {"decay_rate": 0.9, "eps": 1e-5}
        self._initial_conv = snt.Conv2D(64, 3 if small_input else 7,
                                        stride=1 if small_input else 2, with_bias=False, padding=snt.pad.same,
                                        name="initial_conv")
        self._block_groups = [GroupModule(w, n, 1 if i == 0 else 2, bn, bottleneck, name=f"block_group_{i}")
                              for i, (n, w) in enumerate(zip(blocks, widths))]
        self._final_batchnorm = snt.BatchNorm(True, True, name="final_batchnorm", **bn)
        self._logits = snt.Linear(num_classes, w_init=snt.initializers.Zeros(), name="logits")

    def __call__(self, x, is_training):
        x = self._initial_conv(x)
        if not self._small_input:
            x = tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")
        for group in self._block_groups:
            x = group(x, is_training)
        x = tf.nn.relu(self._final_batchnorm(x, is_training=is_training))
        return self._logits(tf.reduce_mean(x, axis=[1, 2]))


class GroupModule(snt.Module):
    def __init__(self, channels, num_blocks, stride, bn, bottleneck, name=None):
        super().__init__(name=name)
        self._blocks = [BlockV2Module(channels, stride if k == 0 else 1, k == 0, bn, bottleneck, name=f"block_{k}")
                        for k in range(num_blocks)]

    def __call__(self, x, is_training):
        for block in self._blocks:
            x = block(x, is_training)
        return x


class BlockV2Module(snt.Module):
    """BottleNeckBlockV2 (1x1, 3x3/s, 1x1 to 4c) or BasicBlockV2 (1x1, 3x3/s): BN-ReLU before each conv."""

    def __init__(self, channels, stride, use_projection, bn, bottleneck, name=None):
        super().__init__(name=name)
        out = 4 * channels if bottleneck else channels
        self._use_projection, self._bottleneck = use_projection, bottleneck
        conv = dict(with_bias=False, padding=snt.pad.same)
        if use_projection:
            self._proj_conv = snt.Conv2D(out, 1, stride=stride, name="shortcut_conv", **conv)
        self._conv_0 = snt.Conv2D(channels, 1, stride=1, name="conv_0", **conv)
        self._bn_0 = snt.BatchNorm(True, True, name="batchnorm_0", **bn)
        self._conv_1 = snt.Conv2D(channels, 3, stride=stride, name="conv_1", **conv)
        self._bn_1 = snt.BatchNorm(True, True, name="batchnorm_1", **bn)
        if bottleneck:
            self._conv_2 = snt.Conv2D(out, 1, stride=1, name="conv_2", **conv)
            self._bn_2 = snt.BatchNorm(True, True, name="batchnorm_2", **bn)

    def __call__(self, x, is_training):
        pairs = [(self._conv_0, self._bn_0), (self._conv_1, self._bn_1)]
        if self._bottleneck:
            pairs.append((self._conv_2, self._bn_2))
        net, shortcut = x, x
        for i, (conv, bn) in enumerate(pairs):
            net = tf.nn.relu(bn(net, is_training=is_training))
            if i == 0 and self._use_projection:
                shortcut = self._proj_conv(net)
            net = conv(net)
        return net + shortcut


class ConvBNReLUModule(snt.Module):
    def __init__(self, channels, kernel, stride=1, name=None):
        super().__init__(name=name)
        self.conv = snt.Conv2D(channels, kernel, stride=stride, padding="SAME", with_bias=False, name="conv")
        self.bn = snt.BatchNorm(True, True, name="bn")

    def __call__(self, x, is_training):
        return tf.nn.relu(self.bn(self.conv(x), is_training))


class MultiBranchModule(snt.Module):
    def __init__(self, c1, c3, name=None):
        super().__init__(name=name)
        self.conv1x1 = ConvBNReLUModule(c1, 1, name="conv1x1")
        self.conv3x3 = ConvBNReLUModule(c3, 3, name="conv3x3")

    def __call__(self, x, is_training):
        return tf.concat([self.conv1x1(x, is_training), self.conv3x3(x, is_training)], axis=3)


class StageModule(snt.Module):
    def __init__(self, blocks, downsample, name=None):
        super().__init__(name=name)
        self._body = [MultiBranchModule(c1, c3, name=f"block{i + 1}") for i, (c1, c3) in enumerate(blocks)]
        self._downsample = ConvBNReLUModule(downsample, 3, stride=2, name="downsample") if downsample else None

    def __call__(self, x, is_training):
        for block in self._body:
            x = block(x, is_training)
        return self._downsample(x, is_training) if self._downsample else x


class SmallInceptionModule(snt.Module):
    """Their SmallInception (small inputs): conv1, stage1-3, global max pooling, _pred."""

    def __init__(self, num_classes, name=None):
        super().__init__(name=name)
        self.conv1 = ConvBNReLUModule(96, 3, name="conv1")
        self.stage1 = StageModule([(32, 32), (32, 48)], 160)
        self.stage2 = StageModule([(112, 48), (96, 64), (80, 80), (48, 96)], 240)
        self.stage3 = StageModule([(176, 160), (176, 160)], 0)
        self._pred = snt.Linear(num_classes, name="pred")

    def __call__(self, x, is_training):
        x = self.conv1(x, is_training)
        for stage in (self.stage1, self.stage2, self.stage3):
            x = stage(x, is_training)
        return self._pred(tf.reduce_max(x, axis=[1, 2]))


# ------------------------------------------------------------------ helpers
def trained_like(module, shape, seed):
    """Give every scale/offset/logit weight a non-trivial value and the batch norms debiased moving stats."""
    rng = np.random.RandomState(seed)
    tf.random.set_seed(seed)  # Sonnet's initializers draw from TF's global generator
    module(tf.zeros((1,) + shape), is_training=False)  # create the variables
    for v in module.trainable_variables:
        name = v.name.split("/")[-1]
        if name.startswith("scale"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
        elif name.startswith(("offset", "b:")):
            v.assign(rng.normal(0, 0.1, v.shape).astype(np.float32))
        elif v.shape.rank == 2:  # linear weights (zero-initialised in the ResNets)
            v.assign(rng.normal(0, 1 / np.sqrt(v.shape[0]), v.shape).astype(np.float32))
    for _ in range(3):  # training-mode calls update the moving averages (three steps: still debiased)
        module(tf.constant(rng.rand(4, *shape).astype(np.float32)), is_training=True)


def write_like_their_demo(module, directory):
    """tf.train.Checkpoint(model=..., epoch=..., global_step=...) as their demo.py restores it."""
    checkpoint = tf.train.Checkpoint(model=module, epoch=tf.Variable(160, dtype=tf.int64),
                                     global_step=tf.Variable(11000, dtype=tf.int64))
    checkpoint.save(str(directory / "ckpt"))


def check_same_logits(module, shape, arch, tmp_path, model=None):
    trained_like(module, shape, seed=0)
    write_like_their_demo(module, tmp_path)
    loaded = models.load_reference_checkpoint(str(tmp_path), arch, model=model)
    x = np.random.RandomState(1).rand(3, *shape).astype(np.float32)
    expected = module(tf.constant(x), is_training=False).numpy()
    got = loaded(x, training=False).numpy()
    assert np.abs(expected).max() > 0.1  # not a trivially zero network
    print(f"{arch}: max |logit| {np.abs(expected).max():.3g}, max |difference| {np.abs(got - expected).max():.3g}")
    # 1e-5: float32 round-off of a dozen layers (Keras and Sonnet order batch norm's arithmetic differently).
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    return loaded


# ------------------------------------------------------------------ the tests
@pytest.mark.slow
def test_checkpoint_keys_are_sonnet_attribute_paths(tmp_path):
    module = ResNetV2Module(10, (2, 2, 2, 2), False, True, (64, 128, 256, 512))
    trained_like(module, (8, 8, 3), seed=0)
    write_like_their_demo(module, tmp_path)
    keys = dict(tf.train.list_variables(str(tmp_path)))
    assert "model/_block_groups/1/_blocks/0/_proj_conv/w/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert keys["model/_block_groups/1/_blocks/0/_bn_0/moving_mean/average/.ATTRIBUTES/VARIABLE_VALUE"] == [1, 1, 1, 64]
    model = models.build("resnet18_cifar", (8, 8, 3), 10)
    mapping = reference_checkpoint.reference_variable_map(model, "resnet18_cifar")
    assert set(mapping) == {k for k in keys if k.startswith("model/") and "/_hidden/" not in k and "/_counter/" not in k}


@pytest.mark.slow
def test_cifar_resnet18(tmp_path):
    # Full width (their CifarResNet18), 8x8 input: the released structure, in about a second.
    check_same_logits(ResNetV2Module(10, (2, 2, 2, 2), False, True, (64, 128, 256, 512)), (8, 8, 3),
                      "resnet18_cifar", tmp_path)


@pytest.mark.slow
def test_cifar_resnet50_structure_at_small_width(tmp_path):
    widths = (8, 16, 32, 64)
    module = ResNetV2Module(7, (1, 2, 1, 1), True, True, widths)
    model = resnet_v2.resnet_v2((None, None, 3), 7, {}, blocks_per_group=(1, 2, 1, 1), bottleneck=True,
                                small_input=True, name="t", widths=widths)
    check_same_logits(module, (9, 9, 3), "resnet50_cifar", tmp_path, model=model)


@pytest.mark.slow
def test_imagenet_resnet50_v2_is_snt_nets_resnet_v2(tmp_path):
    widths = (16, 32, 64, 128)  # Sonnet counts the block output width (4x the bottleneck)
    module = snt.nets.ResNet([1, 1, 2, 1], num_classes=5, resnet_v2=True, channels_per_group_list=widths)
    model = resnet_v2.resnet_v2((None, None, 3), 5, {}, blocks_per_group=(1, 1, 2, 1), bottleneck=True,
                                small_input=False, name="t", widths=[w // 4 for w in widths])
    check_same_logits(module, (30, 30, 3), "resnet50_v2", tmp_path, model=model)


@pytest.mark.slow
def test_imagenet_resnet50_is_snt_nets_resnet50_v1(tmp_path):
    # Their demo.py loads the ImageNet checkpoints into snt.nets.ResNet50 (resnet_v2=False): our `resnet50`.
    widths = (16, 32, 64, 128)
    module = snt.nets.ResNet([1, 2, 1, 1], num_classes=5, channels_per_group_list=widths)
    model = resnet_sonnet.resnet_v1_sonnet((None, None, 3), 5, {}, blocks_per_group=(1, 2, 1, 1), widths=widths)
    check_same_logits(module, (30, 30, 3), "resnet50", tmp_path, model=model)


@pytest.mark.slow
def test_small_inception_full_size(tmp_path):
    loaded = check_same_logits(SmallInceptionModule(10), (12, 12, 3), "inception_small", tmp_path)
    assert loaded.input_shape == (None, None, None, 3)  # any image size, as their module


@pytest.mark.slow
def test_imagenet_archs_normalize_inputs_by_default(tmp_path):
    widths = (16, 32, 64, 128)
    module = snt.nets.ResNet([1, 1, 1, 1], num_classes=4, channels_per_group_list=widths)
    trained_like(module, (16, 16, 3), seed=2)
    write_like_their_demo(module, tmp_path)
    model = resnet_sonnet.resnet_v1_sonnet((None, None, 3), 4, reference_checkpoint.IMAGENET_NORMALIZER,
                                           blocks_per_group=(1, 1, 1, 1), widths=widths)
    loaded = models.load_reference_checkpoint(str(tmp_path), "resnet50", model=model)
    x = np.random.RandomState(3).rand(2, 16, 16, 3).astype(np.float32)
    mean, std = (np.array(reference_checkpoint.IMAGENET_NORMALIZER[k]) for k in ("input_mean", "input_std"))
    expected = module(tf.constant(((x - mean) / std).astype(np.float32)), is_training=False).numpy()
    # Logits here reach ~35; Keras normalizes by (x - mean) / sqrt(std ** 2), float32 rounding gives ~1e-6 relative.
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_wrong_arch_is_refused(tmp_path):
    module = SmallInceptionModule(10)
    trained_like(module, (8, 8, 3), seed=0)
    write_like_their_demo(module, tmp_path)
    with pytest.raises(ValueError, match="_logits"):
        models.load_reference_checkpoint(str(tmp_path), "resnet18_cifar")
    with pytest.raises(ValueError, match="no reference checkpoint layout"):
        models.load_reference_checkpoint(str(tmp_path), "vgg11")
    same = small_inception.small_inception((None, None, 3), 10, {})
    models.load_reference_checkpoint(str(tmp_path), "inception_small", model=same)  # same structure: fine


def test_a_shallower_model_is_refused(tmp_path):
    widths = (4, 8, 8, 8)
    module = ResNetV2Module(3, (2, 1, 1, 1), False, True, widths)
    trained_like(module, (8, 8, 3), seed=0)
    write_like_their_demo(module, tmp_path)
    shallower = resnet_v2.resnet_v2((None, None, 3), 3, {}, blocks_per_group=(1, 1, 1, 1), bottleneck=False,
                                    small_input=True, name="t", widths=widths)
    with pytest.raises(ValueError, match="have no place"):
        models.load_reference_checkpoint(str(tmp_path), "resnet18_cifar", model=shallower)
