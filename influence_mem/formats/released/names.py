"""The released formats' file names and keys (each spelled here only), the checks on names that come from
the command line, and finding an estimate set in a directory.

- infl matrix   `<name>_infl_matrix.npz`: INFL_MATRIX_KEYS and per class c class_keys(c)
- pairs         `<name>_high_infl_pairs_infl{θ}_mem{θ}.npz`: PAIR_KEYS
- index         `imagenet_index.npz` / `<name>_index.npz`: INDEX_KEYS
- C-scores      `<name>-cscores-orig-order.npz`: CSCORE_KEYS (+ filenames); MNIST `.npy`: scores only
- stats         `<name>_estimates_stats.npz`: our sidecar, at least STATS_KEYS
- full          `<name>_infl_full.npy`: optional dense [n, n_test] influence
"""
import glob
import os
import re
import tempfile
from typing import Tuple

INFL_MATRIX_KEYS = ("tr_labels", "tt_labels", "tr_mem")
CLASS_KEY = re.compile(r"^(tr_classidx_|tt_classidx_|infl_matrix_class)(\d+)$")
PAIR_KEYS = ("tr_idx", "tt_idx", "infl", "mem")
INDEX_KEYS = ("tr_filenames", "tr_labels", "tr_mem")
CSCORE_KEYS = ("labels", "scores")
CSCORE_FILENAMES = "filenames"
STATS_KEYS = ("num_trials", "subset_ratio", "n_in", "n_out", "mem_se")
# Optional sidecar keys written by the aggregator (docs/formats.md), read back by im-describe:
STATS_TRIAL_SELECTION = "trial_selection"        # the --trials ranges aggregated; 'all' for every finished trial
STATS_PAIRS_MIN_Z = "pairs_min_z"                # --min_z of the pairs file (0: the paper's selection)
STATS_TRAIN_ACCURACY = "train_accuracy"          # the trials' mean accuracy on their own training subsets
STATS_MIN_TRAIN_ACCURACY = "min_train_accuracy"  # the threshold below which that was warned about
STATS_NOISE_PAIRS = "noise_pairs_expected"       # pairs the selection would give if no influence were real
STATS_CANDIDATE_PAIRS = "candidate_pairs"        # same-class pairs whose training example has mem >= threshold
STATS_SELECTION_KEYS = (STATS_TRIAL_SELECTION,)  # what differs from aggregating a workdir of only those trials

INFL_MATRIX_SUFFIX = "_infl_matrix.npz"
_PAIRS_PATTERN = "{name}_high_infl_pairs_infl{infl}_mem{mem}.npz"


class EstimateSetError(ValueError):
    """A directory without the estimate files an analysis needs, or a set that does not fit the
    analysis (e.g. other examples); the message names the directory or file."""


def class_keys(c: int) -> Tuple[str, str, str]:
    """(train ids, test ids, influence block) keys of class c in an infl matrix file."""
    return f"tr_classidx_{c}", f"tt_classidx_{c}", f"infl_matrix_class{c}"


def infl_matrix_filename(name: str) -> str:
    return f"{name}{INFL_MATRIX_SUFFIX}"


def high_infl_pairs_filename(name: str, infl_threshold: float, mem_threshold: float) -> str:
    """e.g. cifar100_high_infl_pairs_infl0.15_mem0.25.npz (thresholds as %g)."""
    return _PAIRS_PATTERN.format(name=name, infl=f"{infl_threshold:g}", mem=f"{mem_threshold:g}")


def index_filename(name: str) -> str:
    return f"{name}_index.npz"


def cscores_filename(name: str) -> str:
    return f"{name}-cscores-orig-order.npz"


def stats_filename(name: str) -> str:
    return f"{name}_estimates_stats.npz"


def infl_full_filename(name: str) -> str:
    return f"{name}_infl_full.npy"


def estimate_set_name(path) -> str:
    """'cifar100' of '.../cifar100_infl_matrix.npz'; None for a file not named as an infl matrix."""
    base = os.path.basename(str(path))
    return base[: -len(INFL_MATRIX_SUFFIX)] if base.endswith(INFL_MATRIX_SUFFIX) else None


_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_output_name(name, source: str = "--name") -> str:
    """`name` if it may prefix output file names, else ValueError naming `source` (the flag, labels file or
    dataset it came from).  The one rule: letters, digits, '_', '-' and '.', no path separators, not '.'
    or '..', so every file written as <name>_... stays in its output directory."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{source}: output name {name!r} may hold only letters, digits, '_', '-' and '.' "
                         f"(no path separators; not '.' or '..'); pass --name")
    return name


def default_output_name(dataset: str) -> str:
    """The default output name of a dataset: 'npz:/d/mine.npz' -> 'mine', 'tfrecord:/d/in/' -> 'in',
    'idx:/d/fashion-mnist' -> 'fashion-mnist', 'idx:/d/emnist:letters' -> 'emnist_letters', a registry name as
    is (not yet checked: pass the result to check_output_name)."""
    if dataset.startswith("idx:"):
        return os.path.basename(dataset[len("idx:"):].rstrip("/\\")).replace(":", "_")
    for prefix in ("npz:", "tfrecord:"):
        if dataset.startswith(prefix):
            stem = os.path.basename(dataset[len(prefix):].rstrip("/\\"))
            return stem[: -len(".npz")] if prefix == "npz:" and stem.endswith(".npz") else stem
    return dataset


def check_output_dir(path, flag: str = "--output_dir") -> None:
    """ValueError (one line naming `flag`) unless `path` is, or can be made, a writable local directory;
    checked before anything is written."""
    path = str(path)
    if not path.strip():
        raise ValueError(f"{flag} is empty")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag}={path}: exists and is not a directory")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):  # the nearest existing ancestor must let us create the rest
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{flag}={path}: {parent} is not a directory")
    try:  # tried, not asked (os.access): root passes every mode check, and /proc or /sys refuse anyway
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=parent))
    except OSError as e:
        raise ValueError(f"{flag}={path}: {parent} is not a writable directory ({e.strerror or e})") from None


def find_estimate_set(directory: str, name: str = None) -> dict:
    """{'name', 'infl_matrix', 'pairs', 'stats', 'cscores'}: paths of estimate set `name` in
    `directory` (None: absent); EstimateSetError when there is no (single) infl matrix.

    `name` may be omitted when the directory holds exactly one <name>_infl_matrix.npz.
    """
    if not os.path.isdir(directory):
        raise EstimateSetError(f"{directory}: no such directory")
    matrices = sorted(glob.glob(os.path.join(glob.escape(directory), infl_matrix_filename(name or "*"))))
    if not matrices:
        raise EstimateSetError(f"{directory}: no {infl_matrix_filename(name or '<name>')} found")
    if len(matrices) > 1:
        raise EstimateSetError(f"{directory}: several estimates ({', '.join(map(os.path.basename, matrices))}); "
                               f"pass --name")
    prefix = matrices[0][: -len(INFL_MATRIX_SUFFIX)]
    pairs = sorted(glob.glob(_PAIRS_PATTERN.format(name=glob.escape(prefix), infl="*", mem="*")))
    stats = stats_filename(prefix)
    cscores = cscores_filename(prefix)
    return {"name": os.path.basename(prefix), "infl_matrix": matrices[0], "pairs": pairs[0] if pairs else None,
            "stats": stats if os.path.exists(stats) else None,
            "cscores": cscores if os.path.exists(cscores) else None}
