"""Paper 003 checks on constructed cases: planted duplicates, known subpopulations and buckets, removal runs."""
import json

import numpy as np
import pandas as pd
import pytest

from influence_mem import released
from influence_mem.analysis import critique
from influence_mem.data import datasets
from influence_mem.train.config import TrainConfig
from influence_mem.train import flags as train_flags
from tests.helpers import DIGITS_MLP


def _planted_images():
    rng = np.random.default_rng(0)
    x_train = rng.uniform(size=(200, 8, 8, 1)).astype(np.float32)
    x_test = rng.uniform(size=(50, 8, 8, 1)).astype(np.float32)
    x_test[3] = x_train[10]                                                   # exact duplicate
    x_test[7] = np.clip(x_train[20] + rng.normal(0, 0.005, (8, 8, 1)), 0, 1)  # near duplicate
    x_test[9] = np.clip(x_train[30] + rng.normal(0, 0.1, (8, 8, 1)), 0, 1)    # same image, heavily changed
    return x_train, x_test


def test_planted_pixel_duplicates_are_found_and_distinct_images_are_not():
    x_train, x_test = _planted_images()
    found = critique.pixel_duplicates(x_train, x_test, threshold=0.02)
    assert list(zip(found["tr_idx"], found["tt_idx"], found["exact"])) == [(10, 3, True), (20, 7, False)]
    assert found["distance"][0] == 0 and 0 < found["distance"][1] < 0.01
    rms = np.sqrt(np.mean((x_train[20] - x_test[7]) ** 2))
    assert found["distance"][1] == pytest.approx(rms, rel=1e-4)
    only = critique.pixel_duplicates(x_train, x_test, threshold=0.02, train_ids=[10, 30])
    assert list(zip(only["tr_idx"], only["tt_idx"])) == [(10, 3)]
    loose = critique.pixel_duplicates(x_train, x_test, threshold=0.15)  # catches the heavily changed copy too
    assert (30, 9) in set(zip(loose["tr_idx"], loose["tt_idx"])) and len(loose) == 3
    # uint8 images (MNIST/CIFAR in memory) are compared on the same [0, 1] scale.
    uint8 = critique.pixel_duplicates(np.round(x_train * 255).astype(np.uint8),
                                      np.round(x_test * 255).astype(np.uint8), 0.02)
    assert list(zip(uint8["tr_idx"], uint8["tt_idx"], uint8["exact"])) == [(10, 3, True), (20, 7, False)]


def test_planted_feature_duplicates_use_cosine_distance():
    rng = np.random.default_rng(1)
    f_train, f_test = rng.normal(size=(100, 16)), rng.normal(size=(30, 16))
    f_test[4] = 3.0 * f_train[8]                       # same direction: cosine distance 0
    f_test[5] = f_train[9] + rng.normal(0, 0.01, 16)   # nearly the same
    found = critique.feature_duplicates(f_train, f_test, threshold=0.01)
    assert list(zip(found["tr_idx"], found["tt_idx"])) == [(8, 4), (9, 5)]
    cos = f_train[9] @ f_test[5] / np.linalg.norm(f_train[9]) / np.linalg.norm(f_test[5])
    assert found["distance"][0] == pytest.approx(0, abs=1e-9)
    assert found["distance"][1] == pytest.approx(1 - cos, abs=1e-9)


def test_subpopulations_are_memorized_examples_sharing_a_test_example():
    pairs = pd.DataFrame({"tr_idx": [1, 2, 2, 3, 5, 6, 7, 8, 9, 11, 12],
                          "tt_idx": [100, 100, 101, 101, 200, 300, 300, 400, 400, 500, 500]})
    memorized = [1, 2, 3, 5, 6, 9, 11, 12]
    subs = critique.subpopulations(pairs, memorized)
    assert subs["tr_idx"].tolist() == [1, 2, 3, 11, 12]  # 6 and 9 share only with non-memorized 7 and 8
    assert subs["subpopulation"].tolist() == [0, 0, 0, 1, 1] and subs["size"].tolist() == [3, 3, 3, 2, 2]
    assert subs["tt_idx"].tolist()[:3] == ["100 101"] * 3 and subs["tt_idx"][3] == "500"
    assert len(critique.subpopulations(pairs, [5])) == 0


def test_buckets_split_memorized_examples():
    out = critique.buckets([1, 2, 3, 4, 5], duplicate_tr_ids=[2, 99], subpopulation_tr_ids=[4, 5])
    np.testing.assert_array_equal(out["leakage+shift"], [2, 4, 5])
    np.testing.assert_array_equal(out["memorized"], [1, 3])


def test_removal_table_drops_are_paired_per_run():
    full = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])        # accuracies 1.0, 0.75
    less = np.array([[1, 1, 0, 0], [1, 1, 1, 0]])        # 0.5, 0.75 -> drops 0.5, 0.0
    table = critique.removal_table({("s", "none"): (0, full), ("s", "bucket"): (7, less)}).set_index("removal")
    assert table.loc["bucket", "drop_mean"] == pytest.approx(0.25)
    assert table.loc["bucket", "drop_std"] == pytest.approx(np.std([0.5, 0.0], ddof=1))
    assert table.loc["none", "drop_mean"] == 0 and table.loc["bucket", "num_removed"] == 7


def test_reduced_sets_keep_the_corrupted_ids_renumbered():
    from influence_mem.data import corrupt

    bad = corrupt.corrupt_dataset(datasets.load("digits"), 0.1, seed=0)
    removed = bad.corrupted_idx[::2]
    from influence_mem.analysis.marginal_utility import reduced

    out = reduced(bad, removed)
    assert len(out.corrupted_idx) == len(bad.corrupted_idx) - len(removed)
    kept = np.setdiff1d(np.arange(bad.num_train), removed)
    np.testing.assert_array_equal(kept[out.corrupted_idx], np.setdiff1d(bad.corrupted_idx, removed))
    np.testing.assert_array_equal(out.train_labels, bad.train_labels[kept])


@pytest.mark.slow
def test_bucketed_removal_trains_each_reduced_set_with_and_without_weight_decay(tmp_path, digits):
    # One epoch, one run per reduced set: this is about which sets are trained, and how.
    config = TrainConfig(arch_options={"mlp_hidden": "16"}, epochs=1, batch_size=128, base_lr=0.1,
                         save_model=False, log_every_epochs=100)
    memorized = np.arange(0, 300, 3)
    bucket_ids = critique.buckets(memorized, memorized[:40], [])
    table = critique.run_bucket_removal(digits, config, memorized, bucket_ids, runs=1, workdir=str(tmp_path),
                                       converged_weight_decay=1e-3, pack_trials=1)
    rows = {(r.setting, r.removal): r for r in table.itertuples()}
    assert set(rows) == {("original", "none"), ("original", "all_memorized"), ("converged", "none"),
                         ("converged", "all_memorized"), ("converged", "leakage+shift"), ("converged", "memorized")}
    assert rows[("converged", "leakage+shift")].num_removed == 40 and rows[("converged", "memorized")].num_removed == 60
    for (setting, removal), row in rows.items():
        metrics = json.loads((tmp_path / setting / removal.replace("+", "_") / "1" / "0" / "metrics.json").read_text())
        assert metrics["num_subset"] == digits.num_train - row.num_removed
        assert metrics["config"]["weight_decay"] == (1e-3 if setting == "converged" else 0.0)
        assert row.runs == 1 and 0 <= row.test_acc_mean <= 1


def define_flags():  # as critique.run() defines them
    train_flags.define_flags()
    critique.define_flags()


def test_main_writes_duplicate_subpopulation_and_bucket_tables(tmp_path, program, digits):
    mem = np.zeros(digits.num_train, np.float32)
    mem[[0, 1, 2]] = 0.9
    classes = range(10)
    tr = {c: np.flatnonzero(digits.train_labels == c) for c in classes}
    tt = {c: np.flatnonzero(digits.test_labels == c) for c in classes}
    blocks = {c: np.zeros((len(tr[c]), len(tt[c])), np.float32) for c in classes}
    est = tmp_path / "est"
    est.mkdir()
    released.write_infl_matrix(est / "digits_infl_matrix.npz", digits.train_labels, digits.test_labels, mem,
                               tr, tt, blocks)
    # Feature file where memorized train example 1 has a test twin (test 5), so it is "leakage".
    rng = np.random.default_rng(0)
    f_train, f_test = rng.normal(size=(digits.num_train, 8)), rng.normal(size=(digits.num_test, 8))
    f_test[5] = f_train[1]
    np.savez(tmp_path / "features.npz", train_features=f_train, test_features=f_test)
    result = program.invoke(define_flags, critique.main, f"--flagfile={DIGITS_MLP}", f"--estimates={est}",
                            f"--features={tmp_path / 'features.npz'}", "--runs=0", f"--workdir={tmp_path / 'w'}",
                            "--memorized_set=mem_threshold")
    assert result.returncode == 0, result.stderr[-3000:]
    dups = pd.read_csv(tmp_path / "w" / "digits_duplicates.csv")
    assert set(zip(dups["space"], dups["tr_idx"], dups["tt_idx"])) >= {("feature", 1, 5)}
    assert set(dups["tr_idx"]) <= {0, 1, 2}
    bucket = pd.read_csv(tmp_path / "w" / "digits_buckets.csv").set_index("tr_idx")["bucket"]
    assert bucket[1] == "leakage+shift" and len(bucket) == 3
    assert "3 memorized" in result.stdout
