"""The package's import graph (read with ast, nothing imported): no cycles, and every import
respects the layers of docs/architecture.md."""
import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "influence_mem"

# Bottom to top (docs/architecture.md).  A module may import its own layer or lower ones.
LAYERS = [
    ("formats", ["influence_mem.formats"]),
    ("data, models", ["influence_mem.data", "influence_mem.models"]),
    ("train, estimate", ["influence_mem.train", "influence_mem.estimate"]),
    ("reevaluate, turnover, analysis", ["influence_mem.reevaluate", "influence_mem.turnover",
                                        "influence_mem.analysis"]),
    ("programs", ["influence_mem.programs", "influence_mem.bench", "influence_mem.aggregate",
                  "influence_mem.released", "influence_mem.released_files"]),  # the public face, old paths
]
PROGRAMS = LAYERS.index(LAYERS[-1])  # also every CLI module (is_a_program): a CLI sits above its package
# Modules that must run without TensorFlow (aggregation and analysis machines).
NO_TENSORFLOW = ["influence_mem.formats", "influence_mem.released", "influence_mem.released_files",
                 "influence_mem.estimate",
                 "influence_mem.programs", "influence_mem.train.progress"]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(package: Path = PACKAGE) -> dict:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imports_of(path: Path, modules: dict, top_level_only: bool = False) -> set:
    """Package modules and third-party top-level names that `path` imports."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in modules)
    return found


def is_a_program(path: Path) -> bool:
    """A CLI besides `main` / `__main__`: a module with a top-level run() (its entry) or absl flag definitions."""
    tree = ast.parse(path.read_text(), str(path))
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body) or any(
        isinstance(node, ast.Attribute) and node.attr.startswith("DEFINE_") for node in ast.walk(tree))


CLIS = {name for name, path in all_modules().items() if is_a_program(path)}


def layer_of(module: str) -> int:
    if module.rsplit(".", 1)[-1] in ("main", "__main__") or module in CLIS:
        return PROGRAMS
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return -1  # the package's face (influence_mem/__init__.py): imports nothing of its own


def graph(package: Path = PACKAGE) -> dict:
    modules = all_modules(package)
    return {name: {m for m in imports_of(path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def cycles_of(edges: dict) -> list:
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if target.startswith(node + ".") or node.startswith(target + "."):
                continue  # a package and its own submodules (the face hands names on)
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_every_module_has_a_layer():
    unplaced = [m for m in all_modules() if layer_of(m) < 0 and m != "influence_mem"]
    assert not unplaced, f"modules outside the documented layers: {unplaced}"


def back_edges(edges: dict) -> list:
    return [f"{a} (layer {LAYERS[layer_of(a)][0]}) imports {b} (layer {LAYERS[layer_of(b)][0]})"
            for a, targets in edges.items() for b in targets if a != "influence_mem" and layer_of(b) > layer_of(a)]


def test_imports_never_run_back_up():
    wrong = back_edges(graph())
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    cycles = cycles_of(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("prefix", NO_TENSORFLOW)
def test_numpy_side_never_imports_tensorflow(prefix):
    modules = all_modules()
    offenders = [name for name, path in modules.items() if name == prefix or name.startswith(prefix + ".")
                 if any(m.split(".")[0] in ("tensorflow", "keras") for m in imports_of(path, modules))]
    assert not offenders, f"import TensorFlow/Keras: {offenders}"


def test_estimate_and_data_do_not_import_train():
    bad = [(a, b) for a, targets in graph().items() for b in targets
           if (a.startswith("influence_mem.data") or a.startswith("influence_mem.estimate"))
           and b.startswith("influence_mem.train")]
    assert not bad, bad


def test_clis_sit_in_the_programs_layer():
    """Modules with a run() entry or flag definitions are CLIs (nothing below may import them); libraries are not."""
    assert {"influence_mem.train.flags", "influence_mem.analysis.report", "influence_mem.programs.shared_flags",
            "influence_mem.data.build_tfrecords"} <= CLIS
    assert not {"influence_mem.train.claims", "influence_mem.analysis.figures", "influence_mem.programs.configs"} & CLIS
    assert layer_of("influence_mem.analysis.report") == PROGRAMS > layer_of("influence_mem.analysis.figures")


def test_formats_imports_nothing_else_of_the_package():
    """formats/ is the bottom layer alone: it may import only itself (and numpy, pandas, fsspec, ...)."""
    outside = [(a, b) for a, targets in graph().items() if a.startswith("influence_mem.formats")
               for b in targets if not b.startswith("influence_mem.formats")]
    assert not outside, outside
    assert layer_of("influence_mem.formats.npz") < layer_of("influence_mem.data.base")


def test_the_checker_sees_a_back_edge_and_a_hidden_cycle(tmp_path):
    """The checker itself: data importing train (inside a function, too) is a back edge and a cycle."""
    fake = tmp_path / "influence_mem"
    (fake / "data").mkdir(parents=True)
    (fake / "train").mkdir()
    for p in (fake / "__init__.py", fake / "data" / "__init__.py", fake / "train" / "__init__.py"):
        p.write_text("")
    (fake / "data" / "x.py").write_text("def f():\n    from influence_mem.train import y\n")
    (fake / "train" / "y.py").write_text("import influence_mem.data.x\n")
    edges = graph(fake)
    assert ("influence_mem.data.x (layer data, models) imports influence_mem.train.y (layer train, estimate)"
            in back_edges(edges))
    assert cycles_of(edges) == [["influence_mem.data.x", "influence_mem.train.y", "influence_mem.data.x"]]
