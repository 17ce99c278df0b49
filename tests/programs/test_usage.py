"""--help of every program: its own flags first, then the trainer's and the shared ones, grouped, one entry each
with its default, short enough to read; bad usage stays a couple of lines."""
import ast
import importlib
import sys

import pytest

from influence_mem.programs import start, usage
from tests.helpers import REPO

PROGRAMS = {  # module with run() -> (program name, groups in order, most lines)
    "influence_mem.train.main": ("im-train", ["trainer flags", "common flags"], 90),
    "influence_mem.analysis.report": ("im-report", ["im-report flags", "common flags"], 40),
    "influence_mem.estimate.main": ("im-aggregate", ["im-aggregate flags", "common flags"], 40),
    "influence_mem.train.status": ("im-status", ["im-status flags", "common flags"], 30),
    "influence_mem.analysis.describe": ("im-describe", ["im-describe flags", "common flags"], 40),
    "influence_mem_launchers.local": ("im-launch-local", ["im-launch-local flags", "last-layer mode flags",
                                                          "trainer flags", "common flags"], 120),
}


@pytest.mark.parametrize("module", sorted(PROGRAMS))
def test_help_is_grouped_and_short(module, program, monkeypatch, capsys):
    name, groups, most = PROGRAMS[module]
    monkeypatch.setattr(sys, "argv", [f"/usr/bin/{name}", "--help"])
    monkeypatch.setattr(start.absl_app, "run", lambda main, **_: pytest.fail("--help must not start the program"))
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).run()
    assert e.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"usage: {name} [flags]" and len(lines) <= most, out
    titles = [line[:-1] for line in lines if line.endswith(" flags:") or line == "common flags:"]
    assert titles == [g for g in groups if g in titles] and titles[0] == groups[0], titles
    assert all(len(line) <= 100 for line in lines)


def test_help_lists_defaults_and_required(program, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/im-train", "--help"])
    with pytest.raises(SystemExit):
        importlib.import_module("influence_mem.train.main").run()
    out = capsys.readouterr().out
    assert "  --epochs: Training epochs. (default: '30')" in out
    assert "--config: A shipped flagfile by name" in out and "--[no]save_model:" in out


def test_program_name_of_python_m_entries(monkeypatch):
    import types
    assert usage.program_name("/usr/bin/im-train", "influence_mem.train.main") == "im-train"
    spec = types.SimpleNamespace(name="influence_mem.turnover.__main__")
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__spec__=spec))
    assert usage.program_name("/x/influence_mem/turnover/__main__.py", "influence_mem.turnover.main") == \
        "python -m influence_mem.turnover"
    spec.name = "influence_mem.aggregate"  # the alias names itself, not the module it hands on to
    assert usage.program_name("/x/influence_mem/aggregate.py", "influence_mem.estimate.main") == \
        "python -m influence_mem.aggregate"


def test_programs_use_absls_public_api_only():
    """No private absl attribute (such as FLAGS._flags()) in programs/: an absl upgrade cannot change --help."""
    absl_names = ("flags", "absl_app", "flag", "validator", "v")
    for path in sorted((REPO / "influence_mem" / "programs").glob("*.py")):
        tree = ast.parse(path.read_text())
        private = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                   and node.attr.startswith("_") and not node.attr.startswith("__")
                   and ast.unparse(node.value).split(".")[0] in absl_names]
        assert not private, f"{path.name}: {private}"
    assert "flags.FLAGS._flags()" not in (REPO / "influence_mem" / "programs" / "usage.py").read_text()


def test_required_flags_are_marked(program):
    from absl import flags

    def define():
        flags.DEFINE_string("needed", None, "A flag that must be set.")
        flags.mark_flag_as_required("needed")
        flags.DEFINE_string("optional", "x", "A flag with a default.")

    define()
    text = usage.help_text("prog", ["needed", "optional"], "prog: does a thing.\n\nDetails.")
    assert text.splitlines()[:5] == ["usage: prog [flags]", "", "prog: does a thing.", "", "prog flags:"]
    assert "  --needed: A flag that must be set. (required)" in text
    assert "  --optional: A flag with a default. (default: 'x')" in text and "Details" not in text
