"""Pair statistics against counts done by hand on a five-pair list."""
import numpy as np
import pandas as pd

from influence_mem.analysis import pair_stats

# (tr_idx, tt_idx, infl, mem): test 10 is influenced by train 0, 1, 3; tests 11 and 12 by one each.
PAIRS = pd.DataFrame({"tr_idx": [0, 0, 1, 2, 3], "tt_idx": [10, 11, 10, 12, 10],
                      "infl": [0.22, 0.52, 0.17, 0.97, 1.0], "mem": [0.3, 0.3, 0.9, 0.4, 0.5]})


def test_summary_counts_pairs_and_unique_examples():
    assert pair_stats.summary(PAIRS, num_test=100) == {
        "num_pairs": 5, "unique_train": 4, "unique_test": 3, "unique_test_fraction": 0.03}


def test_influencers_per_test_counts_test_examples_by_number_of_influencers():
    table = pair_stats.influencers_per_test(PAIRS)
    assert table.num_train_examples.tolist() == [1, 3]
    assert table.num_test_examples.tolist() == [2, 1]


def test_histogram_puts_each_value_in_its_bin_and_one_in_the_last():
    hist = pair_stats.influence_histogram(PAIRS)
    expected = np.zeros(17, np.int64)
    expected[[1, 7, 0]] = 1   # 0.22 in [0.20, 0.25), 0.52 in [0.50, 0.55), 0.17 in [0.15, 0.20)
    expected[16] = 2          # 0.97 and 1.0 in the closed last bin [0.95, 1.0]
    assert hist.num_pairs.tolist() == expected.tolist()
    assert hist.bin_low.iloc[0] == 0.15 and hist.bin_high.iloc[-1] == 1.0


def test_empty_pair_list_gives_zero_counts(tmp_path):
    empty = PAIRS.iloc[:0]
    assert pair_stats.summary(empty)["num_pairs"] == 0
    assert len(pair_stats.influencers_per_test(empty)) == 0
    hist = pair_stats.plot_influence_histogram(empty, tmp_path / "h.png").table
    assert hist.num_pairs.sum() == 0 and (tmp_path / "h.png").stat().st_size > 0
