"""train.strategy.configure_cpu_packs in a fresh process: one thread per op and one op per core for packs
(tests/train/test_strategy.py has the cases where it changes nothing)."""
import subprocess
import sys

import pytest

from influence_mem.train import strategy

pytestmark = pytest.mark.integration

FRESH = """
from influence_mem.train import strategy
import tensorflow as tf
print(strategy.configure_cpu_packs(32, "default"), tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
"""
def test_a_fresh_process_gets_one_thread_per_op_and_one_op_per_core():
    if strategy.cpu_cores() < 2:
        pytest.skip("needs 2 or more CPU cores")
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"True 1 {strategy.cpu_cores()}"
