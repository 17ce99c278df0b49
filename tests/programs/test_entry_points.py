"""One implementation per program: every `python -m` alias only imports its program's run() and calls it
(read with ast, nothing imported)."""
import ast

import pytest

from tests.helpers import REPO

ALIASES = {  # the alias file -> the module whose run() it calls
    "influence_mem/aggregate.py": "influence_mem.estimate.main",  # python -m influence_mem.aggregate
    "influence_mem/estimate/__main__.py": "influence_mem.estimate.main",  # = im-aggregate
    "influence_mem/train/__main__.py": "influence_mem.train.main",  # = im-train
    "influence_mem/turnover/__main__.py": "influence_mem.turnover.main",
    "influence_mem/bench/__main__.py": "influence_mem.bench.packed",
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_only_hands_on(alias):
    tree = ast.parse((REPO / alias).read_text())
    imports = [(node.module, [name.name for name in node.names]) for node in ast.walk(tree)
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == [(ALIASES[alias], ["run"])]
    calls = [node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert calls == ["run"] and not [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef,
                                                                                       ast.ClassDef, ast.Assign))]
    target = REPO / (ALIASES[alias].replace(".", "/") + ".py")
    assert any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in ast.parse(target.read_text()).body)
