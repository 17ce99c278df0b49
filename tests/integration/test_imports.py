"""Imports in a fresh process: no module defines absl flags when imported; the config lookup needs no
TensorFlow."""
import subprocess
import sys

import pytest

from tests.helpers import REPO, subprocess_env

pytestmark = pytest.mark.integration

IMPORT_ALL = """
import importlib, pkgutil, sys
from absl import flags
import influence_mem, influence_mem_launchers
names = []
for package in (influence_mem, influence_mem_launchers):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            importlib.import_module(info.name)
            names.append(info.name)
ours = {module: [f.name for f in defined] for module, defined in flags.FLAGS.flags_by_module_dict().items()
        if module.split(".")[0] in ("influence_mem", "influence_mem_launchers", "local", "ray_trials")}
assert not ours, f"flags defined at import: {ours}"
print(len(names))
"""


def test_no_module_defines_flags_when_imported():
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, cwd=REPO,
                          env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 50  # it did walk the package


def test_config_files_need_no_tensorflow():
    code = ("import sys; from influence_mem.programs import configs as config_files; "
            "config_files.resolve('digits_mlp'); "
            "assert 'tensorflow' not in sys.modules and 'absl.flags' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_the_numpy_side_imports_no_tensorflow():
    code = ("import sys, influence_mem.estimate.aggregator, influence_mem.estimate.main, influence_mem.released, "
            "influence_mem.analysis.describe, influence_mem.analysis.figures, influence_mem.analysis.report, "
            "influence_mem.analysis.marginal_utility, influence_mem.analysis.consistency, "
            "influence_mem.analysis.longtail, influence_mem.analysis.examples, influence_mem.analysis.pair_stats; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
