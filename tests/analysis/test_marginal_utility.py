"""Removal experiments (Fig. 2, appendix C): removal sets and tables by hand; training on digits
with a known answer (without any training example of class 3, no class-3 test example is right)."""
import numpy as np
import pandas as pd
import pytest

from influence_mem.analysis import marginal_utility as mu
from influence_mem.train import flags as train_flags
from tests.helpers import DIGITS_MLP, write_digits_estimates


def test_removal_sets_memorized_and_random_of_the_same_size():
    mem = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.0])
    sets = mu.removal_sets(mem, [0.5, 0.95], seed=3)
    theta, memorized, random_ids = sets[0]
    assert theta == 0.5 and memorized.tolist() == [0, 2, 4]
    assert len(random_ids) == 3 and len(np.unique(random_ids)) == 3 and random_ids.max() < 6
    assert sets[1][1].tolist() == [] and sets[1][2].tolist() == []
    # the random draw of a θ depends on (seed, θ) only
    again = mu.removal_sets(mem, [0.2, 0.5], seed=3)[1]
    assert again[2].tolist() == random_ids.tolist()


def test_removal_sets_random_is_uniform_over_the_training_set():
    mem = np.r_[np.ones(10), np.zeros(90)]
    hits = np.zeros(100)
    for seed in range(400):
        hits[mu.removal_sets(mem, [0.5], seed=seed)[0][2]] += 1
    # each id is removed with probability 10/100: 40 expected of 400, binomial sd 6
    assert abs(hits[:10].mean() - 40) < 6 and abs(hits[10:].mean() - 40) < 3


def test_accuracy_table_by_hand():
    results = {(np.nan, "none"): (0, [[1, 1, 0, 0], [1, 0, 0, 0]]),
               (0.5, "memorized"): (2, [[1, 0, 0, 0], [0, 0, 0, 0]]),
               (0.5, "random"): (2, [[1, 1, 1, 0]])}
    table = mu.accuracy_table(results, num_train=8)
    assert table.removal.tolist() == ["none", "memorized", "random"]
    t = table.set_index("removal")
    assert t.loc["none", "test_acc_mean"] == pytest.approx(0.375)
    assert t.loc["none", "test_acc_std"] == pytest.approx(np.std([0.5, 0.25], ddof=1))
    assert t.loc["memorized", "test_acc_mean"] == pytest.approx(0.125)
    assert t.loc["memorized", "fraction_removed"] == pytest.approx(0.25)
    assert t.loc["random", "runs"] == 1 and np.isnan(t.loc["random", "test_acc_std"])


def test_pair_removal_table_by_hand():
    full = np.array([[1, 1, 1, 0], [1, 1, 0, 1]])
    removed = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    t = mu.pair_removal_table(full, removed, influenced_ids=[2, 3]).set_index("quantity")["mean"]
    assert t["test accuracy, full set"] == pytest.approx(0.75)
    assert t["test accuracy, without S_h"] == pytest.approx(0.375)
    assert t["S'_h accuracy, full set"] == pytest.approx(0.5)
    assert t["S'_h accuracy, without S_h"] == pytest.approx(0.0)
    assert t["test accuracy difference"] == pytest.approx(0.375)
    assert t["contribution of S'_h to the difference"] == pytest.approx(0.5 * 2 / 4)


def test_removal_table_of_any_ids_by_hand():
    full, removed = np.array([[1, 1, 1, 0]]), np.array([[1, 0, 0, 0]])
    t = mu.pair_removal_table(full, removed, removed_name="bucket").set_index("quantity")["mean"]
    assert t.to_dict() == {"test accuracy, full set": 0.75, "test accuracy, without bucket": 0.25,
                           "test accuracy difference": 0.5}


def test_read_ids_from_text_or_npy(tmp_path):
    (tmp_path / "a.txt").write_text("3\n1\n4\n")
    np.save(tmp_path / "b.npy", np.array([0, 9]))
    assert mu.read_ids(str(tmp_path / "a.txt"), 10).tolist() == [3, 1, 4]
    assert mu.read_ids(str(tmp_path / "b.npy"), 10).tolist() == [0, 9]
    with pytest.raises(ValueError, match="b.npy: ids must be integers in \\[0, 5\\)"):
        mu.read_ids(str(tmp_path / "b.npy"), 5)
    with pytest.raises(ValueError, match="nope.txt: not a readable"):
        mu.read_ids(str(tmp_path / "nope.txt"), 5)


@pytest.mark.slow
def test_reduced_dataset_drops_rows(digits_trial):
    ds = digits_trial["dataset"]
    small = mu.reduced(ds, [0, 5, 7])
    assert small.num_train == ds.num_train - 3 and small.num_test == ds.num_test
    # kept rows 1, 2, 3, 4, 6, 8, ...: new row 4 is old row 6, new row 5 old row 8
    assert np.array_equal(small.x_train[4], ds.x_train[6]) and np.array_equal(small.x_train[5], ds.x_train[8])
    assert np.array_equal(small.train_labels[:6], ds.train_labels[[1, 2, 3, 4, 6, 8]])
    with pytest.raises(ValueError, match="leaves no training data"):
        mu.reduced(ds, np.arange(ds.num_train))


@pytest.mark.slow
def test_training_without_a_whole_class_never_predicts_it(digits_trial, tmp_path):
    ds, config = digits_trial["dataset"], digits_trial["config"]
    config = type(config)(**{**config.__dict__, "epochs": 5, "save_model": False})
    mem = (ds.train_labels == 3).astype(float)
    table = mu.run_marginal_utility(ds, config, mem, [0.5], runs=2, workdir=str(tmp_path), pack_trials=2)
    t = table.set_index("removal")
    assert t.loc["memorized", "num_removed"] == np.sum(ds.train_labels == 3)
    assert t.loc["random", "num_removed"] == np.sum(ds.train_labels == 3)
    frac3 = np.mean(ds.test_labels == 3)
    assert t.loc["memorized", "test_acc_mean"] <= 1 - frac3 + 1e-9
    assert t.loc["none", "test_acc_mean"] > 1 - frac3   # the full set gets some class-3 test examples right
    train3, test3 = np.flatnonzero(ds.train_labels == 3), np.flatnonzero(ds.test_labels == 3)
    pairs = pd.DataFrame({"tr_idx": train3, "tt_idx": np.resize(test3, len(train3))})
    assert set(pairs.tt_idx) == set(test3)
    removal = mu.run_pair_removal(ds, config, pairs, runs=2, workdir=str(tmp_path), pack_trials=2)
    r = removal.set_index("quantity")["mean"]
    assert r["S'_h accuracy, without S_h"] == 0.0
    assert r["S'_h accuracy, full set"] > 0.5
    # the 'full' condition is shared with the Fig. 2 runs: same numbers
    assert r["test accuracy, full set"] == pytest.approx(t.loc["none", "test_acc_mean"])
    # the without-S_h runs are the memorized-θ=0.5 runs' training set: same data, same seeds
    assert r["test accuracy, without S_h"] == pytest.approx(t.loc["memorized", "test_acc_mean"], abs=0.02)




def define_flags():  # as marginal_utility.run() defines them
    train_flags.define_flags()
    mu.define_flags()


@pytest.mark.slow
def test_main_writes_tables_and_plot(tmp_path, program):
    est = tmp_path / "est"
    est.mkdir()
    from influence_mem.data import datasets

    labels = datasets.load("digits").train_labels
    write_digits_estimates(est, (labels == 3).astype(np.float32))
    out = tmp_path / "out"
    np.savetxt(tmp_path / "class3.txt", np.flatnonzero(labels == 3), fmt="%d")
    proc = program.invoke(define_flags, mu.main, f"--estimates={est}", f"--flagfile={DIGITS_MLP}", "--epochs=1", "--runs=1", "--thresholds=0.5",
                      f"--workdir={tmp_path / 'work'}", f"--output_dir={out}",
                      f"--remove_ids={tmp_path / 'class3.txt'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(out / "dg_marginal_utility.csv")
    assert table.set_index("removal").loc["memorized", "num_removed"] == np.sum(labels == 3)
    assert (out / "dg_marginal_utility.png").stat().st_size > 0
    removal = pd.read_csv(out / "dg_pair_removal.csv").set_index("quantity")["mean"]
    assert removal["S'_h accuracy, without S_h"] == 0.0
    by_ids = pd.read_csv(out / "dg_removal_class3.csv").set_index("quantity")["mean"]
    # the same training set (all of class 3) and seeds as the pair removal
    assert by_ids["test accuracy, without class3"] == pytest.approx(removal["test accuracy, without S_h"], abs=0.02)
    bad = program.invoke(define_flags, mu.main, f"--estimates={tmp_path / 'missing'}", f"--flagfile={DIGITS_MLP}",
                         f"--workdir={tmp_path / 'w2'}")
    assert bad.returncode != 0 and "missing: no such directory" in bad.stderr
