"""Learning-rate schedules of paper 000 appendix B and paper 002 appendix A at their key steps."""
import keras
import numpy as np
import pytest

from influence_mem.train import schedules
from influence_mem.train.schedules import value


def test_linear_warmup_decay_cifar100_key_steps():
    # CIFAR-100 ResNet-50: 160 epochs, base lr 0.4; 50,000 * 0.7 / 512 -> 69 steps per epoch.
    steps_per_epoch, epochs = 69, 160
    total = steps_per_epoch * epochs
    s = schedules.build("linear_warmup_decay", 0.4, steps_per_epoch, epochs)
    warmup = 0.15 * total  # "grow linearly from 0 ... in the first 15% iterations"
    assert value(s, 0) == 0.0
    assert value(s, warmup / 2) == pytest.approx(0.2, rel=1e-5)
    assert value(s, warmup) == pytest.approx(0.4, rel=1e-5)
    midway = warmup + (total - warmup) / 2  # "then decay linearly back to 0"
    assert value(s, midway) == pytest.approx(0.2, rel=1e-4)
    assert value(s, total) == pytest.approx(0.0, abs=1e-7)
    assert value(s, total + 10) == 0.0
    lrs = np.array([value(s, k) for k in range(0, total + 1, 97)])
    peak = int(np.argmax(lrs))
    assert np.all(np.diff(lrs[:peak + 1]) >= 0) and np.all(np.diff(lrs[peak:]) <= 0)


def test_warmup_piecewise_imagenet_key_steps():
    # ImageNet: base lr 0.7, linear from 0 over 15 epochs, 10x decay at epochs 30, 60, 90; 100 epochs.
    spe = 1000
    s = schedules.build("warmup_piecewise", 0.7, spe, 100, warmup_epochs=15, decay_epochs=(30, 60, 90))
    assert value(s, 0) == 0.0
    assert value(s, 7.5 * spe) == pytest.approx(0.35, rel=1e-5)
    assert value(s, 15 * spe) == pytest.approx(0.7, rel=1e-5)
    assert value(s, 30 * spe - 1) == pytest.approx(0.7, rel=1e-5)
    assert value(s, 30 * spe) == pytest.approx(0.07, rel=1e-5)
    assert value(s, 60 * spe - 1) == pytest.approx(0.07, rel=1e-5)
    assert value(s, 60 * spe) == pytest.approx(0.007, rel=1e-5)
    assert value(s, 90 * spe) == pytest.approx(0.0007, rel=1e-5)
    assert value(s, 100 * spe) == pytest.approx(0.0007, rel=1e-5)


def test_vgg_schedule_of_paper_002_has_no_warmup():
    # CIFAR-10 VGG-11: lr 0.01, divided by 10 at epochs 100 and 150.
    s = schedules.build("warmup_piecewise", 0.01, 196, 200, warmup_epochs=0, decay_epochs=(100, 150))
    assert value(s, 0) == pytest.approx(0.01)
    assert value(s, 100 * 196 - 1) == pytest.approx(0.01)
    assert value(s, 100 * 196) == pytest.approx(0.001)
    assert value(s, 150 * 196) == pytest.approx(0.0001)


def test_constant_and_unknown():
    assert value(schedules.build("constant", 0.06, 10, 200), 12345) == 0.06
    with pytest.raises(ValueError, match="unknown lr schedule 'cosine'"):
        schedules.build("cosine", 0.1, 10, 10)


def test_optimizer_applies_the_schedule_step_by_step():
    # Plain SGD on loss = w (gradient 1): after k steps w = -sum_{i<k} lr(i), the schedule's prefix sum.
    s = schedules.build("linear_warmup_decay", 0.4, 5, 4)
    w = keras.Variable(0.0)
    optimizer = keras.optimizers.SGD(s, momentum=0.0)
    for _ in range(20):
        optimizer.apply_gradients([(keras.ops.ones(()), w)])
    assert float(w.numpy()) == pytest.approx(-sum(value(s, k) for k in range(20)), rel=1e-5)


def test_schedules_serialize():
    s = schedules.build("warmup_piecewise", 0.7, 100, 100)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert [value(restored, k) for k in (0, 1500, 3000, 9000)] == [value(s, k) for k in (0, 1500, 3000, 9000)]
