"""The command-line flags the estimate-reading programs share, each defined once.

--estimates, --name, --output_dir, --mem_threshold and --infl_threshold mean
the same in im-report, im-describe, im-aggregate, the turn-over run and the
analysis programs; only the help text (and whether a flag is required)
differs.  Importing this module defines nothing: each program's define_flags()
calls the define_* functions it needs (they are idempotent) and is run by
influence_mem.cli.run, which makes them the flags its --help lists.
"""
from absl import flags

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

