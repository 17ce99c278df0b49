"""Which training examples each trial sees, and the seeds it uses.

Determinism contract (see docs/formats.md): the triple (seed, subset_ratio,
trial) fixes the subset, the model initialization, the data order and the
augmentation of a trial, however it is scheduled (alone, packed, mirrored,
resumed from a checkpoint, on another machine).  For in-memory datasets every
path draws each epoch's order and per-example augmentation seeds with
data.pipeline.epoch_order, so a trial sees bitwise the same batches alone
and in a pack; the trained weights then differ only by float rounding.
Streamed datasets (ImageNet) use a shuffle buffer seeded per epoch instead.
Never change the output of these functions silently:
released estimates depend on it.
"""
import numpy as np

from influence_mem.formats.trial import subset_size  # how many examples: the per-trial format says


def _seed_sequence(seed: int, ratio: float, trial: int) -> np.random.SeedSequence:
    # The ratio enters as an integer number of parts per million so that 0.7
    # and 0.70000001 (flag parsing noise) give the same stream.
    return np.random.SeedSequence([int(seed), int(round(ratio * 1_000_000)), int(trial)])


def subset_indices(n: int, ratio: float, seed: int, trial: int) -> np.ndarray:
    """Sorted int64 ids of the m = int(n*ratio) examples trial `trial` trains on.

    A uniform random subset of range(n) without replacement, drawn with
    numpy's PCG64 generator seeded by SeedSequence([seed, round(ratio*1e6),
    trial]).  ratio == 1 returns every index.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"subset ratio must be in (0, 1], got {ratio}")
    rng = np.random.Generator(np.random.PCG64(_seed_sequence(seed, ratio, trial)))
    chosen = rng.choice(n, size=subset_size(n, ratio), replace=False)
    return np.sort(chosen).astype(np.int64)


def trial_seeds(seed: int, ratio: float, trial: int) -> dict:
    """Independent 31-bit seeds for a trial's initialization, shuffling and augmentation."""
    children = _seed_sequence(seed, ratio, trial).spawn(3)
    names = ("init", "shuffle", "augment")
    return {name: int(child.generate_state(1)[0] & 0x7FFFFFFF) for name, child in zip(names, children)}
