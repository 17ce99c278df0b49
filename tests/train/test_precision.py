"""--precision (float32, mixed_bfloat16, mixed_float16) and --jit_compile: float32 variables, loss and logits
whatever the compute dtype; a packed low-precision step is the Keras step of each model alone up to rounding;
the estimates of a small bfloat16 run agree with float32 ones; XLA gives the one-model trainer's results; bfloat16
matmuls held in float32 train what bfloat16 matmuls train."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.analysis.consistency import memorization_consistency
from influence_mem.data.pipeline import in_memory_split
from influence_mem.estimate.estimators import estimate_from_arrays
from influence_mem.models import packed_model
from influence_mem.models.initial_weights import weights_of
from influence_mem.models.packed_model import PackedModel, dense_chain, stack_weights
from influence_mem.train.config import PRECISIONS, TrainConfig, config_from_dict
from influence_mem.train.one_model import OneModel
from influence_mem.train.pack import Pack
from influence_mem.train.packed_graph import PackedTrainer
from influence_mem.train.plan import plan_trial
from influence_mem.train.recipe import build_model, make_optimizer
from influence_mem.turnover import trainer as turnover_trainer

SMALL = dict(arch="mlp", arch_options={"mlp_hidden": "64,32"}, save_model=False)


@pytest.fixture(autouse=True)
def float32_policy_after():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_precision_is_checked_and_old_records_read():
    assert TrainConfig().precision == "float32" and PRECISIONS == ("float32", "mixed_bfloat16", "mixed_float16")
    with pytest.raises(ValueError, match="precision 'bfloat16'"):
        TrainConfig(precision="bfloat16")
    old = {k: v for k, v in dataclasses.asdict(TrainConfig(epochs=3)).items() if k not in ("precision", "jit_compile")}
    assert config_from_dict({**old, "mixed_precision": True}).precision == "mixed_float16"
    assert config_from_dict({**old, "mixed_precision": False, "unknown": 1}) == TrainConfig(epochs=3)
    assert config_from_dict(dataclasses.asdict(TrainConfig(precision="mixed_bfloat16"))).precision == "mixed_bfloat16"


@pytest.mark.parametrize("precision,compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_models_compute_low_and_keep_float32_variables_and_logits(digits, precision, compute):
    config = TrainConfig(precision=precision, **SMALL)
    model = build_model(config, digits)
    assert model.get_layer("hidden0").compute_dtype == compute
    assert model.get_layer("logits").compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    assert model(digits.x_test[:4]).dtype == tf.float32
    optimizer = make_optimizer(config, 3)[1]
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    chain = dense_chain(model)
    assert [a for a, _ in chain] == ["relu", "relu", None] and chain[0][1] == tf.as_dtype(compute)
    assert chain[-1][1] is None


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_packed_low_precision_steps_are_keras_steps_of_each_model_up_to_rounding(digits, precision):
    config = TrainConfig(precision=precision, **SMALL)
    references, members = [], []
    for seed in (4, 5):
        for out in (members, references):
            keras.utils.set_random_seed(seed)
            out.append(build_model(config, digits))
    for model in references:
        model.compile(optimizer=make_optimizer(config, 3)[1],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
    assert packed.low  # the Dense chain's fast path, with low-precision copies of the hidden weights
    optimizer = make_optimizer(config, 3)[1]
    optimizer.build(packed.trainable)
    trainer = PackedTrainer(packed, optimizer, {"train": in_memory_split(digits, "train")}, None,
                            tf.distribute.get_strategy())
    step = tf.function(trainer.step)
    assert trainer.low_precision
    rng = np.random.default_rng(1)
    for size in (16, 16, 9, 16):
        ids = rng.integers(0, digits.num_train, (2, size))
        per_model = step(tf.constant(ids), tf.zeros((2, size, 2), tf.int64)).numpy()
        for k, model in enumerate(references):
            loss = model.train_on_batch(digits.x_train[ids[k]], digits.train_labels[ids[k]])
            assert per_model[k] == pytest.approx(loss, rel=2e-2)
    for k, model in enumerate(references):
        for j, (stacked, variable) in enumerate(zip(packed.trainable, model.trainable_variables)):
            np.testing.assert_allclose(stacked.numpy()[k], variable.numpy(), rtol=0.05, atol=2e-3)
            if j in packed.low:  # the copies follow the updated weights, rounded to the compute dtype
                np.testing.assert_array_equal(packed.low[j].numpy()[k], packed.to_low(j, stacked[k]).numpy())
                np.testing.assert_array_equal(packed.low[j].numpy()[k], tf.cast(tf.cast(
                    stacked[k], packed.low_dtype[j]), packed.low[j].dtype).numpy())


@pytest.mark.slow
def test_bfloat16_matmuls_held_in_float32_train_what_bfloat16_matmuls_train(digits, monkeypatch):
    """Where bfloat16 matmuls are slower than float32 ones (packed_model.bfloat16_matmuls_in_float32), a pack
    holds their operands rounded to bfloat16 in float32: the same steps, up to the order of the sums."""
    config = TrainConfig(precision="mixed_bfloat16", **SMALL)
    results = {}
    for in_float32 in (False, True):
        monkeypatch.setattr(packed_model, "bfloat16_matmuls_in_float32", lambda: in_float32)
        members = []
        for seed in (4, 5):
            keras.utils.set_random_seed(seed)
            members.append(build_model(config, digits))
        packed = PackedModel(members[0], stack_weights([weights_of(m) for m in members]))
        assert {str(v.dtype) for v in packed.low.values()} == {"float32" if in_float32 else "bfloat16"}
        optimizer = make_optimizer(config, 3)[1]
        optimizer.build(packed.trainable)
        trainer = PackedTrainer(packed, optimizer, {"train": in_memory_split(digits, "train")}, None,
                                tf.distribute.get_strategy())
        step = tf.function(trainer.step)
        rng = np.random.default_rng(1)
        losses = [step(tf.constant(rng.integers(0, digits.num_train, (2, 16))), tf.zeros((2, 16, 2), tf.int64))
                  .numpy() for _ in range(6)]
        results[in_float32] = (np.array(losses), [v.numpy() for v in packed.trainable],
                               packed(digits.x_test[:300]).numpy(), [low.numpy() for low in packed.low.values()])
    (losses, weights, logits, _), (losses32, weights32, logits32, lows32) = results[False], results[True]
    np.testing.assert_allclose(losses32, losses, rtol=5e-3)
    for a, b in zip(weights32, weights):
        np.testing.assert_allclose(a, b, rtol=0.02, atol=2e-3)
    np.testing.assert_allclose(logits32, logits, rtol=0.02, atol=0.02)
    assert (logits32.argmax(-1) == logits.argmax(-1)).mean() >= 0.99
    for low in lows32:  # bfloat16 values held in float32
        np.testing.assert_array_equal(low, tf.cast(tf.cast(low, tf.bfloat16), tf.float32).numpy())


def _run(digits, precision, seed, trials=range(24), epochs=4):
    """Pack-trained trials' (mean test accuracy, memorization estimates, test correctness [t, n_test])."""
    config = TrainConfig(precision=precision, seed=seed, epochs=epochs, **SMALL)
    plans = [plan_trial(digits.num_train, config, t) for t in trials]
    trained = list(Pack(digits, config, len(plans)).train(plans))
    masks = np.zeros((len(plans), digits.num_train), bool)
    correct = np.zeros((len(plans), digits.num_train), bool)
    for k, t in enumerate(trained):
        masks[k, t.plan.ids] = True
        correct[k, t.train_eval[0]] = t.train_eval[1]
    accuracy = np.mean([t.test_eval[1].mean() for t in trained])
    return accuracy, estimate_from_arrays(masks, correct).mem


@pytest.mark.slow
def test_a_small_bfloat16_run_estimates_what_float32_estimates(digits):
    """docs/performance.md's "The estimates do not change" in small: bf16 vs float32 (same seed) is no further
    apart than float32 vs float32 with another seed, in mean test accuracy, J_mem(0.25) and D_mem(0.25)."""
    f32, bf16, other = (_run(digits, p, s) for p, s in (("float32", 0), ("mixed_bfloat16", 0), ("float32", 1)))
    assert f32[0] > 0.7 and abs(bf16[0] - f32[0]) <= 0.02, (f32[0], bf16[0])
    row = lambda a, b: memorization_consistency(a, b, thetas=[0.25]).iloc[0]  # noqa: E731
    same, seeds = row(f32[1], bf16[1]), row(f32[1], other[1])
    print(f"accuracy f32 {f32[0]:.4f} bf16 {bf16[0]:.4f} f32 seed 1 {other[0]:.4f}; J_mem(0.25)/D_mem(0.25) "
          f"bf16-f32 {same.jaccard:.3f}/{same.mean_abs_diff:.3f}, f32-f32 seeds {seeds.jaccard:.3f}/{seeds.mean_abs_diff:.3f}")
    assert same.jaccard >= seeds.jaccard and same.mean_abs_diff <= seeds.mean_abs_diff, (same, seeds)


@pytest.mark.slow
def test_jit_compile_gives_the_one_model_trainers_results(digits):
    results = []
    for jit in (False, True):
        config = TrainConfig(epochs=2, jit_compile=jit, **SMALL)
        results.append(OneModel(digits, config).train_one(plan_trial(digits.num_train, config, 0)))
    plain, xla = results
    assert xla.model.jit_compile and not plain.model.jit_compile
    assert xla.extra["final_loss"] == pytest.approx(plain.extra["final_loss"], rel=1e-4)
    for a, b in zip(plain.model.trainable_variables, xla.model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-5)
    assert np.mean(plain.test_eval[1] == xla.test_eval[1]) >= 0.99


@pytest.mark.slow
def test_a_reused_float16_pack_starts_each_pack_with_a_fresh_loss_scale(digits):
    config = TrainConfig(precision="mixed_float16", epochs=2, **SMALL)
    pack = Pack(digits, config, 2)
    first = list(pack.train([plan_trial(digits.num_train, config, t) for t in (0, 1)]))
    trainers = next(sub_packs for sub_packs in pack.cache.kept() if sub_packs.size == 2).trainers
    assert all(trainer.loss_scaled for trainer in trainers)
    assert all(int(trainer.optimizer.iterations.numpy()) > 0 for trainer in trainers)
    again = list(pack.train([plan_trial(digits.num_train, config, t) for t in (0, 1)]))
    for a, b in zip(first, again):  # the same trials from a reset optimizer: the same results
        assert b.extra["final_loss"] == pytest.approx(a.extra["final_loss"], rel=1e-6)
        assert np.isfinite(a.extra["final_loss"]) and a.test_eval[1].mean() > 0.3  # chance: 0.1


@pytest.mark.slow
def test_turnover_trains_under_the_precision(digits):
    config = TrainConfig(precision="mixed_bfloat16", epochs=1, **SMALL)
    model = turnover_trainer.train(digits, config)
    assert model.get_layer("turnover_hidden0").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"
    scores = turnover_trainer.self_influence(model, digits)
    assert scores["mem"].dtype == np.float32 and np.isfinite(scores["mem"]).all()


@pytest.mark.slow
def test_a_bfloat16_pack_resumed_from_its_checkpoints_ends_where_it_ended(digits, tmp_path):
    config = TrainConfig(precision="mixed_bfloat16", epochs=2, **SMALL)
    plans = [plan_trial(digits.num_train, config, t) for t in (0, 1)]
    dirs = [str(tmp_path / str(t)) for t in (0, 1)]
    pack = Pack(digits, config, 2, checkpoint_every=1)
    whole = list(pack.train(plans, dirs))  # saves epoch 1; its final weights stay in the reused trainer
    resumed = list(pack.train(plans, dirs))  # restores epoch 1 (weights and their bfloat16 copies)
    for a, b in zip(whole, resumed):
        assert b.extra["resumed_from_epoch"] == 1
        assert b.extra["final_loss"] == pytest.approx(a.extra["final_loss"], rel=1e-6)
