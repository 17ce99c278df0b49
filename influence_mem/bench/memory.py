"""Memory benchmark: RSS of one process training many one-model-per-trial trials (it must stay flat).

  python -m influence_mem.bench.memory                       # 400 one-epoch digits MLP trials, ~10 minutes
  python -m influence_mem.bench.memory --memory_trials=100 --report_every=25

It takes the trainer's flags (influence_mem.train) with one epoch, no
SavedModels and no checkpoints as defaults, trains --memory_trials trials
through the real trainer (train.run.run_trials, one Keras model per trial)
into a temporary workdir, and prints the resident set size after the first
trial (the warm-up: TensorFlow, the dataset, the first traces), every
--report_every trials, and at the end, with the growth after the warm-up.
The target (docs/reliability.md): 400 trials grow RSS by under 200 MB.
"""
import resource
import tempfile
import time

from absl import app, flags

from influence_mem.programs import start
from influence_mem.train import flags as train_flags
from influence_mem.train.run import run_trials

TARGET_MB = 200.0  # growth allowed over 400 trials after the first one
FLAGS = flags.FLAGS


def define_flags() -> None:
    """The trainer flags with the benchmark's defaults (--workdir is unused), plus ours."""
    train_flags.define_flags()
    for name, value in {"epochs": 1, "save_model": False, "checkpoint_every": 0, "pack_trials": 1}.items():
        FLAGS.set_default(name, value)
    flags.DEFINE_integer("memory_trials", 400, "Trials trained in this one process.")
    flags.DEFINE_integer("report_every", 50, "Print the RSS every this many trials.")
    flags.register_validator("memory_trials", lambda v: v >= 2, "--memory_trials must be >= 2")
    flags.register_validator("report_every", lambda v: v >= 1, "--report_every must be >= 1")


def rss_mb() -> float:
    """This process's resident set size now (MB); the peak where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.pack_trials != 1:
        raise app.UsageError("this benchmark measures one model per trial: --pack_trials must be 1")
    dataset = train_flags.dataset_from_flags()
    config = train_flags.config_from_flags()
    total, every = FLAGS.memory_trials, FLAGS.report_every
    print(f"memory: {total} trials of {dataset.name} / {config.arch}, {config.epochs} epoch(s) each, one process")
    print(f"  RSS at start: {rss_mb():.0f} MB")
    with tempfile.TemporaryDirectory(prefix="im-bench-memory-") as workdir:
        started = time.time()
        run_trials(dataset, config, [0], workdir, checkpoint_every=FLAGS.checkpoint_every)
        warm = rss_mb()
        print(f"  RSS after trial 1 (warm-up): {warm:.0f} MB ({time.time() - started:.1f} s)")
        done = 1
        while done < total:
            block = list(range(done, min(total, (done // every + 1) * every)))
            run_trials(dataset, config, block, workdir, checkpoint_every=FLAGS.checkpoint_every)
            done = block[-1] + 1
            print(f"  RSS after {done} trials: {rss_mb():.0f} MB (+{rss_mb() - warm:.0f} MB since trial 1, "
                  f"{time.time() - started:.0f} s)", flush=True)
        growth = rss_mb() - warm
    per_400 = growth * 400.0 / max(total - 1, 1)
    print(f"memory: RSS grew {growth:.0f} MB over {total - 1} trials after the first ({per_400:.0f} MB per 400 "
          f"trials; target < {TARGET_MB:.0f}): {'OK' if per_400 < TARGET_MB else 'TOO MUCH'}")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
