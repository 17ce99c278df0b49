"""The backend interface: a TrialPlan in, a TrainedTrial out.

A trial's plan (its subset, seeds and steps per epoch) is computed once and
handed to a backend: one Keras model (train.one_model) or a pack
(train.pack).  Both return TrainedTrials that train.outputs.write_trial
writes the same way.  The programs that train one model on the whole set
(turn-over, dynamics, the benchmarks) take a plan too, so the determinism
contract of data.subsets is applied in one place.
"""
import dataclasses
import math
from typing import Any, Optional, Tuple

import numpy as np

from influence_mem.data.subsets import subset_indices, trial_seeds
from influence_mem.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """What (seed, subset_ratio, trial) fixes: the training ids, the init/shuffle/augment seeds."""
    trial: int
    ids: np.ndarray      # sorted original-order ids of the examples trained on
    seeds: dict          # {'init', 'shuffle', 'augment'}: data.subsets.trial_seeds
    batch_size: int

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.ids) / self.batch_size)


def plan_trial(num_train: int, config: TrainConfig, trial: int) -> TrialPlan:
    """The plan of trial `trial` of `config` on a training set of `num_train` examples."""
    return TrialPlan(trial=int(trial), ids=subset_indices(num_train, config.subset_ratio, config.seed, trial),
                     seeds=trial_seeds(config.seed, config.subset_ratio, trial), batch_size=config.batch_size)


def plan_full_run(num_train: int, config: TrainConfig, run_id: int = 0) -> TrialPlan:
    """One run on the whole training set (turn-over, dynamics): every id, seeds of (seed, ratio 1, run_id)."""
    return TrialPlan(trial=int(run_id), ids=np.arange(num_train, dtype=np.int64),
                     seeds=trial_seeds(config.seed, 1.0, run_id), batch_size=config.batch_size)


@dataclasses.dataclass
class TrainedTrial:
    """A backend's result for one plan: correctness over both splits and run facts for metrics.json.

    `model` is the trained Keras model (a pack lends one model holding this
    trial's slice; it is valid until the next trial of the pack is read) or
    None when nobody asked for it.
    """
    plan: TrialPlan
    train_eval: Tuple[np.ndarray, np.ndarray]   # (original index, correct) over the whole training set
    test_eval: Tuple[np.ndarray, np.ndarray]
    extra: dict                                 # final_loss, resumed_from_epoch, replicas, wall_seconds, ...
    model: Optional[Any] = None
