"""Learning-rate schedules of the papers, as Keras schedules over optimizer steps.

- constant: base_lr throughout.
- linear_warmup_decay (paper 000, CIFAR/MNIST): linear from 0 to base_lr over
  the first `warmup_fraction` (15%) of steps, then linear back to 0 at the end.
- warmup_piecewise (paper 000, ImageNet; paper 002 VGG with warmup 0): linear
  warmup over `warmup_epochs`, then base_lr divided by 10 at each epoch in
  `decay_epochs`.
"""
import keras
import numpy as np
from keras import ops

NAMES = ("constant", "linear_warmup_decay", "warmup_piecewise")


@keras.saving.register_keras_serializable("influence_mem")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base_lr, total_steps, warmup_fraction=0.15):
        self.base_lr, self.total_steps, self.warmup_fraction = float(base_lr), int(total_steps), float(warmup_fraction)
        self.warmup_steps = max(1.0, self.warmup_fraction * self.total_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        up = step / self.warmup_steps
        down = (self.total_steps - step) / max(1.0, self.total_steps - self.warmup_steps)
        return self.base_lr * ops.clip(ops.minimum(up, down), 0.0, 1.0)

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "warmup_fraction": self.warmup_fraction}


@keras.saving.register_keras_serializable("influence_mem")
class WarmupPiecewise(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base_lr, steps_per_epoch, warmup_epochs=15, decay_epochs=(30, 60, 90), decay_factor=0.1):
        self.base_lr, self.steps_per_epoch = float(base_lr), int(steps_per_epoch)
        self.warmup_epochs, self.decay_epochs = float(warmup_epochs), tuple(float(e) for e in decay_epochs)
        self.decay_factor = float(decay_factor)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / self.steps_per_epoch
        warm = ops.minimum(1.0, epoch / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0
        decays = sum(ops.cast(epoch >= e, "float32") for e in self.decay_epochs) if self.decay_epochs else 0.0
        return self.base_lr * warm * ops.power(self.decay_factor, decays)

    def get_config(self):
        return {"base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch, "warmup_epochs": self.warmup_epochs,
                "decay_epochs": self.decay_epochs, "decay_factor": self.decay_factor}


def build(name: str, base_lr: float, steps_per_epoch: int, epochs: int, warmup_fraction: float = 0.15,
          warmup_epochs: float = 15, decay_epochs=(30, 60, 90)):
    """The schedule called `name` for a run of `epochs` x `steps_per_epoch` steps."""
    if name == "constant":
        return float(base_lr)
    if name == "linear_warmup_decay":
        return LinearWarmupDecay(base_lr, steps_per_epoch * epochs, warmup_fraction)
    if name == "warmup_piecewise":
        return WarmupPiecewise(base_lr, steps_per_epoch, warmup_epochs, decay_epochs)
    raise ValueError(f"unknown lr schedule {name!r}; known: {', '.join(NAMES)}")


def value(schedule, step: int) -> float:
    """The learning rate at `step` as a Python float (for logs and tests)."""
    return float(schedule) if isinstance(schedule, (int, float)) else float(np.asarray(schedule(step)))
