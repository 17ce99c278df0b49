"""The paper's flagfiles (the repository's `configs/*.cfg`), found by name wherever the package is installed.

The configs ship as the data-only package `influence_mem_configs` (pyproject.toml maps the top-level
`configs/` directory to it; an editable install points at the source directory).  A config is named by
its path below that directory without `.cfg`: `cifar100_resnet50`, `turnover/mnist_mlp`.

    resolve("cifar100_resnet50")              -> .../influence_mem_configs/cifar100_resnet50.cfg
    resolve("configs/cifar100_resnet50.cfg")  -> that path if it exists here, else the shipped copy
    resolve("/my/own.cfg")                    -> /my/own.cfg (any existing file is used as it is)
    names()                                   -> ["cifar100_densenet100", ..., "turnover/mnist_mlp"]

Standard library only: resolving a name imports neither TensorFlow nor the trainer.
"""
import importlib.util
import os
from pathlib import Path
from typing import List, Optional

PACKAGE = "influence_mem_configs"
SUFFIX = ".cfg"
# A source checkout used without installing (PYTHONPATH=.): the configs/ directory next to the package.
_SOURCE_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigNotFoundError(ValueError):
    """A config name or path that names no flagfile; the message lists the known names."""


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


def _as_name(name_or_path: str) -> str:
    """`configs/x.cfg`, `x.cfg` or `x` -> `x` (the name below the configs directory)."""
    name = name_or_path.replace(os.sep, "/")
    if name.startswith("./"):
        name = name[2:]
    if name.startswith("configs/"):
        name = name[len("configs/"):]
    return name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name


def resolve(name_or_path) -> str:
    """Path of a flagfile given a config name (`cifar100_resnet50`) or a path to one.

    An existing file is returned unchanged (your own flagfile, or `configs/x.cfg` in a checkout);
    otherwise the name, with any `configs/` prefix and `.cfg` suffix removed, is looked up among the
    shipped configs.  Raises ConfigNotFoundError listing the known names.
    """
    text = os.fspath(name_or_path)
    if os.path.isfile(text):
        return text
    root = directory()
    name = _as_name(text)
    if root is not None and name and ".." not in name.split("/"):
        candidate = root / (name + SUFFIX)
        if candidate.is_file():
            return str(candidate)
    known = ", ".join(names()) or "none (the influence_mem_configs package is not installed)"
    raise ConfigNotFoundError(f"no config file or config name {text!r}; known names: {known}")
