"""train.pack: K trials as one packed model; each packed trial is the trial it would be alone (train.one_model):
same SGD steps, batches, augmentation, checkpoints and results."""
import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import pipeline
from influence_mem.data.augment import augment_fn
from influence_mem.data.pipeline import epoch_order, in_memory_split
from influence_mem.data.subsets import subset_indices, trial_seeds
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train import pack as pack_module
from influence_mem.train.checkpoints import latest_epoch
from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.outputs import write_trial
from influence_mem.train.pack import Pack, PackedTrainer, _augment_all
from influence_mem.train.plan import plan_trial
from influence_mem.train.recipe import build_model, make_optimizer
from influence_mem.train.run import run_trials
from tests.helpers import load_aux


def plans_of(digits, config, trials):
    return [plan_trial(digits.num_train, config, t) for t in trials]


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
    trainer = PackedTrainer(packed, optimizer, {"train": in_memory_split(digits, "train")},
                            [], [], None, tf.distribute.get_strategy())
    rng = np.random.default_rng(1)
    for size in (16, 16, 9, 16):  # includes a short last batch, and steps past warmup
        ids = rng.integers(0, digits.num_train, (2, size))
        per_model = trainer.step(tf.constant(ids), tf.zeros((2, size, 2), tf.int64)).numpy()
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
    out = _augment_all(images, seeds, augment).numpy()
    for k in range(2):
        for b in range(3):
            np.testing.assert_array_equal(out[k, b], augment(images[k, b], seeds[k, b]).numpy())
    assert not np.array_equal(out, images.numpy())  # it did crop/flip


@pytest.mark.slow
def test_one_model_batches_are_the_packed_trainers_batches_every_epoch_and_on_resume(digits):
    # A trial alone (the one-model pipeline) and in a pack (epoch_order + the packed trainer's augmentation)
    # must see the same ids in the same batches with bitwise the same augmented images.
    ds = digits
    ids = subset_indices(ds.num_train, 0.2, 0, 3)
    seeds = trial_seeds(0, 0.2, 3)
    batch, epochs = 128, 3
    assert len(ids) % batch  # a short last batch every epoch
    augment = augment_fn(1, True)
    augment_all = tf.function(lambda images, seeds: _augment_all(images, seeds, augment))  # as in the pack's step
    whole = in_memory_split(ds, "train")
    images = whole["image"]
    np.testing.assert_array_equal(whole["index"], np.arange(ds.num_train))
    np.testing.assert_array_equal(whole["label"], ds.train_labels)
    expected = []
    for epoch in range(epochs):
        order, aug_seeds = epoch_order(ids, seeds["shuffle"], seeds["augment"], epoch, augment=True)
        for start in range(0, len(ids), batch):
            b = order[start:start + batch]
            packed = augment_all(tf.gather(images, b)[None], tf.constant(aug_seeds[None, start:start + batch]))[0]
            expected.append((b, packed.numpy(), ds.train_labels[b]))
    assert len(expected) == epochs * -(-len(ids) // batch)

    def batches(initial_epoch):
        kwargs = dict(batch_size=batch, shuffle_seed=seeds["shuffle"], augment_seed=seeds["augment"],
                      crop_padding=1, flip=True, epochs=epochs, initial_epoch=initial_epoch)
        got = [(b["index"].numpy(), b["image"].numpy(), b["label"].numpy())
               for b in pipeline.train_batches(ds, ids, **kwargs)]
        fit = [(x.numpy(), y.numpy()) for x, y in pipeline.train_pipeline(ds, ids, **kwargs)]
        assert len(fit) == len(got)
        for (_, image, label), (x, y) in zip(got, fit):
            np.testing.assert_array_equal(x, image)
            np.testing.assert_array_equal(y, label)
        return got

    for initial_epoch in (0, 2):  # a resumed run starts at its first unfinished epoch
        got = batches(initial_epoch)
        want = expected[initial_epoch * len(expected) // epochs:]
        assert [len(b[0]) for b in got] == [len(b[0]) for b in want]
        for (index, image, label), (w_index, w_image, w_label) in zip(got, want):
            np.testing.assert_array_equal(index, w_index)
            np.testing.assert_array_equal(image, w_image)
            np.testing.assert_array_equal(label, w_label)
    # Not vacuous: augmentation changed most images, and each epoch is a new order.
    changed = [not np.array_equal(image, tf.gather(images, index).numpy()) for index, image, _ in got]
    assert np.mean(changed) > 0.5
    assert not np.array_equal(expected[0][0], expected[len(expected) // epochs][0])


@pytest.mark.slow
def test_a_trial_trains_the_same_model_alone_and_in_a_pack(digits, tmp_path):
    # Same subset, init, batches and augmentation seeds (data.pipeline.epoch_order): only float rounding
    # (batched vs single ops) separates the two runs.  Different data orders gave losses ~1e-2 apart.
    config = TrainConfig(epochs=2, crop_padding=1, flip=True, save_model=False)
    alone = OneModel(digits, config, checkpoint_every=0).train_one(plans_of(digits, config, [1])[0])
    packed = list(Pack(digits, config, 2, checkpoint_every=0).train(plans_of(digits, config, [0, 1])))
    assert [t.plan.trial for t in packed] == [0, 1]
    assert alone.extra["final_loss"] == pytest.approx(packed[1].extra["final_loss"], rel=1e-5)
    assert packed[0].extra["final_loss"] != pytest.approx(packed[1].extra["final_loss"], rel=1e-3)
    for name, trained in (("alone", alone), ("packed", packed[1])):
        (tmp_path / name).mkdir()
        metrics = write_trial(digits, config, trained, str(tmp_path / name))
        assert (metrics["crop_padding"], metrics["flip"]) == (1, True)
    a, p = load_aux(tmp_path / "alone"), load_aux(tmp_path / "packed")
    for key in ("correctness_train", "correctness_removed", "correctness_test"):
        assert (a[key] == p[key]).mean() >= 0.99, key


@pytest.mark.slow
def test_a_packed_trial_learns_what_the_one_model_trial_learned(digits_trial):
    # The session's one-model trial 0 (20 epochs) against trial 0 in a pack of two, same config.
    digits, config = digits_trial["dataset"], dataclasses.replace(digits_trial["config"], save_model=False)
    packed = list(Pack(digits, config, 2, checkpoint_every=0).train(plans_of(digits, config, [0, 1])))
    alone = json.loads((digits_trial["dir"] / "metrics.json").read_text())
    accuracies = [t.test_eval[1].mean() for t in packed]
    assert min(accuracies) > 0.93  # both packed trials actually learned digits
    assert abs(accuracies[0] - alone["test_accuracy"]) <= 0.01, (accuracies[0], alone["test_accuracy"])
    assert packed[0].extra["final_loss"] == pytest.approx(alone["final_loss"], rel=1e-2)


@pytest.mark.slow
def test_a_killed_pack_resumes_from_its_trials_checkpoints_in_a_pack_or_alone(digits, tmp_path):
    config = TrainConfig(epochs=3, save_model=False)
    plans = plans_of(digits, config, [0, 1])
    ckpts = [str(tmp_path / "ckpt" / str(t)) for t in (0, 1)]
    # Uninterrupted, saving each trial's slice after epoch 2 (the last epoch is not saved: it is committed).
    full = list(Pack(digits, config, 2, checkpoint_every=2).train(plans, ckpts))
    assert [t.extra["resumed_from_epoch"] for t in full] == [0, 0]
    assert [latest_epoch(c) for c in ckpts] == [2, 2]
    # As if killed after epoch 2: the pack resumes there and ends where the uninterrupted one did.
    resumed = list(Pack(digits, config, 2, checkpoint_every=2).train(plans, ckpts))
    assert [t.extra["resumed_from_epoch"] for t in resumed] == [2, 2]
    for k in range(2):
        assert resumed[k].extra["final_loss"] == pytest.approx(full[k].extra["final_loss"], rel=1e-6)
        np.testing.assert_array_equal(resumed[k].test_eval[1], full[k].test_eval[1])
    workdir = tmp_path / "workdir"  # for run_trials below, as a killed worker left it
    for t in (0, 1):
        shutil.copytree(ckpts[t], workdir / "0.7" / f".{t}.inprogress" / "ckpt")
    # The slice checkpoint is the one-model format: trial 1 resumes alone from epoch 2, same batches.
    alone = OneModel(digits, config, checkpoint_every=2).train_one(plans[1], ckpts[1])
    assert alone.extra["resumed_from_epoch"] == 2
    assert alone.extra["final_loss"] == pytest.approx(full[1].extra["final_loss"], rel=1e-4)
    # run_trials packs trials by resume epoch: 0 and 1 resume together at epoch 2, 2 starts from 0.
    run_trials(digits, config, [0, 1, 2], str(workdir), checkpoint_every=2, pack_trials=2)
    metrics = [json.loads((workdir / "0.7" / str(t) / "metrics.json").read_text()) for t in (0, 1, 2)]
    assert [m["resumed_from_epoch"] for m in metrics] == [2, 2, 0]
    assert [m["pack"]["size"] for m in metrics] == [2, 2, 1]
    assert metrics[1]["final_loss"] == pytest.approx(full[1].extra["final_loss"], rel=1e-6)


@pytest.mark.slow
def test_a_pack_saves_only_the_trials_it_still_owns_and_builds_models_when_init_cannot_be_replayed(
        digits, tmp_path, monkeypatch):
    from influence_mem.models import initial_weights

    def refuse(*args, **kwargs):
        raise initial_weights.Unsupported("test")

    monkeypatch.setattr(pack_module, "InitialWeights", refuse)
    monkeypatch.setattr(pack_module, "_CACHE", {"initial": {}, "trainer": {}})
    config = TrainConfig(epochs=2, lr_schedule="constant", base_lr=0.0, save_model=False)
    ckpts = [str(tmp_path / f"c{t}") for t in (0, 1)]
    list(Pack(digits, config, 2, checkpoint_every=1).train(plans_of(digits, config, [0, 1]), ckpts,
                                                           [lambda: True, lambda: False]))
    assert [latest_epoch(c) for c in ckpts] == [1, 0]  # trial 1 was taken over: nothing written for it
    # lr = 0: the fallback built trial 0's registry model, so its checkpoint holds exactly that model.
    keras.utils.set_random_seed(trial_seeds(0, 0.7, 0)["init"])
    expected = build_model(config, digits)
    restored = build_model(config, digits)
    tf.train.Checkpoint(model=restored).restore(tf.train.latest_checkpoint(ckpts[0])).expect_partial()
    for a, b in zip(expected.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_pack_refuses_streamed_data_and_mixed_subset_sizes(digits):
    config = TrainConfig(epochs=1, save_model=False)
    mixed = plans_of(digits, config, [0]) + plans_of(digits, dataclasses.replace(config, subset_ratio=0.5), [1])
    with pytest.raises(ValueError, match="one size"):
        list(Pack(digits, config, 2, checkpoint_every=0).train(mixed))


def test_part_sizes_split_a_pack_evenly_and_default_parts_follow_the_host():
    assert pack_module.part_sizes(32, 2) == [16, 16]
    assert pack_module.part_sizes(5, 2) == [3, 2]
    assert pack_module.part_sizes(2, 4) == [1, 1]  # never an empty sub-pack
    assert pack_module.part_sizes(7, 1) == [7]
    # This test host has no GPU: one sub-pack per core under the default strategy.
    assert pack_module.default_parts(tf.distribute.get_strategy()) == pack_module.cpu_cores()
    with pytest.raises(ValueError, match="at least one part"):
        Pack(pack_module.Dataset.__new__(pack_module.Dataset), TrainConfig(), 4, parts=0)


@pytest.mark.slow
def test_a_trials_results_do_not_depend_on_how_its_pack_is_split(digits, tmp_path):
    """Sub-packs (SubPacks) only regroup per-model ops: 4 trials as one part (saving their checkpoints
    after epoch 1) and resumed from those as 3 parts (2 + 1 + 1) train the same models."""
    config = TrainConfig(epochs=2, crop_padding=1, flip=True, save_model=False, arch_options={"mlp_hidden": "64"})
    plans = plans_of(digits, config, [0, 1, 2, 3])
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
def test_sub_packs_restored_at_different_epochs_start_the_pack_over(digits, tmp_path):
    config = TrainConfig(epochs=3, save_model=False, arch_options={"mlp_hidden": "64"})
    plans = plans_of(digits, config, [0, 1, 2, 3])
    ckpts = [str(tmp_path / str(t)) for t in range(4)]
    list(Pack(digits, config, 2, checkpoint_every=1, parts=1).train(plans[:2], ckpts[:2]))  # trials 0, 1 at epoch 2
    fresh = list(Pack(digits, config, 4, checkpoint_every=0, parts=2).train(plans))
    mixed = list(Pack(digits, config, 4, checkpoint_every=1, parts=2).train(plans, ckpts))  # 2, 3 have none
    assert [t.extra["resumed_from_epoch"] for t in mixed] == [0] * 4
    for a, b in zip(fresh, mixed):  # the restored sub-pack was reloaded with its initial weights
        assert b.extra["final_loss"] == pytest.approx(a.extra["final_loss"], rel=1e-5)
