"""train.packed_graph: a pack's step is each model's Keras SGD step, its augmentation is per example, how a
pack is cut into sub-packs does not change its trials' results, and images held in the compute dtype train
bitwise what float32 images train."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data.augment import augment_fn
from influence_mem.data.pipeline import in_memory_split
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train.checkpoints import latest_epoch
from influence_mem.train.config import TrainConfig
from influence_mem.train.pack import Pack
from influence_mem.train import packed_graph
from influence_mem.train.packed_graph import (PackedTrainer, augment_all, cpu_cores, default_parts, held_splits,
                                              part_sizes, size_slices)
from influence_mem.train.plan import plan_trial
from influence_mem.train.recipe import build_model, make_optimizer


@pytest.mark.slow
def test_packed_sgd_steps_equal_keras_sgd_steps_per_model(digits):
    """Loss, gradients, momentum and weight decay of a pack are those of Keras SGD on each model alone."""
    config = TrainConfig(arch="mlp", arch_options={"mlp_hidden": "32"}, epochs=2, weight_decay=1e-3)
    members = []
    for seed in (4, 5):
        keras.utils.set_random_seed(seed)
        members.append(build_model(config, digits))
    references = []
    for seed in (4, 5):
        keras.utils.set_random_seed(seed)
        model = build_model(config, digits)
        model.compile(optimizer=make_optimizer(config, 3)[1],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        references.append(model)
    packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
    optimizer = make_optimizer(config, 3)[1]
    optimizer.build(packed.trainable)
    trainer = PackedTrainer(packed, optimizer, {"train": in_memory_split(digits, "train")}, None,
                            tf.distribute.get_strategy())
    step = tf.function(trainer.step)
    rng = np.random.default_rng(1)
    for size in (16, 16, 9, 16):  # includes a short last batch, and steps past warmup
        ids = rng.integers(0, digits.num_train, (2, size))
        per_model = step(tf.constant(ids), tf.zeros((2, size, 2), tf.int64)).numpy()
        for k, model in enumerate(references):
            loss = model.train_on_batch(digits.x_train[ids[k]], digits.train_labels[ids[k]])
            assert per_model[k] == pytest.approx(loss, rel=1e-4)
    for k, model in enumerate(references):
        for stacked, variable in zip(packed.trainable, model.trainable_variables):
            np.testing.assert_allclose(stacked.numpy()[k], variable.numpy(), rtol=1e-4, atol=1e-6)


def test_packed_augmentation_applies_the_papers_crop_flip_per_example(digits):
    augment = augment_fn(2, True)
    images = tf.constant(digits.x_train[:6].reshape(2, 3, 8, 8, 1))
    seeds = tf.constant(np.arange(12, dtype=np.int64).reshape(2, 3, 2) + 100)
    out = augment_all(images, seeds, augment).numpy()
    for k in range(2):
        for b in range(3):
            np.testing.assert_array_equal(out[k, b], augment(images[k, b], seeds[k, b]).numpy())
    assert not np.array_equal(out, images.numpy())  # it did crop/flip


def test_part_sizes_split_a_pack_evenly_and_default_parts_follow_the_host():
    assert part_sizes(32, 2) == [16, 16]
    assert part_sizes(5, 2) == [3, 2]
    assert part_sizes(2, 4) == [1, 1]  # never an empty sub-pack
    assert part_sizes(7, 1) == [7]
    # This test host has no GPU: one sub-pack per core under the default strategy.
    assert default_parts(tf.distribute.get_strategy()) == cpu_cores()


def test_size_slices_cut_a_pack_into_consecutive_parts():
    assert size_slices([3, 2, 2]) == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert size_slices([4]) == [slice(0, 4)]
    trials = list(range(7))
    assert [trials[s] for s in size_slices(part_sizes(7, 3))] == [[0, 1, 2], [3, 4], [5, 6]]


@pytest.mark.slow
def test_a_trials_results_do_not_depend_on_how_its_pack_is_split(digits, tmp_path):
    """Sub-packs (SubPacks) only regroup per-model ops: 4 trials as one part (saving their checkpoints
    after epoch 1) and resumed from those as 3 parts (2 + 1 + 1) train the same models."""
    config = TrainConfig(epochs=2, crop_padding=1, flip=True, save_model=False, arch_options={"mlp_hidden": "64"})
    plans = [plan_trial(digits.num_train, config, t) for t in range(4)]
    ckpts = [str(tmp_path / str(t)) for t in range(4)]
    whole = list(Pack(digits, config, 4, checkpoint_every=1, parts=1).train(plans, ckpts))
    assert [latest_epoch(c) for c in ckpts] == [1] * 4
    thirds = list(Pack(digits, config, 4, checkpoint_every=1, parts=3).train(plans, ckpts))
    assert [t.extra["resumed_from_epoch"] for t in thirds] == [1] * 4
    for one, other in zip(whole, thirds):
        assert other.plan.trial == one.plan.trial
        assert other.extra["final_loss"] == pytest.approx(one.extra["final_loss"], rel=1e-5)
        assert (other.test_eval[1] == one.test_eval[1]).mean() >= 0.99
    assert len({round(t.extra["final_loss"], 4) for t in whole}) == 4  # four different trials


@pytest.mark.slow
def test_images_held_in_the_compute_dtype_train_and_evaluate_bitwise_as_float32_images(digits, monkeypatch):
    """Under mixed_bfloat16 a pack of an MLP holds its images in bfloat16 (the first thing its step does to
    a gathered batch is that cast); float32, augmentation or another architecture keep float32 images."""
    import dataclasses

    splits = {"train": in_memory_split(digits, "train")}
    strategy = tf.distribute.get_strategy()
    config = TrainConfig(epochs=2, save_model=False, precision="mixed_bfloat16", arch_options={"mlp_hidden": "32"})
    try:
        held = held_splits(splits, build_model(config, digits), None, strategy)
        assert held["train"]["image"].dtype == tf.bfloat16 and held["train"]["label"] is splits["train"]["label"]
        np.testing.assert_array_equal(held["train"]["image"].numpy(),
                                      tf.cast(splits["train"]["image"], tf.bfloat16).numpy())
        assert held_splits(splits, build_model(config, digits), augment_fn(1, True), strategy) is splits
        plans = [plan_trial(digits.num_train, config, t) for t in range(3)]
        packs = [list(Pack(digits, config, 3, checkpoint_every=0).train(plans))]
        monkeypatch.setattr(packed_graph, "held_splits", lambda splits, *_: splits)  # float32 images, as before
        packs.append(list(Pack(digits, config, 3, checkpoint_every=0).train(plans)))
        for held_trial, float_trial in zip(*packs):
            assert held_trial.extra["final_loss"] == float_trial.extra["final_loss"]
            np.testing.assert_array_equal(held_trial.train_eval[1], float_trial.train_eval[1])
            np.testing.assert_array_equal(held_trial.test_eval[1], float_trial.test_eval[1])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    float32 = dataclasses.replace(config, precision="float32")
    assert held_splits(splits, build_model(float32, digits), None, strategy) is splits
