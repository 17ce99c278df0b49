"""write_npz / read_npz: whole .npz files through tf.io.gfile (local paths, gs://), as all trainer I/O.

A leaf of data/ so that data/ (build_tfrecords' meta.npz, the ImageNet index) and the layers above it
(trial outputs, last-layer features) share one npz writer and reader without data/ importing train/.
Reading fetches the bytes through tf.io.gfile and parses them with formats.npz, the one size-checked reader.
"""
import io
from typing import Optional

import numpy as np
import tensorflow as tf

from influence_mem.formats import npz


def write_npz(path: str, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def read_npz(path: str, max_bytes: Optional[int] = npz.MAX_BYTES) -> dict:
    """{key: array} of the .npz at `path`; npz.NpzError (NpzNotFound, NpzTooLarge), one line naming it."""
    if not tf.io.gfile.exists(path):
        raise npz.NpzNotFound(path, "no such file")
    if tf.io.gfile.isdir(path):
        raise npz.NpzError(path, "a directory, not an .npz file")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.OpError as e:  # unreadable: permissions, a special file
        raise npz.NpzError(path, f"cannot be read ({e.message})") from None
    return npz.read(io.BytesIO(data), max_bytes=max_bytes, name=path)
