"""programs.start.run: a program defines its flags when it starts (never at import) and they are the key
flags of sys.argv[0], so `--help` of every console script and `python -m` entry lists them."""
import importlib
import sys

import pytest
from absl import flags

from influence_mem.programs import start

PROGRAMS = {  # module with run() -> flags its --help must list
    "influence_mem.train.main": ["workdir", "trials", "epochs", "pack_trials"],
    "influence_mem.train.status": ["workdir", "trials", "claim_timeout_minutes"],
    "influence_mem.train.last_layer": ["workdir", "linear_epochs", "representation_dir"],
    "influence_mem.turnover.main": ["workdir", "name", "mem_threshold", "infl_threshold"],
    "influence_mem.analysis.dynamics": ["estimates", "examples", "epochs"],
    "influence_mem.bench.packed": ["packed_trials", "bench_precisions"],
    "influence_mem.data.build_tfrecords": ["image_dir", "output_dir"],
    "influence_mem.estimate.main": ["workdir"],
}


@pytest.mark.parametrize("module", sorted(PROGRAMS))
def test_run_defines_the_programs_flags_as_key_flags_of_argv0(module, program, monkeypatch):
    started = []
    monkeypatch.setattr(start.absl_app, "run", lambda main, **_: started.append(main))
    monkeypatch.setattr(sys, "argv", [f"/bin/{module}-test"])
    importlib.import_module(module).run()
    assert len(started) == 1  # app.run(main) was reached
    listed = {flag.name for flag in flags.FLAGS.get_key_flags_for_module(sys.argv[0])}
    missing = set(PROGRAMS[module]) - listed
    assert not missing, f"{module} --help would not list {sorted(missing)}"
    assert "--" + PROGRAMS[module][0] in flags.FLAGS.module_help(sys.argv[0])

