"""programs.shared_flags: the estimate programs' flags, defined once however often asked, with their
defaults and required marks; `valid` turns a check's ValueError into absl's one-line error."""
import pytest
from absl import flags

from influence_mem.programs import shared_flags


def _define_all():
    for _ in range(2):  # idempotent: a program and a flag set it shares may both ask
        shared_flags.define_estimates()
        shared_flags.define_name()
        shared_flags.define_output_dir("Where to write.")
        shared_flags.define_thresholds()


def test_defaults_and_idempotent_definitions(program):
    values = program.parse(_define_all, "--estimates=/e")
    assert (values.estimates, values.name, values.output_dir) == ("/e", None, None)
    assert (values.mem_threshold, values.infl_threshold) == (0.25, 0.15)  # the paper's pair selection


def test_estimates_is_required(program):
    with pytest.raises(flags.IllegalFlagValueError, match="--estimates must have a value"):
        program.parse(_define_all)


def test_estimates_list(program):
    values = program.parse(shared_flags.define_estimates_list, "--estimates=a=/x,b=/y")
    assert values.estimates == ["a=/x", "b=/y"]


def test_valid_passes_the_checks_message_on():
    def check(value):
        if value < 0:
            raise ValueError(f"--n={value}: must be >= 0")

    assert shared_flags.valid(check, 3) is True
    with pytest.raises(flags.ValidationError, match=r"^--n=-1: must be >= 0$"):
        shared_flags.valid(check, -1)
