"""--pack_trials: K trials trained as one packed model must be the trials they would be alone."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem import models
from influence_mem.data import datasets
from influence_mem.data.subsets import subset_indices
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, stack_weights
from influence_mem.train import outputs
from influence_mem.train.main import run_trials
from influence_mem.data.pipeline import epoch_order, in_memory_split
from influence_mem.train.packed import PackedTrainer, train_pack
from influence_mem.train.trial import TrainConfig, build_model, make_optimizer, train_trial
from test_strategy import with_devices


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def _members(arch, shape, seeds, options=None):
    out = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        out.append(models.build(arch, shape, 10, options or {}))
    return out


@pytest.mark.parametrize("arch,options,shape", [("mlp", {"mlp_hidden": "32,16"}, (8, 8, 1)),
                                                ("small_cnn", {}, (8, 8, 1)),
                                                ("inception_small", {}, (28, 28, 1))])
def test_slice_k_computes_the_registry_model_with_slice_k_weights(arch, options, shape):
    members = _members(arch, shape, [1, 2], options)
    packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
    rng = np.random.default_rng(0)
    own = rng.random((2, 5) + shape, dtype=np.float32)   # each model its own batch
    shared = rng.random((7,) + shape, dtype=np.float32)
    logits_own, _, _ = packed.forward(own, training=False)
    logits_shared = packed(shared)
    fresh = _members(arch, shape, [9], options)[0]   # other weights, overwritten by the slice
    for k, (member, sliced) in enumerate(zip(members, packed.members(fresh))):
        np.testing.assert_allclose(logits_own[k], member(own[k], training=False), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(logits_shared[k], member(shared, training=False), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sliced(shared), member(shared), rtol=1e-4, atol=1e-5)
    # Training mode: batch norm uses each model's own batch statistics and updates its own moving stats.
    logits_train, state, _ = packed.forward(own, training=True)
    for k, member in enumerate(members):
        np.testing.assert_allclose(logits_train[k], member(own[k], training=True), rtol=1e-4, atol=1e-4)
        for stacked, variable in zip(state, member.non_trainable_variables):
            np.testing.assert_allclose(stacked[k], variable.numpy(), rtol=1e-4, atol=1e-5)


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


def test_epoch_order_is_a_per_trial_permutation_that_changes_every_epoch():
    subset = subset_indices(100, 0.7, 0, 3)
    first, seeds = epoch_order(subset, 11, 12, 0, augment=True)
    again, _ = epoch_order(subset, 11, 12, 0, augment=True)
    second, _ = epoch_order(subset, 11, 12, 1, augment=False)
    np.testing.assert_array_equal(np.sort(first), subset)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second) and seeds.shape == (70, 2)


def test_packed_trials_get_the_same_subsets_init_and_files_as_unpacked(digits, tmp_path):
    # lr = 0 keeps every trial at its initial weights: the exported packed slice must then be the
    # unpacked trial's model exactly, and the aux arrays must match key by key.
    config = TrainConfig(epochs=1, lr_schedule="constant", base_lr=0.0)
    packed = run_trials(digits, config, [0, 1, 2], str(tmp_path / "packed"), pack_trials=2)
    single = run_trials(digits, config, [1], str(tmp_path / "single"))
    assert sorted(packed["done"]) == [0, 1, 2] and single["done"] == [1]
    for trial in (0, 1, 2):
        aux = outputs.read_npz(str(tmp_path / "packed" / "0.7" / str(trial) / "aux_arrays.npz"))
        np.testing.assert_array_equal(aux["subsample_idx"], subset_indices(digits.num_train, 0.7, 0, trial))
    p_dir, s_dir = tmp_path / "packed" / "0.7" / "1", tmp_path / "single" / "0.7" / "1"
    p_aux, s_aux = outputs.read_npz(str(p_dir / "aux_arrays.npz")), outputs.read_npz(str(s_dir / "aux_arrays.npz"))
    assert sorted(p_aux) == sorted(s_aux) == sorted(outputs.AUX_KEYS)
    for key in outputs.AUX_KEYS:
        assert p_aux[key].dtype == s_aux[key].dtype
        np.testing.assert_array_equal(p_aux[key], s_aux[key])
    images = tf.constant(digits.x_test)
    p_model, s_model = (tf.saved_model.load(str(d / "saved_model")) for d in (p_dir, s_dir))
    p_logits, s_logits = p_model.serve(images), s_model.serve(images)
    np.testing.assert_allclose(p_logits, s_logits, rtol=1e-5, atol=1e-6)
    p_metrics = json.loads((p_dir / "metrics.json").read_text())
    s_metrics = json.loads((s_dir / "metrics.json").read_text())
    assert set(s_metrics) <= set(p_metrics) and p_metrics["pack"] == {"size": 2, "position": 1}
    assert p_metrics["seeds"] == s_metrics["seeds"]


def test_mean_test_accuracy_of_32_packed_and_unpacked_trials_agree(digits, tmp_path):
    config = TrainConfig(epochs=10, save_model=False)
    trials = list(range(32))
    unpacked = []
    for trial in trials:
        (tmp_path / str(trial)).mkdir()
        unpacked.append(train_trial(digits, config, trial, str(tmp_path / str(trial)))["test_accuracy"])
    dirs = [tmp_path / f"p{trial}" for trial in trials]
    for d in dirs:
        d.mkdir()
    packed = [m["test_accuracy"] for m in train_pack(digits, config, trials, [str(d) for d in dirs])]
    assert np.mean(unpacked) > 0.9  # both actually learned digits
    assert abs(np.mean(packed) - np.mean(unpacked)) <= 0.01, (np.mean(packed), np.mean(unpacked))


def test_packed_under_mirrored_matches_one_device(tmp_path):
    args = ["--flagfile=configs/digits_mlp.cfg", "--trials=0-2", "--epochs=3", "--pack_trials=3",
            "--save_model=false"]
    mirrored = with_devices(2, *args, f"--workdir={tmp_path / 'm'}", "--strategy=mirrored")
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    single = with_devices(1, *args, f"--workdir={tmp_path / 's'}")
    assert single.returncode == 0, single.stderr[-3000:]
    for trial in range(3):
        m = json.loads((tmp_path / "m" / "0.7" / str(trial) / "metrics.json").read_text())
        s = json.loads((tmp_path / "s" / "0.7" / str(trial) / "metrics.json").read_text())
        assert (m["replicas"], s["replicas"]) == (2, 1)
        # Same data split per replica, Keras loss scaling: only float reduction order differs.
        assert m["final_loss"] == pytest.approx(s["final_loss"], rel=1e-3)
        assert abs(m["test_accuracy"] - s["test_accuracy"]) <= 1 / 360 * 3


def test_bad_pack_trials_flag_is_rejected(tmp_path):
    from conftest import run_module

    result = run_module("influence_mem.train", "--pack_trials=0", f"--workdir={tmp_path}")
    assert result.returncode != 0 and "--pack_trials must be >= 1" in result.stderr


def test_packed_augmentation_applies_the_papers_crop_flip_per_example_and_trains(digits, tmp_path):
    from influence_mem.data.augment import augment_fn
    from influence_mem.train.packed import _augment_all

    augment = augment_fn(2, True)
    images = tf.constant(digits.x_train[:6].reshape(2, 3, 8, 8, 1))
    seeds = tf.constant(np.arange(12, dtype=np.int64).reshape(2, 3, 2) + 100)
    out = _augment_all(images, seeds, augment).numpy()
    for k in range(2):
        for b in range(3):
            np.testing.assert_array_equal(out[k, b], augment(images[k, b], seeds[k, b]).numpy())
    assert not np.array_equal(out, images.numpy())  # it did crop/flip
    config = TrainConfig(epochs=1, crop_padding=1, flip=True, save_model=False)
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    metrics = train_pack(digits, config, [0, 1], [str(d) for d in dirs])
    assert [(m["crop_padding"], m["flip"]) for m in metrics] == [(1, True)] * 2
    assert all(np.isfinite(m["final_loss"]) for m in metrics)


def test_bench_counts_the_mlp_flops_and_prints_every_figure(digits):
    from conftest import run_module
    from influence_mem.bench import trial_gflop

    config = TrainConfig(arch_options={"mlp_hidden": "512,256"}, epochs=10)
    train, evaluation = trial_gflop(config, digits)
    forward = 2 * (64 * 512 + 512 * 256 + 256 * 10)
    assert train == pytest.approx(3 * forward * 1006 * 10 / 1e9)  # m = round(0.7 * 1437) = 1006
    assert evaluation == pytest.approx(forward * 1797 / 1e9)
    result = run_module("influence_mem.bench", "--epochs=1", "--mlp_hidden=16", "--single_trials=1",
                        "--pack_trials=2", "--packed_trials=3", "--peak_size=256", "--run_trials=10")
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("matmul peak", "K=1 (one Keras fit per trial)", "packed K=2, first pack", "packed K=2, later packs",
                 "packed K=2, a run of 10 trials", "ratio K=1 / packed", "of peak"):
        assert text in result.stdout, result.stdout


def test_a_killed_pack_resumes_from_its_trials_checkpoints_in_a_pack_or_alone(digits, tmp_path):
    import shutil

    config = TrainConfig(epochs=4, save_model=False)
    dirs = {name: [tmp_path / name / str(t) for t in (0, 1)] for name in ("out", "ckpt", "again")}
    for d in dirs["out"] + dirs["again"]:
        d.mkdir(parents=True)
    ckpts = [str(d) for d in dirs["ckpt"]]
    # Uninterrupted, saving each trial's slice after epoch 2 (the last epoch is not saved: it is committed).
    full = train_pack(digits, config, [0, 1], [str(d) for d in dirs["out"]], checkpoint_dirs=ckpts,
                      checkpoint_every=2)
    assert [m["resumed_from_epoch"] for m in full] == [0, 0]
    assert [checkpoints_epoch(c) for c in ckpts] == [2, 2]
    # As if killed after epoch 2: the pack resumes there and ends where the uninterrupted one did.
    resumed = train_pack(digits, config, [0, 1], [str(d) for d in dirs["again"]], checkpoint_dirs=ckpts,
                         checkpoint_every=2)
    assert [m["resumed_from_epoch"] for m in resumed] == [2, 2]
    for k in range(2):
        assert resumed[k]["final_loss"] == pytest.approx(full[k]["final_loss"], rel=1e-6)
        a = outputs.read_npz(str(dirs["out"][k] / "aux_arrays.npz"))
        b = outputs.read_npz(str(dirs["again"][k] / "aux_arrays.npz"))
        np.testing.assert_array_equal(a["correctness_test"], b["correctness_test"])
    workdir = tmp_path / "workdir"  # for run_trials below, as a killed worker left it
    for t in (0, 1):
        shutil.copytree(dirs["ckpt"][t], workdir / "0.7" / f".{t}.inprogress" / "ckpt")
    # The slice checkpoint is train_trial's format: trial 1 resumes alone from epoch 2, same batches.
    (tmp_path / "alone").mkdir()
    alone = train_trial(digits, config, 1, str(tmp_path / "alone"), checkpoint_dir=ckpts[1])
    assert alone["resumed_from_epoch"] == 2
    assert alone["final_loss"] == pytest.approx(full[1]["final_loss"], rel=1e-4)
    # run_trials packs trials by resume epoch: 0 and 1 resume together at epoch 2, 2 starts from 0.
    run_trials(digits, config, [0, 1, 2], str(workdir), checkpoint_every=2, pack_trials=2)
    metrics = [json.loads((workdir / "0.7" / str(t) / "metrics.json").read_text()) for t in (0, 1, 2)]
    assert [m["resumed_from_epoch"] for m in metrics] == [2, 2, 0]
    assert [m["pack"]["size"] for m in metrics] == [2, 2, 1]
    assert metrics[1]["final_loss"] == pytest.approx(full[1]["final_loss"], rel=1e-6)


def checkpoints_epoch(directory):
    from influence_mem.train.checkpoints import latest_epoch

    return latest_epoch(directory)


def test_a_pack_saves_only_the_trials_it_still_owns_and_builds_models_when_init_cannot_be_replayed(
        digits, tmp_path, monkeypatch):
    from influence_mem.models import initial_weights
    from influence_mem.train import packed as packed_module

    def refuse(*args, **kwargs):
        raise initial_weights.Unsupported("test")

    monkeypatch.setattr(packed_module, "InitialWeights", refuse)
    monkeypatch.setattr(packed_module, "_CACHE", {"initial": {}, "trainer": {}})
    config = TrainConfig(epochs=2, lr_schedule="constant", base_lr=0.0, save_model=False)
    outs, ckpts = [tmp_path / f"o{t}" for t in (0, 1)], [str(tmp_path / f"c{t}") for t in (0, 1)]
    for d in outs:
        d.mkdir()
    train_pack(digits, config, [0, 1], [str(d) for d in outs], checkpoint_dirs=ckpts, checkpoint_every=1,
               still_ours=[lambda: True, lambda: False])
    assert [checkpoints_epoch(c) for c in ckpts] == [1, 0]  # trial 1 was taken over: nothing written for it
    # lr = 0: the fallback built trial 0's registry model, so its checkpoint holds exactly that model.
    keras.utils.set_random_seed(trial_seeds_init(0))
    expected = build_model(config, digits)
    restored = build_model(config, digits)
    tf.train.Checkpoint(model=restored).restore(tf.train.latest_checkpoint(ckpts[0])).expect_partial()
    for a, b in zip(expected.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def trial_seeds_init(trial):
    from influence_mem.data.subsets import trial_seeds

    return trial_seeds(0, 0.7, trial)["init"]
