"""influence_mem: memorization and influence estimation (Feldman & Zhang, NeurIPS 2020).

The package is split so that estimation and analysis (`estimate/`, `released`,
`analysis/`) need only numpy; training (`data/`, `models/`, `train/`) needs
TensorFlow.  Nothing heavy is imported here.

TensorFlow's start-up chatter is off by default in every program and notebook
that imports this package before TensorFlow: TF_CPP_MIN_LOG_LEVEL=2 (unless you
set it), and the C++ notices TensorFlow prints while it loads (the oneDNN
notice, CPU instruction hints) are dropped; every other line it prints then is
kept.  INFLUENCE_MEM_VERBOSE=1 brings all of it back (and programs.start.run keeps
TensorFlow's Python log lines too).
"""
import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile

__version__ = "0.2.0"

VERBOSE_ENV = "INFLUENCE_MEM_VERBOSE"
# Lines TensorFlow's C++ side prints while loading, whatever TF_CPP_MIN_LOG_LEVEL says.
_LOAD_NOISE = ("All log messages before absl::InitializeLog() is called", "oneDNN custom operations are on",
               "cpu_feature_guard.cc", "To enable the following instructions:",
               "rebuild TensorFlow with the appropriate compiler flags", "Unable to register cuDNN factory",
               "Unable to register cuFFT factory", "Unable to register cuBLAS factory",
               "computation placer already registered", "TF-TRT Warning", "could not find cuda drivers")


def verbose() -> bool:
    """INFLUENCE_MEM_VERBOSE set to anything but '', 0, false, no: keep TensorFlow's log output."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def _without_load_noise():
    """Run the block with file descriptor 2 captured, then write back every line but the _LOAD_NOISE ones."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(True) if not any(n in line for n in _LOAD_NOISE)]
            if kept:
                os.write(2, "".join(kept).encode())


class _QuietLoader(importlib.abc.Loader):
    """Loads `tensorflow` with its original loader inside _without_load_noise()."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader
        with _without_load_noise():
            self.loader.exec_module(module)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """The first `import tensorflow` of the process runs through _QuietLoader; then this finder leaves."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


if not verbose():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
