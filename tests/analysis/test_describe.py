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
