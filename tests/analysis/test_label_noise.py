"""analysis.label_noise: the AUROC table on known answers (the end-to-end comparison of the estimators on
planted mislabels is tests/integration/test_label_noise.py)."""
import pytest

from influence_mem.analysis import label_noise


def test_auroc_table_known_answers():
    corrupted = [3, 4]
    table = label_noise.auroc_table({"perfect": [0, 0.1, 0.2, 0.9, 1.0], "reversed": [1, 1, 1, 0, 0],
                                     "constant": [0.5] * 5}, corrupted)
    assert table.set_index("estimator")["auroc"].to_dict() == {"perfect": 1.0, "reversed": 0.0, "constant": 0.5}
    row = table.iloc[0]
    assert row["num_corrupted"] == 2 and row["num_clean"] == 3
    assert row["mem_mean_corrupted"] == pytest.approx(0.95) and row["mem_mean_clean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="outside"):
        label_noise.auroc_table({"x": [0, 1]}, [5])


def test_scores_must_be_name_equals_dir():
    with pytest.raises(ValueError, match="is not NAME=DIR"):
        label_noise.load_scores(["turnover"])
