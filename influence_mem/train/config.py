"""TrainConfig: how a trial is trained (the trainer flags minus where and which trials).

A plain dataclass so libraries, tests and notebooks build one without flags."""
import dataclasses
from typing import Optional

# --precision: the Keras dtype policy every trainer builds its models under.  Variables, the loss and
# the logits stay float32 in all three; mixed_float16 adds loss scaling (train.recipe.make_optimizer).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines how a trial is trained (the trainer flags, minus where and which)."""
    arch: str = "mlp"
    arch_options: dict = dataclasses.field(default_factory=dict)
    subset_ratio: float = 0.7
    seed: int = 0
    epochs: int = 30
    batch_size: int = 128
    base_lr: float = 0.1
    lr_schedule: str = "linear_warmup_decay"
    warmup_fraction: float = 0.15
    warmup_epochs: float = 15
    decay_epochs: tuple = (30, 60, 90)
    momentum: float = 0.9
    weight_decay: float = 0.0
    crop_padding: int = -1       # -1: the dataset's default (paper: 4 CIFAR, 32 ImageNet, 0 MNIST/digits)
    flip: bool = None            # None: the dataset's default
    save_model: bool = True
    eval_batch_size: int = 1024
    log_every_epochs: int = 1
    precision: str = "float32"   # one of PRECISIONS (was `mixed_precision: bool`, True = "mixed_float16")
    jit_compile: Optional[bool] = None  # XLA for the one-model trainer; None: Keras's "auto" (GPUs yes, CPU no)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")


def config_from_dict(values: dict) -> TrainConfig:
    """A TrainConfig from dataclasses.asdict of one (e.g. metrics.json's "config"), old records included:
    `mixed_precision: true/false` (before --precision) becomes precision mixed_float16/float32, and
    keys this version does not know are dropped."""
    values = dict(values)
    if "mixed_precision" in values:
        legacy = values.pop("mixed_precision")
        values.setdefault("precision", "mixed_float16" if legacy else "float32")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in values.items() if k in known})
    if isinstance(config.decay_epochs, list):
        config.decay_epochs = tuple(config.decay_epochs)
    return config
