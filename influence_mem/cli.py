"""What every influence_mem program shares: its flags defined when it starts (never at import)
and listed by --help.

absl's --help lists the key flags of the module named by sys.argv[0], which
for `python -m pkg` is pkg/__main__.py, not the module that defined them.
run() defines the program's flags and registers each new one as a key flag
of sys.argv[0], so `--help` of every console script and `python -m` entry
lists exactly that program's own flags.
"""
import sys

from absl import app, flags


def run(main, *define_flags) -> None:
    """Call each `define_flags()`, make the flags they defined the ones --help lists, then app.run(main)."""
    before = set(flags.FLAGS)
    for define in define_flags:
        define()
    for name in sorted(set(flags.FLAGS) - before):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    app.run(main)


def valid(check, value) -> bool:
    """For flags.register_validator: run `check(value)`, which raises ValueError with a message naming the
    flag; absl then prints that one line instead of a traceback or a generic message."""
    try:
        check(value)
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True
