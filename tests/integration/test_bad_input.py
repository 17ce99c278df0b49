"""Every program, every bad input: one line naming the flag or file, exit code 1, no traceback, nothing
written outside the case's folder, nothing already there changed.

The matrix is generated, not listed.  The programs are found in pyproject's [project.scripts] and by scanning
the package (and launchers/) for `python -m` entry points; each program's flags are read from its own
definitions (its run() with absl's app.run stubbed, or its argparse parser) and classified by type, name and
help text:

    number   int/float flags              -1, 0, nan, abc
    numbers  lists or strings of numbers  abc, nan (+ -1 for integer ones)
    range    trial selections ('0-99')    '', '7-3', '1-x'
    enum     absl enums, and strings or   an unknown choice
    choice   lists that declare what they
             accept (a validator, words)
    name     names that become files or   '..' in it (+ an unknown choice where the help lists choices)
             pick from a registry
    path     directories and files        missing, a file for a directory and the reverse, /proc/..., a
                                          read-only folder, an empty file, a text file, a zip that is not
                                          an npz, a truncated npz (which apply: input or output, dir or file)

A value is skipped only by rule: it is the flag's default, or the flag declares a range (absl bounds or a
validator) that admits it, or (paths) the flag writes there and the folder will be made.  A flag whose help
starts with a condition ("With --convergence:", "--strategy=mirrored:", "warmup_piecewise:") is tried with
the condition set.  Required flags get a valid value by class (a trainer workdir of simulated trials, a
digits estimate set, a folder of images, a new output folder).  Programs run in this process (their run()
with the argv: programs.start and absl's parsing included); a few entry points (three console scripts, the
released files' program, the Slurm script's arguments) run as real processes.
"""
import ast
import contextlib
import importlib
import io
import os
import re
import signal
import subprocess
import sys
import tomllib
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as image_files

from tests.helpers import REPO, subprocess_env, write_digits_estimates

pytestmark = pytest.mark.integration

ARGV0 = "/bin/im-bad-input"
CASES = "bad_input_cases"  # the user property tests/integration/conftest.py sums into pytest's closing summary
SOURCES = {"influence_mem": REPO / "influence_mem", "influence_mem_launchers": REPO / "launchers"}
CASE_SECONDS = 60  # a case that is not refused runs the program: stop it, it is a failure anyway
# Flags set in every case of a program that defines them (unless the flag itself is tried), so that a value
# wrongly accepted costs a short run, not a long one.
CHEAP = {"epochs": "1", "save_model": "false", "base_url": "http://127.0.0.1:9/"}
# What the world's files describe, for a flag another one needs ("With --dataset: ...").
WORLD_VALUES = {"dataset": "digits"}
# argparse positionals declare no valid value: the one each takes when another argument is tried.
POSITIONALS = {("influence_mem.programs.released", "fetch", "names"): "cifar100_infl_matrix",
               ("influence_mem.programs.released", "check", "paths"): "cifar100_infl_matrix.npz"}


# ---------------------------------------------------------------------------------------------- programs

def _module_of(path: Path) -> str:
    for package, root in SOURCES.items():
        if root in path.parents or path.parent == root:
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def _entry_target(path: Path):
    """The module whose program `path` starts when run with `python -m`, or None (not an entry point).

    An entry is a __main__.py or a module with an `if __name__ == "__main__":` block; an alias that only
    imports another module's run/main hands on to that module."""
    tree = ast.parse(path.read_text())
    mains = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    if path.name != "__main__.py" and not mains:
        return None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    if defined & {"run", "main"}:
        return _module_of(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and {a.name for a in node.names} & {"run", "main"}:
            return node.module
    return None


def discover_programs() -> dict:
    """{implementing module: [how users start it]} for every console script and `python -m` entry."""
    programs = {}
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for script, target in scripts.items():
        programs.setdefault(target.split(":")[0], []).append(script)
    for root in SOURCES.values():
        for path in sorted(root.rglob("*.py")):
            target = _entry_target(path)
            if target:
                entry = _module_of(path)
                entry = entry[: -len(".__main__")] if entry.endswith(".__main__") else entry
                programs.setdefault(target, []).append(f"python -m {entry}")
    return programs


PROGRAMS = discover_programs()


# ------------------------------------------------------------------------------------------------- flags

class Flag:
    """What the matrix needs of one flag, whichever library defined it."""

    def __init__(self, name, kind, help, default, required=False, admits=None, choices=None, declared=False):
        self.name, self.kind, self.help, self.default = name, kind, help or "", default
        self.required, self.choices, self.declared = required, choices, declared  # declared: bounds, validators
        self.admits = admits  # value -> True if the flag's own declaration (bounds, validators) accepts it

    def __repr__(self):
        return f"--{self.name}"


def _absl_flags(module: str) -> dict:
    """The flags `module`'s run() defines (its own: influence_mem's, not absl's or TensorFlow's)."""
    from absl import flags

    from influence_mem.programs import start

    values = flags.FLAGS
    before = set(values)
    saved_run, saved_argv = start.absl_app.run, sys.argv
    start.absl_app.run, sys.argv = (lambda *a, **k: None), [ARGV0]
    try:
        importlib.import_module(module).run()
        result = {}
        for name in sorted(set(values) - before):
            defined_by = values.find_module_defining_flag(name) or ""
            if defined_by.startswith("influence_mem"):
                result[name] = _absl_flag(values[name])
        return result
    finally:
        start.absl_app.run, sys.argv = saved_run, saved_argv
        _forget_flags(before)


def _absl_flag(flag) -> Flag:
    from absl import flags

    parser = flag.parser
    validators = [v for v in flag.validators if "must have a value other than None" not in str(v.message)]
    required = len(validators) != len(flag.validators)
    declared = getattr(parser, "lower_bound", None) is not None or getattr(parser, "upper_bound", None) is not None
    declared = declared or bool(validators)

    def admits(text):
        if not declared:
            return False
        try:
            value = parser.parse(text)
            return all(v.checker(value) is not False for v in validators)
        except (flags.Error, ValueError, TypeError):
            return False

    if flag.boolean:
        kind = "bool"
    elif isinstance(parser, (flags.EnumParser, flags.EnumClassParser)):
        kind = "enum"
    elif isinstance(parser, (flags.IntegerParser, flags.FloatParser)):
        kind = "number"
    else:
        kind = "list" if isinstance(parser, flags.ListParser) else "string"
    default = flag.default
    if isinstance(default, list):
        default = ",".join(map(str, default))
    return Flag(flag.name, kind, flag.help, None if default is None else str(default), required, admits,
                getattr(parser, "enum_values", None), declared)


def _argparse_flags(module: str) -> dict:
    """{(subcommand, flag or positional name): Flag} of a program built on argparse (its parser())."""
    import argparse

    parser = importlib.import_module(module).parser()
    result = {}
    for action in parser._actions:  # argparse has no public API for its actions
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for a in sub._actions:
                    if isinstance(a, argparse._HelpAction):
                        continue
                    kind = "bool" if a.nargs == 0 else "string"
                    name = a.option_strings[-1].lstrip("-") if a.option_strings else a.dest
                    flag = Flag(name, kind, a.help, a.default, required=not a.option_strings)
                    flag.command, flag.positional = command, not a.option_strings
                    result[(command, name)] = flag
    return result


def _forget_flags(before):
    from absl import flags

    flags.FLAGS.unparse_flags()
    for name in set(flags.FLAGS) - before:
        if name in flags.FLAGS:
            delattr(flags.FLAGS, name)


# ---------------------------------------------------------------------------------------- classification

_CONDITION = re.compile(r"^(?:with )?--(\w+)(?:=(\w+))?\s*[:,]\s*", re.I)
_ENUM_CONDITION = re.compile(r"^(\w+):\s*")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_RANGE_EXAMPLE = re.compile(r"\b\d+-\d+\b")


def condition(flag: Flag, flags: dict):
    """(the argv that makes `flag` matter, its help without that prefix): 'With --convergence: ...' needs
    --convergence, '--strategy=mirrored: ...' that value, 'warmup_piecewise: ...' the enum holding it."""
    match = _CONDITION.match(flag.help)
    if match and match.group(1) in flags and match.group(1) != flag.name:
        other = flags[match.group(1)]
        value = match.group(2) or (None if other.kind == "bool" else WORLD_VALUES.get(other.name, other.default))
        arg = f"--{other.name}" if other.kind == "bool" and not value else f"--{other.name}={value}"
        return [arg], flag.help[match.end():]
    match = _ENUM_CONDITION.match(flag.help)
    if match:
        for other in flags.values():
            if other.kind == "enum" and match.group(1) in (other.choices or ()) and other.name != flag.name:
                return [f"--{other.name}={match.group(1)}"], flag.help[match.end():]
    return [], flag.help


def path_class(flag: Flag, help: str):
    """('dir' | 'file', 'in' | 'out', list prefix) for a path-like flag, else None."""
    name = flag.name
    if flag.kind not in ("string", "list"):
        return None
    names_a_dir = (name.endswith("dir") or re.search(rf"<{name}>/", help)
                   or re.search(r"^(\w+ )*(director(y|ies)|folder)\b|\bNAME=DIR\b", help, re.I))
    names_a_file = (name.endswith("_file") or re.search(r"\.(npz|npy)\b", help)) and not names_a_dir
    if not (names_a_dir or names_a_file):
        return None
    output = re.search(r"^(output\b|where\b|new folder|report folder|directory for per-process logs)|\bcache\b",
                       help, re.I)
    prefix = "x=" if "NAME=DIR" in help else ""
    return ("dir" if names_a_dir else "file"), ("out" if output else "in"), prefix


def kind_of(flag: Flag, help: str) -> str:
    if flag.kind in ("bool", "enum", "number"):
        return flag.kind
    if path_class(flag, help):
        return "path"
    default_items = [item.strip() for item in (flag.default or "").split(",") if item.strip()]
    if _RANGE_EXAMPLE.search(help) and re.search(r"\btrials?\b|\bids?\b", help, re.I):
        return "range"
    if default_items and all(_NUMBER.match(item) for item in default_items) or re.search(r"\bids\b", help):
        return "numbers"
    if flag.kind == "string" and (flag.name == "name" or flag.name.endswith("_name")
                                  or re.search(r"\bname\b|\bprefix\b", help, re.I)):
        return "name"
    if flag.declared or (flag.kind == "list" and default_items
                         and all(re.fullmatch(r"[A-Za-z_]\w*", item) for item in default_items)):
        return "choice"  # it says what it accepts (a validator; a list of words by default): not this
    return "other"


def lists_choices(help: str) -> bool:
    """The help names where the valid values come from (a registry, shipped names, a list of names)."""
    return bool(re.search(r"registry|shipped|\b\w+, \w+, \w+", help))


# -------------------------------------------------------------------------------------------- bad values

class Place:
    """The files and folders bad values point at, made in one case's folder."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def text_file(self, suffix=".txt"):
        path = self.root / f"notes{suffix}"
        path.write_text("not what this flag reads\n")
        return path

    def empty_file(self, suffix=".npz"):
        path = self.root / f"empty{suffix}"
        path.write_bytes(b"")
        return path

    def zip_not_npz(self, suffix=".npz"):
        path = self.root / f"archive{suffix}"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "a zip holding no .npy member")
        return path

    def truncated_npz(self, suffix=".npz"):
        path = self.root / f"cut{suffix}"
        buffer = io.BytesIO()
        np.savez(buffer, tr_labels=np.arange(1000), tr_mem=np.linspace(0, 1, 1000))
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        return path

    def folder(self):
        path = self.root / "folder"
        path.mkdir(exist_ok=True)
        return path

    def read_only_folder(self):
        """An empty folder this process cannot write into (as root, where modes do not bind: /sys)."""
        path = self.root / "read_only"
        path.mkdir(exist_ok=True)
        path.chmod(0o555)
        try:
            (path / "probe").touch()
        except OSError:
            return path
        (path / "probe").unlink()
        return Path("/sys")


def bad_values(flag: Flag, kind: str, help: str, place: Place):
    """[(label, value)] for one flag; the values a rule says are valid are left out."""
    if kind == "number":
        values = [("negative", "-1"), ("zero", "0"), ("nan", "nan"), ("not a number", "abc")]
    elif kind == "numbers":
        values = [("not a number", "abc"), ("nan", "nan")]
        items = [i for i in (flag.default or "").split(",") if i.strip()]
        if (items and all(re.match(r"^\d+$", i.strip()) for i in items)) or re.search(r"\bids\b", help):
            values.append(("negative", "-1"))
    elif kind == "range":
        values = [("empty range", ""), ("reversed range", "7-3"), ("malformed range", "1-x")]
    elif kind in ("enum", "choice"):
        values = [("unknown choice", "no_such_choice")]
    elif kind == "name":
        values = [("'..' in a name", "../outside")]
        if lists_choices(help):
            values.append(("unknown choice", "no_such_name"))
    elif kind == "path":
        values = path_values(flag, help, place)
    else:
        values = []
    return [(label, value) for label, value in values
            if value != flag.default and not (flag.admits and flag.admits(value))]


def path_values(flag: Flag, help: str, place: Place):
    what, direction, prefix = path_class(flag, help)
    suffix = ".npy" if ".npy" in help and ".npz" not in help else ".npz"
    proc = "/proc/influence_mem_bad_input/x"
    if what == "dir":
        values = [("file for a directory", place.text_file()), ("/proc path", proc)]
        if direction == "in":
            values.append(("missing path", place.root / "missing" / "dir"))
        else:
            values.append(("read-only folder", place.read_only_folder()))
    else:
        values = [("missing path", place.root / "missing" / f"file{suffix}"), ("directory for a file", place.folder()),
                  ("/proc path", proc)]
        if direction == "in":
            values += [("empty file", place.empty_file(suffix)), ("text file", place.text_file(suffix)),
                       ("zip, not an npz", place.zip_not_npz(suffix)), ("truncated npz", place.truncated_npz(suffix))]
        else:
            values.append(("read-only folder", Path(place.read_only_folder()) / f"out{suffix}"))
    return [(label, prefix + str(value)) for label, value in values]


# ------------------------------------------------------------------------------------------------- world

def make_world(root: Path) -> dict:
    """The valid inputs required flags point at: a trainer workdir of simulated trials (digits labels), a
    digits estimate set, a list of corrupted ids and a folder of images in train/ and val/ class folders."""
    from influence_mem.data import datasets
    from influence_mem.estimate import simulate

    digits = datasets.load("digits")
    workdir = root / "trials"
    simulate.write_dataset_meta(workdir, digits.train_labels, digits.test_labels, dataset="digits")
    rng = np.random.default_rng(0)
    learner = simulate.make_learner(rng, digits.train_labels, digits.test_labels)
    for trial, (in_mask, train, test) in enumerate(zip(*learner.trials(rng, 0.7, 4))):
        simulate.write_trial(workdir / "0.7", trial, in_mask, train, test)
    estimates = root / "estimates"
    estimates.mkdir()
    rng = np.random.default_rng(1)
    write_digits_estimates(estimates, rng.uniform(0, 1, len(digits.train_labels)))
    corrupted = root / "corrupted_idx.npy"
    np.save(corrupted, np.arange(0, len(digits.train_labels), 17))
    images = root / "images"  # train/ and val/ class subfolders of images
    for split, label in [(s, c) for s in ("train", "val") for c in ("cat", "dog")]:
        (images / split / label).mkdir(parents=True)
        image_files.imsave(images / split / label / f"{split}_{label}.png", np.full((4, 4, 3), 0.5))
    return {"trials": workdir, "estimates": estimates, "images": images,
            "files": [workdir / "dataset_meta.npz", corrupted]}  # given to the file flags whose help names them


def valid_value(flag: Flag, help: str, world: dict, case: Path):
    """A value a required (or condition-sharing) path flag takes in a run that should get past it."""
    what, direction, prefix = path_class(flag, help) or (None, None, "")
    said = f"{flag.name} {help}"
    if what is None:  # a name: the world's dataset where the flag names a dataset
        return WORLD_VALUES["dataset"] if re.search(r"\bdataset\b", said) else WORLD_VALUES.get(flag.name)
    if direction == "out":
        return prefix + str(case / f"out_{flag.name}")
    if what == "dir" and re.search(r"workdir|trainer|trials", said, re.I):
        return prefix + str(world["trials"])
    if what == "dir" and re.search(r"estimate|infl_matrix", said, re.I):
        return prefix + str(world["estimates"])
    if what == "dir" and re.search(r"class subfolders", said, re.I):
        return prefix + str(world["images"])
    if what == "dir":
        return prefix + str(world["trials"])  # any folder with files in it
    if what == "file":
        return next((prefix + str(f) for f in world["files"] if f.name in help), None)
    return None


def fingerprint(root) -> dict:
    """{path: (inode, size, mtime)} of every file below `root`, None for a folder: what a case must leave as it
    was (a folder's own mtime may change: a write check creates and removes a probe in it)."""
    return {str(p): None if p.is_dir() else (p.lstat().st_ino, p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in Path(root).rglob("*")}


# ------------------------------------------------------------------------------------------------ a case

class Outcome:
    def __init__(self, code, stderr, trace=None):
        self.code, self.stderr, self.trace = code, stderr, trace

    @property
    def last_line(self):
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


class NotRefused(BaseException):
    """A case still running after CASE_SECONDS (not an OSError or Exception: the program must not catch it)."""


@contextlib.contextmanager
def _time_limit(seconds):
    if not hasattr(signal, "SIGALRM") or not _in_main_thread():
        yield
        return

    def expire(*_):
        raise NotRefused(f"not refused within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _in_main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()


def run_absl(module: str, argv, capfd) -> Outcome:
    """`module`'s run() with argv, in this process, as its console script would run it."""
    from absl import flags

    before = set(flags.FLAGS)
    saved = sys.argv
    sys.argv = [ARGV0, *map(str, argv)]
    capfd.readouterr()
    code, message, trace = None, "", None
    try:
        with _time_limit(CASE_SECONDS):
            importlib.import_module(module).run()
        code = 0
    except SystemExit as e:
        code, message = (e.code or 0, "") if isinstance(e.code, int) or e.code is None else (1, str(e.code))
    except BaseException:  # noqa: B036 - anything else is what the rule forbids: report it
        trace = traceback.format_exc()
    finally:
        sys.argv = saved
        _forget_flags(before)
    captured = capfd.readouterr()
    stderr = "\n".join(filter(None, [captured.err, trace, message]))
    return Outcome(code, stderr, trace)


def run_argparse(module: str, argv, capfd) -> Outcome:
    capfd.readouterr()
    code, trace = None, None
    try:
        with _time_limit(CASE_SECONDS):
            code = importlib.import_module(module).main(list(map(str, argv)))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B036
        trace = traceback.format_exc()
    captured = capfd.readouterr()
    return Outcome(code, "\n".join(filter(None, [captured.err, trace])), trace)


def judge(outcome: Outcome, flag: Flag, value: str, outside_before, outside_after, world_before, world_after):
    """Why the case breaks the rule ('' if it does not)."""
    problems = []
    if outcome.trace or "Traceback" in outcome.stderr:
        problems.append("traceback:\n" + (outcome.trace or outcome.stderr)[-1500:])
    elif outcome.code != 1:
        problems.append(f"exit code {outcome.code!r} (want 1)")
    else:
        last = outcome.last_line
        names = [f"--{flag.name}"] + ([str(value)] if len(str(value)) > 3 else [])  # not '0' or 'abc'
        names += [str(value).split("=", 1)[1]] if "=" in str(value) else []  # NAME=DIR: the DIR
        if not any(name in last for name in names):
            problems.append(f"last line names neither --{flag.name} nor {value!r}: {last!r}")
        if "Pass --helpshort" in outcome.stderr or "\nflags:\n" in outcome.stderr:
            problems.append("absl's usage text instead of one line")
    created = sorted(set(outside_after) - set(outside_before))
    if created:
        problems.append(f"wrote outside its folder: {created}")
    changed = sorted(p for p in world_before if p not in world_after or world_after[p] != world_before[p])
    if changed:
        problems.append(f"changed what was there: {changed}")
    left = sorted(set(world_after) - set(world_before))
    if left:
        problems.append(f"left files in its inputs' folders: {left}")
    return "; ".join(problems)


def _outside(tmp: Path):
    """Entries a case could create by escaping its folder: the test's folder and the repository's top."""
    return sorted(str(p) for p in tmp.iterdir()) + sorted(str(p) for p in REPO.iterdir())


# ------------------------------------------------------------------------------------------------ matrix

def program_cases(flags: dict, world: dict, tmp: Path):
    """[(flag, label, value, argv, case folder)] of one absl program: each case in a folder of its own, the
    files its value points at in <case>/place."""
    cases = []
    for flag in flags.values():
        cond, help = condition(flag, flags)
        kind = kind_of(flag, help)
        for index in range(len(bad_values(flag, kind, help, Place(tmp / "scratch")))):
            case = tmp / f"case{len(cases):04d}"
            label, value = bad_values(flag, kind, help, Place(case / "place"))[index]
            argv = list(cond)
            for other in flags.values():
                if other is flag:
                    continue
                other_cond, other_help = condition(other, flags)
                if other.required or (cond and other_cond == cond):
                    valid = valid_value(other, other_help, world, case)
                    if valid is not None:
                        argv.append(f"--{other.name}={valid}")
                if other.name in CHEAP:
                    cheap = CHEAP[other.name]
                    argv.append((f"--no{other.name}" if cheap == "false" else f"--{other.name}")
                                if other.kind == "bool" else f"--{other.name}={cheap}")
            argv.append(f"--{flag.name}={value}")
            cases.append((flag, label, value, argv, case))
    return cases


def program_ids():
    return sorted(PROGRAMS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The inputs; afterwards the process's logging as it was (absl's app.run installs its handler on the root
    logger when a program first starts in this process)."""
    import logging

    handlers, level = list(logging.root.handlers), logging.root.level
    yield make_world(tmp_path_factory.mktemp("world"))
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


@pytest.mark.parametrize("module", program_ids())
def test_every_bad_value_is_refused_in_one_line(module, world, tmp_path, capfd, monkeypatch, record_property):
    world_root = world["trials"].parent
    work = tmp_path / "cases"
    work.mkdir()
    program = importlib.import_module(module)
    if hasattr(program, "parser"):
        results, untried = _argparse_matrix(module, world, work, capfd, monkeypatch), []
    else:
        flags = _absl_flags(module)
        cases = program_cases(flags, world, work)
        untried = sorted(f"--{f.name}" for f in flags.values() if kind_of(f, condition(f, flags)[1]) == "other")
        results = []
        world_before = fingerprint(world_root)
        for flag, label, value, argv, case in cases:
            cwd = case / "cwd"
            cwd.mkdir(parents=True, exist_ok=True)
            monkeypatch.chdir(cwd)
            outside_before = _outside(tmp_path)
            outcome = run_absl(module, argv, capfd)
            problem = judge(outcome, flag, value, outside_before, _outside(tmp_path), world_before,
                            fingerprint(world_root))
            results.append((flag, label, value, outcome, problem))
            if problem and "changed what was there" in problem:
                world_before = fingerprint(world_root)
    record_property(CASES, len(results))
    _report(module, results, untried)


def _argparse_matrix(module, world, work, capfd, monkeypatch):
    """The same walk for a program built on argparse (subcommands, positional arguments)."""
    flags = _argparse_flags(module)
    results = []
    for flag in flags.values():
        kind = kind_of(flag, flag.help)
        for index in range(len(bad_values(flag, kind, flag.help, Place(work / "scratch")))):
            case = work / f"case{len(results):04d}"
            label, value = bad_values(flag, kind, flag.help, Place(case / "place"))[index]
            argv = [flag.command]
            for other in flags.values():
                if other.command != flag.command:
                    continue
                if other is flag:
                    argv.append(value if flag.positional else f"--{flag.name}={value}")
                elif other.positional:
                    argv.append(POSITIONALS[(module, other.command, other.name)])
                elif other.name in CHEAP:
                    argv.append(f"--{other.name}={CHEAP[other.name]}")
                elif (path_class(other, other.help) or (None, None))[1] == "out":
                    argv.append(f"--{other.name}={valid_value(other, other.help, world, case)}")
            monkeypatch.chdir(case)
            outside_before = _outside(work.parent)
            outcome = run_argparse(module, argv, capfd)
            problem = judge(outcome, flag, value, outside_before, _outside(work.parent), {}, {})
            results.append((flag, label, value, outcome, problem))
    return results


def _report(module, results, untried):
    failed = [(flag, label, value, outcome, problem) for flag, label, value, outcome, problem in results if problem]
    print(f"\n{module} ({', '.join(PROGRAMS[module])}): {len(results)} bad-input cases, {len(failed)} broke the rule"
          + (f"; no bad value by rule for {', '.join(untried)}" if untried else ""))
    lines = [f"--{flag.name}={value} ({label}): {problem}" for flag, label, value, outcome, problem in failed]
    if os.environ.get("BAD_INPUT_VERBOSE"):
        for flag, label, value, outcome, problem in results:
            print(f"  --{flag.name}={value} ({label}) -> {outcome.code}: {outcome.last_line[:160]}"
                  + (f"\n      BROKE: {problem[:300]}" if problem else ""))
    assert not failed, f"{module}: {len(failed)} of {len(results)} cases broke the rule:\n" + "\n".join(lines)


# --------------------------------------------------------------------------------- entry points, Slurm

def _one_line_refusal(proc, names):
    """Why a finished subprocess breaks the rule ('' if it does not)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode != 1:
        return f"exit code {proc.returncode} (want 1): {proc.stderr[-500:]}"
    if "Traceback" in proc.stderr or len(lines) != 1:
        return f"not one line: {proc.stderr[-1000:]}"
    if not any(name in lines[0] for name in names):
        return f"the line names none of {names}: {lines[0]!r}"
    return ""


def _console_script(name, target):
    """The installed command, or (installed before pyproject named it) what its wrapper runs."""
    installed = Path(sys.executable).parent / name
    if installed.exists():
        return [str(installed)]
    module, function = target.split(":")
    return [sys.executable, "-c", f"import sys; sys.argv[0] = {name!r}; from {module} import {function}; {function}()"]


# The installed commands themselves, in real processes (each starts a Python; the programs that import
# TensorFlow take seconds of CPU): the trainer and two numpy-side programs.  Every console script's program
# is in the in-process matrix above (test_every_console_script_is_in_the_matrix).
ENTRY_POINT_CHECKS = ("im-train", "im-aggregate", "im-describe")


def test_every_console_script_is_in_the_matrix():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(ENTRY_POINT_CHECKS) <= set(scripts)
    assert {target.split(":")[0] for target in scripts.values()} <= set(PROGRAMS)
    assert all(target.split(":")[1] in ("run", "main") for target in scripts.values())


def test_console_scripts_refuse_in_one_line(tmp_path, record_property):
    """An unknown flag: exit code 1, one line on stderr naming it, nothing written."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    procs = {name: subprocess.Popen([*_console_script(name, scripts[name]), "--no_such_flag=1"], cwd=tmp_path,
                                    text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
             for name in ENTRY_POINT_CHECKS}
    problems = {}
    for name, proc in procs.items():
        proc.stdout, proc.stderr = proc.communicate(timeout=300)
        problems[name] = _one_line_refusal(proc, ["no_such_flag"])
    record_property(CASES, len(problems))
    assert not any(problems.values()), problems
    assert sorted(os.listdir(tmp_path)) == []


def test_the_released_files_cache_in_real_processes(tmp_path, record_property):
    """`python -m influence_mem.released fetch NAME --cache_dir=` under /proc, or a file: one line, exit 1."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    procs = {cache: subprocess.Popen([sys.executable, "-m", "influence_mem.released", "fetch", "cifar100_infl_matrix",
                                      f"--cache_dir={cache}", "--base_url=http://127.0.0.1:9/"], cwd=tmp_path,
                                     text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
             for cache in ("/proc/self", str(a_file))}
    problems = {}
    for cache, proc in procs.items():
        proc.stdout, proc.stderr = proc.communicate(timeout=300)
        problems[cache] = _one_line_refusal(proc, [cache])
    record_property(CASES, len(problems))
    assert not any(problems.values()), problems
    assert a_file.read_text() == "not a folder" and sorted(os.listdir(tmp_path)) == ["a_file"]


def _slurm_arguments():
    """FIRST LAST PER_TASK, as the script's usage line names them."""
    usage = re.search(r'usage="usage: slurm_array.sh ([A-Z_ ]+) --', (REPO / "launchers" / "slurm_array.sh").read_text())
    return usage.group(1).split()


def slurm_cases():
    """[(label, argv, env task id, what the line must name)]: each argument through the number values, then an
    empty range (LAST < FIRST), zero trials per task and a task id that is not a number."""
    names, valid = _slurm_arguments(), ["0", "9", "5"]
    cases = []
    for position, name in enumerate(names):
        for label, value in [("negative", "-1"), ("nan", "nan"), ("not a number", "abc"), ("empty", "")]:
            argv = list(valid)
            argv[position] = value
            cases.append((f"{name} {label}", argv, "0", [f"'{value}'"]))
    cases += [("reversed range", ["9", "0", "5"], "0", ["LAST >= FIRST"]),
              ("zero per task", ["0", "9", "0"], "0", ["PER_TASK >= 1"]),
              ("task id not a number", valid, "abc", ["SLURM_ARRAY_TASK_ID"]),
              ("too few arguments", valid[:2], "0", ["usage"])]
    return cases


def test_the_slurm_script_refuses_in_one_line(tmp_path, record_property):
    problems = {}
    for label, argv, task, names in slurm_cases():
        proc = subprocess.run(["bash", str(REPO / "launchers" / "slurm_array.sh"), *argv, "--", "--workdir=w"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=60,
                              env=dict(os.environ, SLURM_ARRAY_TASK_ID=task, DRY_RUN="1"))
        problems[label] = _one_line_refusal(proc, names)
    print(f"\nlaunchers/slurm_array.sh: {len(problems)} bad-input cases")
    record_property(CASES, len(problems))
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
    assert sorted(os.listdir(tmp_path)) == []
