"""The trainer's flags, defined once: im-train, the last-layer mode, the launchers, turn-over and
the analyses that train models all call define_flags() from their main.

Nothing is defined at import.  config_from_flags / dataset_from_flags /
strategy_from_flags turn parsed flags into the library's typed values.
"""
import math

from absl import flags

from influence_mem import models
from influence_mem.data import balanced, corrupt, datasets
from influence_mem.formats.trial import parse_trials
from influence_mem.programs import config_flag, shared_flags
from influence_mem.train import claims, outputs, recipe, schedules
from influence_mem.train import strategy as strategy_lib
from influence_mem.train.config import IMAGENET_AUGMENTATIONS, PRECISIONS, TrainConfig

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Define the trainer flags (once per process; later calls do nothing)."""
    if "pack_trials" in FLAGS:
        return
    defaults = TrainConfig()
    config_flag.define_config()
    flags.DEFINE_string("dataset", "digits", "Dataset name: " + ", ".join(datasets.names()) + ".")
    shared_flags.define_data_dir()
    flags.DEFINE_string("arch", defaults.arch, "Architecture name from the model registry.")
    flags.DEFINE_string("mlp_hidden", "512,256", "Hidden layer widths of the mlp architecture.")
    flags.DEFINE_float("subset_ratio", defaults.subset_ratio, "Fraction r of the training set in each subset (0, 1].")
    flags.DEFINE_string("trials", "0", "Trial ids to run: '0-99', '3,7,9' or mixed '0-9,20'.")
    flags.DEFINE_string("workdir", None, "Output root: <workdir>/<subset_ratio>/<trial>/.")
    flags.DEFINE_integer("seed", defaults.seed, "Experiment seed; with (subset_ratio, trial) it fixes everything.")
    flags.DEFINE_integer("epochs", defaults.epochs, "Training epochs.")
    flags.DEFINE_integer("batch_size", defaults.batch_size, "Training batch size.")
    flags.DEFINE_float("base_lr", defaults.base_lr, "Peak learning rate.")
    flags.DEFINE_enum("lr_schedule", defaults.lr_schedule, schedules.NAMES, "Learning-rate schedule.")
    flags.DEFINE_float("warmup_fraction", defaults.warmup_fraction, "linear_warmup_decay: warmup share of steps.")
    flags.DEFINE_float("warmup_epochs", defaults.warmup_epochs, "warmup_piecewise: warmup epochs.")
    flags.DEFINE_list("decay_epochs", ["30", "60", "90"], "warmup_piecewise: epochs where lr drops 10x.")
    flags.DEFINE_float("momentum", defaults.momentum, "SGD momentum.")
    flags.DEFINE_float("weight_decay", defaults.weight_decay, "Decoupled weight decay (0 = off).")
    flags.DEFINE_integer("crop_padding", defaults.crop_padding, "Random pad-and-crop padding in pixels; -1 = dataset "
                         "default (4 CIFAR, 32 ImageNet, 0 digits/MNIST).")
    flags.DEFINE_enum("flip", "default", ["default", "true", "false"], "Random left-right flip.")
    flags.DEFINE_enum("imagenet_augment", defaults.imagenet_augment, IMAGENET_AUGMENTATIONS,
                      "ImageNet training crop (imagenet2012, tfrecord:DIR): inception_crop = the authors' code "
                      "(random crop of 8-100% of the area, aspect 3/4-4/3, resized; --crop_padding unused); "
                      "padded_crop = paper 000 appendix B's wording (--crop_padding px padded crop of the centre "
                      "crop). Both flip per --flip.")
    flags.DEFINE_float("l2", defaults.l2, "Coupled L2 regularization: adds l2/2 * sum of squared kernel weights "
                       "to the loss, so momentum SGD sees it (0 = off; --weight_decay is Keras's decoupled decay).")
    flags.DEFINE_boolean("save_model", True, "Write the trained model per trial: model.keras (keras.models."
                         "load_model) and a SavedModel (images -> logits). See --save_model_trials.")
    flags.DEFINE_string("save_model_trials", "", "With --save_model: save only these trials' models ('0-9'; empty: "
                        "every trial). The paper's configs save 0-9 (docs/scaling.md: disk budget).")
    flags.DEFINE_boolean("tensorboard", False, "Also write each trial's per-epoch loss/accuracy/lr as TensorBoard "
                         "event files in <trial>/tensorboard/ (metrics.json always has them under 'history').")
    flags.DEFINE_integer("eval_batch_size", defaults.eval_batch_size, "Batch size for evaluation.")
    flags.DEFINE_integer("log_every_epochs", 1, "Log a progress line every this many epochs.")
    flags.DEFINE_enum("strategy", "default", strategy_lib.NAMES,
                      "default: one device; mirrored: tf.distribute.MirroredStrategy over the visible GPUs.")
    flags.DEFINE_integer("num_gpus", 0, "--strategy=mirrored: use the first N visible GPUs (0 = all).")
    flags.DEFINE_integer("checkpoint_every", 1, "Checkpoint every N epochs in the trial's work dir, to resume "
                         "after a kill (0 = never).")
    flags.DEFINE_float("checkpoint_seconds", 60, "Checkpoint at most once per this many seconds (0 = at every "
                       "--checkpoint_every epoch): a pack writes one checkpoint per trial at each save; a killed "
                       "run loses at most this plus --checkpoint_every epochs of work.")
    flags.DEFINE_float("claim_timeout_minutes", claims.STALE_SECONDS / 60, "A trial claimed by a worker on another "
                       "host whose heartbeat is older than this is taken over.")
    flags.DEFINE_integer("pack_trials", 1, "Train this many trials at once as one packed model (batched matmuls; "
                         "docs/performance.md). 1 = one Keras model per trial. Packed trials are checkpointed like "
                         "K=1 ones (--checkpoint_every). On a host without GPUs a pack steps one sub-pack per core "
                         "at once (train.packed_graph.SubPacks).")
    flags.DEFINE_boolean("pack_cpu_threads", True, "With --pack_trials > 1 on a host without GPUs (default "
                         "strategy): one thread per TensorFlow op and as many ops at once as cores, so each core "
                         "steps its own sub-pack (faster; docs/performance.md). False keeps TensorFlow's settings.")
    flags.DEFINE_float("corrupt_fraction", 0.0, "Replace this fraction of the training labels by a random other "
                       "class (seeded by --corrupt_seed; ids in each trial's corrupted_idx.npy and dataset_meta.npz).")
    flags.DEFINE_integer("corrupt_seed", 0, "Seed of --corrupt_fraction: which examples and which new labels.")
    flags.DEFINE_integer("train_per_class", 0, "Train on a class-balanced part of --dataset: the first N training "
                         "examples of each class, in the original order (0 = all). index = position in the part; "
                         "dataset_meta.npz tr_original_idx maps it back (data.balanced).")
    flags.DEFINE_integer("test_per_class", 0, "Evaluate on the first N test examples of each class (0 = all); "
                         "dataset_meta.npz tt_original_idx maps them back.")
    flags.DEFINE_enum("precision", defaults.precision, PRECISIONS, "Compute precision (Keras dtype policy); "
                      "variables, loss and logits stay float32. mixed_bfloat16: CPUs with AMX/AVX512-BF16, "
                      "A100/H100; mixed_float16 (with loss scaling): V100/P100 (docs/scaling.md).")
    flags.DEFINE_boolean("mixed_precision", False, "Alias of --precision=mixed_float16 (kept for old flagfiles).")
    flags.DEFINE_boolean("jit_compile", None, "XLA-compile the one-model trainer's steps (model.compile("
                         "jit_compile=...)); unset: Keras's choice (on GPUs yes, on CPU no).")

    flags.register_validator("dataset", lambda v: shared_flags.valid(datasets.check_name, v), "see the message above")
    flags.register_validator("arch", lambda v: shared_flags.valid(models.check_name, v), "see the message above")
    flags.register_validator("save_model_trials", lambda v: shared_flags.valid(_check_save_model_trials, v),
                             "see the message above")
    flags.register_validator("subset_ratio", lambda v: 0.0 < v <= 1.0, "--subset_ratio must be in (0, 1]")
    # every program writing under --workdir (trainer, launchers, turn-over, the analyses that train) learns
    # that it cannot when its flags are parsed, not after training
    flags.register_validator("workdir", lambda v: v is None or shared_flags.valid(outputs.check_workdir, v),
                             "see the message above")
    flags.register_validator("trials", lambda v: shared_flags.valid(parse_trials, v), "see the message above")
    flags.register_validator("epochs", lambda v: v >= 1, "--epochs must be >= 1")
    flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be >= 1")
    flags.register_validator("crop_padding", lambda v: v >= -1, "--crop_padding must be >= 0 (or -1 for the default)")
    flags.register_validator("corrupt_fraction", lambda v: 0.0 <= v <= 1.0, "--corrupt_fraction must be in [0, 1]")
    flags.register_validator("pack_trials", lambda v: v >= 1, "--pack_trials must be >= 1")
    flags.register_validator("num_gpus", lambda v: v >= 0, "--num_gpus must be >= 0 (0 = all visible)")
    flags.register_validator("checkpoint_every", lambda v: v >= 0, "--checkpoint_every must be >= 0 (0 = never)")
    flags.register_validator("checkpoint_seconds", lambda v: _finite(v) and v >= 0,
                             "--checkpoint_seconds must be a finite number >= 0 (0 = no limit)")
    heartbeats = 3 * claims.HEARTBEAT_SECONDS / 60
    flags.register_validator("claim_timeout_minutes", lambda v: _finite(v) and v > heartbeats,
                             f"--claim_timeout_minutes must exceed three heartbeats ({heartbeats:g} minutes): a "
                             f"shorter timeout lets a second worker take over a live trial")
    # Values that train without error but make a trial meaningless (NaN loss, chance accuracy) fail here.
    flags.register_validator("base_lr", lambda v: _finite(v) and v > 0, "--base_lr must be a finite number > 0")
    flags.register_validator("momentum", lambda v: _finite(v) and 0 <= v < 1, "--momentum must be in [0, 1)")
    flags.register_validator("warmup_fraction", lambda v: _finite(v) and 0 <= v <= 1,
                             "--warmup_fraction must be in [0, 1]")
    flags.register_validator("warmup_epochs", lambda v: _finite(v) and v >= 0, "--warmup_epochs must be >= 0")
    flags.register_validator("weight_decay", lambda v: _finite(v) and v >= 0,
                             "--weight_decay must be a finite number >= 0")
    flags.register_validator("l2", lambda v: _finite(v) and v >= 0, "--l2 must be a finite number >= 0")
    flags.register_validator("eval_batch_size", lambda v: v >= 1, "--eval_batch_size must be >= 1")
    flags.register_validator("seed", lambda v: v >= 0, "--seed must be >= 0")
    flags.register_validator("corrupt_seed", lambda v: v >= 0, "--corrupt_seed must be >= 0")
    flags.register_validator("train_per_class", lambda v: v >= 0, "--train_per_class must be >= 0 (0 = all)")
    flags.register_validator("test_per_class", lambda v: v >= 0, "--test_per_class must be >= 0 (0 = all)")
    flags.register_validator("log_every_epochs", lambda v: v >= 1, "--log_every_epochs must be >= 1")
    flags.register_validator("mlp_hidden", lambda v: shared_flags.valid(_check_widths, v), "see the message above")
    flags.register_validator("decay_epochs", lambda v: shared_flags.valid(_check_epochs, v), "see the message above")


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _check_save_model_trials(spec: str) -> None:
    """--save_model_trials: empty or a trial selection like --trials."""
    if spec:
        try:
            parse_trials(spec)
        except ValueError as e:
            raise ValueError(f"--save_model_trials={spec!r}: {e}") from None


def _check_widths(spec: str) -> None:
    """--mlp_hidden: comma-separated positive integers (empty: softmax regression)."""
    for item in str(spec).split(","):
        if item.strip() and not (item.strip().isascii() and item.strip().isdigit() and int(item) > 0):
            raise ValueError(f"--mlp_hidden={spec!r}: widths must be positive integers, e.g. 512,256 (got {item!r})")


def _check_epochs(values) -> None:
    """--decay_epochs: finite non-negative numbers."""
    for item in values:
        try:
            number = float(item)
        except ValueError:
            raise ValueError(f"--decay_epochs={','.join(values)}: {item!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"--decay_epochs={','.join(values)}: {item!r} must be a finite number >= 0")


def dataset_from_flags():
    """--dataset (from --data_dir), its --train_per_class/--test_per_class part, with --corrupt_fraction of its
    training labels corrupted; --arch checked against it (check_arch) before the caller starts anything."""
    try:
        dataset = datasets.load(FLAGS.dataset, FLAGS.data_dir)
        dataset = balanced.first_per_class(dataset, FLAGS.train_per_class, FLAGS.test_per_class)
    except datasets.DatasetError as e:
        raise SystemExit(f"error: --dataset={FLAGS.dataset}: {e}") from None
    if FLAGS.corrupt_fraction > 0:
        dataset = corrupt.corrupt_dataset(dataset, FLAGS.corrupt_fraction, FLAGS.corrupt_seed)
    check_arch(dataset)
    return dataset


def check_arch(dataset) -> None:
    """--arch and the augmentation flags against `dataset`, in one line before any trial starts, not inside
    each trial: feature vectors refuse an image architecture and crops/flips (models.check_input,
    recipe.augmentation); --arch=my_pkg.my_module:function, the user's code, is built once for `dataset`'s
    images and classes, so a function that is not a model builder (`os:system`) ends the program."""
    try:
        models.check_input(FLAGS.arch, dataset.image_shape)
        recipe.augmentation(config_from_flags(), dataset)
        if models.is_user_arch(FLAGS.arch):
            recipe.build_model(config_from_flags(), dataset)  # as a trial builds it
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def config_from_flags() -> TrainConfig:
    return TrainConfig(
        arch=FLAGS.arch, arch_options={"mlp_hidden": FLAGS.mlp_hidden}, subset_ratio=FLAGS.subset_ratio,
        seed=FLAGS.seed, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, base_lr=FLAGS.base_lr,
        lr_schedule=FLAGS.lr_schedule, warmup_fraction=FLAGS.warmup_fraction, warmup_epochs=FLAGS.warmup_epochs,
        decay_epochs=tuple(float(e) for e in FLAGS.decay_epochs), momentum=FLAGS.momentum,
        weight_decay=FLAGS.weight_decay, crop_padding=FLAGS.crop_padding,
        flip=None if FLAGS.flip == "default" else FLAGS.flip == "true", save_model=FLAGS.save_model,
        imagenet_augment=FLAGS.imagenet_augment, l2=FLAGS.l2,
        save_model_trials=FLAGS.save_model_trials, tensorboard=FLAGS.tensorboard,
        eval_batch_size=FLAGS.eval_batch_size, log_every_epochs=FLAGS.log_every_epochs,
        precision=precision_from_flags(), jit_compile=FLAGS.jit_compile)


def precision_from_flags() -> str:
    """--precision, with the old --mixed_precision as an alias of mixed_float16 (conflicting values: an error)."""
    if FLAGS.mixed_precision:
        if FLAGS["precision"].present and FLAGS.precision != "mixed_float16":
            raise SystemExit(f"error: --mixed_precision (= --precision=mixed_float16) conflicts with "
                             f"--precision={FLAGS.precision}")
        return "mixed_float16"
    return FLAGS.precision


def strategy_from_flags():
    """--strategy/--num_gpus as a tf.distribute strategy."""
    return strategy_lib.get(FLAGS.strategy, FLAGS.num_gpus)


def flag_values() -> dict:
    """The trainer flags' values, for metrics.json."""
    return {f.name: f.value for f in FLAGS.get_flags_for_module(__name__)}


def configure_threads() -> bool:
    """strategy.configure_cpu_packs for the flags (--pack_cpu_threads, --pack_trials, --strategy); programs
    call it before anything starts TensorFlow's runtime."""
    return FLAGS.pack_cpu_threads and strategy_lib.configure_cpu_packs(FLAGS.pack_trials, FLAGS.strategy)
