"""Reading a workdir from numpy-only code: local paths or any fsspec URL.

The trainer writes trials through tf.io.gfile, so a workdir may live on
gs://.  The aggregator must not import TensorFlow, so it reads through
fsspec, which handles local paths itself and gs:// once gcsfs is installed
(`pip install influence_mem[gcs]`).  Outputs are written locally.
"""
import io
import json
import posixpath
from typing import List, Optional, Tuple

import fsspec
import numpy as np

from influence_mem import released


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


class TooLarge(ValueError):
    """An .npz declaring larger arrays than its reader allows (corrupt, crafted, a zip bomb)."""


def load_npz(path, max_elements: Optional[int] = None, max_bytes: Optional[int] = None) -> np.lib.npyio.NpzFile:
    """np.load of an .npz (read fully into memory first for remote paths).

    With a bound, each array's declared shape and dtype are checked first (released.check_npz_size, which
    reads only the headers) and TooLarge is raised, before any array is read, for one with more than
    `max_elements` elements or more than `max_bytes` in all.
    """
    source = str(path)
    if is_remote(path):
        fs, p = _fs(path)
        with fs.open(p, "rb") as f:
            source = io.BytesIO(f.read())
    if max_elements is not None or max_bytes is not None:
        try:
            released.check_npz_size(source, max_elements, max_bytes)
        except ValueError as e:
            raise TooLarge(str(e)) from None
        if not isinstance(source, str):
            source.seek(0)
    return np.load(source, allow_pickle=False)


def read_json(path):
    """The parsed JSON of a file (local or fsspec URL); OSError / ValueError when missing or malformed."""
    fs, p = _fs(path)
    with fs.open(p, "r") as f:
        return json.load(f)
