"""train.pack: K trials as one packed model; each packed trial is the trial it would be alone (train.one_model):
same batches, augmentation and results; packs sharing a PackCache reuse its sub-packs."""
import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import pipeline
from influence_mem.data.augment import augment_fn
from influence_mem.data.pipeline import epoch_order, in_memory_split
from influence_mem.data.subsets import subset_indices, trial_seeds
from influence_mem.train import pack as pack_module
from influence_mem.train.checkpoints import latest_epoch
from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.outputs import write_trial
from influence_mem.train.pack import Pack, PackCache
from influence_mem.train.packed_graph import augment_all
from influence_mem.train.plan import plan_trial
from influence_mem.train.recipe import build_model
from influence_mem.train.run import GarbageTrial, check_trained
from tests.helpers import load_aux

def plans_of(digits, config, trials):
    return [plan_trial(digits.num_train, config, t) for t in trials]


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
    augmented = tf.function(lambda images, seeds: augment_all(images, seeds, augment))  # as in the pack's step
    whole = in_memory_split(ds, "train")
    images = whole["image"]
    np.testing.assert_array_equal(whole["index"], np.arange(ds.num_train))
    np.testing.assert_array_equal(whole["label"], ds.train_labels)
    expected = []
    for epoch in range(epochs):
        order, aug_seeds = epoch_order(ids, seeds["shuffle"], seeds["augment"], epoch, augment=True)
        for start in range(0, len(ids), batch):
            b = order[start:start + batch]
            packed = augmented(tf.gather(images, b)[None], tf.constant(aug_seeds[None, start:start + batch]))[0]
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
def test_a_pack_saves_only_the_trials_it_still_owns_and_builds_models_when_init_cannot_be_replayed(
        digits, tmp_path, monkeypatch):
    from influence_mem.models import initial_weights

    def refuse(*args, **kwargs):
        raise initial_weights.Unsupported("test")

    monkeypatch.setattr(pack_module, "InitialWeights", refuse)
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
    with pytest.raises(ValueError, match="at least one part"):
        Pack(digits, config, 4, parts=0)


@pytest.mark.slow
def test_packs_sharing_a_cache_reuse_its_sub_packs_and_train_what_a_new_pack_trains(digits):
    config = TrainConfig(epochs=1, save_model=False, arch_options={"mlp_hidden": "32"})
    plans = plans_of(digits, config, [0, 1])
    fresh = list(Pack(digits, config, 2, checkpoint_every=0, parts=1).train(plans))
    cache = PackCache(digits, config)
    list(Pack(digits, config, 2, checkpoint_every=0, parts=1, cache=cache).train(plans_of(digits, config, [2, 3])))
    kept = cache.kept()
    again = list(Pack(digits, config, 2, checkpoint_every=0, parts=1, cache=cache).train(plans))
    assert len(kept) == 1 and cache.kept()[0] is kept[0]  # reloaded for the next pack, not built again
    for a, b in zip(fresh, again):  # weights reloaded and optimizer zeroed: what a new pack trains
        assert b.extra["final_loss"] == a.extra["final_loss"]
        np.testing.assert_array_equal(b.test_eval[1], a.test_eval[1])
    with pytest.raises(ValueError, match="one dataset, config and strategy"):
        Pack(digits, dataclasses.replace(config, epochs=2), 2, cache=cache)


@pytest.mark.slow
def test_a_diverged_packed_trial_reports_its_non_finite_loss_and_is_refused(digits):
    config = TrainConfig(epochs=1, lr_schedule="constant", base_lr=1e30, save_model=False,
                         arch_options={"mlp_hidden": "16"})
    trained = list(Pack(digits, config, 2, checkpoint_every=0, parts=1).train(plans_of(digits, config, [0, 1])))
    assert all(not np.isfinite(t.extra["final_loss"]) for t in trained)
    with pytest.raises(GarbageTrial, match="diverged"):
        check_trained({"final_loss": trained[0].extra["final_loss"], "train_accuracy": 0.5}, digits.num_classes)
