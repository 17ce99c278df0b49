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
import os

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


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def configure_cpu_packs(pack_trials: int, strategy_name: str) -> bool:
    """Give every TensorFlow op one thread and run as many ops at once as there are cores, for packed
    trials (pack_trials > 1) under the default strategy on a host without GPUs; whether it did.

    A pack then steps one sub-pack per core (train.packed_graph.SubPacks), each core through
    its own ops, instead of splitting every op over every core: digits MLP, K = 32 on
    2 cores, 11.4 against 13.8 ms a bfloat16 step, 20.0 against 21.6 float32
    (docs/performance.md).  TensorFlow takes its thread counts when its runtime
    starts, so programs call this first; once the runtime has started (a notebook
    that ran TensorFlow ops) it changes nothing and returns False.
    """
    if pack_trials < 2 or strategy_name != "default" or cpu_cores() < 2 or tf.config.list_physical_devices("GPU"):
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(cpu_cores())
    except RuntimeError:  # the runtime has started: its threads are fixed
        logging.info("TensorFlow has started: packs keep its thread settings")
        return False
    return True
