"""A trainer run prints what it does, not TensorFlow's internals: no oneDNN notice, no "Sharding callback
duration", no SavedModel export lines; INFLUENCE_MEM_VERBOSE=1 brings TensorFlow's output back."""
import os
import subprocess
import sys

import pytest

from tests.helpers import DIGITS_MLP, REPO

pytestmark = pytest.mark.integration
NOISE = ("oneDNN custom operations", "cpu_feature_guard", "Sharding callback duration", "Assets written",
         "fingerprint", "absl::InitializeLog")


def _train(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "INFLUENCE_MEM_VERBOSE")}
    return subprocess.run([sys.executable, "-m", "influence_mem.train", f"--flagfile={DIGITS_MLP}", "--trials=0-1",
                           "--epochs=2", "--checkpoint_every=1", "--save_model", f"--workdir={tmp_path}"],
                          cwd=REPO, env=dict(clean, **env), capture_output=True, text=True, timeout=300)


def test_training_output_is_the_programs_own(tmp_path):
    proc = _train(tmp_path / "quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert not [line for line in lines if any(n in line for n in NOISE)], proc.stderr
    assert any("trials 2/2, " in line and "trials/min" in line for line in lines)
    assert len(lines) <= 12, proc.stderr


def test_verbose_env_brings_tensorflow_output_back(tmp_path):
    proc = _train(tmp_path / "verbose", INFLUENCE_MEM_VERBOSE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # TensorFlow's own lines are back (which ones depends on the build and environment: oneDNN's banner
    # is absent where TF_ENABLE_ONEDNN_OPTS is set, for one)
    assert sum(marker in proc.stderr for marker in NOISE) >= 2, proc.stderr[-3000:]
