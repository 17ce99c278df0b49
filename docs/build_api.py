"""The API reference: HTML from the docstrings of the public Python API, by pdoc, offline (`make docs`).

  python docs/build_api.py [OUTPUT_DIR]     (default build/api; open OUTPUT_DIR/index.html)

Needs the `docs` extra (`pip install ".[docs]"`, pdoc).  Nothing is fetched: pdoc reads the installed package
and writes self-contained pages (no math or diagram scripts from a CDN).  Any pdoc warning about our code (a
docstring or annotation it cannot read, a module it cannot import) fails the build with exit code 1, so the
reference stays complete; tests/integration/test_api_docs.py runs it.
"""
import os
import re
import sys
import warnings
from pathlib import Path

# The public API: the released files (influence_mem.released is the public face of formats.released), the
# estimators, the analyses, datasets, models and the trainer library.  A package's modules are included unless
# the package names its API in __all__ (estimate/): its library modules are then listed here.
MODULES = ["influence_mem.released", "influence_mem.formats", "influence_mem.estimate",
           *[f"influence_mem.estimate.{m}" for m in ("estimators", "aggregator", "pairs", "convergence", "trials",
                                                      "simulate")],
           "influence_mem.analysis", "influence_mem.data", "influence_mem.models", "influence_mem.train"]
DEFAULT_OUTPUT = "build/api"
# pdoc also reads the members classes inherit (for the search index): the private annotations of pandas'
# DataFrame, which PairsFrame and IndexFrame extend, are pandas' own and not ours to fix.
ANNOTATION_OF = re.compile(r"^Error parsing type annotation .* for ([\w.]+)\. ")


def ours(warning: warnings.WarningMessage, packages) -> bool:
    """A warning pdoc raised about the documented `packages` (not about an annotation of another package's
    class that one of ours extends)."""
    import pdoc

    if not os.path.abspath(warning.filename).startswith(os.path.dirname(os.path.abspath(pdoc.__file__))):
        return False
    about = ANNOTATION_OF.match(str(warning.message))
    return not about or about.group(1).split(".")[0] in packages


def build(output_dir, modules=MODULES) -> list:
    """Write the reference of `modules` into `output_dir`; the messages of the warnings pdoc raised about them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # pdoc blocks subprocesses while importing; a library asking `uname -p` (platform.processor()) may run it
    os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="markdown", math=False, mermaid=False, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules, output_directory=Path(output_dir))
    packages = {module.split(".")[0] for module in modules}
    return sorted({str(w.message) for w in caught if ours(w, packages)})


def main(argv) -> int:
    if len(argv) > 2:
        print("usage: python docs/build_api.py [OUTPUT_DIR]", file=sys.stderr)
        return 1
    output_dir = argv[1] if len(argv) > 1 else DEFAULT_OUTPUT
    try:
        import pdoc  # noqa: F401
    except ImportError:
        print('error: pdoc is not installed: pip install ".[docs]"', file=sys.stderr)
        return 1
    problems = build(output_dir)
    for message in problems:
        print(f"warning: {message}", file=sys.stderr)
    if problems:
        print(f"error: pdoc warned {len(problems)} time(s) about the docstrings; fix them", file=sys.stderr)
        return 1
    print(f"API reference: {os.path.join(output_dir, 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
