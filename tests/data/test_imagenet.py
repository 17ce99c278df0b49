"""data.imagenet: TFDS imagenet2012 (under tfds.testing.mock_data) in the released order of an index file."""
import pytest
import numpy as np

from influence_mem.data import imagenet


@pytest.mark.slow
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
