"""--arch=my_pkg.my_module:build: a user's function (input_shape, num_classes, options) -> keras.Model, through
models.build, the trainer's flag validator and one trained trial."""
import json
import sys
import textwrap

import numpy as np
import pytest
from absl import flags

from influence_mem import models
from influence_mem.train import flags as train_flags
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import run_trials

USER_MODULE = textwrap.dedent('''
    import keras

    def build(input_shape, num_classes, options):
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(int(options.get("width", 32)), activation="relu")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x), name="mine")

    def not_a_model(input_shape, num_classes, options):
        return "oops"
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_archs.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_archs"
    sys.modules.pop("my_archs", None)


def test_build_calls_the_user_function(user_module):
    model = models.build(f"{user_module}:build", (8, 8, 1), 10, {"width": 7})
    assert model.name == "mine" and model.output.shape[-1] == 10
    assert model.layers[2].units == 7  # options are passed on
    models.check_name(f"{user_module}:build")


@pytest.mark.parametrize("spec, message", [("no_such_module_xyz:build", "cannot import no_such_module_xyz"),
                                           ("my_archs:missing", "has no function missing"),
                                           ("my_archs:", "expected my_pkg.my_module:function"),
                                           ("resnet51", "unknown; known: .*my_pkg.my_module:function")])
def test_bad_user_arch_is_a_one_line_error(spec, message, user_module):
    with pytest.raises(ValueError, match=message):
        models.check_name(spec)


def test_a_function_returning_no_model_is_an_error(user_module):
    with pytest.raises(ValueError, match="not a keras.Model"):
        models.build(f"{user_module}:not_a_model", (8, 8, 1), 10)


def test_trainer_flags_accept_a_user_arch(user_module, program):
    values = program.parse(train_flags.define_flags, f"--arch={user_module}:build", "--workdir=unused")
    assert train_flags.config_from_flags().arch == "my_archs:build" and values.arch == "my_archs:build"
    with pytest.raises(flags.IllegalFlagValueError, match="cannot import nope_xyz"):
        program.parse(train_flags.define_flags, "--arch=nope_xyz:build", "--workdir=unused")


def test_one_trial_trains_with_a_user_arch(user_module, digits, tmp_path):
    config = TrainConfig(arch=f"{user_module}:build", epochs=2, save_model=False)
    summary = run_trials(digits, config, [0], str(tmp_path), progress_bar=False)
    assert summary["done"] == [0]
    metrics = json.loads((tmp_path / "0.7" / "0" / "metrics.json").read_text())
    assert metrics["config"]["arch"] == "my_archs:build" and metrics["test_accuracy"] > 0.3
    assert np.isfinite(metrics["final_loss"])
