"""estimate.trials is strict about what counts as a trial: correctness records, directory names, subset
sizes, files where directories go (docs/reliability.md)."""
import numpy as np
import pytest

from influence_mem.estimate import simulate
from influence_mem.formats import trial as trial_format
from influence_mem.estimate.trials import SkipTrial, list_trials, ratio_dirs, read_trial

N, N_TEST = 10, 4


def _trial(ratio_dir, tid, size=7, **overrides):
    mask = np.zeros(N, bool)
    mask[:size] = True
    simulate.write_trial(ratio_dir, tid, mask, np.ones(N, bool), np.ones(N_TEST, bool))
    path = ratio_dir / str(tid) / trial_format.AUX_FILE
    if overrides:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays.update(overrides)
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("value", [np.full(7, 0.5), np.full(7, 7), np.array(["yes"] * 7), np.full(7, -1)])
def test_correctness_must_be_boolean_or_zero_one(tmp_path, value):
    path = _trial(tmp_path / "0.7", 0, correctness_train=value)
    with pytest.raises(SkipTrial, match="correctness_train must be boolean"):
        read_trial(path, N, N_TEST)


def test_zero_one_integer_correctness_is_read_as_boolean(tmp_path):
    path = _trial(tmp_path / "0.7", 0, correctness_train=np.array([1, 0, 1, 1, 0, 1, 1]),
                  correctness_test=np.array([0, 1, 1, 0], np.uint8))
    _, correct_train, correct_test = read_trial(path, N, N_TEST)
    assert correct_train.dtype == bool and correct_train[:7].tolist() == [1, 0, 1, 1, 0, 1, 1]
    assert correct_test.tolist() == [False, True, True, False]


def test_only_canonical_trial_ids_count_and_a_file_named_like_a_trial_is_reported_and_kept(tmp_path):
    ratio_dir = tmp_path / "0.7"
    _trial(ratio_dir, 1)
    for name in ("-7", "+40", "041", "\u0663"):  # the last: ARABIC-INDIC DIGIT THREE
        (ratio_dir / name).mkdir()
        (ratio_dir / name / trial_format.AUX_FILE).write_bytes((ratio_dir / "1" / trial_format.AUX_FILE)
                                                               .read_bytes())
    (ratio_dir / "5").write_text("not a directory")
    trials, ignored = list_trials(ratio_dir)
    assert [t for t, _ in trials] == [1]
    reasons = dict(ignored)
    assert set(reasons) == {"-7", "+40", "041", "\u0663", "5"}
    assert "canonical" in reasons["041"]
    assert "a file where a trial directory should be (left alone)" == reasons["5"]
    assert (ratio_dir / "5").read_text() == "not a directory"


def test_a_subset_of_another_ratio_is_skipped(tmp_path):
    path = _trial(tmp_path / "0.7", 0, size=3)  # a 0.3 subset under 0.7/
    with pytest.raises(SkipTrial, match="subset of 3 examples, but a trial of ratio 0.7 trains on 7 of 10"):
        read_trial(path, N, N_TEST, subset_ratio=0.7)
    read_trial(path, N, N_TEST, subset_ratio=0.3)


def test_subset_sizes_follow_the_trainers_rule():
    """The subsets the trainer draws (data.subsets) have a size the reader accepts for their ratio."""
    from influence_mem.data.subsets import subset_indices

    for n in (1, 6, 10, 1437, 50000):
        for ratio in (0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.95):
            assert len(subset_indices(n, ratio, seed=0, trial=3)) in trial_format.subset_sizes(n, ratio)
    assert trial_format.subset_sizes(1437, 0.7) == {1005, 1006}  # int(1005.9) and the earlier round()


def test_ratio_directories_must_be_named_as_the_trainer_names_them(tmp_path):
    for name in ("0.7", "0.70", "7e-1", "nan", "0.3"):
        (tmp_path / name).mkdir()
    assert sorted(ratio_dirs(tmp_path)) == [0.3, 0.7]
    assert ratio_dirs(tmp_path)[0.7].endswith("/0.7")
