"""Reading a workdir from numpy-only code: local paths or any fsspec URL.

The trainer writes trials through tf.io.gfile, so a workdir may live on
gs://.  The aggregator must not import TensorFlow, so it reads through
fsspec, which handles local paths itself and gs:// once gcsfs is installed
(`pip install influence_mem[gcs]`).  Outputs are written locally; .npz files are read
through formats.npz (the same fsspec URLs, size-checked).
"""
import json
import posixpath
from typing import List, Tuple

import fsspec


def _fs(path):
    return fsspec.core.url_to_fs(str(path))


def is_remote(path) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def join(base, *names) -> str:
    return posixpath.join(str(base), *names)


def basename(path) -> str:
    return posixpath.basename(str(path).rstrip("/"))


def is_dir(path) -> bool:
    fs, p = _fs(path)
    return fs.isdir(p)


def is_file(path) -> bool:
    fs, p = _fs(path)
    return fs.isfile(p)


def list_dir(path) -> List[Tuple[str, bool]]:
    """[(name, is_directory)] of a directory's entries, sorted by name."""
    fs, p = _fs(path)
    entries = fs.ls(p, detail=True)
    return sorted((basename(e["name"]), e["type"] == "directory") for e in entries)


def read_json(path):
    """The parsed JSON of a file (local or fsspec URL); OSError / ValueError when missing or malformed."""
    fs, p = _fs(path)
    with fs.open(p, "r") as f:
        return json.load(f)
