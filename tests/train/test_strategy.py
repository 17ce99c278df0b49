"""train.strategy: argument errors and the global-batch check (mirrored runs on logical devices need a fresh
process: tests/integration/test_mirrored.py)."""
import types

import pytest
import tensorflow as tf

from influence_mem.train import strategy


def test_bad_strategy_arguments_have_clear_errors():
    with pytest.raises(ValueError, match=r"--num_gpus=99 but only \d+ device"):
        strategy.get("mirrored", 99)
    with pytest.raises(ValueError, match="unknown --strategy 'tpu'"):
        strategy.get("tpu")
    assert strategy.check_batch_size(types.SimpleNamespace(num_replicas_in_sync=8), 896) == 112
    with pytest.raises(ValueError, match="--batch_size=49 is the global batch and must be divisible by the 2"):
        strategy.check_batch_size(types.SimpleNamespace(num_replicas_in_sync=2), 49)


def test_configure_cpu_packs_changes_nothing_once_tensorflow_runs_or_where_packs_do_not_split():
    tf.constant(1.0) + 1  # this process's runtime has started, with TensorFlow's threads
    before = tf.config.threading.get_intra_op_parallelism_threads()
    assert not strategy.configure_cpu_packs(32, "default")  # too late: nothing changes, nothing raises
    assert tf.config.threading.get_intra_op_parallelism_threads() == before
    assert not strategy.configure_cpu_packs(1, "default")  # one model per trial
    assert not strategy.configure_cpu_packs(32, "mirrored")  # one op already spans the replicas
