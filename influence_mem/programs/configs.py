"""The paper's flagfiles (the repository's `configs/*.cfg`), found by name wherever the package is installed.

The configs ship as the data-only package `influence_mem_configs` (pyproject.toml maps the top-level
`configs/` directory to it; an editable install points at the source directory).  A config is named by
its path below that directory without `.cfg`: `cifar100_resnet50`, `turnover/mnist_mlp`.

Only those names resolve.  A path is refused without being opened (a file of your own is --flagfile's
job), so `--config=../../etc/passwd` can neither read nor print anything outside the shipped directory.

    resolve("cifar100_resnet50")   -> .../influence_mem_configs/cifar100_resnet50.cfg
    resolve("turnover/mnist_mlp")  -> .../influence_mem_configs/turnover/mnist_mlp.cfg
    resolve("configs/x.cfg")       -> ConfigNotFoundError: a path, use --flagfile
    names()                        -> ["cifar100_densenet100", ..., "turnover/mnist_mlp"]

Standard library only: resolving a name imports neither TensorFlow nor absl.
"""
import importlib.util
import os
import re
from pathlib import Path
from typing import List, Optional

PACKAGE = "influence_mem_configs"
SUFFIX = ".cfg"
# A source checkout used without installing (PYTHONPATH=.): the configs/ directory next to the package.
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "configs"
# How a config name is spelled: words of letters, digits, '_' and '-', joined by single '/' (no dots).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(/[A-Za-z0-9_][A-Za-z0-9_-]*)*")


class ConfigNotFoundError(ValueError):
    """A value that names no shipped config; the one-line message lists the names or points to --flagfile."""


def directory() -> Optional[Path]:
    """The directory holding the shipped flagfiles, or None if neither the package nor a checkout has it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return _SOURCE_DIR if _SOURCE_DIR.is_dir() else None


def names() -> List[str]:
    """Every shipped config name, sorted (subdirectories with '/')."""
    root = directory()
    if root is None:
        return []
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*" + SUFFIX))


def resolve(name) -> str:
    """Path of the shipped flagfile called `name` (`cifar100_resnet50`, `turnover/mnist_mlp`).

    Raises ConfigNotFoundError for anything else: a path (or an existing file) is refused with a pointer
    to --flagfile, an unknown name with the list of known ones.
    """
    text = os.fspath(name)
    known = names()
    root = directory()
    if root is not None and text in known:
        return str(root / (text + SUFFIX))
    listed = ", ".join(known) or "none (the influence_mem_configs package is not installed)"
    if text and (not _NAME.fullmatch(text) or os.path.exists(text)):
        raise ConfigNotFoundError(f"{text!r} is a path, not a config name: read a file of your own with "
                                  f"--flagfile=PATH; config names: {listed}")
    raise ConfigNotFoundError(f"no config named {text!r}; known names: {listed}")
