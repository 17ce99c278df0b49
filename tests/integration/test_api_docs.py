"""The API reference (`make docs`, docs/build_api.py): pdoc builds it from the docstrings without a warning,
with a page per public module, and pages that load nothing from the network; a docstring or annotation pdoc
cannot read fails the build."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "build_api.py"


def _build_api():
    spec = importlib.util.spec_from_file_location("build_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    pytest.importorskip("pdoc", reason='pdoc is not installed (the docs and test extras install it: pip install ".[test]")')
    out = tmp_path_factory.mktemp("api")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=1200,
                          cwd=REPO)
    return out, proc


def test_reference_builds_without_warnings(api):
    out, proc = api
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning:" not in proc.stderr, proc.stderr[-3000:]
    assert f"API reference: {out / 'index.html'}" in proc.stdout


def test_every_public_module_has_its_page(api):
    out, _ = api
    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    for module in _build_api().MODULES:
        assert module.replace(".", "/") + ".html" in pages, module
    for page in ("influence_mem/formats/released.html", "influence_mem/estimate/estimators.html",
                 "influence_mem/analysis/label_noise.html", "influence_mem/data/npz_source.html",
                 "influence_mem/models/packed_model.html", "influence_mem/train/run.html"):
        assert page in pages, page
    released = (out / "influence_mem" / "released.html").read_text()
    assert "load_infl_matrix" in released  # the public face documents the readers
    estimators = (out / "influence_mem" / "estimate" / "estimators.html").read_text()
    assert "memorization" in estimators.lower()


def test_pages_load_nothing_from_the_network(api):
    out, _ = api
    remote = re.compile(r"<(script|link|img)\b[^>]*\b(src|href)=[\"']?(https?:)?//", re.I)
    for page in out.rglob("*.html"):
        found = remote.search(page.read_text())
        assert not found, f"{page.relative_to(out)} loads {found.group(0)}"


def test_an_unreadable_annotation_is_reported(tmp_path, monkeypatch):
    """The build's warning filter keeps pdoc's warnings about the documented modules (so make docs fails on them)."""
    pytest.importorskip("pdoc", reason='pdoc is not installed (pip install ".[test]")')
    (tmp_path / "im_api_probe.py").write_text('"""A probe."""\n\n\ndef f(x: "NoSuchType") -> None:\n    """Takes x."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = _build_api().build(tmp_path / "out", ["im_api_probe"])
    assert len(problems) == 1 and "NoSuchType" in problems[0] and "im_api_probe.f" in problems[0]
    assert (tmp_path / "out" / "im_api_probe.html").is_file()
