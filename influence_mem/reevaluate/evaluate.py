"""Evaluate a loaded run on a split, batched, on one device or split over a tf.distribute strategy's replicas.

The batches are the trainer's evaluation pipeline (data.pipeline.eval_pipeline), so a run sees the images
its training evaluation saw; one device uses the trainer's own prediction (train.recipe.predict_correct).
"""
import numpy as np
import tensorflow as tf

from influence_mem.data import pipeline
from influence_mem.data.base import Dataset
from influence_mem.train import recipe


def correct_on(model, dataset: Dataset, split: str, batch_size: int, strategy=None):
    """(index, correct) of `model` over `dataset`'s `split`, in the pipeline's order (batches of `batch_size`
    examples, shared by the replicas of `strategy` when it has several)."""
    batches = pipeline.eval_pipeline(dataset, split, batch_size)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return recipe.predict_correct(model, batches)
    return _distributed(model, batches, strategy)


def _distributed(model, batches, strategy):
    def replica(batch):
        return tf.argmax(model(batch["image"], training=False), axis=-1), batch["label"], batch["index"]

    @tf.function
    def step(batch):
        return [strategy.gather(part, axis=0) for part in strategy.run(replica, args=(batch,))]

    indices, correct = [], []
    for batch in strategy.experimental_distribute_dataset(batches):
        predicted, label, index = step(batch)
        correct.append(predicted.numpy() == label.numpy())
        indices.append(index.numpy())
    return np.concatenate(indices), np.concatenate(correct)


def agreement(stored_index: np.ndarray, stored_correct: np.ndarray, index: np.ndarray, correct: np.ndarray) -> dict:
    """{'agree', 'total', 'agreement'}: how many ids have the same correctness in the two (index, correct) pairs
    (each covering the same ids, in any order), the authors' demo.py check (lines 90-108) as numbers."""
    stored = np.zeros(len(stored_index), bool)
    stored[stored_index] = stored_correct
    now = np.zeros(len(index), bool)
    now[index] = correct
    agree = int(np.sum(stored == now))
    return {"agree": agree, "total": len(stored), "agreement": agree / len(stored) if len(stored) else 1.0}
