"""--config=NAME: a shipped flagfile by name, rewritten into --flagfile=<its path> before absl parses.

A program that takes the trainer's flags defines --config (define_config); programs.start.run rewrites it
(expand_config, through configs.resolve) so `im-train --config=cifar100_resnet50 --workdir=W` reads the
shipped configs/cifar100_resnet50.cfg.  Only shipped names are accepted; a path is --flagfile's job.
"""
from absl import flags

from influence_mem.programs import configs

CONFIG_HELP = ("A shipped flagfile by name (e.g. cifar100_resnet50, turnover/mnist_mlp: the configs/*.cfg files); "
               "the same as --flagfile=<its path>. Flags after it override it. A file of your own: --flagfile.")


def define_config():
    """--config=NAME (start.run turns it into --flagfile before parsing).  A value left for absl to parse came
    from inside a flagfile, where it would be ignored silently: refused instead."""
    if "config" not in flags.FLAGS:
        flags.DEFINE_string("config", None, CONFIG_HELP)
        flags.register_validator("config", lambda value: value is None,
                                 "works on the command line only; inside a flagfile write --flagfile=<its path>")


def takes_config() -> bool:
    """Whether the starting program defined --config (another program's own `config` flag is left alone)."""
    return "config" in flags.FLAGS and flags.FLAGS["config"].help == CONFIG_HELP


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
