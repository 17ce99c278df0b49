"""`idx:DIR` end to end in real processes: im-train (packed, with flipped labels) -> im-aggregate -> im-report on a
small IDX dataset the test writes, and the shipped fashion_mnist_mlp config on Debian's Fashion-MNIST files
when they are installed."""
import gzip
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from influence_mem.formats import released
from tests.helpers import run_module

pytestmark = pytest.mark.integration

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DIGIT_NAMES = "zero,one,two,three,four,five,six,seven,eight,nine"


def write_idx(path, array):
    array = np.asarray(array, np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_digits_idx(folder, n_train=300, n_test=100):
    """scikit-learn's digits as 28x28 MNIST-style IDX files (each pixel 3x3, 2 pixels of border)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    images = np.pad(np.kron(x.reshape(-1, 8, 8), np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * 255 / 16
    folder.mkdir()
    for name, array in (("train-images-idx3-ubyte", images[:n_train]), ("train-labels-idx1-ubyte", y[:n_train]),
                        ("t10k-images-idx3-ubyte", images[n_train:n_train + n_test]),
                        ("t10k-labels-idx1-ubyte", y[n_train:n_train + n_test])):
        write_idx(folder / f"{name}.gz", np.round(array))
    return y[:n_train], y[n_train:n_train + n_test]


def check(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_train_aggregate_report_on_idx_files(tmp_path):
    folder = tmp_path / "digits-idx"
    train_labels, test_labels = write_digits_idx(folder)
    work, estimates, report = tmp_path / "work", tmp_path / "estimates", tmp_path / "report"
    check(run_module("influence_mem.train", f"--dataset=idx:{folder}", "--arch=mlp", "--mlp_hidden=64",
                     "--trials=0-5", "--pack_trials=3", "--epochs=3", "--save_model=false", "--checkpoint_every=0",
                     "--corrupt_fraction=0.02", f"--workdir={work}"))
    with np.load(work / "dataset_meta.npz") as meta:
        assert str(meta["dataset"]) == f"idx:{folder}" and str(meta["index_source"]) == "idx_position"
        flipped = meta["corrupted_idx"]
        assert len(flipped) == 6 and (meta["tr_labels"][flipped] != train_labels[flipped]).all()
        np.testing.assert_array_equal(np.delete(meta["tr_labels"], flipped), np.delete(train_labels, flipped))
        np.testing.assert_array_equal(meta["tt_labels"], test_labels)
    check(run_module("influence_mem.estimate", f"--workdir={work}", f"--output_dir={estimates}"))
    matrix = released.load_infl_matrix(estimates / "digits-idx_infl_matrix.npz")  # named after the folder
    assert len(matrix.tr_mem) == 300 and len(matrix.tt_labels) == 100
    proc = check(run_module("influence_mem.analysis.report", f"--estimates={estimates}", f"--output_dir={report}",
                            f"--dataset=idx:{folder}", f"--dataset_meta={work / 'dataset_meta.npz'}",
                            f"--class_names={DIGIT_NAMES}", "--longtail=false"))
    assert "trials: 6" in proc.stdout
    pngs = sorted(report.glob("*.png"))
    assert {"digits-idx_memorization_near_0_05_1.png", "digits-idx_memorization_examples.png"} <= \
        {p.name for p in pngs}
    for png in pngs:
        assert matplotlib.image.imread(png).ndim == 3
    assert "memorization_examples.png" in (report / "summary.md").read_text()


@pytest.mark.skipif(not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason="needs Debian's Fashion-MNIST IDX files: apt-get install dataset-fashion-mnist")
def test_fashion_mnist_config_on_a_class_balanced_part(tmp_path):
    work = tmp_path / "work"
    check(run_module("influence_mem.train", "--config=fashion_mnist_mlp", "--train_per_class=20",
                     "--test_per_class=10", "--trials=0-1", "--pack_trials=2", "--epochs=2",
                     f"--workdir={work}"))
    with gzip.open(FASHION_MNIST / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read()[8:], np.uint8)
    with np.load(work / "dataset_meta.npz") as meta:
        original = meta["tr_original_idx"]
        assert len(original) == 200 and np.array_equal(meta["tr_labels"], labels[original])
        assert all(np.array_equal(original[labels[original] == c], np.flatnonzero(labels == c)[:20])
                   for c in range(10))
        assert len(meta["tt_original_idx"]) == 100
    assert all((work / "0.7" / str(t) / "aux_arrays.npz").is_file() for t in (0, 1))
