"""--help of every program: the first paragraph of its docstring, then the flags the program defined, grouped
by the module that defines them (its own first, the shared ones last), one entry each with its default.

Read through absl's public FlagValues API only (`FLAGS[name]`, find_module_defining_flag, a flag's
`validators`), so an absl upgrade cannot silently change what --help shows.
"""
import os
import sys
import textwrap

from absl import flags

HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
COMMON = "common flags"
# Group titles by the module that defines the flags; any other module's flags are the program's own.
GROUPS = {"influence_mem.train.flags": "trainer flags", "influence_mem.train.last_layer": "last-layer mode flags",
          "influence_mem.programs.shared_flags": COMMON, "influence_mem.programs.config_flag": COMMON}


def asks_for_help(argv) -> bool:
    """A help flag among the arguments before any `--`."""
    return any(arg in HELP_ARGS for arg in argv[1:argv.index("--") if "--" in argv else None])


def program_name(argv0: str, main_module: str) -> str:
    """`im-train` for a console script; `python -m influence_mem.turnover` for a `python -m` entry."""
    name = os.path.basename(argv0)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = spec.name if spec is not None and spec.name else main_module
    if name.endswith(".py") and module and module != "__main__":
        parts = module.split(".")
        return "python -m " + ".".join(parts[:-1] if parts[-1] in ("main", "__main__") else parts)
    return name


def is_required(flag) -> bool:
    """Marked with flags.mark_flag_as_required (absl keeps that as a validator with this message)."""
    return any("must have a value other than None" in str(getattr(v, "message", "")) for v in flag.validators)


def help_text(program: str, names, doc: str = None, width: int = 100) -> str:
    """The --help page of `program` listing the flags called `names` (its docstring `doc` first)."""
    lines = [f"usage: {program} [flags]"]
    intro = (doc or "").strip().split("\n\n")[0].strip()
    if intro:
        lines.append("")
        for line in intro.splitlines():
            lines += textwrap.wrap(line, width=width, break_on_hyphens=False) or [""]
    own = f"{program} flags"
    groups = {}
    for name in names:
        flag = flags.FLAGS[name]
        module = flags.FLAGS.find_module_defining_flag(flag.name)
        groups.setdefault(GROUPS.get(module, own), {})[flag.name] = flag
    for title in sorted(groups, key=lambda title: (title != own, title == COMMON, title)):
        lines += ["", f"{title}:"]
        for flag_name in sorted(groups[title]):
            lines += textwrap.wrap(_entry(groups[title][flag_name]), width=width, initial_indent="  ",
                                   subsequent_indent="      ", break_on_hyphens=False)
    lines += ["", "--flagfile=PATH reads flags from a file; --helpfull lists absl's own flags too."]
    return "\n".join(lines)


def _entry(flag) -> str:
    """`--name: help (default: x) (required)`; booleans spelled --[no]name."""
    spelled = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    shown = flag.default is not None and flag.default_as_str not in (None, "''")
    default = f" (default: {flag.default_as_str})" if shown else ""
    return f"{spelled}: {flag.help}{default}{' (required)' if is_required(flag) else ''}"
