"""The one .npz reader: every .npz the package reads goes through `read` (and every .npy through
`read_npy`), size-checked first.

A crafted or corrupt archive can declare gigabytes in a few kilobytes (a zip bomb); `read` checks what
each member declares (the zip directory and each .npy header only) before any array is read, and
refuses a file declaring more than its bound.  Sources: a local path, any fsspec URL (`gs://` once
gcsfs is installed: `pip install influence_mem[gcs]`; `file://`, `memory://`), or an open seekable
binary file (bytes a caller fetched itself, e.g. through tf.io.gfile).  numpy and fsspec only.
"""
import io
import os
import zipfile
from typing import Dict, Optional

import fsspec
import numpy as np

# The default bound on what a file may declare once decompressed.  The largest released file (the
# ImageNet infl matrix) holds about 0.3 GB; callers reading larger files (a user's dataset) pass theirs.
MAX_BYTES = 2 * 1024 ** 3


class NpzError(ValueError):
    """An .npz that cannot be read; one line '<file>: <problem>'.  `detail` is the problem without the
    reader's wording, for callers that phrase it their own way."""

    def __init__(self, path, problem: str, detail: Optional[str] = None):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem, self.detail = path, problem, detail if detail is not None else problem


class NpzNotFound(NpzError):
    """No file at the path."""


class NpzTooLarge(NpzError):
    """An archive declaring larger arrays than its reader allows (corrupt, crafted, a zip bomb)."""


def is_url(path) -> bool:
    return "://" in str(path)


def npy_header(fp):
    """(shape, dtype) of an .npy stream positioned at its start, reading only the header; None if the stream
    is not an .npy array (np.load then returns its raw bytes)."""
    magic = fp.read(len(np.lib.format.MAGIC_PREFIX))
    if magic != np.lib.format.MAGIC_PREFIX:
        return None
    version = (ord(fp.read(1)), ord(fp.read(1)))
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs only by a UTF-8 header: shape and itemsize read the same
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    return shape, dtype


def check_size(file, max_elements: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
    """ValueError (one line) if an .npz archive (a local path or a seekable binary file) declares an array of
    more than `max_elements` elements, or more than `max_bytes` in all, once decompressed.

    Reads only the zip directory and each .npy header, so a zip bomb costs nothing; np.load reads no more
    than a member's header declares, so checking the declarations bounds the memory of the load.
    """
    total = 0
    with zipfile.ZipFile(file) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                try:
                    header = npy_header(member)
                except (ValueError, TypeError, SyntaxError) as e:
                    raise ValueError(f"member {info.filename}: unreadable .npy header ({e})") from None
            if header is None:  # not an array: np.load would return its raw bytes
                size, elements = info.file_size, info.file_size
            else:
                shape, dtype = header
                elements = int(np.prod(shape, dtype=object))
                size = elements * dtype.itemsize
            if max_elements is not None and elements > max_elements:
                raise ValueError(f"member {info.filename} declares {elements:,} elements, more than the "
                                 f"{max_elements:,} this file may hold (corrupt or crafted)")
            total += size
            if max_bytes is not None and total > max_bytes:
                raise ValueError(f"declares more than {max_bytes:,} bytes of arrays once decompressed "
                                 f"(at {info.filename}; a zip bomb or not a file of this kind)")


def _source(path):
    """A local path as is; a URL's bytes in memory (fsspec), so the archive is read whole once."""
    if not is_url(path):
        if not os.path.isfile(path):
            raise NpzNotFound(path, "no such file")
        return path
    try:
        fs, p = fsspec.core.url_to_fs(str(path))
        if not fs.isfile(p):
            raise NpzNotFound(path, "no such file")
        with fs.open(p, "rb") as f:
            return io.BytesIO(f.read())
    except NpzError:
        raise
    except Exception as e:  # an unknown protocol (ImportError: gcsfs missing), a network error, ...
        raise NpzError(path, f"unreadable ({type(e).__name__}: {e})", f"{type(e).__name__}: {e}") from None


def read(source, max_bytes: Optional[int] = MAX_BYTES, max_elements: Optional[int] = None,
         name=None) -> Dict[str, np.ndarray]:
    """{key: array} of an .npz (no pickles), refused before any array is read when a member declares more
    than `max_elements` elements or all of them more than `max_bytes` (None: no bound).

    `source`: a local path, an fsspec URL or a seekable binary file (`name` then names it in errors).
    Raises NpzNotFound, NpzTooLarge or NpzError, each one line naming the file.
    """
    if hasattr(source, "read"):
        path = name if name is not None else "<npz stream>"
    else:
        path, source = source, _source(source)
    if not zipfile.is_zipfile(source):
        raise NpzError(path, "not an .npz file (not a zip archive)", "not a zip archive")
    try:
        check_size(source, max_elements, max_bytes)
    except ValueError as e:
        raise NpzTooLarge(path, f"refused: {e}", str(e)) from None
    except Exception as e:  # zipfile raises many types for a corrupt archive
        raise NpzError(path, f"unreadable .npz ({type(e).__name__}: {e})", f"{type(e).__name__}: {e}") from None
    try:
        if hasattr(source, "seek"):
            source.seek(0)
        with np.load(source, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # zipfile / numpy raise many types for a corrupt file
        raise NpzError(path, f"unreadable .npz ({type(e).__name__}: {e})", f"{type(e).__name__}: {e}") from None


def read_npy(path, max_bytes: Optional[int] = MAX_BYTES) -> np.ndarray:
    """The array of a local .npy file (no pickles), refused before it is read when its header declares more
    than `max_bytes` (None: no bound).  Raises NpzNotFound, NpzTooLarge or NpzError naming the file."""
    if not os.path.isfile(path):
        raise NpzNotFound(path, "no such file")
    try:
        with open(path, "rb") as f:
            header = npy_header(f)
        if header is None:
            raise ValueError("not an .npy array (no .npy magic)")
        size = int(np.prod(header[0], dtype=object)) * header[1].itemsize
        if max_bytes is not None and size > max_bytes:
            raise NpzTooLarge(path, f"refused: declares an array {header[0]} of {header[1]}, more than "
                                    f"{max_bytes:,} bytes (corrupt or crafted)")
        return np.load(path, allow_pickle=False)
    except NpzError:
        raise
    except Exception as e:  # a truncated or malformed file
        raise NpzError(path, f"not a readable .npy file ({type(e).__name__}: {e})",
                       f"{type(e).__name__}: {e}") from None
