"""MNIST-family IDX files in one folder (`--dataset=idx:DIR` or `idx:DIR:SPLIT`), held in memory.

One provider per source, importing only the data/ leaves.  MNIST, Fashion-MNIST and KMNIST ship as four
files with the standard names (FILES), EMNIST as `emnist-<split>-...` (EMNIST_FILES), each gzipped
(`.gz`) or not.  The IDX format: a big-endian magic number (0x00000803 for uint8 images [n, h, w],
0x00000801 for uint8 labels [n]), one big-endian uint32 per dimension, then the bytes.  EMNIST stores
its images transposed; they are turned upright here.  Example index = position in the files (the
original order).  Every file is checked before the Dataset exists, so a bad one stops the trainer
before it writes anything.
"""
import gzip
import os
import re
import zlib
from typing import Optional, Tuple

import numpy as np

from influence_mem.data.base import Dataset, DatasetError, validate_arrays, with_channel

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
EMNIST_FILES = {"train_images": "emnist-{split}-train-images-idx3-ubyte",
                "train_labels": "emnist-{split}-train-labels-idx1-ubyte",
                "test_images": "emnist-{split}-test-images-idx3-ubyte",
                "test_labels": "emnist-{split}-test-labels-idx1-ubyte"}
_SPLIT = re.compile(r"[A-Za-z0-9_]+")
_CHUNK = 1 << 24  # bytes read at a time: a header declaring more data than the file holds costs no memory


def parse_spec(spec: str) -> Tuple[str, Optional[str]]:
    """'DIR' or 'DIR:SPLIT' (the `idx:` name's rest) -> (directory without a trailing '/', split or None).
    A spec naming an existing directory has no split, so a folder with ':' in its name still works."""
    if not spec:
        raise DatasetError("dataset 'idx:' needs a folder of IDX files, e.g. idx:/usr/share/datasets/fashion-mnist")
    directory, split = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and head and _SPLIT.fullmatch(tail) and not os.path.isdir(spec):
        directory, split = head, tail
    stripped = directory.rstrip("/")
    return stripped or directory, split


def dataset_name(directory: str, split: Optional[str]) -> str:
    """The Dataset name recorded in dataset_meta.npz: 'idx:DIR' or 'idx:DIR:SPLIT' (the output name is the
    folder's, with the split: formats.released default_output_name)."""
    return f"idx:{directory}" + (f":{split}" if split else "")


def find_file(directory: str, stem: str) -> str:
    """DIR/stem, else DIR/stem.gz; DatasetError naming both when neither exists."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise DatasetError(f"{os.path.join(directory, stem)}[.gz]: file not found")


def _read_exactly(f, count: int) -> bytes:
    """`count` bytes of `f`, or fewer at the end of the file; read in chunks so that memory follows the
    data actually there, not what a header declares."""
    chunks, left = [], count
    while left > 0:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array of one IDX file (gzipped when its name ends in .gz) whose magic number must be
    `magic`; DatasetError naming the file when the magic number, the size or the gzip stream is wrong."""
    ndim = magic & 0xFF
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            head = _read_exactly(f, 4)
            if len(head) < 4:
                raise DatasetError(f"{path}: truncated: {len(head)} bytes, shorter than an IDX header")
            found = int.from_bytes(head, "big")
            if found != magic:
                hint = "; gzip data: name the file .gz" if found >> 16 == 0x1F8B else ""
                raise DatasetError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x} "
                                   f"(an IDX file of uint8 {kind}){hint}")
            dims_bytes = _read_exactly(f, 4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DatasetError(f"{path}: truncated: the header ends before its {ndim} dimension size(s)")
            shape = tuple(int(d) for d in np.frombuffer(dims_bytes, ">u4"))
            count = int(np.prod(shape, dtype=object))
            data = _read_exactly(f, count)
            if len(data) < count:
                raise DatasetError(f"{path}: truncated: its header declares {'x'.join(map(str, shape))} "
                                   f"= {count} bytes of {kind}, the file holds {len(data)}")
            if f.read(1):
                raise DatasetError(f"{path}: longer than its header declares ({'x'.join(map(str, shape))}); "
                                   f"not an IDX file of uint8 {kind}?")
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: not readable ({type(e).__name__}: {e})") from None
    if not shape[0]:
        raise DatasetError(f"{path}: holds no {kind}")
    return np.frombuffer(data, np.uint8).reshape(shape)


def load_idx(spec: str) -> Dataset:
    """The four IDX files of `spec` = DIR or DIR:SPLIT (EMNIST), checked, as a Dataset in file order.

    Images [n, h, w] uint8 become [n, h, w, 1] (scaled to [0, 1] in the pipeline, as MNIST's); EMNIST's
    are transposed upright.  Classes: the largest label + 1.  DatasetError (one line naming the file) for
    a missing file, a bad magic number, a truncated or over-long file, image and label counts that
    differ, train and test images of different sizes.
    """
    directory, split = parse_spec(spec)
    if not os.path.isdir(directory):
        raise DatasetError(f"{directory}: no such folder (expected the four IDX files of an MNIST-like dataset)")
    names = {key: stem.format(split=split) for key, stem in (EMNIST_FILES if split else FILES).items()}
    try:
        paths = {key: find_file(directory, stem) for key, stem in names.items()}
    except DatasetError as e:
        splits = emnist_splits(directory)
        if not split and splits:
            raise DatasetError(f"{e}; this folder holds EMNIST splits: name one, e.g. idx:{directory}:{splits[0]} "
                               f"(found: {', '.join(splits)})") from None
        raise
    arrays = {key: read_idx(path, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
              for key, path in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels):
            raise DatasetError(f"{paths[f'{part}_labels']}: {len(labels)} labels, but "
                               f"{os.path.basename(paths[f'{part}_images'])} holds {len(images)} images")
    x_train, x_test = arrays["train_images"], arrays["test_images"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"{paths['test_images']}: images of {'x'.join(map(str, x_test.shape[1:]))} pixels, "
                           f"but {os.path.basename(paths['train_images'])} holds "
                           f"{'x'.join(map(str, x_train.shape[1:]))}")
    if split:  # EMNIST is stored column by column
        x_train, x_test = x_train.transpose(0, 2, 1), x_test.transpose(0, 2, 1)
    x_train, x_test = with_channel(np.ascontiguousarray(x_train)), with_channel(np.ascontiguousarray(x_test))
    y_train, y_test = arrays["train_labels"].astype(np.int64), arrays["test_labels"].astype(np.int64)
    num_classes = validate_arrays(paths["train_labels"], y_train, y_test, x_train, x_test)
    return Dataset(name=dataset_name(directory, split), num_classes=num_classes,
                   image_shape=tuple(x_train.shape[1:]), train_labels=y_train, test_labels=y_test,
                   default_crop_padding=0, default_flip=False, x_train=x_train, x_test=x_test,
                   index_note=f"position in {os.path.basename(paths['train_images'])} (the original order)",
                   index_source="idx_position")


def emnist_splits(directory: str) -> list:
    """The EMNIST splits whose training images are in `directory` (sorted)."""
    pattern = re.compile(r"emnist-([A-Za-z0-9_]+)-train-images-idx3-ubyte(\.gz)?")
    try:
        found = {m.group(1) for m in map(pattern.fullmatch, os.listdir(directory)) if m}
    except OSError:
        return []
    return sorted(found)
