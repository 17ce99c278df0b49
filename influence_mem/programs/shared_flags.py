"""The flags of the programs that read or write estimate sets, each defined once, and the flag check they share.

--estimates, --name, --output_dir, --data_dir, --mem_threshold and --infl_threshold mean the same in im-report,
im-describe, im-aggregate, the turn-over run and the analysis programs; only the help text (and whether a
flag is required) differs.  --output_dir and --data_dir are checked when parsed (a folder that cannot be
written, a data directory that does not exist: one line naming the flag).  Each program's define_flags()
calls the define_* functions it needs (they are idempotent); nothing is defined at import.
"""
import os

from absl import flags

from influence_mem.formats import released
from influence_mem.formats.trial import parse_trials


def valid(check, value) -> bool:
    """For flags.register_validator: run `check(value)`, which raises ValueError with a message naming the
    flag; absl then prints that one line instead of a traceback or a generic message."""
    try:
        check(value)
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True


def _defined(name: str) -> bool:
    return name in flags.FLAGS


def _check_output_dir(path) -> None:
    released.check_output_dir(path, "--output_dir")


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


def define_data_dir(help="TFDS data directory (where prepared datasets live)."):
    """--data_dir: where TFDS keeps prepared datasets; when given, an existing directory (or a URL)."""
    if not _defined("data_dir"):
        flags.DEFINE_string("data_dir", None, help)
        flags.register_validator("data_dir", lambda v: v is None or "://" in v or os.path.isdir(v),
                                 "--data_dir must be an existing directory (where TFDS keeps prepared datasets; "
                                 "`tfds build NAME --data_dir=D` makes one)")


def define_name(help="Estimate name prefix; default: the only one in --estimates."):
    """--name: the <name> prefix of the estimate files."""
    if not _defined("name"):
        flags.DEFINE_string("name", None, help)


def define_output_dir(help, required=False):
    """--output_dir: where the program writes (each program says its default in `help`)."""
    if not _defined("output_dir"):
        flags.DEFINE_string("output_dir", None, help)
        flags.register_validator("output_dir", lambda v: v is None or valid(_check_output_dir, v),
                                 "see the message above")
        if required:
            flags.mark_flag_as_required("output_dir")


def define_thresholds(mem_help="High-influence pairs: mem >= this.",
                      infl_help="High-influence pairs: infl >= this."):
    """--mem_threshold (0.25) and --infl_threshold (0.15): the paper's pair selection."""
    if not _defined("mem_threshold"):
        flags.DEFINE_float("mem_threshold", 0.25, mem_help)
    if not _defined("infl_threshold"):
        flags.DEFINE_float("infl_threshold", 0.15, infl_help)


def define_trial_selection(help="Only these trials (the trainer's syntax, e.g. 0-1999 or 0-99,200); unfinished ones "
                                "are listed in a warning and left out.  Default: every finished trial."):
    """--trials: the trials a program reads (formats.trial.parse_trials; a malformed value is one error line)."""
    if not _defined("trials"):
        flags.DEFINE_string("trials", None, help)
        flags.register_validator("trials", lambda v: v is None or valid(parse_trials, v), "see the message above")


def define_min_train_accuracy():
    """--min_train_accuracy (0.95): below it, the programs that read trials or their estimates warn that the
    trials do not fit their training subsets."""
    if not _defined("min_train_accuracy"):
        flags.DEFINE_float("min_train_accuracy", 0.95,
                           "Warn when the trials' mean accuracy on their own training subsets is below this: the "
                           "estimates then describe models that do not learn their training data.",
                           lower_bound=0.0, upper_bound=1.0)
