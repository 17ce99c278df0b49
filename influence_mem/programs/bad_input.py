"""How bad input ends every program: one line on stderr naming the flag or file and what is wrong, exit code 1,
no traceback.  programs.start.run puts every absl program behind it:

- a flag absl refuses (unknown flag, a value its parser, bounds or a validator refuses, a missing required
  flag): absl's own report is two lines, the second not naming the flag; here it is one,
  `error: flag --epochs=-1: --epochs must be >= 1`;
- app.UsageError from main (absl would print the module's whole help before it): `error: <its message>`;
- an OSError naming a file (no such file, permission denied, read-only file system, disk full) that reaches
  the top of main: `error: <file>: <what the system said>`;
- NaN in a float flag: absl's bounds let it through (every comparison with NaN is false), refuse_nan does not.

Any other exception is a bug and keeps its traceback.
"""
import functools
import math
import re

from absl import app as absl_app
from absl import flags


def one_line(message) -> str:
    """`message` on one line (the lines of a multi-line message joined by '; ')."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def os_error_line(error: OSError) -> str:
    """`<file>: <reason>` for an OSError naming a file (both files of a rename)."""
    names = " -> ".join(str(n) for n in (error.filename, error.filename2) if n is not None)
    return f"{names}: {error.strerror or error}"


def parse_flags(argv):
    """absl's flags_parser for app.run: parse argv; a refusal ends the program with its one line (exit 1)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        raise SystemExit(f"error: {flag_error_line(e)}") from None


def flag_error_line(error) -> str:
    """absl's refusal on one line; `flag --x=v: --x=v: why` (a validator naming its flag) as `--x=v: why`."""
    text = one_line(error)
    named = re.match(r"flag (--[\w-]+)=.*?: (\1=.*)$", text)
    return named.group(2) if named else text


def refusing(main):
    """`main` with a UsageError or an OSError naming a file turned into one error line (exit 1)."""
    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except absl_app.UsageError as e:
            raise SystemExit(f"error: {one_line(e)}") from None
        except OSError as e:
            if e.filename is None:
                raise
            raise SystemExit(f"error: {os_error_line(e)}") from None
    return wrapped


def refuse_nan(names) -> None:
    """Each float flag among `names` refuses NaN when it is parsed (one line naming the flag)."""
    for name in names:
        flag = flags.FLAGS[name]
        if isinstance(flag.parser, flags.FloatParser):
            flags.register_validator(name, lambda value: value is None or not math.isnan(value),
                                     f"--{name} must be a number, not NaN")
