"""Deprecated path: the downloader is influence_mem.formats.released.fetch, its program
influence_mem.programs.released (`python -m influence_mem.released list|fetch|check`)."""
import warnings

from influence_mem.formats.released.fetch import (CHUNK, CSCORES_URL, FILES, INFLUENCE_URL, TIMEOUT_S,  # noqa: F401
                                                  FetchError, ReleasedFile, check, default_cache_dir, fetch,
                                                  lookup, names, sha256_of)
from influence_mem.programs.released import main  # noqa: F401

warnings.warn("influence_mem.released_files moved to influence_mem.formats.released.fetch (its program: "
              "influence_mem.programs.released)", DeprecationWarning, stacklevel=2)
