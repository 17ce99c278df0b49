"""TrainConfig: how a trial is trained (the trainer flags minus where and which trials).

A plain dataclass so libraries, tests and notebooks build one without flags."""
import dataclasses
from typing import Optional

from influence_mem.formats.trial import parse_trials

# --precision: the Keras dtype policy every trainer builds its models under.  Variables, the loss and
# the logits stay float32 in all three; mixed_float16 adds loss scaling (train.recipe.make_optimizer).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# --imagenet_augment (datasets with encoded images: imagenet2012, tfrecord:DIR; data.pipeline chooses):
# the authors' random-area crop (their imagenet_preprocessing.py, the default) or paper 000 appendix B's
# padded crop.  The same tuple as data.imagenet_ops.AUGMENTATIONS (that module needs TensorFlow).
IMAGENET_AUGMENTATIONS = ("inception_crop", "padded_crop")


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
    l2: float = 0.0              # coupled L2: l2/2 * sum of squared kernels added to the loss (0 = off)
    crop_padding: int = -1       # -1: the dataset's default (paper: 4 CIFAR, 32 ImageNet, 0 MNIST/digits)
    flip: bool = None            # None: the dataset's default
    imagenet_augment: str = "inception_crop"  # one of IMAGENET_AUGMENTATIONS
    save_model: bool = True
    save_model_trials: str = ""  # with save_model: only these trials ("0-9", trial_format.parse_trials); "": all
    tensorboard: bool = False    # per-epoch TensorBoard event files in <trial>/tensorboard/
    eval_batch_size: int = 1024
    log_every_epochs: int = 1
    precision: str = "float32"   # one of PRECISIONS (was `mixed_precision: bool`, True = "mixed_float16")
    jit_compile: Optional[bool] = None  # XLA for the one-model trainer; None: Keras's "auto" (GPUs yes, CPU no)

    def saves_model(self, trial: int) -> bool:
        """Whether trial `trial` writes its model (save_model, restricted to save_model_trials if given)."""
        if not self.save_model:
            return False
        if not self.save_model_trials:
            return True
        return int(trial) in parse_trials(self.save_model_trials)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.imagenet_augment not in IMAGENET_AUGMENTATIONS:
            raise ValueError(f"imagenet_augment {self.imagenet_augment!r}: expected one of "
                             f"{', '.join(IMAGENET_AUGMENTATIONS)}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")


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
