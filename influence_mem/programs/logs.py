"""TensorFlow's own Python log lines (SavedModel export, "Sharding callback duration" per checkpoint, ...) are
its internals, not the program's: off unless --verbosity >= 1 or INFLUENCE_MEM_VERBOSE=1.  (Its C++ start-up
notices are dropped by influence_mem/__init__.py.)"""
import logging
import os

from absl import flags

from influence_mem import verbose

# Python loggers whose INFO lines are TensorFlow's internals.
TF_LOGGERS = ("tensorflow", "h5py", "jax")


def quiet_tensorflow_logs() -> None:
    """Raise TensorFlow's Python loggers to WARNING (--verbosity >= 1 or INFLUENCE_MEM_VERBOSE=1: left alone)."""
    verbosity = flags.FLAGS["verbosity"].value if "verbosity" in flags.FLAGS and flags.FLAGS.is_parsed() else 0
    if verbose() or verbosity >= 1:
        return
    for name in TF_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    absl_logger = logging.getLogger("absl")  # TensorFlow's checkpoint/export code logs through absl too
    if not any(isinstance(f, NotTensorFlowInfo) for f in absl_logger.filters):
        absl_logger.addFilter(NotTensorFlowInfo())


class NotTensorFlowInfo(logging.Filter):
    """Drops INFO/DEBUG records logged from inside TensorFlow's or Keras's own files."""
    _INSIDE = (f"{os.sep}tensorflow{os.sep}", f"{os.sep}keras{os.sep}", f"{os.sep}tf_keras{os.sep}")

    def filter(self, record):
        return record.levelno >= logging.WARNING or not any(p in record.pathname for p in self._INSIDE)
