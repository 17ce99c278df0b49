"""The tf.distribute strategy a trial trains under, chosen by flag.

- default: TensorFlow's default strategy (one device, no distribution).
- mirrored: tf.distribute.MirroredStrategy, synchronous data parallelism over
  the visible GPUs (the paper's ImageNet setup: 8 GPUs on one node).
  `num_gpus` > 0 takes the first N of them.  On a machine without GPUs it
  mirrors over the logical CPU devices, which is how it is tested.

The input pipeline's batch is the global batch: Keras splits each batch of
`batch_size` examples into `batch_size / replicas` per device and averages the
gradients, so a mirrored trial follows the same optimization as a one-device
trial.  Build the model and optimizer inside `strategy.scope()`.
"""
import tensorflow as tf
from absl import logging

NAMES = ("default", "mirrored")


def devices(num_gpus: int = 0) -> list:
    """Names of the devices a mirrored strategy uses: GPUs, else logical CPUs."""
    found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if num_gpus < 0:
        raise ValueError(f"--num_gpus must be >= 0 (0 = all visible), got {num_gpus}")
    if num_gpus > len(found):
        raise ValueError(f"--num_gpus={num_gpus} but only {len(found)} device(s) are visible: "
                         f"{', '.join(d.name for d in found)}")
    return [d.name for d in found[:num_gpus or len(found)]]


def get(name: str, num_gpus: int = 0) -> tf.distribute.Strategy:
    """The strategy called `name` ('default' or 'mirrored')."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        chosen = devices(num_gpus)
        if not tf.config.list_logical_devices("GPU"):
            logging.warning("--strategy=mirrored without GPUs: mirroring over %d CPU device(s)", len(chosen))
        return tf.distribute.MirroredStrategy(chosen)
    raise ValueError(f"unknown --strategy {name!r}; known: {', '.join(NAMES)}")


def check_batch_size(strategy: tf.distribute.Strategy, batch_size: int) -> int:
    """The per-replica batch; the global --batch_size must split evenly across replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch_size={batch_size} is the global batch and must be divisible by the "
                         f"{replicas} replicas of the strategy")
    return batch_size // replicas
