"""ImageNet input: indexed TFRecords built from a folder of generated JPEGs, the released order from an
index file, the paper's preprocessing, and TFDS imagenet2012 under tfds.testing.mock_data."""
import os

import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import datasets, imagenet, imagenet_ops, pipeline
from influence_mem.data.build_tfrecords import build
from influence_mem.data.base import DatasetError
from tests.conftest import run_module

CLASSES = ("n003", "n001", "n002")  # written unsorted: labels must follow sorted names
SIZE = 32
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def striped(height, width, middle):
    """A wide image: red left third, `middle` colour in the centre third, blue right third."""
    image = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    image[:, :third], image[:, third:2 * third], image[:, 2 * third:] = RED, middle, BLUE
    return image


def write_jpeg(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, tf.io.encode_jpeg(image, quality=100))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """train: 4 images per class, val: 2 per class; the centre colour encodes the class."""
    root = tmp_path_factory.mktemp("imagefolder")
    colours = {"n001": (0, 255, 0), "n002": (255, 255, 0), "n003": (255, 0, 255)}
    for split, count in (("train", 4), ("val", 2)):
        for name in CLASSES:
            for k in range(count):
                height = 40 + 8 * k
                write_jpeg(str(root / split / name / f"{name}_{split}{k}.JPEG"), striped(height, 3 * height, colours[name]))
    train_names = sorted(f"{name}_train{k}.JPEG".encode() for name in CLASSES for k in range(4))
    permuted = [train_names[k] for k in np.random.RandomState(0).permutation(len(train_names))]
    labels = np.array([sorted(CLASSES).index(n.decode()[:4]) for n in permuted], np.int64)
    np.savez(root / "imagenet_index.npz", tr_filenames=np.array([b"train/" + n for n in permuted]), tr_labels=labels)
    return {"root": root, "index": str(root / "imagenet_index.npz"), "order": permuted, "labels": labels,
            "colours": colours}


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfrec") / "records"
    build(str(folder["root"]), str(out), folder["index"], train_shards=3, test_shards=2, image_size=SIZE)
    return datasets.load(f"tfrecord:{out}"), out


def test_records_follow_the_index_file(folder, built):
    dataset, out = built
    assert dataset.num_train == 12 and dataset.num_test == 6 and dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.train_labels, folder["labels"])
    assert [bytes(n) for n in dataset.train_filenames] == folder["order"]
    assert len(tf.io.gfile.glob(str(out / "train-*"))) == 3
    seen = list(dataset.source("train").as_numpy_iterator())
    assert [ex["index"] for ex in seen] == list(range(12))  # records in index order
    assert [ex["label"] for ex in seen] == list(folder["labels"])
    raw = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(str(out / "train-*"))))
    from influence_mem.data.tfrecord import parse_example
    names = [parse_example(r)["filename"].numpy() for r in raw]
    assert names == folder["order"]


def test_test_split_is_in_sorted_file_name_order(built):
    dataset, _ = built
    # sorted names: n001_val0, n001_val1, n002_val0, ... -> labels 0 0 1 1 2 2
    np.testing.assert_array_equal(dataset.test_labels, [0, 0, 1, 1, 2, 2])
    assert [ex["index"] for ex in dataset.source("test").as_numpy_iterator()] == list(range(6))


def test_eval_preprocessing_is_resize_and_center_crop(folder, built):
    dataset, _ = built
    for ex in dataset.source("test").as_numpy_iterator():
        image = ex["image"]
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        # The central SIZE x SIZE crop of a 3:1 image resized to height SIZE*256/224 lies inside the
        # centre stripe (width 1/3 of 3*36.6 = 36.6 px > 32): all of it has the class colour.
        colour = np.array(folder["colours"][sorted(CLASSES)[ex["label"]]]) / 255.0
        centre = image[:, 3:-3]
        np.testing.assert_allclose(centre.mean(axis=(0, 1)), colour, atol=0.03)
    # the closed form of the crop geometry
    resized = imagenet_ops.center_crop(tf.constant(striped(100, 300, GREEN)), SIZE)
    assert resized.shape == (SIZE, SIZE, 3)
    assert imagenet_ops.center_crop(tf.zeros((500, 375, 3), tf.uint8)).shape == (224, 224, 3)


def test_training_pipeline_pads_crops_and_flips_at_image_size(built):
    dataset, _ = built
    assert dataset.default_crop_padding == 32 * SIZE // 224 and dataset.default_flip
    assert dataset.input_mean == imagenet_ops.MEAN and dataset.input_std == imagenet_ops.STD
    ids = np.array([1, 4, 5, 9])
    ds = pipeline.train_pipeline(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=1,
                                 crop_padding=dataset.default_crop_padding, flip=True, epochs=1)
    images, labels = next(iter(ds))
    assert images.shape == (4, SIZE, SIZE, 3)
    assert sorted(labels.numpy().tolist()) == sorted(dataset.train_labels[ids].tolist())


def test_without_index_file_order_is_sorted_file_names(folder, tmp_path):
    meta = build(str(folder["root"]), str(tmp_path / "plain"), None, image_size=SIZE)
    assert list(meta["tr_filenames"]) == sorted(folder["order"])
    np.testing.assert_array_equal(meta["tr_labels"], np.repeat([0, 1, 2], 4))


def test_index_file_errors(folder, tmp_path):
    short = tmp_path / "short.npz"
    np.savez(short, tr_filenames=np.array(folder["order"][1:]))
    with pytest.raises(DatasetError, match=f"{folder['order'][0].decode()}' is not listed in tr_filenames"):
        build(str(folder["root"]), str(tmp_path / "a"), str(short), image_size=SIZE)
    extra = tmp_path / "extra.npz"
    np.savez(extra, tr_filenames=np.array(folder["order"] + [b"n009_x.JPEG"]))
    with pytest.raises(DatasetError, match="lists 13 training files but 12 were found"):
        build(str(folder["root"]), str(tmp_path / "b"), str(extra), image_size=SIZE)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, tr_filenames=np.array(folder["order"]), tr_labels=(folder["labels"] + 1) % 3)
    with pytest.raises(DatasetError, match="12 labels differ from tr_labels"):
        build(str(folder["root"]), str(tmp_path / "c"), str(wrong), image_size=SIZE)


def test_cli_refuses_to_overwrite(folder, built):
    _, out = built
    result = run_module("influence_mem.data.build_tfrecords", f"--image_dir={folder['root']}", f"--output_dir={out}")
    assert result.returncode != 0
    assert f"error: {out}: already holds a built dataset" in result.stderr


def test_unknown_tfrecord_dir(tmp_path):
    with pytest.raises(DatasetError, match="meta.npz: not found"):
        datasets.load(f"tfrecord:{tmp_path}")


def test_tfds_imagenet2012_index_from_file_names(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        plain = imagenet.load()
        tfds_files = [bytes(f) for f in plain.train_filenames]
        assert tfds_files == sorted(tfds_files)  # no index file: sorted names
        # An index file in a known shuffled order puts each example at its listed position.
        released = [tfds_files[k] for k in (3, 0, 5, 1, 4, 2)]
        np.savez(tmp_path / "idx.npz", tr_filenames=np.array(released))
        ordered = imagenet.load(index_file=str(tmp_path / "idx.npz"))
        assert [bytes(f) for f in ordered.train_filenames] == released
        label_of = dict(zip(tfds_files, plain.train_labels))
        np.testing.assert_array_equal(ordered.train_labels, [label_of[f] for f in released])
        streamed = {int(ex["index"]): int(ex["label"]) for ex in ordered.source("train").as_numpy_iterator()}
        assert streamed == {k: int(label) for k, label in enumerate(ordered.train_labels)}
        first = next(ordered.source("test").as_numpy_iterator())
        assert first["image"].shape == (224, 224, 3)


def test_trainer_runs_a_trial_on_tfrecords(built, tmp_path):
    from influence_mem.data.subsets import subset_indices
    from influence_mem.train import outputs
    from influence_mem.train.main import run_trials
    from influence_mem.train.trial import TrainConfig

    dataset, _ = built
    config = TrainConfig(arch="small_cnn", epochs=1, batch_size=4, save_model=False)
    summary = run_trials(dataset, config, [0], str(tmp_path), checkpoint_every=0)
    assert summary["done"] == [0]
    aux = outputs.read_npz(str(tmp_path / "0.7" / "0" / "aux_arrays.npz"))
    np.testing.assert_array_equal(aux["subsample_idx"], subset_indices(12, 0.7, 0, 0))
    assert len(aux["correctness_test"]) == 6
    meta = outputs.read_npz(str(tmp_path / outputs.META_FILE))
    np.testing.assert_array_equal(meta["tr_filenames"], dataset.train_filenames)


def test_streamed_training_takes_exactly_ceil_m_over_b_steps_per_epoch(built):
    import keras

    dataset, _ = built
    ids = np.arange(9)
    train = pipeline.train_pipeline(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=0, crop_padding=0,
                                    flip=False, epochs=3)
    assert train.cardinality().numpy() == 9
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train, epochs=3, steps_per_epoch=3, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == 9  # 3 epochs x ceil(9 / 4)


def test_streamed_order_is_reshuffled_per_epoch_and_a_resumed_run_reads_the_same_epochs(built):
    dataset, _ = built
    ids = np.array([0, 2, 3, 5, 6, 8, 10])

    def epochs(initial_epoch):
        batches = pipeline.train_batches(dataset, ids, batch_size=3, shuffle_seed=5, augment_seed=6,
                                         crop_padding=2, flip=True, epochs=4, initial_epoch=initial_epoch)
        out = [(b["index"].numpy(), b["image"].numpy()) for b in batches]
        assert [len(index) for index, _ in out] == [3, 3, 1] * (4 - initial_epoch)
        return out

    full = epochs(0)
    order = np.concatenate([index for index, _ in full]).reshape(4, len(ids))
    assert all(sorted(row) == list(ids) for row in order)
    assert len({row.tobytes() for row in order}) > 1  # reshuffled
    for (index, image), (r_index, r_image) in zip(full[2 * 3:], epochs(2)):  # resumed at epoch 2: no replay
        np.testing.assert_array_equal(index, r_index)
        np.testing.assert_array_equal(image, r_image)
