"""ImageNet preprocessing as the authors' (libdata/imagenet_preprocessing.py): centre crop with CROP_PADDING 32
for evaluation, random-area crop + flip for training (--imagenet_augment=inception_crop, the default), the
paper's padded crop on request; the validation order from the index file's tt_filenames."""
import numpy as np
import pytest
import tensorflow as tf

from influence_mem.data import imagenet_ops, pipeline
from influence_mem.data.build_tfrecords import build
from influence_mem.train.config import IMAGENET_AUGMENTATIONS, TrainConfig


def _jpeg(height, width, seed=0):
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    return tf.io.encode_jpeg(image, quality=95)


@pytest.mark.parametrize("shape", [(300, 200), (201, 333), (224, 224)])
def test_center_crop_is_their_decode_and_center_crop(shape):
    encoded = _jpeg(*shape)
    h, w = shape
    # their arithmetic: side = int(224 / (224 + 32) * min(h, w)), offset ((h - side) + 1) // 2, crop, [0, 1], resize
    side = int(224 / 256 * min(h, w))
    window = tf.constant([(h - side + 1) // 2, (w - side + 1) // 2, side, side])
    theirs = tf.image.resize([tf.image.convert_image_dtype(tf.image.decode_and_crop_jpeg(encoded, window, channels=3),
                                                           tf.float32)], [224, 224])[0]
    ours = imagenet_ops.center_crop_encoded(encoded)
    assert ours.shape == (224, 224, 3) and ours.dtype == tf.float32
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # the same window of the decoded image (PNG path): equal but for JPEG chroma at the window's edges
    decoded = imagenet_ops.center_crop(imagenet_ops.decode(encoded)).numpy()
    assert np.mean(np.abs(decoded - theirs.numpy()) < 1e-6) > 0.95


def test_random_crop_covers_8_to_100_percent_with_aspect_three_quarters_to_four_thirds(monkeypatch):
    image = _jpeg(240, 320)
    crops = []
    resize = imagenet_ops._to_unit_resized
    monkeypatch.setattr(imagenet_ops, "_to_unit_resized",
                        lambda crop, size: crops.append(crop.shape) or resize(crop, size))
    outputs = [imagenet_ops.random_crop(image, tf.constant([k, 7], tf.int64)).numpy() for k in range(60)]
    assert all(o.shape == (224, 224, 3) and 0 <= o.min() and o.max() <= 1 for o in outputs)
    area = np.array([h * w for h, w, _ in crops]) / (240 * 320)
    aspect = np.array([w / h for h, w, _ in crops])
    assert area.min() >= 0.08 - 0.01 and area.max() <= 1.0
    assert aspect.min() >= 0.75 - 0.02 and aspect.max() <= 4 / 3 + 0.02
    assert area.min() < 0.3 and area.max() > 0.6  # the whole 8-100% range is drawn, not one fixed crop
    np.testing.assert_array_equal(outputs[3], imagenet_ops.random_crop(image, tf.constant([3, 7], tf.int64)).numpy())


def test_a_whole_image_box_falls_back_to_the_centre_crop(monkeypatch):
    image = _jpeg(100, 150)
    monkeypatch.setattr(imagenet_ops, "AREA_RANGE", (1.0, 1.0))
    monkeypatch.setattr(imagenet_ops, "ASPECT_RATIO_RANGE", (1.5, 1.5))
    np.testing.assert_array_equal(imagenet_ops.random_crop(image, tf.constant([1, 2], tf.int64)).numpy(),
                                  imagenet_ops.center_crop_encoded(image).numpy())


def test_train_crop_flips_per_seed_and_is_deterministic():
    image = _jpeg(120, 160)
    seeds = [tf.constant([k, 0], tf.int64) for k in range(8)]
    plain = [imagenet_ops.train_crop(image, s, 32, flip=False).numpy() for s in seeds]
    flipped = [imagenet_ops.train_crop(image, s, 32, flip=True).numpy() for s in seeds]
    assert any(np.array_equal(f, p[:, ::-1]) and not np.array_equal(f, p) for f, p in zip(flipped, plain))
    assert any(np.array_equal(f, p) for f, p in zip(flipped, plain))
    np.testing.assert_array_equal(flipped[0], imagenet_ops.train_crop(image, seeds[0], 32, flip=True).numpy())


def test_the_config_and_the_ops_agree_on_the_choices():
    assert IMAGENET_AUGMENTATIONS == imagenet_ops.AUGMENTATIONS
    assert TrainConfig().imagenet_augment == "inception_crop"
    with pytest.raises(ValueError, match="imagenet_augment"):
        TrainConfig(imagenet_augment="random")


def _images(dataset, ids, augment, **kw):
    batches = pipeline.train_batches(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=1,
                                     crop_padding=dataset.default_crop_padding, flip=True, epochs=1,
                                     imagenet_augment=augment, **kw)
    return {int(i): image for b in batches for i, image in zip(b["index"].numpy(), b["image"].numpy())}


@pytest.mark.slow
def test_the_pipeline_chooses_the_crop(built_tfrecords):
    dataset, _ = built_tfrecords
    ids = np.array([1, 4, 5, 9])
    size = dataset.image_shape[0]
    inception, again, padded = (_images(dataset, ids, "inception_crop"), _images(dataset, ids, "inception_crop"),
                                _images(dataset, ids, "padded_crop"))
    assert sorted(inception) == sorted(padded) == list(ids)
    for k in ids:
        assert inception[k].shape == padded[k].shape == (size, size, 3)
        np.testing.assert_array_equal(inception[k], again[k])
    assert any(not np.array_equal(inception[k], padded[k]) for k in ids)
    # padded_crop with no padding and no flip is the evaluation image; inception_crop never is (a random crop)
    batches = pipeline.train_batches(dataset, ids, batch_size=4, shuffle_seed=0, augment_seed=1, crop_padding=0,
                                     flip=False, epochs=1, imagenet_augment="padded_crop")
    centre = {int(ex["index"]): ex["image"] for ex in dataset.source("train").as_numpy_iterator()}
    for b in batches:
        for i, image in zip(b["index"].numpy(), b["image"].numpy()):
            np.testing.assert_array_equal(image, centre[int(i)])
    with pytest.raises(ValueError, match="imagenet_augment"):
        _images(dataset, ids, "other")


def test_the_validation_order_comes_from_tt_filenames(image_folder, tmp_path):
    index = dict(np.load(image_folder["index"]))
    val = sorted(f"{name}_val{k}.JPEG".encode() for name in image_folder["classes"] for k in range(2))
    shuffled = [val[k] for k in (4, 1, 5, 0, 3, 2)]
    labels = np.array([sorted(image_folder["classes"]).index(n.decode()[:4]) for n in shuffled], np.int64)
    np.savez(tmp_path / "idx.npz", **index, tt_filenames=np.array(shuffled), tt_labels=labels)
    meta = build(str(image_folder["root"]), str(tmp_path / "out"), str(tmp_path / "idx.npz"),
                 image_size=image_folder["size"])
    assert list(meta["tt_filenames"]) == shuffled
    np.testing.assert_array_equal(meta["tt_labels"], labels)
    np.savez(tmp_path / "bad.npz", **index, tt_filenames=np.array(shuffled), tt_labels=(labels + 1) % 3)
    with pytest.raises(Exception, match="labels differ from tt_labels"):
        build(str(image_folder["root"]), str(tmp_path / "out2"), str(tmp_path / "bad.npz"),
              image_size=image_folder["size"])


def test_tfds_validation_order_from_the_index_file(tmp_path):
    import tensorflow_datasets as tfds

    from influence_mem.data import imagenet

    with tfds.testing.mock_data(num_examples=6):
        plain = imagenet.load()
        test_files = [bytes(ex["file_name"])
                      for ex in tfds.load("imagenet2012", split="validation").as_numpy_iterator()]
        label_of = dict(zip(sorted(test_files), plain.test_labels))
        released = [sorted(test_files)[k] for k in (2, 5, 0, 4, 1, 3)]
        np.savez(tmp_path / "idx.npz", tr_filenames=np.array(plain.train_filenames), tt_filenames=np.array(released))
        ordered = imagenet.load(index_file=str(tmp_path / "idx.npz"))
        np.testing.assert_array_equal(ordered.test_labels, [label_of[f] for f in released])
        streamed = {int(ex["index"]): int(ex["label"]) for ex in ordered.source("test").as_numpy_iterator()}
        assert streamed == {k: int(label) for k, label in enumerate(ordered.test_labels)}
