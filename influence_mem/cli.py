"""What every influence_mem program shares: its flags defined when it starts (never at import)
and listed by --help, and the flags of the estimate-reading programs, each defined once.

absl's --help lists the key flags of the module named by sys.argv[0], which
for `python -m pkg` is pkg/__main__.py, not the module that defined them.
run() defines the program's flags and registers each new one as a key flag
of sys.argv[0], so `--help` of every console script and `python -m` entry
lists exactly that program's own flags.

A program that takes the trainer's flags also takes `--config=NAME` (define_config): run() rewrites it
into `--flagfile=<path>` (configs.resolve) before absl parses the command line, so
`im-train --config=cifar100_resnet50 --workdir=W` reads the shipped configs/cifar100_resnet50.cfg.

TensorFlow's own log lines are off (quiet_tensorflow_logs; its C++ start-up notices: influence_mem/__init__.py);
`--verbosity=1` or INFLUENCE_MEM_VERBOSE=1 shows them.
"""
import functools
import logging
import os
import sys
import textwrap

from absl import app, flags

from influence_mem import configs, verbose


def run(main, *define_flags) -> None:
    """Call each `define_flags()`, make the flags they defined the ones --help lists, then app.run(main)."""
    before = set(flags.FLAGS)
    for define in define_flags:
        define()
    for name in sorted(set(flags.FLAGS) - before):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    own = sorted(set(flags.FLAGS) - before)
    if any(arg in HELP_ARGS for arg in sys.argv[1:sys.argv.index("--") if "--" in sys.argv else None]):
        print(help_text(program_name(sys.argv[0], main.__module__), own,
                        getattr(sys.modules.get(main.__module__), "__doc__", None)))
        raise SystemExit(0)
    if "config" in flags.FLAGS and flags.FLAGS["config"].help == CONFIG_HELP:
        try:
            sys.argv = expand_config(sys.argv)
        except configs.ConfigNotFoundError as e:
            raise SystemExit(f"{sys.argv[0].rsplit('/', 1)[-1]}: --config: {e}") from None
    app.run(functools.partial(_quiet_then, main))


HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
# Group titles by the module that defines the flags; the program's own flags come first.
GROUPS = {"influence_mem.train.flags": "trainer flags",
          "influence_mem.train.last_layer": "last-layer mode flags", "influence_mem.cli": "common flags"}


def program_name(argv0: str, main_module: str) -> str:
    """`im-train` for a console script; `python -m influence_mem.turnover` for a `python -m` entry."""
    name = os.path.basename(argv0)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = spec.name if spec is not None and spec.name else main_module
    if name.endswith(".py") and module and module != "__main__":
        parts = module.split(".")
        return "python -m " + ".".join(parts[:-1] if parts[-1] in ("main", "__main__") else parts)
    return name


def help_text(program: str, names, doc: str = None, width: int = 100) -> str:
    """--help: the first paragraph of the program's docstring, then its flags grouped by the module that
    defines them (the program's own, the trainer's, the shared ones), one entry each with its default."""
    name = program
    lines = [f"usage: {name} [flags]"]
    intro = (doc or "").strip().split("\n\n")[0].strip()
    if intro:
        lines.append("")
        for line in intro.splitlines():
            lines += textwrap.wrap(line, width=width, break_on_hyphens=False) or [""]
    groups = {}
    wanted = set(names)
    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        for flag in defined:
            if flag.name in wanted:
                groups.setdefault(GROUPS.get(module, f"{name} flags"), {})[flag.name] = flag
    order = sorted(groups, key=lambda title: (title != f"{name} flags", title == GROUPS["influence_mem.cli"], title))
    for title in order:
        lines += ["", f"{title}:"]
        for flag_name in sorted(groups[title]):
            flag = groups[title][flag_name]
            spelled = f"--[no]{flag_name}" if flag.boolean else f"--{flag_name}"
            default = "" if flag.default is None or flag.default_as_str in (None, "''") else \
                f" (default: {flag.default_as_str})"
            required = " (required)" if flag.name in _required() else ""
            lines += textwrap.wrap(f"{spelled}: {flag.help}{default}{required}", width=width, initial_indent="  ",
                                   subsequent_indent="      ", break_on_hyphens=False)
    lines += ["", "--flagfile=PATH reads flags from a file; --helpfull lists absl's own flags too."]
    return "\n".join(lines)


def _required() -> set:
    """Names of the flags marked required (absl keeps them as validators)."""
    found = set()
    for flag in flags.FLAGS._flags().values():
        for validator in getattr(flag, "validators", []):
            if "must have a value other than None" in str(getattr(validator, "message", "")):
                found.add(flag.name)
    return found


# Python loggers whose INFO lines (SavedModel export, "Sharding callback duration" per checkpoint, ...) are
# TensorFlow's internals, not the program's: shown only from --verbosity=1 on or with INFLUENCE_MEM_VERBOSE=1.
TF_LOGGERS = ("tensorflow", "h5py", "jax")


def quiet_tensorflow_logs() -> None:
    """Raise TensorFlow's Python loggers to WARNING (--verbosity >= 1 or INFLUENCE_MEM_VERBOSE=1: left alone)."""
    verbosity = flags.FLAGS["verbosity"].value if "verbosity" in flags.FLAGS and flags.FLAGS.is_parsed() else 0
    if verbose() or verbosity >= 1:
        return
    for name in TF_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    absl_logger = logging.getLogger("absl")  # TensorFlow's checkpoint/export code logs through absl too
    if not any(isinstance(f, _NotTensorFlowInfo) for f in absl_logger.filters):
        absl_logger.addFilter(_NotTensorFlowInfo())


class _NotTensorFlowInfo(logging.Filter):
    """Drops INFO/DEBUG records logged from inside TensorFlow's or Keras's own files."""
    _INSIDE = (f"{os.sep}tensorflow{os.sep}", f"{os.sep}keras{os.sep}", f"{os.sep}tf_keras{os.sep}")

    def filter(self, record):
        return record.levelno >= logging.WARNING or not any(p in record.pathname for p in self._INSIDE)


def _quiet_then(main, argv):
    quiet_tensorflow_logs()
    return main(argv)


CONFIG_HELP = ("A shipped flagfile by name (e.g. cifar100_resnet50, turnover/mnist_mlp: the configs/*.cfg files) "
               "or a path; the same as --flagfile=<its path>. Flags after it override it.")


def define_config():
    """--config=NAME: a shipped flagfile by name (run() turns it into --flagfile before parsing)."""
    if "config" not in flags.FLAGS:
        flags.DEFINE_string("config", None, CONFIG_HELP)


def expand_config(argv):
    """argv with each `--config=NAME` / `--config NAME` replaced by `--flagfile=<path of NAME>`
    (configs.resolve; raises its ConfigNotFoundError).  Stops at `--`."""
    out, i = list(argv[:1]), 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg in ("--config", "-config") and i + 1 < len(argv):
            out.append("--flagfile=" + configs.resolve(argv[i + 1]))
            i += 2
            continue
        if arg.startswith(("--config=", "-config=")):
            out.append("--flagfile=" + configs.resolve(arg.split("=", 1)[1]))
        else:
            out.append(arg)
        i += 1
    return out


def valid(check, value) -> bool:
    """For flags.register_validator: run `check(value)`, which raises ValueError with a message naming the
    flag; absl then prints that one line instead of a traceback or a generic message."""
    try:
        check(value)
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True


# --- Flags of the programs that read or write estimate sets -----------------------------------------
#
# --estimates, --name, --output_dir, --mem_threshold and --infl_threshold mean
# the same in im-report, im-describe, im-aggregate, the turn-over run and the
# analysis programs; only the help text (and whether a flag is required)
# differs.  Each program's define_flags() calls the define_* functions it needs
# (they are idempotent).

FLAGS = flags.FLAGS


def _defined(name: str) -> bool:
    return name in FLAGS


def define_estimates(help="Directory holding <name>_infl_matrix.npz etc.", required=True):
    """--estimates: one directory of estimate files (released.find_estimate_set)."""
    if not _defined("estimates"):
        flags.DEFINE_string("estimates", None, help)
        if required:
            flags.mark_flag_as_required("estimates")


def define_estimates_list(help="NAME=DIR entries, each DIR holding one <name>_infl_matrix.npz.", required=True):
    """--estimates as a list of NAME=DIR (programs comparing several estimate sets)."""
    if not _defined("estimates"):
        flags.DEFINE_list("estimates", None, help)
        if required:
            flags.mark_flag_as_required("estimates")


def define_name(help="Estimate name prefix; default: the only one in --estimates."):
    """--name: the <name> prefix of the estimate files."""
    if not _defined("name"):
        flags.DEFINE_string("name", None, help)


def define_output_dir(help, required=False):
    """--output_dir: where the program writes (each program says its default in `help`)."""
    if not _defined("output_dir"):
        flags.DEFINE_string("output_dir", None, help)
        if required:
            flags.mark_flag_as_required("output_dir")


def define_thresholds(mem_help="High-influence pairs: mem >= this.",
                      infl_help="High-influence pairs: infl >= this."):
    """--mem_threshold (0.25) and --infl_threshold (0.15): the paper's pair selection."""
    if not _defined("mem_threshold"):
        flags.DEFINE_float("mem_threshold", 0.25, mem_help)
    if not _defined("infl_threshold"):
        flags.DEFINE_float("infl_threshold", 0.15, infl_help)

