"""Every model file the trainer writes (one model and packed) loads where users load it: plain
keras.models.load_model, tf.saved_model.load and keras.layers.TFSMLayer in a Python that never imported
influence_mem, and predicts what the trial's stored correctness says."""
import subprocess
import sys

import numpy as np
import pytest

from influence_mem.data import pipeline
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import run_trials
from tests.helpers import load_aux, subprocess_env

pytestmark = pytest.mark.integration

# Loads the three forms and writes their logits; fails if anything of influence_mem was imported.
PLAIN_LOADER = """
import sys
import numpy as np, keras, tensorflow as tf
images, out, trials = sys.argv[1], sys.argv[2], sys.argv[3:]
x = {k: v for k, v in np.load(images).items()}
logits = {}
for k, trial in enumerate(trials):
    model = keras.models.load_model(trial + "/model.keras")
    saved = tf.saved_model.load(trial + "/saved_model")
    layer = keras.layers.TFSMLayer(trial + "/saved_model", call_endpoint="serve")
    for split in ("train", "test"):
        logits[f"{k}_keras_{split}"] = np.concatenate([model(x[split][i:i + 1024], training=False).numpy()
                                                       for i in range(0, len(x[split]), 1024)])
        logits[f"{k}_saved_{split}"] = saved.serve(tf.constant(x[split])).numpy()
        logits[f"{k}_layer_{split}"] = layer(x[split]).numpy()
imported = sorted(m for m in sys.modules if m.split(".")[0] == "influence_mem")
assert not imported, imported
np.savez(out, **logits)
"""


def plain_logits(trial_dirs, images_path, tmp_path):
    """Per trial directory, {form_split: logits} computed by PLAIN_LOADER in a fresh Python."""
    out = tmp_path / "logits.npz"
    done = subprocess.run([sys.executable, "-c", PLAIN_LOADER, str(images_path), str(out), *map(str, trial_dirs)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=subprocess_env())
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as logits:
        return [{key.split("_", 1)[1]: logits[key] for key in logits.files if key.startswith(f"{k}_")}
                for k in range(len(trial_dirs))]


def stored_correctness(trial_dir, dataset):
    """Per split, the trial's correctness by example id."""
    aux = load_aux(trial_dir)
    train = np.zeros(dataset.num_train, bool)
    train[np.concatenate([aux["index_train"], aux["index_removed"]])] = np.concatenate(
        [aux["correctness_train"], aux["correctness_removed"]])
    test = np.zeros(dataset.num_test, bool)
    test[aux["index_test"]] = aux["correctness_test"]
    return {"train": train, "test": test}


def test_one_model_and_packed_trials_load_without_influence_mem(digits, tmp_path):
    # The images the trainer evaluated (the pipeline's [0, 1] float32), by example id.
    images = {split: pipeline.in_memory_split(digits, split)["image"].numpy() for split in ("train", "test")}
    labels = {"train": digits.train_labels, "test": digits.test_labels}
    images_path = tmp_path / "images.npz"
    np.savez(images_path, **images)
    config = TrainConfig(epochs=3, arch_options={"mlp_hidden": "64"})
    run_trials(digits, config, [0], str(tmp_path / "one"), progress_bar=False)
    run_trials(digits, config, [0, 1], str(tmp_path / "packed"), pack_trials=2, progress_bar=False)
    trials = [(tmp_path / "one" / "0.7" / "0", True), (tmp_path / "packed" / "0.7" / "1", False)]
    for (trial_dir, exact), logits in zip(trials, plain_logits([t for t, _ in trials], images_path, tmp_path)):
        stored = stored_correctness(trial_dir, digits)
        for split in ("train", "test"):
            keras_logits = logits[f"keras_{split}"]
            assert keras_logits.shape == (len(labels[split]), 10) and np.isfinite(keras_logits).all()
            # The SavedModel (both ways of loading it) computes the same network.
            np.testing.assert_allclose(logits[f"saved_{split}"], keras_logits, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(logits[f"layer_{split}"], keras_logits, rtol=1e-5, atol=1e-5)
            correct = keras_logits.argmax(axis=1) == labels[split]
            assert 0.3 < correct.mean() < 1.0  # a trained model, not a constant one
            agree = np.mean(correct == stored[split])
            print(f"{trial_dir.parent.parent.name} {split}: accuracy {correct.mean():.4f}, agreement with the "
                  f"stored correctness {agree:.4f}")
            if exact:  # one float32 model: the very predictions its trial recorded
                np.testing.assert_array_equal(correct, stored[split])
            else:  # a pack's slice evaluated alone: the same weights, rounding may flip a near tie
                assert agree >= 0.995
