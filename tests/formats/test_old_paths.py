"""The import paths the docs and notebooks used before formats/ keep working: influence_mem.released is the
public face (the same objects, no warning); the old module paths import with a DeprecationWarning naming the
new one."""
import importlib
import sys
import warnings

import pytest

from influence_mem.formats import released as formats_released
from influence_mem.formats import trial


def _fresh_import(name):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_influence_mem_released_hands_on_the_formats_api_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        face = _fresh_import("influence_mem.released")
    assert sorted(face.__all__) == sorted(formats_released.__all__)
    assert all(getattr(face, name) is getattr(formats_released, name) for name in formats_released.__all__)


@pytest.mark.parametrize("old,new,names", [
    ("influence_mem.estimate.trial_format", "influence_mem.formats.trial", ["parse_trials", "AUX_FILE", "TrialIds"]),
    ("influence_mem.released_files", "influence_mem.formats.released.fetch", ["fetch", "FILES", "check", "FetchError"]),
])
def test_an_old_path_warns_naming_the_new_one_and_still_works(old, new, names):
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = _fresh_import(old)
    new_module = importlib.import_module(new)
    assert all(getattr(module, name) is getattr(new_module, name) for name in names)
    if old.endswith("trial_format"):
        assert module.subset_size(10, 0.7) == trial.subset_size(10, 0.7) == 7
    else:
        assert module.main is importlib.import_module("influence_mem.programs.released").main
