"""data.build_tfrecords: indexed TFRecords from a folder of JPEGs, in the index file's order, and its errors."""
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import build_tfrecords
from influence_mem.data.base import DatasetError
from influence_mem.data.build_tfrecords import build
from influence_mem.data.tfrecord import parse_example


def test_records_follow_the_index_file(image_folder, built_tfrecords):
    dataset, out = built_tfrecords
    assert dataset.num_train == 12 and dataset.num_test == 6 and dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.train_labels, image_folder["labels"])
    assert [bytes(n) for n in dataset.train_filenames] == image_folder["order"]
    assert len(tf.io.gfile.glob(str(out / "train-*"))) == 3
    seen = list(dataset.source("train").as_numpy_iterator())
    assert [ex["index"] for ex in seen] == list(range(12))  # records in index order
    assert [ex["label"] for ex in seen] == list(image_folder["labels"])
    raw = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(str(out / "train-*"))))
    names = [parse_example(r)["filename"].numpy() for r in raw]
    assert names == image_folder["order"]


def test_without_index_file_order_is_sorted_file_names(image_folder, tmp_path):
    meta = build(str(image_folder["root"]), str(tmp_path / "plain"), None, image_size=image_folder["size"])
    assert list(meta["tr_filenames"]) == sorted(image_folder["order"])
    np.testing.assert_array_equal(meta["tr_labels"], np.repeat([0, 1, 2], 4))


def test_index_file_errors(image_folder, tmp_path):
    order, size = image_folder["order"], image_folder["size"]
    short = tmp_path / "short.npz"
    np.savez(short, tr_filenames=np.array(order[1:]))
    with pytest.raises(DatasetError, match=f"{order[0].decode()}' is not listed in tr_filenames"):
        build(str(image_folder["root"]), str(tmp_path / "a"), str(short), image_size=size)
    extra = tmp_path / "extra.npz"
    np.savez(extra, tr_filenames=np.array(order + [b"n009_x.JPEG"]))
    with pytest.raises(DatasetError, match="lists 13 training files but 12 were found"):
        build(str(image_folder["root"]), str(tmp_path / "b"), str(extra), image_size=size)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, tr_filenames=np.array(order), tr_labels=(image_folder["labels"] + 1) % 3)
    with pytest.raises(DatasetError, match="12 labels differ from tr_labels"):
        build(str(image_folder["root"]), str(tmp_path / "c"), str(wrong), image_size=size)


def test_main_refuses_to_overwrite(image_folder, built_tfrecords, program):
    _, out = built_tfrecords
    with pytest.raises(SystemExit, match=f"error: {out}: already holds a built dataset"):
        program.run(build_tfrecords.define_flags, build_tfrecords.main, f"--image_dir={image_folder['root']}",
                    f"--output_dir={out}")
