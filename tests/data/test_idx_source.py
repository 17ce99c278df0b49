"""data.idx_source: MNIST-family IDX files (`idx:DIR`, EMNIST's `idx:DIR:SPLIT`) as a dataset, and every bad file
as one error line naming it."""
import gzip

import numpy as np
import pytest

from influence_mem.data import datasets, idx_source
from influence_mem.data.base import DatasetError
from influence_mem.formats.released import check_output_name, default_output_name
from influence_mem.train import main as trainer

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def idx_bytes(array, magic=None) -> bytes:
    """The IDX encoding of a uint8 array (written here independently of the reader)."""
    array = np.asarray(array, np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write(path, data: bytes):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def small_set(seed=0, n_train=12, n_test=5, size=(4, 3), labels=(0, 2, 5)):
    """Random images and labels (labels unsorted, some classes absent below the largest)."""
    rng = np.random.RandomState(seed)
    return {"train_images": rng.randint(0, 256, (n_train, *size)), "train_labels": rng.choice(labels, n_train),
            "test_images": rng.randint(0, 256, (n_test, *size)), "test_labels": rng.choice(labels, n_test)}


def write_set(folder, arrays, names=MNIST_NAMES, gz=(True, True, True, True)):
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("train_images", "train_labels", "test_images", "test_labels")
    return {key: write(folder / (name + (".gz" if z else "")), idx_bytes(arrays[key]))
            for key, name, z in zip(keys, names, gz)}


@pytest.mark.parametrize("gz", [(True, True, True, True), (False, False, False, False), (True, False, False, True)])
def test_mnist_names_gzipped_or_not_in_file_order(tmp_path, gz):
    arrays = small_set()
    write_set(tmp_path / "fashion-mnist", arrays, gz=gz)
    ds = datasets.load(f"idx:{tmp_path / 'fashion-mnist'}/")
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train_images"])  # the file order, untouched
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays["test_images"])
    np.testing.assert_array_equal(ds.train_labels, arrays["train_labels"])
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    assert ds.x_train.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    assert ds.image_shape == (4, 3, 1) and ds.num_classes == 6  # labels {0, 2, 5}: the largest + 1
    meta = ds.meta()
    assert str(meta["dataset"]) == f"idx:{tmp_path / 'fashion-mnist'}"
    assert check_output_name(default_output_name(str(meta["dataset"]))) == "fashion-mnist"  # the estimates' name
    assert str(meta["index_source"]) == "idx_position"
    assert "train-images-idx3-ubyte" in str(meta["example_order"]) and "original order" in str(meta["example_order"])


def test_pipeline_scales_images_as_mnist(tmp_path):
    arrays = small_set()
    write_set(tmp_path / "d", arrays)
    first = next(iter(datasets.load(f"idx:{tmp_path / 'd'}").source("train").take(1)))
    np.testing.assert_allclose(first["image"].numpy()[..., 0], arrays["train_images"][0] / 255.0, rtol=1e-6)
    assert int(first["index"]) == 0 and int(first["label"]) == arrays["train_labels"][0]


def test_emnist_split_is_turned_upright(tmp_path):
    upright = np.zeros((5, 5), np.uint8)  # an "L": a vertical bar on the left, a foot to the right at the bottom
    upright[:, 0] = 255
    upright[4, :3] = 255
    arrays = small_set(size=(5, 5))
    arrays["train_images"][3] = upright
    arrays["test_images"][1] = upright
    stored = {k: (v.transpose(0, 2, 1) if k.endswith("images") else v) for k, v in arrays.items()}  # EMNIST's layout
    names = [n.replace("t10k", "test") for n in MNIST_NAMES]
    write_set(tmp_path / "emnist", stored, names=[f"emnist-letters-{n}" for n in names])
    write_set(tmp_path / "emnist", small_set(seed=1, size=(5, 5)), names=[f"emnist-digits-{n}" for n in names],
              gz=(False,) * 4)
    ds = datasets.load(f"idx:{tmp_path / 'emnist'}:letters")
    np.testing.assert_array_equal(ds.x_train[3, :, :, 0], upright)
    np.testing.assert_array_equal(ds.x_test[1, :, :, 0], upright)
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train_images"])
    np.testing.assert_array_equal(ds.train_labels, arrays["train_labels"])
    assert str(ds.meta()["dataset"]) == f"idx:{tmp_path / 'emnist'}:letters"
    assert check_output_name(default_output_name(ds.name)) == "emnist_letters"
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\[\.gz\]: file not found; .*EMNIST splits.*"
                                           r"\(found: digits, letters\)"):
        datasets.load(f"idx:{tmp_path / 'emnist'}")
    with pytest.raises(DatasetError, match="emnist-byclass-train-images-idx3-ubyte"):
        datasets.load(f"idx:{tmp_path / 'emnist'}:byclass")


def test_a_folder_with_a_colon_is_a_folder_not_a_split(tmp_path):
    write_set(tmp_path / "run:2", small_set())
    assert idx_source.parse_spec(str(tmp_path / "run:2")) == (str(tmp_path / "run:2"), None)
    assert datasets.load(f"idx:{tmp_path / 'run:2'}").num_train == 12
    assert idx_source.parse_spec("/d/emnist/:balanced") == ("/d/emnist", "balanced")


def _corrupt(case, files, arrays):
    """Make one file of a good set bad; returns the file the error must name."""
    images, labels = files["train_images"], files["train_labels"]
    if case == "bad magic (images)":
        write(images, idx_bytes(arrays["train_images"], magic=0x0801))
    elif case == "bad magic (labels)":
        write(labels, idx_bytes(arrays["train_labels"], magic=0x0803))
    elif case == "truncated data":
        write(images, idx_bytes(arrays["train_images"])[:-7])
    elif case == "truncated header":
        write(labels, idx_bytes(arrays["train_labels"])[:6])
    elif case == "empty file":
        write(labels, b"")
    elif case == "longer than declared":
        write(images, idx_bytes(arrays["train_images"]) + b"\0")
    elif case == "gzip without .gz":
        target = files["train_images"].with_suffix("")  # the raw name, holding gzip data
        files["train_images"].rename(target)
        return target
    elif case == "not gzip":
        images.write_bytes(idx_bytes(arrays["train_images"]))  # raw bytes under a .gz name
    elif case == "broken gzip":
        images.write_bytes(gzip.compress(idx_bytes(arrays["train_images"]))[:-20])
    elif case == "count mismatch":
        write(labels, idx_bytes(arrays["train_labels"][:-1]))
    elif case == "no images":
        write(files["test_images"], idx_bytes(np.zeros((0, 4, 3))))
        return files["test_images"]
    elif case == "train/test shapes differ":
        write(files["test_images"], idx_bytes(np.zeros((5, 3, 4))))
        return files["test_images"]
    elif case == "missing file":
        files["test_labels"].unlink()
        return files["test_labels"].with_suffix("")  # named without .gz: either name would do
    else:
        raise AssertionError(case)
    return labels if "labels" in case or case in ("count mismatch", "truncated header", "empty file") else images


CASES = ["bad magic (images)", "bad magic (labels)", "truncated data", "truncated header", "empty file",
         "longer than declared", "gzip without .gz", "not gzip", "broken gzip", "count mismatch", "no images",
         "train/test shapes differ", "missing file"]


@pytest.mark.parametrize("case", CASES)
def test_every_bad_file_is_one_line_naming_it(tmp_path, case):
    arrays = small_set()
    files = write_set(tmp_path / "d", arrays)
    culprit = _corrupt(case, files, arrays)
    with pytest.raises(DatasetError) as error:
        datasets.load(f"idx:{tmp_path / 'd'}")
    message = str(error.value)
    assert message.startswith(str(culprit)) and "\n" not in message, message


def test_spec_errors(tmp_path):
    with pytest.raises(DatasetError, match="needs a folder"):
        datasets.check_name("idx:")
    with pytest.raises(DatasetError, match="no such folder"):
        datasets.load(f"idx:{tmp_path / 'nowhere'}")
    assert "idx:DIR[:SPLIT]" in datasets.names()


def test_trainer_stops_on_a_bad_file_before_writing(tmp_path, program):
    arrays = small_set()
    files = write_set(tmp_path / "d", arrays)
    write(files["test_labels"], idx_bytes(arrays["test_labels"])[:-2])
    result = program.invoke(trainer.define_flags, trainer.main, f"--dataset=idx:{tmp_path / 'd'}",
                            f"--workdir={tmp_path / 'work'}", "--trials=0", "--epochs=1")
    assert result.returncode == 1
    assert f"{files['test_labels']}: truncated" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "work").exists()


def test_a_header_declaring_terabytes_is_truncated_not_allocated(tmp_path):
    arrays = small_set()
    files = write_set(tmp_path / "d", arrays, gz=(False, True, True, True))
    huge = (0x0803).to_bytes(4, "big") + (2 ** 32 - 1).to_bytes(4, "big") * 3  # ~8e28 bytes declared
    files["train_images"].write_bytes(huge + b"\1" * 100)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: truncated: .* the file holds 100$"):
        datasets.load(f"idx:{tmp_path / 'd'}")
