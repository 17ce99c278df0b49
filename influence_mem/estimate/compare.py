"""Are two runs' outputs the same, bit for bit?  Every .npz/.npy under A against the same path under B.

  python -m influence_mem.estimate.compare --a=/tmp/before --b=/tmp/after

For a reproducibility check (another machine, a new release, a refactoring):
point it at two workdirs, two estimate directories or two `make demo` outputs.
Arrays are compared by key, dtype, shape and value (NaN equal to NaN), not by
file bytes, so zip timestamps do not count.  Exit 1 when anything differs or
is missing.
"""
import os
import sys

import numpy as np
from absl import flags

from influence_mem.formats import npz
from influence_mem.programs import start

FLAGS = flags.FLAGS


def _arrays(path: str) -> dict:
    if path.endswith(".npy"):
        return {"": npz.read_npy(path, max_bytes=None)}  # the dense influence: as large as n x n_test
    return npz.read(path)


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))


def compare_trees(a: str, b: str) -> tuple:
    """(files compared, [differences as 'relative path: what']) of every .npz/.npy under `a` vs `b`."""
    compared, differences = 0, []
    for root, _, files in os.walk(a):
        for name in sorted(files):
            if not name.endswith((".npz", ".npy")):
                continue
            relative = os.path.relpath(os.path.join(root, name), a)
            other = os.path.join(b, relative)
            compared += 1
            if not os.path.exists(other):
                differences.append(f"{relative}: missing under {b}")
                continue
            x, y = _arrays(os.path.join(root, name)), _arrays(other)
            if sorted(x) != sorted(y):
                differences.append(f"{relative}: keys {sorted(x)} vs {sorted(y)}")
                continue
            differences += [f"{relative}: {key or 'array'} differs" for key in sorted(x) if not _same(x[key], y[key])]
    return compared, differences


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    for flag in ("a", "b"):
        if not os.path.isdir(FLAGS[flag].value):
            sys.exit(f"error: --{flag}={FLAGS[flag].value}: not a directory")
    compared, differences = compare_trees(FLAGS.a, FLAGS.b)
    for line in differences:
        print(line)
    print(f"{compared} files compared, {len(differences)} differences")
    if differences or not compared:
        sys.exit(1)


def define_flags() -> None:
    flags.DEFINE_string("a", None, "First output directory (a workdir, an estimates directory, a demo output).")
    flags.DEFINE_string("b", None, "Second output directory, compared path by path with --a.")
    flags.mark_flags_as_required(["a", "b"])


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
