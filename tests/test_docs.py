"""The docs stay true to the code.  README.md, CHANGELOG.md and docs/*.md:
- name only tests, programs (`im-*`, `python -m ...`), modules, names and links that exist;
- use in their commands only flags the program run there defines, and their flag tables list exactly the
  flags of their program (`training.md`'s im-train, `formats.md`'s im-aggregate and im-describe, ...) with
  its defaults: a missing flag is printed as a table row to paste;
- keep the package's speed and memory figures in docs/performance.md and docs/realdata.md, linked from
  elsewhere, never copied;
- give the demo's trial count as the Makefile's, architectures.md's parameter counts as tests/models/
  asserts them, and versions (CHANGELOG.md), never issue numbers.

Read as text, nothing imported, except the flag checks (marked slow), which call each program's run() with
absl's app.run stubbed, as its --help does, and so import TensorFlow for the trainer.
"""
import ast
import importlib
import re
import sys
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import REPO

DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
# Where the package's own speed and memory figures live (with their commands and dates).
FIGURE_HOMES = {"performance.md", "realdata.md"}
LAUNCHERS = {"launchers/local.py": "influence_mem_launchers.local",
             "launchers/ray_trials.py": "influence_mem_launchers.ray_trials"}
SLURM = "launchers/slurm_array.sh"  # everything after its `--` goes to the program $PROGRAM names (the trainer)
SLURM_PROGRAMS = {"train": "influence_mem.train", "train.last_layer": "influence_mem.train.last_layer",
                  "reevaluate": "influence_mem.reevaluate"}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def doc_lines():
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            yield f"{rel(doc)}:{number}", line


# ------------------------------------------------------------------------------ paths, modules, commands

TEST_PATH = re.compile(r"\btests/[\w./-]*[\w/](?:::(\w+))?")


def test_every_test_path_named_exists():
    missing = []
    for where, line in doc_lines():
        for match in TEST_PATH.finditer(line):
            path, test = match.group(0).split("::")[0], match.group(1)
            if not (REPO / path).exists():
                missing.append(f"{where}: {path}")
            elif test and not re.search(rf"^\s*(async )?def {test}\b|^class {test}\b",
                                        (REPO / path).read_text(), re.M):
                missing.append(f"{where}: {match.group(0)} (no such test)")
    assert not missing, "docs name tests that do not exist:\n" + "\n".join(missing)


PYTHON_M = re.compile(r"python3? -m ([\w.]+)")
CONSOLE = re.compile(r"(?<![\w/.-])(im-[a-z][a-z-]*[a-z])\b")


def _project_module(name: str) -> bool:
    return name.split(".")[0] in ("influence_mem", "influence_mem_launchers", "influence_mem_configs")


ROOTS = {"influence_mem": REPO / "influence_mem", "influence_mem_launchers": REPO / "launchers",
         "influence_mem_configs": REPO / "configs"}


def _source_of(module: str):
    """The file `python -m module` runs (a module, or a package's __main__.py) found on disk, nothing imported;
    None if there is none."""
    top, *parts = module.split(".")
    base = ROOTS[top].joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runnable(module: str) -> bool:
    """`python -m module` would run something: a package with __main__.py, or a module with a main block."""
    source = _source_of(module)
    return source is not None and (source.name == "__main__.py" or "__main__" in source.read_text())


def test_every_python_m_module_and_console_command_named_exists():
    missing = []
    for where, line in doc_lines():
        for module in PYTHON_M.findall(line):
            if _project_module(module) and not _runnable(module):
                missing.append(f"{where}: python -m {module}")
        for command in CONSOLE.findall(line):
            if command not in SCRIPTS:
                missing.append(f"{where}: {command} (not in pyproject's [project.scripts])")
    assert not missing, "docs name programs that do not exist:\n" + "\n".join(missing)


SUBPACKAGES = "formats|data|models|train|estimate|analysis|programs|reevaluate|turnover|bench"
MODULE_PATH = re.compile(rf"(?<![\w/.-])(?:influence_mem/)?((?:{SUBPACKAGES})/[\w/]*\w\.py|(?:{SUBPACKAGES})/[\w/]*/)")
DOTTED = re.compile(rf"(?<![\w/.-])(?:influence_mem\.)?((?:{SUBPACKAGES})(?:\.\w+)+|released\.\w+)(?![\w*])")
FILE_SUFFIXES = {"md", "py", "npz", "npy", "cfg", "keras", "ipynb", "csv", "png", "json"}


def _module_file(parts):
    """The source file of influence_mem.<parts...> (a module or a package's __init__), or None."""
    base = REPO / "influence_mem" / Path(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_names(path: Path):
    """Names a module defines or imports at its top level; None if it star-imports (anything may be there)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _names_something(dotted: str) -> bool:
    """`train.packed_graph.SubPacks`: the longest module prefix exists and defines the next name."""
    parts = dotted.split(".")
    if parts[0] == "released":
        parts = ["formats", "released", *parts[1:]]
    for cut in range(len(parts), 0, -1):
        found = _module_file(parts[:cut])
        if found:
            if cut == len(parts):
                return True
            names = _top_level_names(found)
            if names is None or parts[cut] in names:
                return True
            sub = _module_file(parts[:cut + 1])
            return sub is not None
    return False


def test_every_module_and_name_of_the_package_named_exists():
    """Module paths (`train/packed_graph.py`) and dotted names (`train.pack_checkpoints.PackCheckpoints`,
    `released.detect_order`) in the docs name real modules and what they define."""
    missing = []
    for where, line in doc_lines():
        for path in MODULE_PATH.findall(line):
            if not (REPO / "influence_mem" / path).exists():
                missing.append(f"{where}: {path}")
        for dotted in DOTTED.findall(line):
            if dotted.rsplit(".", 1)[-1] not in FILE_SUFFIXES and not _names_something(dotted):
                missing.append(f"{where}: {dotted}")
    assert not missing, "docs name modules or names that do not exist:\n" + "\n".join(missing)


DEMO_TRIALS = re.compile(r"(?:make demo|[Tt]he demo)\b(?:'s)?[^.;(]{0,80}?\b(\d[\d,]*) trials")


def test_the_demo_trial_count_is_the_makefiles():
    """Wherever the docs (and the notebook, and the Makefile's own comment) say how many trials the demo runs,
    it is the number the Makefile's TRIALS range holds."""
    makefile = (REPO / "Makefile").read_text()
    first, last = map(int, re.search(r"^TRIALS \?= (\d+)-(\d+)$", makefile, re.M).groups())
    trials = last - first + 1
    stated = re.search(r"^# .*\b(\d+) trials\)\.$", makefile, re.M)
    assert stated and int(stated.group(1)) == trials, "the Makefile's comment on the demo"
    wrong = []
    for doc in [*DOCS, *sorted((REPO / "docs").glob("*.ipynb"))]:
        for match in DEMO_TRIALS.finditer(doc.read_text()):
            if int(match.group(1).replace(",", "")) != trials:
                wrong.append(f"{rel(doc)}: {match.group(0)!r}")
    assert not wrong, f"the demo runs {trials} trials (Makefile), not:\n" + "\n".join(wrong)


def test_the_version_is_the_changelogs_latest():
    import influence_mem

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    latest = re.search(r"^## (\d+\.\d+\.\d+)", (REPO / "CHANGELOG.md").read_text(), re.M).group(1)
    assert version == influence_mem.__version__ == latest


# The docs, the code's comments and docstrings and the configs speak of versions: an issue number or "the
# previous release" means nothing to a reader of the released package.
ISSUE_REFERENCE = re.compile(r"\b[Ii]ssues?[ -]#?\d+|(?<![\w&/])#\d+\b|\b(previous|last|earlier) release\b")


def test_no_issue_numbers_or_unnamed_releases():
    sources = [*DOCS, *sorted((REPO / "influence_mem").rglob("*.py")), *sorted((REPO / "launchers").rglob("*.py")),
               *sorted((REPO / "configs").rglob("*.cfg")), *sorted((REPO / "tests").rglob("*.py")),
               *sorted((REPO / "launchers").glob("*.sh")), *sorted((REPO / "docs").glob("*.ipynb")),
               REPO / "Makefile", REPO / "pyproject.toml", REPO / "setup.py"]
    found = []
    for path in sources:
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ISSUE_REFERENCE.search(line):
                found.append(f"{rel(path)}:{number}: {line.strip()}")
    assert not found, "name the version (CHANGELOG.md) instead:\n" + "\n".join(found)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_every_relative_link_and_anchor_exists():
    broken = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # http(s), mailto
                path, _, fragment = target.partition("#")
                linked = (doc.parent / path).resolve() if path else doc
                if not linked.exists():
                    broken.append(f"{rel(doc)}:{number}: {target} (no such file)")
                elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                    broken.append(f"{rel(doc)}:{number}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


# ------------------------------------------------------------------------------------------- figures

# The package's own measurements: speeds, and memory (RSS/RAM).  Disk sizes and file sizes are a format's
# arithmetic, not measurements, and are left alone.
SPEED = re.compile(r"\d\s*(?:m?s/trial|trials?\s*(?:/|per)\s*(?:hour|h|minute|min)\b|GFLOP/s|ex/s|examples/s"
                   r"|pairs/s|images/s|s/epoch|x faster)"
                   r"|\d\s*m?s (?:per|a|an|to) (?:[\w-]+ ){0,3}(?:trials?|steps?|epochs?|packs?|save|restore|calls?)\b"
                   r"|\b\d+(?:\.\d+)?x (?:faster|the K ?= ?1|one )"
                   r"|\b\d+(?:\.\d+)? ?(?:ms|s|min|h)\b[^.|;]{0,40}\b(?:cores?|CPU)\b", re.I)
MEMORY = re.compile(r"\d\s*(?:[KMGT]i?B)\b[^.|]*\b(?:RSS|RAM|resident)\b"
                    r"|\b(?:RSS|RAM|resident)\b[^.|]*\d\s*[KMGT]i?B\b")
# A block that quotes a paper (its numbers are the paper's, cited) may give them.
QUOTES_A_PAPER = re.compile(r"\bpaper 00\d\b|\b[Aa]ppendix\b|\bapp\. [A-D]\b|\bsec\. \d")
LINK_TO_HOME = re.compile(r"\[[^\]]*\]\((?:docs/)?(?:%s)[^)]*\)" % "|".join(map(re.escape, FIGURE_HOMES)))


def blocks(text: str):
    """(first line number, text) of each paragraph, list item and table row (a code block is one)."""
    block, start, in_code = [], 1, False
    for number, line in enumerate(text.splitlines() + [""], 1):
        starts_item = not in_code and re.match(r"\s*([-*] |\d+\. |\|)", line)
        if block and (not line.strip() and not in_code or starts_item):
            yield start, "\n".join(block)
            block = []
        if line.startswith("```"):
            in_code = not in_code
        if line.strip() or in_code:
            if not block:
                start = number
            block.append(line)
    if block:
        yield start, "\n".join(block)


def test_speed_and_memory_figures_live_in_performance_and_realdata():
    copies = []
    for doc in DOCS:
        if doc.name in FIGURE_HOMES:
            continue
        for start, block in blocks(doc.read_text()):
            if QUOTES_A_PAPER.search(block):
                continue
            text = LINK_TO_HOME.sub("", block)  # a figure given as the text of a link to its home is fine
            for match in [*SPEED.finditer(text), *MEMORY.finditer(text)]:
                line = start + text[:match.start()].count("\n")
                copies.append(f"{rel(doc)}:{line}: ...{match.group(0)[:70]}...")
    assert not copies, ("the package's speed and memory figures belong in docs/performance.md (with the command "
                        "and date) or docs/realdata.md; link there instead:\n" + "\n".join(copies))


# ------------------------------------------------------------------------------------------------ flags

def _defining_module_of_run(module: str) -> str:
    """The module whose run() `python -m module` calls (aliases and __main__.py only hand on to it)."""
    tree = ast.parse(_source_of(module).read_text())
    if any(isinstance(node, ast.FunctionDef) and node.name in ("run", "main", "parser") for node in tree.body):
        return module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and {a.name for a in node.names} & {"run", "main"}:
            return node.module
    raise AssertionError(f"python -m {module}: no run() or main() found")


class Flag(NamedTuple):
    """What the docs checks need of one flag, whichever library defined it."""
    boolean: bool
    default: str  # as the docs write it: "" for none, true/false, comma-joined lists
    help: str
    defined_in: str  # the module that defined it ("absl..." for absl's own)


@lru_cache(maxsize=None)
def program_flags(module: str) -> dict:
    """{flag name: Flag} of the program implemented in `module`, found the way its --help finds them: run()
    with absl's app.run stubbed (absl's own flags included), or the module's argparse parser()."""
    imported = importlib.import_module(module)
    if hasattr(imported, "parser"):  # argparse (python -m influence_mem.released)
        return {option.lstrip("-"): Flag(action.nargs == 0, "" if action.default in (None, False)
                                         else str(action.default), action.help or "", module)
                for command in _subparsers(imported.parser()) for action in command._actions
                for option in action.option_strings if option.startswith("--") and option != "--help"}
    from absl import flags

    from influence_mem.programs import start

    values = flags.FLAGS
    before = set(values)
    saved = start.absl_app.run, sys.argv
    start.absl_app.run, sys.argv = (lambda *a, **k: None), ["/bin/docs-check"]
    try:
        imported.run()
        result = {}
        for name in values:
            defined_in = values.find_module_defining_flag(name) or ""
            if name in before and not defined_in.startswith("absl"):
                continue  # another program's, or TensorFlow's
            flag = values[name]
            result[name] = Flag(flag.boolean, _default_text(flag), flag.help or "", defined_in)
        return result
    finally:
        start.absl_app.run, sys.argv = saved
        values.unparse_flags()
        for name in set(values) - before:
            delattr(values, name)


def _default_text(flag) -> str:
    if flag.default is None:
        return ""
    if flag.boolean:
        return "true" if flag.default else "false"
    if isinstance(flag.default, list):
        return ",".join(map(str, flag.default))
    return str(flag.default)


def _subparsers(parser):
    import argparse

    for action in parser._actions:  # argparse has no public API for its sub-commands
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.values()


def program_of(command: str):
    """(module implementing the program, its argument text) for a shell command line, or None."""
    words, environment = command.split(), {}
    while words and (re.fullmatch(r"\w+=\S*", words[0]) or words[0] in ("$", "sudo", "!")):
        word = words.pop(0)  # VAR=value, a prompt
        if "=" in word:
            environment.update([word.split("=", 1)])
    if not words:
        return None
    first = re.sub(r"^(\./)?\.venv/bin/", "", words[0])
    rest = " ".join(words[1:])
    if first in SCRIPTS:
        return SCRIPTS[first].split(":")[0], rest
    if first in ("python", "python3") and len(words) > 2 and words[1] == "-m" and _project_module(words[2]):
        return _defining_module_of_run(words[2]), " ".join(words[3:])
    if first in ("python", "python3") and len(words) > 1 and words[1] in LAUNCHERS:
        return LAUNCHERS[words[1]], " ".join(words[2:])
    if SLURM in words and "--" in words:
        program = SLURM_PROGRAMS[environment.get("PROGRAM", "train")]
        return _defining_module_of_run(program), " ".join(words[words.index("--") + 1:])
    return None


def commands(text: str):
    """Every shell command of the doc's code blocks (continuation lines joined) and every inline code span
    that starts with a program."""
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*", "", line)  # a comment
            yield from re.split(r"\s*(?:&&|;|\|(?!\|))\s*", line)
    for span in re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)):
        yield span


FLAG = re.compile(r"(?<![\w/-])--([A-Za-z_]\w*)")
# absl's parser and app.run handle these itself (they are not in FLAGS before app.run runs).
ABSL_BUILTINS = {"flagfile", "undefok", "help", "helpshort", "helpfull", "helpxml"}


def _defines(flags: dict, name: str) -> bool:
    if name in flags or name in ABSL_BUILTINS and any(f.defined_in.startswith("absl") for f in flags.values()):
        return True
    negated = name[2:] if name.startswith("no") else None
    return bool(negated) and negated in flags and flags[negated].boolean


def doc_command_flags():
    """(where, module, command, flag name) for every --flag of every program command in the docs."""
    for doc in DOCS:
        for command in commands(doc.read_text()):
            found = program_of(command.strip())
            if found:
                module, arguments = found
                for name in FLAG.findall(arguments):
                    yield rel(doc), module, command.strip(), name


@pytest.mark.slow
def test_every_flag_in_a_docs_command_is_defined_by_its_program():
    unknown = [f"{doc}: {name} in `{command}` ({module})"
               for doc, module, command, name in doc_command_flags() if not _defines(program_flags(module), name)]
    assert not unknown, "docs' commands use flags their programs do not define:\n" + "\n".join(unknown)


def test_docs_commands_are_found():
    """The command finder sees the commands it should (else the flag test above would check nothing)."""
    modules = {module for _, module, _, _ in doc_command_flags()}
    assert {"influence_mem.train.main", "influence_mem.estimate.main", "influence_mem.analysis.report",
            "influence_mem_launchers.local", "influence_mem.programs.released"} <= modules


# ------------------------------------------------------------------------------------------ flag tables

# A flag table (header `| flag | default | meaning |`) documents the program its section runs: named in the
# header cell (`build_tfrecords` flag), else in the section's heading or its last command before the table.
# These sections' tables list some of a program's flags and name it nowhere nearby:
TABLE_PROGRAM = {("docs/scaling.md", "One trial over several GPUs: `--strategy`"): "influence_mem.train.main"}
# Tables that list every flag the program defines itself (the launchers: their own, not the trainer's they
# forward): a flag added to the program must be added to its table.
COMPLETE = {("docs/training.md", "Flags"): None,
            ("docs/formats.md", "`im-aggregate` (`python -m influence_mem.aggregate`, program "
                                "`influence_mem/estimate/main.py`)"): None,
            ("docs/formats.md", "`im-describe FILE [FILE...]` (`python -m influence_mem.analysis.describe`)"): None,
            ("docs/architectures.md", "ImageNet input"): None,
            ("docs/scaling.md", "One machine: `launchers/local.py`"): "influence_mem_launchers.local",
            ("docs/scaling.md", "A Ray cluster: `launchers/ray_trials.py`"): "influence_mem_launchers.ray_trials"}
PROGRAM_NAMES = {**{name: target.split(":")[0] for name, target in SCRIPTS.items()},
                 "build_tfrecords": "influence_mem.data.build_tfrecords"}


def _program_named(text: str):
    found = [program_of(command) for command in commands(f"`{text}`")]
    for name, module in PROGRAM_NAMES.items():
        if re.search(rf"(?<![\w-]){re.escape(name)}\b", text):
            found.append((module, ""))
    for path, module in LAUNCHERS.items():
        if path in text:
            found.append((module, ""))
    for module in PYTHON_M.findall(text):
        if _project_module(module):
            found.append((_defining_module_of_run(module), ""))
    return next((f[0] for f in found if f), None)


def flag_tables():
    """(doc, heading, program module, [(flag names, default cell)]) for every flag table of the docs."""
    for doc in DOCS:
        heading, rows, in_code = "", None, False
        sections = []  # [heading level, the program it names or its first command runs], outermost first
        for line in doc.read_text().splitlines() + [""]:
            if line.startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                found = program_of(line.replace("\\", "").strip())
                if found and sections and sections[-1][1] is None:
                    sections[-1][1] = found[0]
                continue
            if rows is not None and not line.startswith("|"):
                yield rel(doc), heading, table_program, rows
                rows = None
            if re.match(r"#{1,6} ", line):
                level, heading = len(line) - len(line.lstrip("#")), line.lstrip("#").strip()
                sections = [s for s in sections if s[0] < level] + [[level, _program_named(heading)]]
            elif rows is None and re.match(r"\|\s*(`[\w-]+` )?flag\s*\|\s*default\s*\|", line):
                header = line.split("|")[1]
                enclosing = next((program for _, program in reversed(sections) if program), None)
                table_program = (_program_named(header) or TABLE_PROGRAM.get((rel(doc), heading)) or enclosing)
                rows = []
            elif rows is not None and not re.match(r"\|\s*-", line):
                cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
                rows.append((FLAG.findall(cells[0]), cells[1] if len(cells) > 1 else ""))


def _same_default(stated: str, actual: str) -> bool:
    try:
        return float(stated) == float(actual)
    except ValueError:
        return stated == actual


def _default_literals(cell: str):
    """The defaults a cell states literally (`0.7`, `default`, 30, 128, true), or None when it describes one."""
    parts = [part.strip() for part in cell.split(",") if part.strip()]
    literal = re.compile(r"^`([^`]*)`$|^(-?\d+(?:\.\d+)?|true|false)$")
    if not parts or not all(literal.match(part) for part in parts):
        return None
    return [literal.match(part).group(1) if literal.match(part).group(1) is not None
            else literal.match(part).group(2) for part in parts]


@pytest.mark.slow
def test_flag_tables_match_their_programs():
    problems = []
    tables = list(flag_tables())
    assert len(tables) >= 8, "the flag tables were not found"
    for doc, heading, module, rows in tables:
        where = f"{doc} ({heading})"
        if module is None:
            problems.append(f"{where}: which program's flags? (name it in the section or in TABLE_PROGRAM)")
            continue
        flags = program_flags(module)
        listed = set()
        for names, cell in rows:
            listed.update(names)
            problems += [f"{where}: --{name} is not a flag of {module}" for name in names if not _defines(flags, name)]
            defaults = _default_literals(cell)
            if defaults is not None and len(defaults) == len(names) and all(n in flags for n in names):
                for name, stated in zip(names, defaults):
                    if flags[name].default and not _same_default(stated, flags[name].default):
                        problems.append(f"{where}: --{name} defaults to {flags[name].default!r}, the table says "
                                        f"{stated!r}")
        if (doc, heading) in COMPLETE:
            defined_in = COMPLETE[(doc, heading)]
            own = {name for name, flag in flags.items() if not flag.defined_in.startswith("absl")
                   and (defined_in is None or flag.defined_in == defined_in)}
            problems += [f"{where}: --{name} missing: | `--{name}` | {flags[name].default} | {flags[name].help} |"
                         for name in sorted(own - listed)]
    assert not problems, "flag tables out of step with the flags:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------ parameter counts

# Counts the architectures table quotes from elsewhere, not ours to check.
QUOTED_COUNTS = {25_636_712}  # Keras applications' ResNet-50, whose convolutions have biases


def _int_values(tree) -> set:
    """Every int an expression of int literals in `tree` evaluates to (`2048 * 100 + 100` gives 204900, and
    its parts 204800, 2048, 100)."""
    values = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.Constant)) and all(
                isinstance(leaf, (ast.BinOp, ast.Constant, ast.operator)) for leaf in ast.walk(node)) and all(
                type(leaf.value) is int for leaf in ast.walk(node) if isinstance(leaf, ast.Constant)):
            values.add(eval(compile(ast.Expression(node), "<count>", "eval")))  # ints and + - * only
    return values


def test_every_parameter_count_of_architectures_md_is_asserted_by_a_model_test():
    """The table's counts are checked against built models by tests/models/ (each family's file builds the model
    and asserts the count it computes), so the doc cannot drift from them unseen."""
    asserted = set()  # the ints the tests' code computes (an `expected = ...` they then assert, or the assert)
    for path in sorted((REPO / "tests" / "models").glob("test_*.py")):
        asserted |= _int_values(ast.parse(path.read_text()))
    text = (REPO / "docs" / "architectures.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `") and line.count("|") >= 5]
    assert len(rows) >= 13, "the architectures table was not found"
    unchecked = []
    for row in rows:
        counts = row.split("|")[-2]
        for number in re.findall(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,]| classes)", counts):
            value = int(number.replace(",", ""))
            if value not in asserted and value not in QUOTED_COUNTS:
                unchecked.append(f"{row.split('|')[1].strip()}: {number}")
    assert not unchecked, "architectures.md gives counts no test in tests/models/ asserts:\n" + "\n".join(unchecked)
