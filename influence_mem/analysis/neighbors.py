"""Are high-influence pairs near duplicates?  Pixel-distance ranks (paper 000 Sec. 3, Figs. 2, D.6).

The paper shows that the test example of a high-influence pair usually looks
like its training example ("near duplicates").  This module measures it
without looking: for each pair (i, j), the rank of training image i among all
training images by Euclidean pixel distance to test image j (0 = the nearest
one), against random pairs of the same class as a baseline.  numpy only.
"""
import numpy as np
import pandas as pd

NEAREST = 10  # "within the 10 nearest training images"


def _flat(images) -> np.ndarray:
    """[n, ...] images as float64 [n, d] vectors (uint8 stays in 0..255: ranks do not depend on the scale)."""
    images = np.asarray(images)
    return images.reshape(len(images), -1).astype(np.float64)


def pixel_ranks(x_train, x_test, tr_idx, tt_idx, chunk: int = 256) -> np.ndarray:
    """Rank of x_train[tr_idx[p]] among all of x_train by pixel distance to x_test[tt_idx[p]], per pair p.

    The rank counts the training images strictly closer than the pair's own (ties go to the pair), so
    a rank of 0 means no training image is closer.  Distances are computed exactly in float64, chunk
    test images at a time (memory: chunk x len(x_train) floats).
    """
    train, test = _flat(x_train), _flat(x_test)
    tr_idx, tt_idx = np.asarray(tr_idx, np.int64), np.asarray(tt_idx, np.int64)
    if tr_idx.shape != tt_idx.shape:
        raise ValueError(f"tr_idx and tt_idx differ in length: {len(tr_idx)} vs {len(tt_idx)}")
    if len(tr_idx) and (tr_idx.min() < 0 or tr_idx.max() >= len(train)):
        raise ValueError(f"tr_idx outside the {len(train)} training images")
    if len(tt_idx) and (tt_idx.min() < 0 or tt_idx.max() >= len(test)):
        raise ValueError(f"tt_idx outside the {len(test)} test images")
    train_sq = np.einsum("nd,nd->n", train, train)
    ranks = np.empty(len(tr_idx), np.int64)
    tests = np.unique(tt_idx)
    for start in range(0, len(tests), chunk):
        part = tests[start:start + chunk]
        # squared distances up to the test image's own norm, which does not change a ranking
        dist = train_sq[None, :] - 2.0 * test[part] @ train.T  # [chunk, n_train]
        row_of = {t: r for r, t in enumerate(part)}
        for p in np.flatnonzero(np.isin(tt_idx, part)):
            row = dist[row_of[tt_idx[p]]]
            ranks[p] = int(np.sum(row < row[tr_idx[p]]))
    return ranks


def random_same_class_pairs(tr_labels, tt_labels, tt_idx, seed: int = 0) -> np.ndarray:
    """For each test id in `tt_idx`, a random training id of the same class (the baseline's pairs)."""
    tr_labels, tt_labels = np.asarray(tr_labels), np.asarray(tt_labels)
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(tr_labels == c) for c in np.unique(tr_labels)}
    out = np.empty(len(tt_idx), np.int64)
    for p, j in enumerate(np.asarray(tt_idx, np.int64)):
        members = by_class.get(tt_labels[j])
        if members is None:
            raise ValueError(f"test example {j}: no training example of its class {tt_labels[j]}")
        out[p] = rng.choice(members)
    return out


def rank_summary(ranks) -> dict:
    """Median rank and the fraction of pairs whose training image is among the NEAREST nearest."""
    ranks = np.asarray(ranks)
    if not len(ranks):
        return {"num_pairs": 0, "median_rank": float("nan"), "within_nearest": float("nan")}
    return {"num_pairs": len(ranks), "median_rank": float(np.median(ranks)),
            "within_nearest": float(np.mean(ranks < NEAREST))}


def near_duplicate_table(pairs, x_train, x_test, tr_labels, tt_labels, seed: int = 0) -> pd.DataFrame:
    """Rows 'pairs' and 'random same-class': num_pairs, median_rank, within_nearest (fraction in the
    NEAREST nearest training images of the test image, by pixel distance)."""
    tr_idx, tt_idx = np.asarray(pairs["tr_idx"]), np.asarray(pairs["tt_idx"])
    rows = [dict(rank_summary(pixel_ranks(x_train, x_test, tr_idx, tt_idx)), pairs="high influence")]
    baseline = random_same_class_pairs(tr_labels, tt_labels, tt_idx, seed)
    rows.append(dict(rank_summary(pixel_ranks(x_train, x_test, baseline, tt_idx)), pairs="random same-class"))
    return pd.DataFrame(rows)[["pairs", "num_pairs", "median_rank", "within_nearest"]]
