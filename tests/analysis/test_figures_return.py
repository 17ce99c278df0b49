"""Every plot_* function returns its matplotlib Figure (a notebook shows it) and writes a file only when
given a path."""
import pytest
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from influence_mem.analysis import consistency, dynamics, examples, figures, label_noise, longtail, pair_stats


def test_plot_functions_return_figures_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    images, labels, mem = rng.random((30, 8, 8, 1)), np.arange(30) % 3, rng.random(30)
    pairs = pd.DataFrame(dict(tr_idx=[1, 1, 4], tt_idx=[2, 3, 0], infl=[0.4, 0.2, 0.3], mem=[0.5, 0.5, 0.3]))
    table = pd.DataFrame(dict(theta=[0.1, 0.2], jaccard=[0.5, 0.4], mean_abs_diff=[0.1, 0.2]))
    sweep = longtail.sweep(domain_size=50, ratios=(0.5, 1.0), num_distributions=2)
    made = [figures.plot_memorization_examples(images, labels, mem, per_side=2),
            figures.plot_high_influence_pairs(images, images, pairs, num_train=2, per_train=2),
            examples.plot_memorization_near(images, labels, mem, classes=[0, 1]),
            pair_stats.plot_influence_histogram(pairs),
            consistency.plot_consistency({"a vs b": table}),
            label_noise.plot_histograms({"est": mem}, [0, 3]),
            dynamics.plot_dynamics(pd.DataFrame(dict(group=["easy", "easy"], epoch=[1, 2], cosine=[0.1, 0.2],
                                                     contribution=[0.3, 0.1]))),
            longtail.plot_sweep(sweep)]
    assert all(isinstance(f, Figure) for f in made)
    assert set(made[0].selection) == {0, 1, 2} and made[3].table.num_pairs.sum() == 3
    assert not list(tmp_path.iterdir())  # nothing written without a path
    path = tmp_path / "h.png"
    assert isinstance(pair_stats.plot_influence_histogram(pairs, path), Figure) and path.is_file()


@pytest.mark.slow
def test_showing_digits_examples_needs_no_tensorflow():
    import subprocess
    import sys
    code = ("import sys; from influence_mem.analysis import examples, figures; "
            "d = examples.in_memory_dataset('digits'); "
            "f = figures.plot_memorization_examples(d.x_train, d.train_labels, d.train_labels / 10.0, per_side=2); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(type(f).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "Figure", out.stderr[-2000:]
