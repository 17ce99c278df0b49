"""Paper figures from estimates (numpy + matplotlib Agg, no TensorFlow).

Fig. 1: per class, the training examples with the highest and the lowest
memorization estimates.  Fig. 3: the strongest high-influence pairs, each
training example beside the test examples it influences most.  The choice of
examples is a pure function (`select_*`) so it can be tested apart from the
drawing.  Figures are drawn on a bare `Figure` with the Agg canvas, leaving
pyplot's global state alone.
"""
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from influence_mem.formats.released import PAIR_KEYS

PAIR_COLUMNS = list(PAIR_KEYS)


def select_memorization_examples(labels, mem, classes=None, per_side=5):
    """{class: (highest ids, lowest ids)}: per_side ids each, highest (lowest) mem first.

    Ties go to the smaller id; NaN estimates are never chosen.
    """
    labels, mem = np.asarray(labels), np.asarray(mem, np.float64)
    classes = np.unique(labels) if classes is None else classes
    out = {}
    for c in classes:
        idx = np.flatnonzero((labels == c) & np.isfinite(mem))
        high = idx[np.lexsort((idx, -mem[idx]))][:per_side]
        low = idx[np.lexsort((idx, mem[idx]))][:per_side]
        out[int(c) if np.issubdtype(type(c), np.integer) else c] = (high, low)
    return out


def pairs_frame(pairs) -> pd.DataFrame:
    """Pairs as a DataFrame from a DataFrame, a mapping/npz with the four keys, or
    a (tr_idx, tt_idx, infl, mem) tuple."""
    if isinstance(pairs, pd.DataFrame):
        return pairs[PAIR_COLUMNS]
    if isinstance(pairs, (tuple, list)):
        return pd.DataFrame(dict(zip(PAIR_COLUMNS, pairs)))
    return pd.DataFrame({k: np.asarray(pairs[k]) for k in PAIR_COLUMNS})


def select_high_influence_pairs(pairs, num_train=8, per_train=3):
    """[(tr_idx, mem, tt_ids, infls)] for the num_train training examples with the
    largest influence on any test example (strongest first), each with its
    per_train most influenced test examples (ties: smaller id first)."""
    df = pairs_frame(pairs).sort_values(["infl", "tr_idx", "tt_idx"],
                                        ascending=[False, True, True], kind="mergesort")
    out = []
    for tr, group in df.groupby("tr_idx", sort=False):
        if len(out) == num_train:
            break
        top = group.head(per_train)
        out.append((int(tr), float(top["mem"].iloc[0]), top["tt_idx"].to_numpy(),
                    top["infl"].to_numpy()))
    return out


def _display(image):
    """An image as floats in [0, 1] (uint8 / 0..255 / any float range), [H, W] or [H, W, 3]."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype == np.uint8:
        return a / 255.0
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    if lo >= 0 and hi <= 1:
        return a
    if lo >= 0 and hi <= 255 and np.issubdtype(np.asarray(image).dtype, np.integer):
        return a / 255.0
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def show_image(ax, image, title):
    ax.imshow(_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(rows, cols):
    fig = Figure(figsize=(1.1 * cols, 1.25 * rows + 0.4))
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes


def save_figure(fig: Figure, path=None) -> Figure:
    """Write `fig` as a PNG when a path is given; the figure either way (a notebook shows it)."""
    if path is not None:
        fig.savefig(Path(path), dpi=100)
    return fig


def class_name(c, class_names):
    return str(class_names[c]) if class_names is not None else f"class {c}"


def plot_memorization_examples(images, labels, mem, path=None, classes=None, per_side=5,
                               class_names=None, unit=None) -> Figure:
    """Paper Fig. 1: one row per class, highest-memorization examples on the left,
    lowest on the right, each titled with its estimate.  Returns the Figure (saved to `path` if given);
    its `selection` attribute holds the chosen examples.
    `unit` (e.g. "nats" for turn-over estimates) is named in the figure's title."""
    chosen = select_memorization_examples(labels, mem, classes, per_side)
    fig, axes = image_grid(max(len(chosen), 1), 2 * per_side)
    for row, (c, (high, low)) in enumerate(chosen.items()):
        for col, i in enumerate(list(high) + [None] * (per_side - len(high)) + list(low)):
            if i is None:
                continue
            ax = axes[row, col]
            ax.axis("on")
            show_image(ax, images[i], f"#{i} mem={mem[i]:.2f}")
        axes[row, 0].set_ylabel(class_name(c, class_names), fontsize=8)
    fig.suptitle("highest memorization (left) | lowest memorization (right)" + (f"; mem in {unit}" if unit else ""),
                 fontsize=9)
    fig.tight_layout()
    fig.selection = chosen
    return save_figure(fig, path)


def plot_high_influence_pairs(train_images, test_images, pairs, path=None, num_train=8, per_train=3,
                              train_labels=None, class_names=None, unit=None) -> Figure:
    """Paper Fig. 3: per row a training example (with its mem) and its most influenced
    test examples (with infl), strongest pairs first.  Returns the Figure (saved to `path` if given);
    its `selection` attribute holds the chosen pairs.
    `unit` (e.g. "nats" for turn-over estimates) is named in the figure's title."""
    chosen = select_high_influence_pairs(pairs, num_train, per_train)
    fig, axes = image_grid(max(len(chosen), 1), 1 + per_train)
    for row, (tr, mem, tts, infls) in enumerate(chosen):
        label = f"\n{class_name(train_labels[tr], class_names)}" if train_labels is not None else ""
        axes[row, 0].axis("on")
        show_image(axes[row, 0], train_images[tr], f"train #{tr} mem={mem:.2f}{label}")
        for col, (j, v) in enumerate(zip(tts, infls), 1):
            axes[row, col].axis("on")
            show_image(axes[row, col], test_images[j], f"test #{j} infl={v:.2f}")
    if not chosen:
        fig.suptitle("no high-influence pairs", fontsize=9)
    elif unit:
        fig.suptitle(f"mem and infl in {unit}", fontsize=9)
    fig.tight_layout()
    fig.selection = chosen
    return save_figure(fig, path)
