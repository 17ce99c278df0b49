"""Deprecated path: the per-trial format is influence_mem.formats.trial."""
import warnings

from influence_mem.formats.trial import *  # noqa: F401,F403

warnings.warn("influence_mem.estimate.trial_format moved to influence_mem.formats.trial", DeprecationWarning,
              stacklevel=2)
