"""data.pipeline: evaluation order, the seeded per-epoch training pipeline, epoch_order."""
import numpy as np

from influence_mem.data import pipeline
from influence_mem.data.pipeline import epoch_order
from influence_mem.data.subsets import subset_indices


def test_eval_pipeline_covers_split_in_index_order(digits):
    ds = digits
    seen = np.concatenate([b["index"].numpy() for b in pipeline.eval_pipeline(ds, "train", 500)])
    np.testing.assert_array_equal(seen, np.arange(ds.num_train))
    labels = np.concatenate([b["label"].numpy() for b in pipeline.eval_pipeline(ds, "test", 100)])
    np.testing.assert_array_equal(labels, ds.test_labels)


def test_train_pipeline_uses_exactly_the_subset_and_is_seeded(digits):
    ds = digits
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


def test_epoch_order_is_a_per_trial_permutation_that_changes_every_epoch():
    subset = subset_indices(100, 0.7, 0, 3)
    first, seeds = epoch_order(subset, 11, 12, 0, augment=True)
    again, _ = epoch_order(subset, 11, 12, 0, augment=True)
    second, _ = epoch_order(subset, 11, 12, 1, augment=False)
    np.testing.assert_array_equal(np.sort(first), subset)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second) and seeds.shape == (70, 2)
