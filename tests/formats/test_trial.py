"""formats.trial: --trials parsing and formatting, trial directory names."""
import numpy as np
import pytest

from influence_mem.formats.trial import MAX_TRIAL_ID, format_trials, parse_trials, trial_id


def test_parse_trials():
    assert parse_trials("0-3") == [0, 1, 2, 3]
    assert parse_trials("3,7,9") == [3, 7, 9]
    assert parse_trials("0-2,10,5-6") == [0, 1, 2, 5, 6, 10]
    assert parse_trials("4") == [4]
    for bad in ["", "a", "3-1", "1,,2", "-2", "1-x"]:
        with pytest.raises(ValueError, match="malformed --trials"):
            parse_trials(bad)


def test_format_trials_is_the_inverse_of_parse_trials():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ids = sorted(set(rng.integers(0, 60, size=rng.integers(1, 40)).tolist()))
        assert parse_trials(format_trials(ids)) == ids
    assert format_trials([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_parse_trials_is_lazy_and_bounded():
    many = parse_trials(f"1-{MAX_TRIAL_ID}")
    assert len(many) == MAX_TRIAL_ID and MAX_TRIAL_ID in many and 0 not in many
    with pytest.raises(ValueError, match="above the limit"):
        parse_trials(f"0-{MAX_TRIAL_ID + 1}")
    with pytest.raises(ValueError, match="more than the limit"):
        parse_trials(f"0-{MAX_TRIAL_ID}")


def test_only_canonical_names_are_trial_ids():
    assert trial_id("7") == 7 and trial_id("0") == 0
    for name in ("-7", "+7", "07", "x", "", "\u0663", str(MAX_TRIAL_ID + 1)):
        assert trial_id(name) is None, name
