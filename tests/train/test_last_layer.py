"""Last-layer-only mode end to end on digits: full-set model -> penultimate features -> linear trials."""
import numpy as np
import pytest
import tensorflow as tf

from absl import flags

from influence_mem.data.base import Dataset
from influence_mem.data.npzio import read_npz
from influence_mem.data.subsets import subset_indices
from influence_mem.formats.trial import AUX_KEYS, META_FILE
from influence_mem.train import flags as train_flags
from influence_mem.train import last_layer
from tests.helpers import DIGITS_MLP, run_program

HIDDEN = 32
ARGS = [f"--flagfile={DIGITS_MLP}", f"--mlp_hidden={HIDDEN}", "--epochs=8", "--linear_epochs=5", "--trials=0-2"]


def define_flags():
    last_layer.define_flags()
    flags.mark_flag_as_required("workdir")


@pytest.fixture(scope="module")
def last_layer_run(tmp_path_factory):
    """The program's main in-process: a full-set digits MLP, its features, three linear trials on them."""
    workdir = tmp_path_factory.mktemp("last_layer")
    run_program(define_flags, last_layer.main, *ARGS, f"--workdir={workdir}", "--save_model=true")
    return workdir


@pytest.mark.slow
def test_features_are_the_penultimate_layer_in_index_order(last_layer_run, digits):
    workdir = last_layer_run
    rep = workdir / "representation" / "1" / "0"
    features = read_npz(str(rep / "features.npz"))
    assert features["train_features"].shape == (digits.num_train, HIDDEN)
    assert features["test_features"].shape == (digits.num_test, HIDDEN)
    np.testing.assert_array_equal(features["train_labels"], digits.train_labels)
    # The logits layer applied to the features must reproduce the full model's recorded correctness.
    variables = {tuple(v.shape): v.numpy() for v in tf.saved_model.load(str(rep / "saved_model")).variables}
    kernel, bias = variables[(HIDDEN, 10)], variables[(10,)]
    aux = read_npz(str(rep / "aux_arrays.npz"))
    assert len(aux["index_removed"]) == 0 and len(aux["subsample_idx"]) == digits.num_train  # ratio 1
    predicted = np.argmax(features["train_features"] @ kernel + bias, axis=1)
    np.testing.assert_array_equal(predicted[aux["index_train"]] == digits.train_labels[aux["index_train"]],
                                  aux["correctness_train"])
    predicted_test = np.argmax(features["test_features"] @ kernel + bias, axis=1)
    np.testing.assert_array_equal(predicted_test[aux["index_test"]] == digits.test_labels[aux["index_test"]],
                                  aux["correctness_test"])


def test_linear_trials_have_the_aggregator_format_and_the_trainer_subsets(last_layer_run, digits):
    workdir = last_layer_run
    meta = read_npz(str(workdir / META_FILE))
    np.testing.assert_array_equal(meta["tr_labels"], digits.train_labels)
    np.testing.assert_array_equal(meta["tt_labels"], digits.test_labels)
    accuracies = []
    for trial in range(3):
        aux = read_npz(str(workdir / "0.7" / str(trial) / "aux_arrays.npz"))
        assert set(aux) == set(AUX_KEYS)
        expected = subset_indices(digits.num_train, 0.7, 0, trial)
        np.testing.assert_array_equal(aux["subsample_idx"], expected)
        np.testing.assert_array_equal(np.sort(aux["index_train"]), expected)
        np.testing.assert_array_equal(np.sort(np.concatenate([aux["index_train"], aux["index_removed"]])),
                                      np.arange(digits.num_train))
        assert aux["correctness_test"].shape == (digits.num_test,)
        assert aux["correctness_train"].dtype == bool
        accuracies.append(aux["correctness_test"].mean())
    # A linear model on features of a trained network classifies digits well above chance.
    assert min(accuracies) > 0.8
    assert not (workdir / "0.7" / "representation").exists()


def test_rerun_skips_everything(last_layer_run, program, caplog):
    import logging

    caplog.set_level(logging.INFO)
    workdir = last_layer_run
    before = (workdir / "0.7" / "0" / "aux_arrays.npz").stat().st_mtime_ns
    program.run(define_flags, last_layer.main, *ARGS, f"--workdir={workdir}")
    assert "0 linear trials trained, 3 skipped" in caplog.text
    assert (workdir / "0.7" / "0" / "aux_arrays.npz").stat().st_mtime_ns == before


def test_features_of_another_dataset_are_refused(last_layer_run, digits, program):
    workdir = last_layer_run
    other = Dataset(name="shifted", num_classes=10, image_shape=digits.image_shape,
                    train_labels=(digits.train_labels + 1) % 10, test_labels=digits.test_labels,
                    default_crop_padding=0, default_flip=False, x_train=digits.x_train,
                    x_test=digits.x_test)
    program.parse(define_flags, *ARGS, f"--workdir={workdir}")
    config = train_flags.config_from_flags()  # the run's own config: only the dataset differs
    with pytest.raises(ValueError, match="differ"):
        last_layer.ensure_representation(other, config, str(workdir / "representation"))
