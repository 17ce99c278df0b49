"""The critique's memorized set is paper 003's S_h (unique training examples of the high-influence pairs) by
default, mem >= θ on request; its converged setting uses coupled L2; its table quotes paper 003's drops."""
import numpy as np
import pandas as pd
import pytest

from influence_mem import released
from influence_mem.analysis import critique
from influence_mem.train import flags as train_flags
from influence_mem.train.config import TrainConfig
from tests.helpers import DIGITS_MLP


def test_memorized_set_is_the_unique_training_ids_of_the_pairs_or_a_threshold():
    pairs = pd.DataFrame({"tr_idx": [7, 3, 7, 9], "tt_idx": [0, 1, 2, 2]})
    mem = np.array([0.1, 0.3, 0.0, 0.9, 0.2, 0.25, 0, 0.5, 0, 0.4])
    np.testing.assert_array_equal(critique.memorized_set("pairs", mem, pairs, 0.25), [3, 7, 9])
    np.testing.assert_array_equal(critique.memorized_set("mem_threshold", mem, pairs, 0.25), [1, 3, 5, 7, 9])
    with pytest.raises(ValueError, match="memorized set"):
        critique.memorized_set("other", mem, pairs, 0.25)


def test_removal_table_quotes_paper_003_table_2():
    correct = {("converged", "none"): (0, np.ones((2, 10))), ("converged", "all_memorized"): (5, np.ones((2, 10))),
               ("converged", "memorized"): (3, np.ones((2, 10)))}
    table = critique.removal_table(correct, critique.PAPER_003_DROPS_PCT).set_index("removal")
    assert table.loc["all_memorized", "paper_drop_pct"] == "1.78 ± 0.32"  # Table 2, not the text's 1.28 ± 0.48
    assert table.loc["memorized", "paper_drop_pct"] == "0.54 ± 0.29"
    assert table.loc["none", "paper_drop_pct"] == ""
    assert "paper_drop_pct" not in critique.removal_table(correct).columns


def test_converged_setting_uses_coupled_l2(monkeypatch, digits, tmp_path):
    seen = {}
    monkeypatch.setattr(critique, "train_runs", lambda data, cfg, runs, sub, *a: seen.setdefault(
        sub, (cfg.l2, cfg.weight_decay)) and np.ones((runs, data.num_test)))
    config = TrainConfig(weight_decay=0.0)
    table = critique.run_bucket_removal(digits, config, [1, 2, 3], {"leakage+shift": np.array([1]),
                                                                    "memorized": np.array([2, 3])},
                                        runs=2, workdir=str(tmp_path), converged_weight_decay=0.0,
                                        converged_l2=5e-4, paper_drops=critique.PAPER_003_DROPS_PCT)
    by_setting = {sub.split("/")[-2]: value for sub, value in seen.items()}
    assert by_setting == {"original": (0.0, 0.0), "converged": (5e-4, 0.0)}
    assert set(table["paper_drop_pct"]) == {"", "2.54 ± 0.20", "1.78 ± 0.32", "1.25 ± 0.32", "0.54 ± 0.29"}


def define_flags():  # as critique.run() defines them
    train_flags.define_flags()
    critique.define_flags()


def _estimates(directory, digits, with_pairs_file):
    """Training ids a, b (class 0), c (class 1) with mem 0.9 and d (class 2) with 0.5; pairs (a -> t),
    (b -> t), (c -> u): S_h = {a, b, c}, and a, b share test example t (a subpopulation).  Returns [a, b, c, d]."""
    classes = range(10)
    tr = {c: np.flatnonzero(digits.train_labels == c) for c in classes}
    tt = {c: np.flatnonzero(digits.test_labels == c) for c in classes}
    ids = [int(tr[0][0]), int(tr[0][1]), int(tr[1][0]), int(tr[2][0])]
    mem = np.zeros(digits.num_train, np.float32)
    mem[ids[:3]], mem[ids[3]] = 0.9, 0.5
    blocks = {c: np.zeros((len(tr[c]), len(tt[c])), np.float32) for c in classes}
    pairs = []
    for i, position in ((ids[0], 0), (ids[1], 0), (ids[2], 0)):
        c = int(digits.train_labels[i])
        blocks[c][np.flatnonzero(tr[c] == i)[0], position] = 0.5
        pairs.append((i, int(tt[c][position])))
    directory.mkdir()
    released.write_infl_matrix(directory / "digits_infl_matrix.npz", digits.train_labels, digits.test_labels, mem,
                               tr, tt, blocks)
    if with_pairs_file:
        tr_idx, tt_idx = np.array(pairs).T
        released.write_high_infl_pairs(directory / released.high_infl_pairs_filename("digits", 0.15, 0.25),
                                       tr_idx, tt_idx, np.full(3, 0.5, np.float32), mem[tr_idx])
    return ids


@pytest.mark.parametrize("with_pairs_file", [True, False])
def test_main_removes_s_h_by_default(tmp_path, program, digits, with_pairs_file):
    a, b, c, d = _estimates(tmp_path / "est", digits, with_pairs_file)
    result = program.invoke(define_flags, critique.main, f"--flagfile={DIGITS_MLP}", f"--estimates={tmp_path / 'est'}",
                            "--runs=0", f"--workdir={tmp_path / 'w'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 memorized (S_h, the training examples of 3 high-influence pairs)" in result.stdout
    bucket = pd.read_csv(tmp_path / "w" / "digits_buckets.csv").set_index("tr_idx")["bucket"]
    assert sorted(bucket.index) == sorted([a, b, c])  # d (mem 0.5, in no pair) is not in S_h
    assert bucket[a] == bucket[b] == "leakage+shift"  # they influence the same test example
    assert bucket[c] == "memorized"


def test_main_mem_threshold_option(tmp_path, program, digits):
    _estimates(tmp_path / "est", digits, True)
    result = program.invoke(define_flags, critique.main, f"--flagfile={DIGITS_MLP}", f"--estimates={tmp_path / 'est'}",
                            "--runs=0", f"--workdir={tmp_path / 'w'}", "--memorized_set=mem_threshold")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 memorized (mem >= 0.25)" in result.stdout
