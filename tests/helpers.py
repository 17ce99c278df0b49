"""Plain helpers shared by the tests, imported as `from tests.helpers import ...`.

Fixtures (trained runs, absl flag isolation) live in tests/conftest.py and are
used as fixtures, never imported.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DIGITS_MLP = CONFIGS / "digits_mlp.cfg"
RELEASED_DIR_VARIABLE = "INFLUENCE_MEM_RELEASED_DIR"


def released_dir(*filenames) -> Path:
    """The directory holding the authors' released `filenames`, or skip the test saying how to get them.

    Looked for in $INFLUENCE_MEM_RELEASED_DIR, then in shared/data/released next to the repository.
    """
    candidates = [os.environ.get(RELEASED_DIR_VARIABLE), REPO.parent / "shared" / "data" / "released"]
    for candidate in filter(None, candidates):
        if all((Path(candidate) / name).is_file() for name in filenames):
            return Path(candidate)
    names = " ".join(filenames)
    pytest.skip(f"needs the authors' released files {', '.join(filenames)}: download them with "
                f"`python -m influence_mem.released fetch NAME --cache_dir=DIR` for each NAME in {names}, "
                f"then set {RELEASED_DIR_VARIABLE}=DIR")


def load_aux(trial_dir) -> dict:
    """A trial's aux_arrays.npz as a dict of arrays."""
    with np.load(Path(trial_dir) / "aux_arrays.npz") as data:
        return {k: data[k] for k in data.files}


def subprocess_env(**extra) -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def run_module(module, *args, timeout=600, env_extra=None):
    """Run `python -m module args` in a subprocess from the repository root; CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=subprocess_env(**(env_extra or {})))


# Split the one CPU into N logical devices (TF fixes devices at start-up, hence a new process), then run
# the program `entry` ("package.module:function") with the remaining arguments.
_WITH_DEVICES = """
import importlib, sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[1]))
module, function = sys.argv[2].split(":")
sys.argv = [module] + sys.argv[3:]
getattr(importlib.import_module(module), function)()
"""


def start_with_devices(n: int, entry: str, *args) -> subprocess.Popen:
    """Start `entry` (e.g. 'influence_mem.train.main:run') on n logical CPU devices; a Popen (text pipes)."""
    return subprocess.Popen([sys.executable, "-c", _WITH_DEVICES, str(n), entry, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=subprocess_env())


def finish(proc: subprocess.Popen, timeout=600) -> subprocess.Popen:
    """Wait for a start_with_devices process; its .stdout/.stderr become the texts."""
    proc.stdout, proc.stderr = proc.communicate(timeout=timeout)
    return proc


def write_digits_estimates(directory, mem):
    """A 'dg' estimate set on the digits dataset: memorization `mem`, every class-3 training example
    influencing test example 0 of class 3 by 0.5; returns the dataset."""
    from influence_mem import released
    from influence_mem.data import datasets
    from influence_mem.estimate.pairs import pairs_from_matrix

    ds = datasets.load("digits")
    tr = {c: np.flatnonzero(ds.train_labels == c) for c in range(10)}
    tt = {c: np.flatnonzero(ds.test_labels == c) for c in range(10)}
    blocks = {c: np.zeros((len(tr[c]), len(tt[c]))) for c in range(10)}
    blocks[3][:, 0] = 0.5
    released.write_infl_matrix(directory / "dg_infl_matrix.npz", ds.train_labels, ds.test_labels, mem, tr, tt, blocks)
    pairs = pairs_from_matrix(released.InflMatrix(ds.train_labels, ds.test_labels, mem, tr, tt, blocks))
    released.write_high_infl_pairs(directory / "dg_high_infl_pairs_infl0.15_mem0.25.npz",
                                   *[pairs[k] for k in released.PAIR_KEYS])
    return ds


def run_program(define_flags, main, *argv):
    """Run a program's main in this process with `argv` parsed by its flags, then remove the flags it defined.

    For fixtures of any scope; a test uses the `program` fixture (tests/conftest.py) instead."""
    import logging

    from absl import flags

    values = flags.FLAGS
    before = set(values)
    try:
        define_flags()
        values.unparse_flags()
        remaining = values(["prog", *map(str, argv)])
        logging.getLogger("absl").setLevel(logging.NOTSET)
        return main(remaining)
    finally:
        values.unparse_flags()
        for name in set(values) - before:
            if name in values:
                delattr(values, name)
