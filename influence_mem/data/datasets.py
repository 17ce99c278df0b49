"""Dataset registry: a dataset by name ('digits', 'cifar100', 'npz:/path/x.npz', 'tfrecord:DIR', 'tfds:NAME',
'idx:DIR', ...).

The top of data/: it imports every provider module (digits, tfds_source,
npz_source, idx_source, imagenet, tfrecord) and maps names to their loaders; the
providers import only the leaves (data.base, data.imagenet_ops), never this
module.  Every dataset yields {image, label, index} in a fixed order
(data.base.Dataset).
"""
from typing import Callable, Dict, Optional

from influence_mem.data import digits, idx_source, imagenet, npz_source, tfds_source, tfrecord
from influence_mem.data.base import Dataset, DatasetError

_LOADERS: Dict[str, Callable[..., Dataset]] = {}


def register(name: str):
    """Decorator: `fn(data_dir=None) -> Dataset` loads dataset `name`."""
    def wrap(fn):
        _LOADERS[name] = fn
        return fn
    return wrap


register("digits")(digits.load_digits)
register("mnist")(tfds_source.load_mnist)
register("cifar10")(tfds_source.load_cifar10)
register("cifar100")(tfds_source.load_cifar100)
register("imagenet2012")(imagenet.load)  # streams from TFDS; index and preprocessing in data.imagenet


def names() -> list:
    return sorted(_LOADERS) + ["npz:PATH", "tfrecord:DIR", "tfds:NAME[/CONFIG][:VERSION]", "idx:DIR[:SPLIT]"]


def check_name(name: str) -> None:
    """Raise DatasetError unless `name` is a registered dataset, npz:PATH, tfrecord:DIR, tfds:NAME or idx:DIR."""
    if name.startswith("npz:"):
        if not name[4:]:
            raise DatasetError("dataset 'npz:' needs a path, e.g. npz:/data/mine.npz")
        return
    if name.startswith("tfrecord:"):
        if not name[9:]:
            raise DatasetError("dataset 'tfrecord:' needs a directory made by build_tfrecords, e.g. tfrecord:/data/in")
        return
    if name.startswith("tfds:"):
        if not name[5:]:
            raise DatasetError("dataset 'tfds:' needs a TFDS name, e.g. tfds:fashion_mnist or tfds:svhn_cropped")
        return
    if name.startswith("idx:"):
        idx_source.parse_spec(name[4:])
        return
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(names())}")


def load(name: str, data_dir: Optional[str] = None) -> Dataset:
    """Load a dataset by registry name ('digits', 'cifar100', 'npz:/path/x.npz', ...)."""
    check_name(name)
    if name.startswith("npz:"):
        return npz_source.load_npz(name[4:])
    if name.startswith("tfrecord:"):
        return tfrecord.load(name[9:])
    if name.startswith("tfds:"):
        return tfds_source.load_any(name[5:], data_dir)
    if name.startswith("idx:"):
        return idx_source.load_idx(name[4:])
    return _LOADERS[name](data_dir=data_dir)


# Registered names backed by a TFDS dataset that prepare() can download and prepare (imagenet2012 needs the
# manual download: its preparation is docs/architectures.md's).
_TFDS_NAMES = {"mnist": "mnist", "cifar10": "cifar10", "cifar100": "cifar100"}


def prepare(name: str, data_dir: Optional[str] = None) -> None:
    """Make dataset `name` loadable without downloading: TFDS datasets (mnist, cifar10, cifar100,
    tfds:NAME) are downloaded and prepared once here; the others need nothing.  The launchers call it
    before starting their workers, so N workers never prepare one dataset at the same time."""
    check_name(name)
    spec = name[5:] if name.startswith("tfds:") else _TFDS_NAMES.get(name)
    if spec is not None:
        tfds_source.prepare(spec, data_dir)
