"""TrainConfig: how a trial is trained (the trainer flags minus where and which trials).

A plain dataclass so libraries, tests and notebooks build one without flags."""
import dataclasses


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
    mixed_precision: bool = False  # float16 compute with float32 variables and logits (GPUs)
