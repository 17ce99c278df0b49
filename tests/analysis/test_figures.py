"""Figures: the selection picks the right examples; the PNGs are written."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from influence_mem.analysis import figures


def test_select_memorization_examples():
    labels = np.array([0, 1, 0, 0, 1, 0, 1, 0])
    mem = np.array([0.5, 0.2, 0.9, -0.1, np.nan, 0.5, 0.7, 0.0])
    chosen = figures.select_memorization_examples(labels, mem, per_side=2)
    high, low = chosen[0]
    assert high.tolist() == [2, 0] and low.tolist() == [3, 7]   # tie 0.5: smaller id first
    high, low = chosen[1]
    assert high.tolist() == [6, 1] and low.tolist() == [1, 6]   # NaN never chosen
    assert list(figures.select_memorization_examples(labels, mem, classes=[1])) == [1]


def test_select_high_influence_pairs_all_input_forms():
    tr = np.array([5, 5, 5, 5, 2, 9, 9])
    tt = np.array([0, 1, 2, 3, 4, 5, 6])
    infl = np.array([0.2, 0.8, 0.3, 0.5, 0.9, 0.3, 0.3])
    mem = np.array([0.6, 0.6, 0.6, 0.6, 0.4, 0.3, 0.3])
    expect = [(2, 0.4, [4], [0.9]), (5, 0.6, [1, 3, 2], [0.8, 0.5, 0.3])]
    forms = [pd.DataFrame(dict(tr_idx=tr, tt_idx=tt, infl=infl, mem=mem)),
             dict(tr_idx=tr, tt_idx=tt, infl=infl, mem=mem), (tr, tt, infl, mem)]
    for pairs in forms:
        chosen = figures.select_high_influence_pairs(pairs, num_train=2, per_train=3)
        assert [(a, b, c.tolist(), d.tolist()) for a, b, c, d in chosen] == expect
    chosen = figures.select_high_influence_pairs(forms[0], num_train=5, per_train=3)
    assert chosen[2][0] == 9 and chosen[2][2].tolist() == [5, 6]


@pytest.mark.parametrize("shape,dtype,scale", [((8, 8), np.float64, 16.0),   # digits range
                                               ((8, 8, 1), np.float32, 1.0),
                                               ((8, 8, 3), np.uint8, 255),
                                               ((8, 8, 3), np.float32, -1.0)])  # [-1, 0] floats
@pytest.mark.slow
def test_plots_write_png(tmp_path, shape, dtype, scale):
    rng = np.random.default_rng(0)
    images = (rng.random((30, *shape)) * scale).astype(dtype)
    labels = np.arange(30) % 3
    mem = rng.random(30)
    path = tmp_path / "mem.png"
    chosen = figures.plot_memorization_examples(images, labels, mem, path, per_side=3,
                                                class_names=["a", "b", "c"]).selection
    assert chosen.keys() == {0, 1, 2}
    assert imread(path).shape[0] > 100
    pairs = dict(tr_idx=[1, 1, 4], tt_idx=[2, 3, 0], infl=[0.4, 0.2, 0.3], mem=[0.5, 0.5, 0.3])
    path = tmp_path / "pairs.png"
    chosen = figures.plot_high_influence_pairs(images, images[:5], pairs, path, num_train=4,
                                               per_train=2, train_labels=labels).selection
    assert [c[0] for c in chosen] == [1, 4]
    assert imread(path).shape[0] > 100
    figures.plot_high_influence_pairs(images, images, (np.zeros(0, int),) * 2 + (np.zeros(0),) * 2,
                                      tmp_path / "none.png")
    assert (tmp_path / "none.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_display_scaling():
    assert figures._display(np.full((2, 2), 255, np.uint8)).max() == 1.0
    assert figures._display(np.array([[-1.0, 1.0]])).tolist() == [[0.0, 1.0]]
    assert figures._display(np.array([[0, 16]])).tolist() == [[0.0, 16 / 255]]
    assert figures._display(np.zeros((2, 2, 1))).shape == (2, 2)
