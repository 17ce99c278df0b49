"""Paper 002 eq. 3-4: closed forms, per-example gradients against the softmax-regression formula, the run."""
import itertools

import numpy as np
import pandas as pd
import pytest

from influence_mem import models, released
from influence_mem.analysis import dynamics
from influence_mem.train.config import TrainConfig
from influence_mem.train import flags as train_flags
from tests.helpers import DIGITS_MLP


def define_flags():  # as dynamics.run() defines them
    train_flags.define_flags()
    dynamics._define_flags()


def test_cosine_and_contribution_closed_forms():
    assert dynamics.average_pairwise_cosine([[1, 2], [2, 4], [3, 6]]) == pytest.approx(1.0)
    assert dynamics.average_pairwise_cosine(np.eye(4)) == pytest.approx(0.0)
    assert dynamics.average_pairwise_cosine([[1, 0], [1, 1]]) == pytest.approx(1 / np.sqrt(2))
    assert dynamics.average_pairwise_cosine([[1, 0], [-2, 0]]) == pytest.approx(-1.0)
    assert dynamics.average_contribution([[2, 0], [0, 3]], [5, 0]) == pytest.approx(1.0)
    assert dynamics.average_contribution([[3, 4]], [3, 4]) == pytest.approx(5.0)
    g = np.random.default_rng(0).normal(size=(7, 5))
    brute = np.mean([a @ b / np.linalg.norm(a) / np.linalg.norm(b)
                     for a, b in itertools.permutations(g, 2)])
    assert dynamics.average_pairwise_cosine(g) == pytest.approx(brute)


def test_easy_and_difficult_are_the_extremes():
    easy, hard = dynamics.easy_and_difficult([0.5, 0.1, 0.9, 0.0, 0.7, 0.3], 2)
    np.testing.assert_array_equal(easy, [1, 3])
    np.testing.assert_array_equal(hard, [2, 4])
    with pytest.raises(ValueError, match="--examples"):
        dynamics.easy_and_difficult([0.1, 0.2, 0.3], 2)


def test_per_example_gradients_match_softmax_regression_formula():
    model = models.build("mlp", (4, 4, 1), 3, {"mlp_hidden": ""})  # softmax regression
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)])
    x = rng.uniform(size=(5, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])
    grads = dynamics.per_example_gradients(model, x, y)
    kernel, bias = model.get_weights()
    flat = x.reshape(5, 16)
    logits = flat @ kernel + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(3)[y]
    expected = np.concatenate([np.einsum("ni,nk->nik", flat, residual).reshape(5, -1), residual], axis=1)
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-5)


def test_reference_batch_contribution_is_its_mean_gradient_norm():
    model = models.build("mlp", (4, 4, 1), 3, {"mlp_hidden": "8"})
    rng = np.random.default_rng(2)
    ref = (rng.uniform(size=(6, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, 6))
    (row,) = dynamics.dynamics_row(model, {"ref": ref}, ref)
    g = dynamics.per_example_gradients(model, *ref).mean(axis=0)
    assert row["contribution"] == pytest.approx(np.linalg.norm(g), rel=1e-5)  # mean(v_i).g/|g| = |g|


@pytest.mark.slow
def test_run_dynamics_logs_every_epoch(digits):
    mem = np.linspace(0, 1, digits.num_train)
    config = TrainConfig(arch_options={"mlp_hidden": "16"}, epochs=2, batch_size=128, base_lr=0.1,
                         subset_ratio=1.0, log_every_epochs=100)
    table = dynamics.run_dynamics(digits, config, mem, examples=8, log=lambda _: None)
    assert list(table["epoch"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(table["group"][:3]) == ["easy", "difficult", "all"]
    assert table["cosine"].between(-1, 1).all() and np.isfinite(table["contribution"]).all()
    assert table["cosine"][0] != table["cosine"][3]  # the model changed between epochs


@pytest.mark.slow
def test_main_writes_the_table_and_plot(tmp_path, digits, program):
    mem = np.linspace(0, 1, digits.num_train)
    classes = range(10)
    tr = {c: np.flatnonzero(digits.train_labels == c) for c in classes}
    tt = {c: np.flatnonzero(digits.test_labels == c) for c in classes}
    released.write_infl_matrix(tmp_path / "digits_infl_matrix.npz", digits.train_labels, digits.test_labels,
                               mem, tr, tt, {c: np.zeros((len(tr[c]), len(tt[c]))) for c in classes})
    program.run(define_flags, dynamics.main, f"--flagfile={DIGITS_MLP}", f"--estimates={tmp_path}", "--epochs=1",
                "--mlp_hidden=8", "--examples=4", f"--workdir={tmp_path / 'out'}")
    written = pd.read_csv(tmp_path / "out" / "dynamics.csv")
    assert len(written) == 6 and (tmp_path / "out" / "dynamics.png").stat().st_size > 10_000
