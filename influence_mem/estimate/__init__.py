"""Memorization / influence estimation from trial outputs (numpy only, no TensorFlow).

estimators: Algorithm 1 as count accumulators (streaming or in memory).
pairs:      selection of high-influence pairs.
trials:     reading and validating `<workdir>/<ratio>/<trial>/aux_arrays.npz`.
aggregate:  the `im-aggregate` absl app (import it explicitly; it defines flags).
"""
from influence_mem.estimate.estimators import (Accumulator, Estimates, conditional_accuracies,
                                                difference_se, estimate, lemma_bound)
from influence_mem.estimate.pairs import high_influence_pairs

__all__ = ["Accumulator", "Estimates", "conditional_accuracies", "difference_se", "estimate",
           "lemma_bound", "high_influence_pairs"]
