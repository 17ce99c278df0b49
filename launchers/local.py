"""Run a trial range on the GPUs of one machine, in parallel trainer processes.

  # one trial (block) per GPU, 8 processes pinned with CUDA_VISIBLE_DEVICES:
  python launchers/local.py --flagfile=configs/cifar100_resnet50.cfg --workdir=/data/c100 --trials=0-3999
  # one mirrored trial at a time over all 8 GPUs (ImageNet):
  python launchers/local.py --flagfile=configs/imagenet_resnet50.cfg --workdir=/data/in --trials=0-1999 \
      --mode=mirrored

Takes every trainer flag (python -m influence_mem.train --help) plus the launcher
flags below; validates them once, then hands each process the same flags with
its own --trials block.  Trials already complete are skipped, trials claimed by
another live worker are left to it, and a killed run resumes from checkpoints,
so rerunning the same command finishes what is left.  Ends with a summary of
done and failed trials and the --trials to rerun.  Without GPUs it runs
--cpu_workers processes on the CPU.
"""
import itertools
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import influence_mem  # noqa: F401  (before TensorFlow: it keeps TensorFlow's start-up quiet)
import tensorflow as tf
from absl import app, flags, logging

from influence_mem import models
from influence_mem.data import datasets
from influence_mem.formats import released
from influence_mem.formats.trial import format_ratio, format_trials, parse_trials
from influence_mem.programs import shared_flags, start
from influence_mem.reevaluate import main as reevaluate_main
from influence_mem.train import claims, last_layer, status
from influence_mem.train import flags as train_flags
from influence_mem.train.progress import Progress

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The trainer flags (and the last-layer mode's and im-reevaluate's), which are forwarded, plus the launcher's
    own."""
    last_layer.define_flags()
    reevaluate_main.define_flags(required=False)
    if "trials_per_process" in FLAGS:
        return
    flags.DEFINE_enum("mode", "per_gpu", ["per_gpu", "mirrored"],
                      "per_gpu: one process per GPU; mirrored: each process mirrors one trial over a GPU group.")
    flags.DEFINE_list("gpus", None, "GPU ids to use (default: $CUDA_VISIBLE_DEVICES, else all that nvidia-smi "
                      "lists).")
    flags.DEFINE_integer("gpus_per_process", 0, "--mode=mirrored: GPUs per process (0 = all of --gpus in one).")
    flags.DEFINE_integer("cpu_workers", 1, "Parallel processes when there is no GPU.")
    flags.DEFINE_integer("trials_per_process", 10, "Trials per trainer process (a block; packed if the trainer "
                         "flags ask for packing).")
    flags.DEFINE_string("process_logs", None,
                        "Directory for per-process logs (default: <workdir>/logs, or ./logs for a remote workdir).")
    flags.DEFINE_enum("trainer_module", "influence_mem.train", ["influence_mem.train",
                                                                "influence_mem.train.last_layer", REEVALUATE],
                      "The program each process runs (last_layer: paper 000 sec. 3, "
                      "configs/cifar100_last_layer.cfg; reevaluate: im-reevaluate, --trials are then the run "
                      "ids of --runs, docs/reevaluate.md).")
    flags.register_validator("gpus_per_process", lambda v: v >= 0, "--gpus_per_process must be >= 0")
    flags.register_validator("cpu_workers", lambda v: v >= 1, "--cpu_workers must be >= 1")
    flags.register_validator("trials_per_process", lambda v: v >= 1, "--trials_per_process must be >= 1")
    flags.register_validator("gpus", lambda v: shared_flags.valid(_check_gpus, v), "see the message above")
    flags.register_validator("process_logs", lambda v: v is None or shared_flags.valid(
        lambda path: released.check_output_dir(path, "--process_logs"), v), "see the message above")


def _check_gpus(gpus) -> None:
    """--gpus: ids as nvidia-smi -L numbers them, or GPU-/MIG- UUIDs (what CUDA_VISIBLE_DEVICES takes)."""
    for gpu in gpus or []:
        if not (gpu.isascii() and gpu.isdigit()) and not gpu.startswith(("GPU-", "MIG-")):
            raise ValueError(f"--gpus={','.join(gpus)}: {gpu!r} is not a GPU id (a number as nvidia-smi -L lists "
                             f"them, or a GPU-/MIG- UUID)")


REEVALUATE = "influence_mem.reevaluate"
LAUNCHER_FLAGS = ("mode", "gpus", "gpus_per_process", "cpu_workers", "trials_per_process", "process_logs",
                  "trainer_module")


def visible_gpus(cuda_visible_devices=None, nvidia_smi_listing=None) -> list:
    """GPU ids this machine offers: $CUDA_VISIBLE_DEVICES if set, else one per 'GPU n:' line of nvidia-smi -L."""
    if cuda_visible_devices is not None:
        return [g.strip() for g in cuda_visible_devices.split(",") if g.strip() and g.strip() != "-1"]
    lines = (nvidia_smi_listing or "").splitlines()
    return [str(k) for k, line in enumerate(ln for ln in lines if ln.startswith("GPU "))]


def device_groups(gpus: list, mode: str, gpus_per_process: int = 0, cpu_workers: int = 1) -> list:
    """The CUDA_VISIBLE_DEVICES value of each parallel worker slot ('' = CPU only)."""
    if not gpus:
        return [""] * cpu_workers
    if mode == "per_gpu":
        return [str(g) for g in gpus]
    size = gpus_per_process or len(gpus)
    if len(gpus) % size:
        raise ValueError(f"--gpus_per_process={size} does not divide the {len(gpus)} GPUs {','.join(gpus)}")
    return [",".join(gpus[i:i + size]) for i in range(0, len(gpus), size)]


def blocks(trials, size: int) -> list:
    """Consecutive blocks of at most `size` trials (of any iterable of ids, e.g. data.subsets.TrialIds)."""
    ids = iter(trials)
    return list(iter(lambda: list(itertools.islice(ids, size)), []))


def forwarded_flags(flag_values=FLAGS, own=LAUNCHER_FLAGS) -> list:
    """The trainer flags the user set (on the command line or in a flagfile), as --name=value, minus --trials."""
    skip = set(own) | {"trials"}
    return [flag_values[name].serialize() for name in sorted(flag_values)
            if flag_values[name].present and name not in skip and flag_values[name].serialize()]


def trainer_command(block: list, trainer_flags: list, mirrored: bool, python: str = sys.executable,
                    module: str = "influence_mem.train") -> list:
    """argv of one trainer process for `block`."""
    extra = ["--strategy=mirrored", "--num_gpus=0"] if mirrored else []
    return [python, "-m", module, *trainer_flags, *extra, f"--trials={format_trials(block)}"]


def summary(workdir: str, ratio: float, trials: list, stale_seconds: float = claims.STALE_SECONDS) -> dict:
    """{'done', 'in_progress', 'failed', 'missing'} for `trials`, read from the workdir itself."""
    ratio_dir = os.path.join(workdir, format_ratio(ratio))
    found = (status.scan_ratio(ratio_dir, stale_seconds) if tf.io.gfile.isdir(ratio_dir)
             else {"done": set(), "in_progress": {}, "failed": {}})
    wanted = set(trials)
    result = {"done": sorted(found["done"] & wanted),
              "in_progress": {t: d for t, d in found["in_progress"].items() if t in wanted},
              "failed": {t: d for t, d in found["failed"].items() if t in wanted}}
    result["missing"] = sorted(wanted - set(result["done"]) - set(result["in_progress"]) - set(result["failed"]))
    return result


def log_summary(result: dict, ratio: float) -> bool:
    """Log the summary; True when every trial is done."""
    fmt = format_trials
    logging.info("done: %d trials (%s)", len(result["done"]), fmt(result["done"]) or "-")
    for trial, detail in sorted(result["in_progress"].items()):
        logging.info("in progress elsewhere: trial %d (%s)", trial, detail)
    for trial, detail in sorted(result["failed"].items()):
        logging.info("failed: trial %d (%s)", trial, detail)
    rerun = sorted(set(result["failed"]) | set(result["missing"]))
    if result["missing"]:
        logging.info("not done (worker failed before it started them): %s", fmt(result["missing"]))
    if rerun:
        logging.info("rerun with: --subset_ratio=%g --trials=%s", ratio, fmt(rerun))
    return not rerun and not result["in_progress"]


def prepare_dataset() -> None:
    """Prepare --dataset (and im-reevaluate's --points) once here (TFDS download + preparation), before any
    worker starts: the workers then only read it.  Exits with the one-line reason (and the `tfds build`
    command) when it cannot."""
    names = [("dataset", FLAGS.dataset)]
    if FLAGS.trainer_module == REEVALUATE and FLAGS.points:
        names.append(("points", FLAGS.points))
    for flag, name in names:
        try:
            datasets.prepare(name, FLAGS.data_dir)
        except datasets.DatasetError as e:
            raise SystemExit(f"error: --{flag}={name}: {e}") from None


def check_before_start() -> None:
    """Refuse here, once and in one line, what every trainer process would refuse beyond its flags' own
    checks (done when they are parsed): a --dataset that cannot be prepared (prepare_dataset), a user's --arch
    that builds no model for it (train.flags.check_arch), im-reevaluate's own flags without
    --trainer_module=influence_mem.reevaluate (they would be ignored)."""
    if FLAGS.trainer_module != REEVALUATE:
        own = [f"--{f.name}" for f in FLAGS.get_flags_for_module(reevaluate_main.__name__) if f.present]
        if own:
            raise SystemExit(f"error: {', '.join(own)}: im-reevaluate's flags, read only with "
                             f"--trainer_module={REEVALUATE}")
    prepare_dataset()
    if models.is_user_arch(FLAGS.arch):
        train_flags.dataset_from_flags()  # loads it and builds the user's model once


def default_log_dir(workdir: str) -> str:
    return os.path.join(workdir, "logs") if "://" not in workdir else "logs"


def run_blocks(commands: list, slots: list, log_dir: str) -> list:
    """Run each (name, argv) on the first free slot (a CUDA_VISIBLE_DEVICES value); [(name, returncode)]."""
    os.makedirs(log_dir, exist_ok=True)
    todo, results, lock = queue.Queue(), [], threading.Lock()
    bar = Progress(sum(len(parse_trials(name)) for name, _ in commands), "trials")
    for item in commands:
        todo.put(item)

    def worker(devices):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=devices)
        while True:
            try:
                name, argv = todo.get_nowait()
            except queue.Empty:
                return
            log_path = os.path.join(log_dir, f"trials-{name}.log")
            started = time.time()
            with open(log_path, "w") as log:
                code = subprocess.call(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            with lock:
                results.append((name, code))
                bar.update(trained=len(parse_trials(name)), note=f"block {name} on CUDA_VISIBLE_DEVICES="
                           f"{devices!r}: exit {code} after {time.time() - started:.0f}s (log {log_path})")

    threads = [threading.Thread(target=worker, args=(devices,)) for devices in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    return results


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.gpus is not None:
        gpus = [g for g in FLAGS.gpus if g]
    else:
        smi = shutil.which("nvidia-smi")
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True).stdout if smi else ""
        gpus = visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), listing)
    try:
        slots = device_groups(gpus, FLAGS.mode, FLAGS.gpus_per_process, FLAGS.cpu_workers)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    trials = parse_trials(FLAGS.trials)
    check_before_start()
    trainer_flags = forwarded_flags()
    mirrored = FLAGS.mode == "mirrored" and bool(gpus)
    commands = [(format_trials(b), trainer_command(b, trainer_flags, mirrored, module=FLAGS.trainer_module))
                for b in blocks(trials, FLAGS.trials_per_process)]
    logging.info("%d trials in %d processes over %d slot(s): %s", len(trials), len(commands), len(slots),
                 ", ".join(repr(s) for s in slots))
    run_blocks(commands, slots, FLAGS.process_logs or default_log_dir(FLAGS.workdir))
    result = summary(FLAGS.workdir, FLAGS.subset_ratio, trials, FLAGS.claim_timeout_minutes * 60)
    if not log_summary(result, FLAGS.subset_ratio):
        raise SystemExit(1)


def run():
    """Console-script entry point (pyproject.toml)."""
    start.run(main, define_flags, lambda: flags.mark_flag_as_required("workdir"))


if __name__ == "__main__":
    run()
