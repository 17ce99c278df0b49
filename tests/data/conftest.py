"""Fixtures of the data tests: a folder of generated JPEGs in the ImageNet layout and its TFRecords."""
import os

import numpy as np
import pytest
import tensorflow as tf

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


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """train: 4 images per class, val: 2 per class; the centre colour encodes the class; an index file
    listing the training images in a shuffled order."""
    root = tmp_path_factory.mktemp("imagefolder")
    colours = {"n001": (0, 255, 0), "n002": (255, 255, 0), "n003": (255, 0, 255)}
    for split, count in (("train", 4), ("val", 2)):
        for name in CLASSES:
            for k in range(count):
                height = 40 + 8 * k
                write_jpeg(str(root / split / name / f"{name}_{split}{k}.JPEG"),
                           striped(height, 3 * height, colours[name]))
    train_names = sorted(f"{name}_train{k}.JPEG".encode() for name in CLASSES for k in range(4))
    permuted = [train_names[k] for k in np.random.RandomState(0).permutation(len(train_names))]
    labels = np.array([sorted(CLASSES).index(n.decode()[:4]) for n in permuted], np.int64)
    np.savez(root / "imagenet_index.npz", tr_filenames=np.array([b"train/" + n for n in permuted]), tr_labels=labels)
    return {"root": root, "index": str(root / "imagenet_index.npz"), "order": permuted, "labels": labels,
            "colours": colours, "classes": CLASSES, "size": SIZE}


@pytest.fixture(scope="session")
def built_tfrecords(image_folder, tmp_path_factory):
    """(dataset, directory): the folder built into 3 train / 2 test shards in the index file's order."""
    from influence_mem.data import datasets
    from influence_mem.data.build_tfrecords import build

    out = tmp_path_factory.mktemp("tfrec") / "records"
    build(str(image_folder["root"]), str(out), image_folder["index"], train_shards=3, test_shards=2, image_size=SIZE)
    return datasets.load(f"tfrecord:{out}"), out
