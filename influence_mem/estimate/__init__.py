"""Memorization / influence estimation from trial outputs (numpy only, no TensorFlow).

trial_format: the per-trial format (file names, keys, directory names) shared with the trainer.
estimators:   Algorithm 1 as count accumulators (streaming or in memory).
pairs:        selection of high-influence pairs.
trials:       reading and validating completed trials.
aggregator:   the streaming aggregation library (aggregate_workdir).
convergence:  how the estimates settle as trials accumulate, in one streaming pass (im-describe --convergence).
main:         the im-aggregate program (flags defined only by its main).
simulate:     a learner with known memorization/influence, written as trials (tests, benchmarks).
"""
from influence_mem.estimate.estimators import (Accumulator, Estimates, conditional_accuracies,
                                                difference_se, estimate_from_arrays, lemma_bound)
from influence_mem.estimate.pairs import high_influence_pairs

__all__ = ["Accumulator", "Estimates", "conditional_accuracies", "difference_se", "estimate_from_arrays",
           "lemma_bound", "high_influence_pairs"]
