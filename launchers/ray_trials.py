"""Run a trial range as Ray tasks: on a local Ray instance or a cluster of many machines.

  ray start --head ...; ray start --address=HEAD:6379 ...      # on the machines, once
  python launchers/ray_trials.py --ray_address=auto --flagfile=configs/cifar100_resnet50.cfg \
      --workdir=gs://bucket/c100 --trials=0-3999 --gpus_per_trial=1

Each task runs one trainer process (python -m influence_mem.train) on a block of
--trials_per_task trials with the trainer flags given here; Ray reserves
--gpus_per_trial GPUs for it and pins them with CUDA_VISIBLE_DEVICES (more than
one: the task trains mirrored).  --gpus_per_trial=0 runs on CPUs.  The workdir
must be reachable from every machine (shared filesystem or gs://); the package
must be installed on every machine.  Ray retries a task whose machine died,
and a task whose trainer process was killed by a signal (e.g. the OOM killer:
the Ray worker survives it), each up to --max_retries times; the rerun resumes
from the trial's checkpoint, and the claims keep two copies of a task from
training the same trial.  Ends with the same summary as
launchers/local.py.  --trainer_module=influence_mem.reevaluate runs im-reevaluate
in each task instead (the trials are then the run ids of its --runs).
"""
import os
import subprocess
import sys

import influence_mem  # noqa: F401  (before TensorFlow: it keeps TensorFlow's start-up quiet)
import ray
import tensorflow as tf
from absl import app, flags, logging

from influence_mem.programs import start
from influence_mem.train.progress import Progress

# the launchers share blocks, flag forwarding and the summary
if __package__:  # installed: influence_mem_launchers.ray_trials (im-launch-ray)
    from influence_mem_launchers import local
else:  # python launchers/ray_trials.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import local  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The local launcher's flags (trainer flags included) plus Ray's."""
    local.define_flags()
    flags.DEFINE_string("ray_address", None, "Ray cluster address ('auto' = the cluster this machine joined); "
                        "unset: start a local Ray instance.")
    flags.DEFINE_integer("num_cpus", None, "Local Ray instance only: CPUs it may use (default: all).")
    flags.DEFINE_float("gpus_per_trial", 1, "GPUs per task (0 = CPU only; > 1 = mirrored over them).")
    flags.DEFINE_float("cpus_per_trial", 1, "CPUs per task (input pipeline threads).")
    flags.DEFINE_integer("trials_per_task", 10, "Trials per task (one trainer process).")
    flags.DEFINE_integer("max_retries", 3, "Retries of a task whose worker or machine died, or whose trainer "
                         "process was killed by a signal (e.g. the OOM killer).")
    flags.register_validator("gpus_per_trial", lambda v: v >= 0, "--gpus_per_trial must be >= 0")
    flags.register_validator("trials_per_task", lambda v: v >= 1, "--trials_per_task must be >= 1")
    flags.register_validator("num_cpus", lambda v: v is None or v >= 1, "--num_cpus must be >= 1")
    flags.register_validator("cpus_per_trial", lambda v: v > 0, "--cpus_per_trial must be > 0")
    flags.register_validator("max_retries", lambda v: v >= 0, "--max_retries must be >= 0")


RAY_FLAGS = ("ray_address", "num_cpus", "gpus_per_trial", "cpus_per_trial", "trials_per_task", "max_retries")
LOG_TAIL_CHARS = 4000


class TrainerKilled(RuntimeError):
    """A task's trainer process ended by a signal (negative return code): Ray retries the task."""


def run_block(argv: list, log_path: str = None) -> tuple:
    """Body of one task: run the trainer; (exit code, host, tail of its log).  The whole log is kept in
    `log_path` (appended, so a retried task keeps both attempts; written through tf.io.gfile: gs:// too)."""
    argv = [sys.executable, *argv[1:]]  # the worker's own Python
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    host = os.uname().nodename
    if log_path:
        tf.io.gfile.makedirs(os.path.dirname(log_path))
        with tf.io.gfile.GFile(log_path, "a") as log:
            log.write(f"=== {host}: {' '.join(argv)}\n{done.stdout}=== exit {done.returncode}\n")
    if done.returncode < 0:  # killed (OOM killer, SIGKILL): retried by Ray (retry_exceptions)
        raise TrainerKilled(f"trainer killed by signal {-done.returncode} on {host}; end of its log:\n"
                            f"{done.stdout[-LOG_TAIL_CHARS:]}")
    return done.returncode, host, done.stdout[-LOG_TAIL_CHARS:]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    trials = local.parse_trials(FLAGS.trials)
    local.check_before_start()  # once, here: --data_dir must be one every machine reads (shared or gs://)
    trainer_flags = local.forwarded_flags(own=local.LAUNCHER_FLAGS + RAY_FLAGS)
    mirrored = FLAGS.gpus_per_trial > 1
    if FLAGS.ray_address:
        ray.init(address=FLAGS.ray_address)
    else:
        ray.init(num_cpus=FLAGS.num_cpus, include_dashboard=False)
    task = ray.remote(run_block).options(num_gpus=FLAGS.gpus_per_trial, num_cpus=FLAGS.cpus_per_trial,
                                         max_retries=FLAGS.max_retries, retry_exceptions=[TrainerKilled])
    log_dir = FLAGS.process_logs or os.path.join(FLAGS.workdir, "logs")  # reachable from every machine
    pending = {task.remote(local.trainer_command(block, trainer_flags, mirrored, module=FLAGS.trainer_module),
                           os.path.join(log_dir, f"trials-{local.format_trials(block)}.log")):
               local.format_trials(block) for block in local.blocks(trials, FLAGS.trials_per_task)}
    bar = Progress(len(trials), "trials")
    logging.info("%d trials in %d Ray tasks (%g GPU, %g CPU each) on %s", len(trials), len(pending),
                 FLAGS.gpus_per_trial, FLAGS.cpus_per_trial, ray.cluster_resources())
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        name = pending.pop(ready[0])
        try:
            code, host, tail = ray.get(ready[0])
        except ray.exceptions.RayError as e:
            logging.warning("trials %s: task lost (%s)", name, e)
            continue
        bar.update(trained=len(local.parse_trials(name)), note=f"block {name} on {host}: exit {code} "
                   f"(log {os.path.join(log_dir, f'trials-{name}.log')})")
        if code:
            logging.warning("trials %s: end of the trainer log:\n%s", name, tail)
    bar.close()
    ray.shutdown()
    result = local.summary(FLAGS.workdir, FLAGS.subset_ratio, trials, FLAGS.claim_timeout_minutes * 60)
    if not local.log_summary(result, FLAGS.subset_ratio):
        raise SystemExit(1)


def run():
    """Console-script entry point (pyproject.toml)."""
    start.run(main, define_flags, lambda: flags.mark_flag_as_required("workdir"))


if __name__ == "__main__":
    run()
