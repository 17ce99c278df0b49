"""Datasets and pipelines: digits split, npz, TFDS original-index recovery, augmentation."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from influence_mem.data import datasets, pipeline
from influence_mem.data.augment import pad_crop_flip
from influence_mem.data.base import DatasetError
from influence_mem.data.pipeline import epoch_order
from influence_mem.data.tfds_source import original_index_from_id


def test_digits_split_is_fixed_and_complete():
    ds = datasets.load("digits")
    assert (ds.num_train, ds.num_test) == (1437, 360)
    assert ds.image_shape == (8, 8, 1)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Train and test together are every sklearn digit exactly once.
    all_images = np.concatenate([ds.x_train, ds.x_test])[..., 0] * 16.0
    assert sorted(map(bytes, all_images.astype(np.uint8))) == sorted(map(bytes, bunch.images.astype(np.uint8)))
    again = datasets.load("digits")
    np.testing.assert_array_equal(ds.train_labels, again.train_labels)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_eval_pipeline_covers_split_in_index_order():
    ds = datasets.load("digits")
    seen = np.concatenate([b["index"].numpy() for b in pipeline.eval_pipeline(ds, "train", 500)])
    np.testing.assert_array_equal(seen, np.arange(ds.num_train))
    labels = np.concatenate([b["label"].numpy() for b in pipeline.eval_pipeline(ds, "test", 100)])
    np.testing.assert_array_equal(labels, ds.test_labels)


def test_train_pipeline_uses_exactly_the_subset_and_is_seeded():
    ds = datasets.load("digits")
    ids = np.array([3, 10, 11, 500, 1400])
    # Images identify examples: compare against x_train rows.
    def epoch(seed):
        p = pipeline.train_pipeline(ds, ids, batch_size=2, shuffle_seed=seed, augment_seed=1,
                                    crop_padding=0, flip=False, epochs=2)
        assert [len(x) for x, _ in p] == [2, 2, 1] * 2  # each epoch batched on its own
        images = np.concatenate([x.numpy() for x, _ in p])
        return [int(np.flatnonzero((ds.x_train == img).all(axis=(1, 2, 3)))[0]) for img in images]
    order = epoch(7)
    assert sorted(order[:5]) == sorted(order[5:]) == list(ids)
    assert order[:5] != order[5:]  # reshuffled every epoch
    assert epoch(7) == order and epoch(8) != order


def test_augmentation_shape_range_and_determinism():
    image = tf.random.stateless_uniform((32, 32, 3), seed=(1, 2))
    seed = tf.constant([5, 6], tf.int64)
    out = pad_crop_flip(image, seed, padding=4, flip=True)
    assert out.shape == (32, 32, 3)
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_array_equal(out.numpy(), pad_crop_flip(image, seed, 4, True).numpy())
    # The crop is a shifted window of the zero-padded image: every output pixel is 0 or an input pixel.
    padded = np.pad(image.numpy(), [(4, 4), (4, 4), (0, 0)])
    found = False
    for dy in range(9):
        for dx in range(9):
            window = padded[dy:dy + 32, dx:dx + 32]
            if np.array_equal(window, out.numpy()) or np.array_equal(window[:, ::-1], out.numpy()):
                found = True
    assert found
    # Different seeds give different crops for most seeds.
    outs = {pad_crop_flip(image, tf.constant([k, 0], tf.int64), 4, True).numpy().tobytes() for k in range(10)}
    assert len(outs) > 5


def test_original_index_from_tfds_id():
    np.testing.assert_array_equal(original_index_from_id([b"train_2", b"train_0", b"train_1"]), [2, 0, 1])
    with pytest.raises(DatasetError, match="look like"):
        original_index_from_id([b"weird"])
    with pytest.raises(DatasetError, match="permutation"):
        original_index_from_id([b"train_0", b"train_0"])


def test_cifar_from_mock_tfds_is_put_in_original_order():
    n = 12
    permutation = np.random.RandomState(0).permutation(n)  # TFDS order -> original index

    def as_dataset(self, *args, **kwargs):
        def gen():
            for original in permutation:
                yield {"id": f"train_{original}".encode(), "label": int(original % 10),
                       "image": np.full((32, 32, 3), original, np.uint8)}
        return tf.data.Dataset.from_generator(
            gen, output_signature={"id": tf.TensorSpec((), tf.string), "label": tf.TensorSpec((), tf.int64),
                                   "image": tf.TensorSpec((32, 32, 3), tf.uint8)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds = datasets.load("cifar10")
    assert ds.num_train == n and ds.default_crop_padding == 4 and ds.default_flip
    np.testing.assert_array_equal(ds.train_labels, np.arange(n) % 10)
    np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0], np.arange(n))
    batch = next(iter(pipeline.eval_pipeline(ds, "train", n)))
    np.testing.assert_array_equal(batch["index"].numpy(), np.arange(n))
    np.testing.assert_allclose(batch["image"].numpy()[:, 0, 0, 0], np.arange(n) / 255.0, rtol=1e-6)


def test_npz_dataset(tmp_path):
    path = tmp_path / "mine.npz"
    rng = np.random.RandomState(0)
    np.savez(path, x_train=rng.rand(20, 6, 6).astype(np.float32), y_train=np.arange(20) % 3,
             x_test=rng.rand(5, 6, 6).astype(np.float32), y_test=np.arange(5) % 3,
             filenames_train=np.array([f"img{i}.png" for i in range(20)]))
    ds = datasets.load(f"npz:{path}")
    assert ds.image_shape == (6, 6, 1) and ds.num_classes == 3 and ds.train_filenames[3] == b"img3.png"
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 4, 4)))
    with pytest.raises(DatasetError, match="missing keys"):
        datasets.load(f"npz:{tmp_path / 'bad.npz'}")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="junk.npz: not a readable"):
        datasets.load(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(DatasetError, match="not found"):
        datasets.load(f"npz:{tmp_path / 'nope.npz'}")


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar1000'"):
        datasets.load("cifar1000")


def test_one_model_batches_are_the_packed_trainers_batches_every_epoch_and_on_resume():
    # A trial alone (train_trial's pipeline) and in a pack (epoch_order + the packed trainer's augmentation)
    # must see the same ids in the same batches with bitwise the same augmented images.
    from influence_mem.data.augment import augment_fn
    from influence_mem.data.subsets import subset_indices, trial_seeds
    from influence_mem.train.packed import _augment_all

    ds = datasets.load("digits")
    ids = subset_indices(ds.num_train, 0.7, 0, 3)
    seeds = trial_seeds(0, 0.7, 3)
    batch, epochs = 128, 3
    assert len(ids) % batch  # a short last batch every epoch
    augment = augment_fn(1, True)
    whole = pipeline.in_memory_split(ds, "train")
    images = whole["image"]
    np.testing.assert_array_equal(whole["index"], np.arange(ds.num_train))
    np.testing.assert_array_equal(whole["label"], ds.train_labels)
    expected = []
    for epoch in range(epochs):
        order, aug_seeds = epoch_order(ids, seeds["shuffle"], seeds["augment"], epoch, augment=True)
        for start in range(0, len(ids), batch):
            b = order[start:start + batch]
            packed = _augment_all(tf.gather(images, b)[None], tf.constant(aug_seeds[None, start:start + batch]),
                                  augment)[0]
            expected.append((b, packed.numpy(), ds.train_labels[b]))
    assert len(expected) == epochs * -(-len(ids) // batch)

    def batches(initial_epoch):
        kwargs = dict(batch_size=batch, shuffle_seed=seeds["shuffle"], augment_seed=seeds["augment"],
                      crop_padding=1, flip=True, epochs=epochs, initial_epoch=initial_epoch)
        got = [(b["index"].numpy(), b["image"].numpy(), b["label"].numpy())
               for b in pipeline.train_batches(ds, ids, **kwargs)]
        fit = [(x.numpy(), y.numpy()) for x, y in pipeline.train_pipeline(ds, ids, **kwargs)]
        assert len(fit) == len(got)
        for (_, image, label), (x, y) in zip(got, fit):
            np.testing.assert_array_equal(x, image)
            np.testing.assert_array_equal(y, label)
        return got

    for initial_epoch in (0, 2):  # a resumed run starts at its first unfinished epoch
        got = batches(initial_epoch)
        want = expected[initial_epoch * len(expected) // epochs:]
        assert [len(b[0]) for b in got] == [len(b[0]) for b in want]
        for (index, image, label), (w_index, w_image, w_label) in zip(got, want):
            np.testing.assert_array_equal(index, w_index)
            np.testing.assert_array_equal(image, w_image)
            np.testing.assert_array_equal(label, w_label)
    # Not vacuous: augmentation changed most images, and each epoch is a new order.
    changed = [not np.array_equal(image, tf.gather(images, index).numpy()) for index, image, _ in got]
    assert np.mean(changed) > 0.5
    assert not np.array_equal(expected[0][0], expected[len(expected) // epochs][0])
