"""Which examples the paper's figures show, chosen by fixed rules (no cherry-picking).

Fig. 1 / D.4: per class, the examples whose memorization estimate is closest
to 0, 0.5 and 1 and within ±0.125 of it (ties: smaller id).  Fig. 3 / D.5-D.8 (appendix D code):
sort the training examples of the high-influence pairs by the highest
influence they have on a test example, then take `n_copies` consecutive sets
of `n_egs` examples at evenly spread positions of that order:

    base_idxs = np.linspace(0, len(selected) - n_copies, n_egs).astype(int)
    set i = [selected[order[x + i]] for x in base_idxs]

each shown with its `n_test` most influenced same-class test examples.  The
choice is pure numpy (tested apart); drawing reuses analysis.figures.
"""

import dataclasses

import numpy as np
import pandas as pd

from influence_mem.analysis import figures
from influence_mem.data import balanced, digits, idx_source, npz_source

MEM_TARGETS = (0.0, 0.5, 1.0)


def select_memorization_near(labels, mem, classes, targets=MEM_TARGETS, per_target=4, tolerance=0.125) -> dict:
    """{class: {target: ids}}: up to per_target examples of the class with mem closest to each
    target and within `tolerance` of it (fewer, or none, when the class has no such estimates)."""
    labels, mem = np.asarray(labels), np.asarray(mem, np.float64)
    out = {}
    for c in classes:
        idx = np.flatnonzero((labels == c) & np.isfinite(mem))
        out[int(c)] = {}
        for t in targets:
            near = idx[np.abs(mem[idx] - t) <= tolerance]
            out[int(c)][t] = near[np.lexsort((near, np.abs(mem[near] - t)))][:per_target]
    return out


def select_pair_groups(pairs, n_copies=3, n_egs=5) -> list:
    """The appendix D rule: n_copies lists of training ids (strongest first within a list).

    With fewer than n_copies + n_egs - 1 training examples the spread positions
    repeat; a list keeps each position once (strongest first), empty lists are left out.
    """
    df = figures.pairs_frame(pairs)
    if df.empty:
        return []
    max_infl = df.groupby("tr_idx").infl.max()
    train = max_infl.index.to_numpy(np.int64)
    order = np.lexsort((train, -max_infl.to_numpy(np.float64)))   # by -max infl, ties: smaller id
    base = np.linspace(0, len(train) - n_copies, n_egs).astype(int)
    groups = []
    for copy in range(n_copies):
        positions = np.unique(base + copy)
        ids = train[order[positions[(positions >= 0) & (positions < len(train))]]].tolist()
        if ids:
            groups.append(ids)
    return groups


def most_influenced(matrix, tr_ids, n_test=4) -> pd.DataFrame:
    """Pairs table (tr_idx, tt_idx, infl, mem) of each training id with its n_test most
    influenced test examples of the same class (ties: smaller test id), from an InflMatrix."""
    rows = []
    for i in tr_ids:
        c = int(matrix.tr_labels[i])
        tr, tt, block = matrix.block(c)
        values = np.asarray(block[np.flatnonzero(tr == i)[0]], np.float64)
        top = np.lexsort((tt, -values))[:n_test]
        rows.append(pd.DataFrame({"tr_idx": i, "tt_idx": tt[top], "infl": values[top],
                                  "mem": float(matrix.tr_mem[i])}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=figures.PAIR_COLUMNS)


def in_memory_dataset(name: str, data_dir=None):
    """The dataset whose images the example figures show: `digits`, `npz:PATH` and `idx:DIR` load without
    importing TensorFlow (a notebook on an analysis machine); other names go through the registry (data.datasets)."""
    if name == "digits":
        return digits.load_digits()
    if name.startswith("npz:"):
        return npz_source.load_npz(name[4:])
    if name.startswith("idx:"):
        return idx_source.load_idx(name[4:])
    from influence_mem.data import datasets  # the registry imports every provider, so TensorFlow

    return datasets.load(name, data_dir)


def as_trained(dataset, meta: dict, source: str):
    """`dataset` as a run saw it, from that run's dataset_meta.npz arrays `meta`: its part (tr_original_idx /
    tt_original_idx, data.balanced) and the labels it trained on (corrupted_idx: the flipped ones).  ValueError
    naming `source` when the meta's labels disagree with the dataset's anywhere else."""
    missing = [key for key in ("tr_labels", "tt_labels") if key not in meta]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}; not a trainer's dataset_meta.npz")
    n_train, n_test = dataset.num_train, dataset.num_test
    for key, n in (("tr_original_idx", n_train), ("tt_original_idx", n_test)):
        ids = meta.get(key)
        if ids is not None and (ids.ndim != 1 or ids.dtype.kind not in "iu"
                                or len(ids) and not 0 <= ids.min() <= ids.max() < n):
            raise ValueError(f"{source}: {key} must be ids below {n} (the dataset's size); got {ids.dtype}{ids.shape}")
    if "tr_original_idx" in meta or "tt_original_idx" in meta:
        dataset = balanced.take(dataset, meta.get("tr_original_idx"), meta.get("tt_original_idx"), "a part")
    trained, flipped = np.asarray(meta["tr_labels"], np.int64), np.asarray(meta.get("corrupted_idx", []), np.int64)
    if len(trained) != dataset.num_train or not np.array_equal(meta["tt_labels"], dataset.test_labels):
        raise ValueError(f"{source}: its labels are for another dataset ({len(trained)} training / "
                         f"{len(meta['tt_labels'])} test examples; {dataset.name}: {dataset.num_train} / "
                         f"{dataset.num_test}, or test labels that differ)")
    differ = np.flatnonzero(trained != dataset.train_labels)
    unexplained = np.setdiff1d(differ, flipped)
    if len(unexplained):
        raise ValueError(f"{source}: {len(unexplained)} training labels differ from {dataset.name}'s and are not in "
                         f"its corrupted_idx (e.g. example {unexplained[0]})")
    return dataclasses.replace(dataset, train_labels=trained, corrupted_idx=flipped if len(flipped) else None)


def plot_memorization_near(images, labels, mem, path=None, classes=None, targets=MEM_TARGETS, per_target=4,
                           class_names=None):
    """Fig. 1 / D.4: one row per class, per_target examples near each target value, left to right.
    Returns the Figure (saved to `path` if given); its `selection` attribute holds the chosen examples."""
    chosen = select_memorization_near(labels, mem, classes, targets, per_target)
    fig, axes = figures.image_grid(max(len(chosen), 1), len(targets) * per_target)
    for row, (c, by_target) in enumerate(chosen.items()):
        for block, t in enumerate(targets):
            for k, i in enumerate(by_target[t]):
                ax = axes[row, block * per_target + k]
                ax.axis("on")
                figures.show_image(ax, images[i], f"#{i} mem={mem[i]:.2f}")
        axes[row, 0].set_ylabel(figures.class_name(c, class_names), fontsize=8)
    fig.suptitle("memorization estimates near " + ", ".join(f"{t:g}" for t in targets)
                 + " (closest per class, no cherry-picking)", fontsize=9)
    fig.tight_layout()
    fig.selection = chosen
    return figures.save_figure(fig, path)


def plot_pair_groups(train_images, test_images, matrix, pairs, path_pattern, n_copies=3, n_egs=5, n_test=4,
                     class_names=None) -> list:
    """Fig. 3 / D.5-D.8: one PNG per group of select_pair_groups (path_pattern has `{copy}`);
    returns the written paths."""
    written = []
    for copy, ids in enumerate(select_pair_groups(pairs, n_copies, n_egs)):
        path = str(path_pattern).format(copy=copy)
        figures.plot_high_influence_pairs(train_images, test_images, most_influenced(matrix, ids, n_test), path,
                                          num_train=len(ids), per_train=n_test,
                                          train_labels=matrix.tr_labels, class_names=class_names)
        written.append(path)
    return written
