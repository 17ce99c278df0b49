"""Find the files of one estimate set in a directory (the aggregator's output or the released downloads)."""
import glob
import os


class EstimatesError(ValueError):
    """A directory without the estimate files an analysis needs; the message names it."""


def find_files(estimates_dir: str, name: str = None) -> dict:
    """{'name', 'infl_matrix', 'pairs', 'stats', 'cscores'}: paths of estimate `name` (None: absent).

    `name` may be omitted when the directory holds exactly one <name>_infl_matrix.npz.
    """
    if not os.path.isdir(estimates_dir):
        raise EstimatesError(f"{estimates_dir}: no such directory")
    matrices = sorted(glob.glob(os.path.join(glob.escape(estimates_dir), f"{name or '*'}_infl_matrix.npz")))
    if not matrices:
        raise EstimatesError(f"{estimates_dir}: no {name or '<name>'}_infl_matrix.npz found")
    if len(matrices) > 1:
        raise EstimatesError(f"{estimates_dir}: several estimates ({', '.join(map(os.path.basename, matrices))}); "
                             f"pass --name")
    prefix = matrices[0][: -len("_infl_matrix.npz")]
    pairs = sorted(glob.glob(f"{glob.escape(prefix)}_high_infl_pairs_infl*_mem*.npz"))
    stats = f"{prefix}_estimates_stats.npz"
    cscores = f"{prefix}-cscores-orig-order.npz"
    return {"name": os.path.basename(prefix), "infl_matrix": matrices[0], "pairs": pairs[0] if pairs else None,
            "stats": stats if os.path.exists(stats) else None,
            "cscores": cscores if os.path.exists(cscores) else None}
