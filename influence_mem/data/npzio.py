"""write_npz / read_npz: whole .npz files through tf.io.gfile (local paths, gs://).

A leaf of data/ so that data/ (build_tfrecords' meta.npz) and the layers above
it (trial outputs, last-layer features) share one npz writer and reader
without data/ importing train/.
"""
import io

import numpy as np
import tensorflow as tf


def write_npz(path: str, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def read_npz(path: str) -> dict:
    with tf.io.gfile.GFile(path, "rb") as f:
        with np.load(io.BytesIO(f.read()), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
