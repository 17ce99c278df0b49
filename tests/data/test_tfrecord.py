"""data.tfrecord: a built TFRecord directory as a streamed dataset: order, preprocessing, training input,
per-epoch reshuffle and resume, and a trial trained on it."""
import keras
import numpy as np
import pytest

from influence_mem.data import datasets, imagenet_ops, pipeline
from influence_mem.data.base import DatasetError


def test_test_split_is_in_sorted_file_name_order(built_tfrecords):
    dataset, _ = built_tfrecords
    # sorted names: n001_val0, n001_val1, n002_val0, ... -> labels 0 0 1 1 2 2
    np.testing.assert_array_equal(dataset.test_labels, [0, 0, 1, 1, 2, 2])
    assert [ex["index"] for ex in dataset.source("test").as_numpy_iterator()] == list(range(6))


def test_eval_preprocessing_is_resize_and_center_crop(image_folder, built_tfrecords):
    dataset, _ = built_tfrecords
    size = image_folder["size"]
    for ex in dataset.source("test").as_numpy_iterator():
        image = ex["image"]
        assert image.shape == (size, size, 3) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        # The central SIZE x SIZE crop of a 3:1 image resized to height SIZE*256/224 lies inside the
        # centre stripe (width 1/3 of 3*36.6 = 36.6 px > 32): all of it has the class colour.
        colour = np.array(image_folder["colours"][sorted(image_folder["classes"])[ex["label"]]]) / 255.0
        centre = image[:, 3:-3]
        np.testing.assert_allclose(centre.mean(axis=(0, 1)), colour, atol=0.03)


def test_training_pipeline_pads_crops_and_flips_at_image_size(image_folder, built_tfrecords):
    dataset, _ = built_tfrecords
    size = image_folder["size"]
    assert dataset.default_crop_padding == 32 * size // 224 and dataset.default_flip
    assert dataset.input_mean == imagenet_ops.MEAN and dataset.input_std == imagenet_ops.STD
    ids = np.array([1, 4, 5, 9])
    ds = pipeline.train_pipeline(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=1,
                                 crop_padding=dataset.default_crop_padding, flip=True, epochs=1)
    images, labels = next(iter(ds))
    assert images.shape == (4, size, size, 3)
    assert sorted(labels.numpy().tolist()) == sorted(dataset.train_labels[ids].tolist())


def test_unknown_tfrecord_dir(tmp_path):
    with pytest.raises(DatasetError, match="meta.npz: not found"):
        datasets.load(f"tfrecord:{tmp_path}")


def test_streamed_training_takes_exactly_ceil_m_over_b_steps_per_epoch(image_folder, built_tfrecords):
    dataset, _ = built_tfrecords
    size = image_folder["size"]
    ids = np.arange(9)
    train = pipeline.train_pipeline(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=0, crop_padding=0,
                                    flip=False, epochs=3)
    assert train.cardinality().numpy() == 9
    model = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train, epochs=3, steps_per_epoch=3, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == 9  # 3 epochs x ceil(9 / 4)


def test_streamed_order_is_reshuffled_per_epoch_and_a_resumed_run_reads_the_same_epochs(built_tfrecords):
    dataset, _ = built_tfrecords
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


@pytest.mark.slow
def test_the_trainer_runs_a_trial_on_tfrecords(built_tfrecords, tmp_path, monkeypatch):
    from influence_mem.data.npzio import read_npz
    from influence_mem.data.subsets import subset_indices
    from influence_mem.formats.trial import META_FILE
    from influence_mem.train import run
    from influence_mem.train.config import TrainConfig

    dataset, _ = built_tfrecords
    # One epoch on 8 images is at chance: this test is about the streamed path, let the trial be committed.
    monkeypatch.setattr(run, "check_trained", lambda metrics, num_classes: None)
    config = TrainConfig(arch="small_cnn", epochs=1, batch_size=4, save_model=False)
    summary = run.run_trials(dataset, config, [0], str(tmp_path), checkpoint_every=0)
    assert summary["done"] == [0]
    aux = read_npz(str(tmp_path / "0.7" / "0" / "aux_arrays.npz"))
    np.testing.assert_array_equal(aux["subsample_idx"], subset_indices(12, 0.7, 0, 0))
    assert len(aux["correctness_test"]) == 6
    meta = read_npz(str(tmp_path / META_FILE))
    np.testing.assert_array_equal(meta["tr_filenames"], dataset.train_filenames)
