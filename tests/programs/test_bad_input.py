"""programs.bad_input: what every absl program turns bad input into (one line, exit code 1), and what it leaves
alone (a bug's traceback).  Every program end to end: tests/integration/test_bad_input.py."""
import errno

import pytest
from absl import app, flags

from influence_mem.programs import bad_input


def test_one_line_joins_the_lines_of_a_message():
    assert bad_input.one_line("a\n  b  \n\nc") == "a; b; c"


@pytest.mark.parametrize("absl_said, line", [
    ("flag --workdir=/sys: --workdir=/sys: not writable", "--workdir=/sys: not writable"),
    ("flag --epochs=-1: --epochs must be >= 1", "flag --epochs=-1: --epochs must be >= 1"),
    ("flag --a=None: Flag --a must have a value other than None.\nflag --b=None: Flag --b must have a value",
     "flag --a=None: Flag --a must have a value other than None.; flag --b=None: Flag --b must have a value"),
])
def test_a_refused_flag_is_one_line_naming_it(absl_said, line):
    assert bad_input.flag_error_line(absl_said) == line


def test_parse_flags_ends_a_refused_value_in_one_line(program):
    def define():
        flags.DEFINE_integer("count", 1, "A count.", lower_bound=1)

    program.parse(define)
    with pytest.raises(SystemExit) as e:
        bad_input.parse_flags(["prog", "--count=0"])
    assert e.value.code == "error: flag --count=0: 0 is not a positive integer"
    with pytest.raises(SystemExit) as e:
        bad_input.parse_flags(["prog", "--no_such_flag=1"])
    assert str(e.value.code).startswith("error: Unknown command line flag 'no_such_flag'")


def _raising(error):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error, line", [
    (app.UsageError("unexpected arguments: x"), "error: unexpected arguments: x"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/x/y"),
     "error: /proc/x/y: No such file or directory"),
    (OSError(errno.ENOSPC, "No space left on device", "/out/a.npz"), "error: /out/a.npz: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/a", None, "/b"), "error: /a -> /b: Permission denied"),
])
def test_usage_errors_and_os_errors_naming_a_file_are_one_line(error, line):
    with pytest.raises(SystemExit) as e:
        bad_input.refusing(_raising(error))(["prog"])
    assert e.value.code == line


@pytest.mark.parametrize("error", [KeyError("bug"), ValueError("bug"), OSError("no file named")])
def test_anything_else_keeps_its_traceback(error):
    with pytest.raises(type(error)):
        bad_input.refusing(_raising(error))(["prog"])


def test_refusing_hands_on_what_main_returns():
    assert bad_input.refusing(lambda argv: len(argv))(["prog", "x"]) == 2


def test_float_flags_refuse_nan(program):
    def define():
        flags.DEFINE_float("ratio", 0.5, "A ratio.", lower_bound=0.0, upper_bound=1.0)  # NaN passes the bounds
        flags.DEFINE_integer("count", 1, "A count.")
        bad_input.refuse_nan(["ratio", "count"])

    assert program.parse(define, "--ratio=0.25").ratio == 0.25
    with pytest.raises(flags.IllegalFlagValueError, match="--ratio must be a number, not NaN"):
        program.parse(define, "--ratio=nan")
