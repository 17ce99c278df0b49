"""analysis.describe (im-describe): describes every released format; a bad file exits non-zero with one line."""
import numpy as np
import pytest

from influence_mem import released
from influence_mem.analysis import describe as describe_program
from influence_mem.analysis.describe import describe, text_histogram
from tests.helpers import released_dir


@pytest.fixture
def im_describe(program):
    """im-describe FILE... run in-process: returncode, stdout, stderr."""
    return lambda *files: program.invoke(describe_program.define_flags, describe_program.main, *files)


def test_text_histogram_counts():
    lines = text_histogram([0.05, 0.05, 0.95, 2.0, np.nan], 0, 1, bins=2, width=4)
    assert lines == ["    [+0.00, +0.50)          2  ####",
                     "    [+0.50, +1.00]          2  ####"]


def test_real_cscores_files(im_describe):
    real = released_dir("cifar100-cscores-orig-order.npz", "mnist-cscores.npy")
    proc = im_describe(real / "cifar100-cscores-orig-order.npz", real / "mnist-cscores.npy")
    assert proc.returncode == 0, proc.stderr
    assert "cifar100-cscores-orig-order.npz: cscores" in proc.stdout
    assert "examples 50000, labels" in proc.stdout
    assert "examples 60000, no labels" in proc.stdout
    assert "C-scores: 60000 values" in proc.stdout


def test_infl_matrix_and_pairs(tmp_path):
    tr_labels, tt_labels = np.array([0, 0, 1]), np.array([0, 1, 1])
    path = released.write_infl_matrix(
        tmp_path / "t_infl_matrix.npz", tr_labels, tt_labels, [0.1, 0.9, 0.5],
        {0: [0, 1], 1: [2]}, {0: [0], 1: [1, 2]}, {0: [[0.2], [0.6]], 1: [[0.5, 0.16]]})
    text = describe(path)
    assert text.splitlines()[0] == f"{path}: infl_matrix"
    assert "train examples 3, test examples 3, classes 2, same-class influence entries 4" in text
    assert "high-influence pairs: 3 (2 train examples, 3 test examples, 3 of them" in text
    assert "high-influence pairs: 1 " in describe(path, mem_threshold=0.6)
    pairs = released.write_high_infl_pairs(tmp_path / "p.npz", [1, 2, 2], [0, 1, 2],
                                           [0.6, 0.5, 0.16], [0.9, 0.5, 0.5])
    assert "high-influence pairs: 3 (2 train examples, 3 test examples" in describe(pairs)


def test_bad_file_exits_with_one_line(tmp_path, im_describe):
    bad = tmp_path / "x_infl_matrix.npz"
    bad.write_text("not a zip")
    proc = im_describe(str(bad))
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.strip() == f"im-describe: error: {bad}: not an .npz file (not a zip archive)"
    np.savez(tmp_path / "p.npz", tr_idx=[1], tt_idx=[2], infl=[0.3, 0.1], mem=[0.5])
    proc = im_describe(str(tmp_path / "p.npz"))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"im-describe: error: {tmp_path / 'p.npz'}: infl has length 2, expected 1"]


def _simulated_workdir(root, t=30, fit=None):
    from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial

    rng = np.random.default_rng(0)
    tr_labels, tt_labels = rng.integers(0, 3, 90), rng.integers(0, 3, 30)
    write_dataset_meta(root, tr_labels, tt_labels, "sim")
    learner = make_learner(rng, tr_labels, tt_labels)
    if fit is not None:
        learner.p_in[:] = fit
    stacks = learner.trials(rng, 0.7, t)
    for k in range(t):
        write_trial(root / "0.7", k, *(a[k] for a in stacks))


def test_convergence_writes_the_table_and_its_figure(tmp_path, im_describe):
    import pandas as pd

    from influence_mem.estimate.convergence import COLUMNS, convergence_table

    _simulated_workdir(tmp_path / "w")
    out = tmp_path / "d"
    proc = im_describe("--convergence", f"--workdir={tmp_path / 'w'}", f"--output_dir={out}", "--trials=0-24,40")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "convergence.csv")
    assert list(table.columns) == list(COLUMNS) and table.trials.tolist() == [25]
    expect = convergence_table(tmp_path / "w", trials="0-24").rows
    for column in COLUMNS:
        np.testing.assert_allclose(table[column], [r[column] for r in expect], rtol=1e-12, err_msg=column)
    assert (out / "convergence.png").stat().st_size > 10_000
    assert "25 trials (0 skipped), subset ratio 0.7" in proc.stdout and f"wrote {out / 'convergence.png'}" in proc.stdout
    assert "im-describe: warning: trials 40 of --trials=0-24,40 are not finished" in proc.stderr


def test_convergence_errors_are_one_line_and_write_nothing(tmp_path, im_describe):
    _simulated_workdir(tmp_path / "w", t=5)
    for args, message in ((["--convergence", f"--output_dir={tmp_path / 'd'}"], "needs --workdir and --output_dir"),
                          (["--convergence", f"--workdir={tmp_path / 'w'}", f"--output_dir={tmp_path / 'd'}",
                            "--subset_ratio=0.5"], "no directory for subset ratio 0.5"),
                          (["--convergence", f"--workdir={tmp_path / 'w'}", f"--output_dir={tmp_path / 'd'}",
                            "--trials=7-9"], "--trials=7-9: none of these trials is finished"),
                          (["--convergence", f"--workdir={tmp_path / 'w'}", f"--output_dir={tmp_path / 'd'}",
                            "--trials=x"], "malformed --trials 'x'")):
        proc = im_describe(*args)
        assert proc.returncode == 1 and message in proc.stderr.strip().splitlines()[-1], (args, proc.stderr)
        assert not (tmp_path / "d").exists()


def test_the_sidecar_tells_the_selection_the_fit_and_the_noise(tmp_path):
    from influence_mem.estimate.aggregator import aggregate_workdir

    _simulated_workdir(tmp_path / "w", fit=0.85)
    aggregate_workdir(tmp_path / "w", output_dir=tmp_path / "e", trials="0-19")
    text = describe(tmp_path / "e" / "sim_estimates_stats.npz")
    assert "  trials selected (--trials): 0-19" in text
    assert "  accuracy of the trials on their training subsets: 8" in text
    assert "  warning: the trials fit their training subsets at 8" in text
    assert "noise alone (no real influence) would give" in text
    assert "warning: the trials fit" not in describe(tmp_path / "e" / "sim_estimates_stats.npz", min_train_accuracy=0.5)
    matrix = describe(tmp_path / "e" / "sim_infl_matrix.npz")
    assert "  its sidecar:" in matrix and "  trials selected (--trials): 0-19" in matrix
