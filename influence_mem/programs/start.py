"""How every influence_mem program starts: its flags defined when it starts (never at import) and listed
by --help, --config expanded, TensorFlow's log lines off, then absl's app.run, with bad input (a refused flag,
a UsageError, an OSError naming a file) ending in one line and exit code 1 (programs.bad_input).

absl's --help lists the key flags of the module named by sys.argv[0], which for `python -m pkg` is
pkg/__main__.py, not the module that defined them.  run() registers each flag the program defined as a key
flag of sys.argv[0], so `--help` of every console script and `python -m` entry lists exactly that
program's own flags (rendered by usage.help_text).
"""
import functools
import os
import sys

from absl import app as absl_app
from absl import flags

from influence_mem.programs import bad_input, config_flag, configs, logs, usage


def run(main, *define_flags) -> None:
    """Call each `define_flags()`, make the flags they defined the ones --help lists, then app.run(main)."""
    before = set(flags.FLAGS)
    for define in define_flags:
        define()
    own = sorted(set(flags.FLAGS) - before)
    bad_input.refuse_nan(own)
    for name in own:
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    if usage.asks_for_help(sys.argv):
        _print(usage.help_text(usage.program_name(sys.argv[0], main.__module__), own,
                               getattr(sys.modules.get(main.__module__), "__doc__", None)))
        raise SystemExit(0)
    if config_flag.takes_config():
        try:
            sys.argv = config_flag.expand_config(sys.argv)
        except configs.ConfigNotFoundError as e:
            raise SystemExit(f"{sys.argv[0].rsplit('/', 1)[-1]}: --config: {e}") from None
    absl_app.run(functools.partial(_quiet_then, bad_input.refusing(main)), flags_parser=bad_input.parse_flags)


def _print(text: str) -> None:
    """Print; a reader that stops early (`--help | head`) ends the output quietly, without a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush then succeeds


def _quiet_then(main, argv):
    logs.quiet_tensorflow_logs()
    return main(argv)
