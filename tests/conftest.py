"""Fixtures shared by the tests (used as fixtures, never imported; plain helpers are in tests/helpers.py).

- `digits`: the digits dataset, loaded once per session.
- `digits_trial`: one default-config digits MLP trial (trial 0, r = 0.7) trained in-process once per session.
- `program`: a program's absl flags defined and parsed in-process, removed again after the test.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from influence_mem.data import datasets

    return datasets.load("digits")


@pytest.fixture(scope="session")
def digits_trial(tmp_path_factory, digits):
    """Trial 0 of the default digits config (20 epochs), with its SavedModel, in <workdir>/0.7/0."""
    from influence_mem.train.config import TrainConfig
    from influence_mem.train.run import run_trials

    workdir = tmp_path_factory.mktemp("digits_run")
    config = TrainConfig(epochs=20, batch_size=128, base_lr=0.1)
    summary = run_trials(digits, config, [0], str(workdir))
    return {"workdir": workdir, "dataset": digits, "config": config, "summary": summary,
            "dir": workdir / "0.7" / "0"}


class Program:
    """Define a program's flags and parse its argv in the test's process, as absl's app.run would."""

    def __init__(self, values):
        self.FLAGS = values

    def parse(self, define_flags, *argv):
        """Call `define_flags()` and parse `argv` (strings, no program name); returns FLAGS.

        Bad values raise absl's flags.Error (IllegalFlagValueError carries the validator's message)."""
        import logging

        define_flags()
        self.FLAGS.unparse_flags()
        self.FLAGS(["prog", *map(str, argv)])
        # Parsing --verbosity (default: warnings) sets the absl logger's level; let it follow the root logger,
        # whose level a test sets with caplog.set_level.
        logging.getLogger("absl").setLevel(logging.NOTSET)
        return self.FLAGS

    def run(self, define_flags, main, *argv):
        """Parse `argv` for the program and call its `main`; returns what main returns."""
        self.parse(define_flags, *argv)
        return main(["prog"])


@pytest.fixture
def program():
    """A Program on the process's absl FLAGS; afterwards every flag the test defined is removed again and
    values are reset, so the next test can define another program's (same-named) flags."""
    from absl import flags

    values = flags.FLAGS
    before = set(values)
    values.unparse_flags()
    try:
        yield Program(values)
    finally:
        values.unparse_flags()
        for name in set(values) - before:
            if name in values:
                delattr(values, name)


# Transitional, until the last test files moved to tests.helpers: the old `from conftest import ...` and
# `from tests.conftest import REPO, run_module` spellings.
import sys  # noqa: E402

from tests.helpers import REPO, run_module  # noqa: E402,F401

sys.modules.setdefault("conftest", sys.modules[__name__])
