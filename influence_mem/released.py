"""The released estimate formats for notebooks and scripts: `from influence_mem import released`.

The API lives in influence_mem.formats.released (docs/formats.md); this module only re-exports it, and
`python -m influence_mem.released list|fetch|check` runs its program (influence_mem.programs.released).
"""
from influence_mem.formats.released import *  # noqa: F401,F403
from influence_mem.formats.released import __all__  # noqa: F401

if __name__ == "__main__":
    from influence_mem.programs.released import main

    raise SystemExit(main())
