"""train.outputs: the files of a trained trial (aux arrays, metrics, SavedModel, dataset meta) and the commit."""
import json

import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import pipeline
from influence_mem.data.subsets import subset_indices
from influence_mem.formats.trial import AUX_KEYS, META_FILE
from influence_mem.train import outputs
from tests.helpers import load_aux


def test_trial_writes_every_key_with_right_shapes_and_dtypes(digits_trial):
    aux = load_aux(digits_trial["dir"])
    n, n_test = digits_trial["dataset"].num_train, digits_trial["dataset"].num_test
    m = int(0.7 * n)  # data.subsets.subset_size: truncation, as the authors compute it
    assert sorted(aux) == sorted(AUX_KEYS)
    expected = {"subsample_idx": (m, np.int64), "index_train": (m, np.int64), "correctness_train": (m, np.bool_),
                "index_removed": (n - m, np.int64), "correctness_removed": (n - m, np.bool_),
                "index_test": (n_test, np.int64), "correctness_test": (n_test, np.bool_)}
    for key, (length, dtype) in expected.items():
        assert aux[key].shape == (length,), key
        assert aux[key].dtype == dtype, key


def test_indices_cover_train_set_once_and_agree_with_subset(digits_trial):
    aux = load_aux(digits_trial["dir"])
    n = digits_trial["dataset"].num_train
    both = np.concatenate([aux["index_train"], aux["index_removed"]])
    np.testing.assert_array_equal(np.sort(both), np.arange(n))
    np.testing.assert_array_equal(np.sort(aux["index_train"]), np.sort(aux["subsample_idx"]))
    np.testing.assert_array_equal(aux["subsample_idx"], subset_indices(n, 0.7, 0, 0))
    np.testing.assert_array_equal(np.sort(aux["index_test"]), np.arange(digits_trial["dataset"].num_test))


def test_metrics_and_accuracy(digits_trial):
    metrics = json.loads((digits_trial["dir"] / "metrics.json").read_text())
    aux = load_aux(digits_trial["dir"])
    assert metrics["test_accuracy"] == pytest.approx(aux["correctness_test"].mean())
    assert metrics["train_accuracy"] == pytest.approx(aux["correctness_train"].mean())
    assert metrics["epochs"] == 20 and metrics["wall_seconds"] > 0 and np.isfinite(metrics["final_loss"])
    # A 70% digits MLP trial reaches at least 95% test accuracy (the demo's promise since 0.1.0).
    assert metrics["test_accuracy"] >= 0.95
    assert (digits_trial["workdir"] / META_FILE).exists()
    with np.load(digits_trial["workdir"] / META_FILE) as meta:
        np.testing.assert_array_equal(meta["tr_labels"], digits_trial["dataset"].train_labels)


def test_saved_model_reproduces_test_correctness(digits_trial):
    loaded = tf.saved_model.load(str(digits_trial["dir"] / "saved_model"))
    dataset = digits_trial["dataset"]
    batch = next(iter(pipeline.eval_pipeline(dataset, "test", dataset.num_test)))
    logits = loaded.serve(batch["image"]).numpy()
    assert logits.shape == (dataset.num_test, 10)
    correct = np.argmax(logits, -1) == batch["label"].numpy()
    aux = load_aux(digits_trial["dir"])
    np.testing.assert_array_equal(correct[np.argsort(batch["index"].numpy())][aux["index_test"]],
                                  aux["correctness_test"])
    signature = loaded.signatures["serving_default"]
    out = list(signature(batch["image"]).values())[0].numpy()
    np.testing.assert_allclose(out, logits, rtol=1e-5, atol=1e-5)


def test_commit_never_overwrites_a_complete_trial(tmp_path):
    final, temp = tmp_path / "0.7" / "3", tmp_path / "0.7" / ".3.tmp-x"
    for d, marker in ((final, b"first"), (temp, b"second")):
        d.mkdir(parents=True)
        (d / "aux_arrays.npz").write_bytes(marker)
    assert outputs.commit_trial(str(temp), str(final)) is False
    assert (final / "aux_arrays.npz").read_bytes() == b"first" and not temp.exists()


def test_dataset_meta_of_another_dataset_is_refused(tmp_path, digits):
    meta = digits.meta()
    outputs.ensure_dataset_meta(str(tmp_path), meta)
    outputs.ensure_dataset_meta(str(tmp_path), meta)  # the same dataset again: fine
    other = dict(meta, tr_labels=(meta["tr_labels"] + 1) % 10)
    with pytest.raises(ValueError, match="tr_labels differ"):
        outputs.ensure_dataset_meta(str(tmp_path), other)
