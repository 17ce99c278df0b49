"""Aggregator benchmark: wall time and peak RSS of `im-aggregate` on synthetic trials.

    python -m influence_mem.bench.aggregate            # CIFAR-100 size, 4,000 trials
    python -m influence_mem.bench.aggregate --trials=200 --n=5000 --n_test=1000

Writes trial directories of a simulated learner (influence_mem.estimate.simulate:
known memorization, planted high-influence pairs) into a temporary workdir,
runs the aggregator as a child process and reads the child's own peak RSS
with os.wait4 (resource usage of that process only).  Prints the figures and
checks the estimates against the truth.  The default size needs ~3.3 GB of
disk for the trials, removed at the end unless --keep.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import flags

from influence_mem.formats import released
from influence_mem.estimate import lemma_bound
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial
from influence_mem.programs import shared_flags, start

FLAGS = flags.FLAGS


def define_flags() -> None:
    """This benchmark's flags (called from run, never at import)."""
    flags.DEFINE_integer("trials", 4000, "Number of trials.")
    flags.DEFINE_integer("n", 50000, "Training examples.")
    flags.DEFINE_integer("n_test", 10000, "Test examples.")
    flags.DEFINE_integer("classes", 100, "Classes.")
    flags.DEFINE_float("subset_ratio", 0.7, "Subset ratio.")
    flags.DEFINE_integer("chunk_size", 100, "Aggregator --chunk_size.")
    flags.DEFINE_string("workdir", None, "Where to put the trials (default: a temporary dir).")
    flags.DEFINE_boolean("keep", False, "Keep the workdir.")
    flags.DEFINE_boolean("full_influence", False, "Pass --full_influence (the [n, n_test] matrix).")
    flags.DEFINE_integer("seed", 0, "Seed of the simulation.")
    for name, least in (("trials", 1), ("n", 2), ("n_test", 1), ("classes", 2), ("chunk_size", 1), ("seed", 0)):
        flags.register_validator(name, lambda v, least=least: v >= least, f"--{name} must be >= {least}")
    flags.register_validator("subset_ratio", lambda v: 0 < v < 1, "--subset_ratio must be in (0, 1): the "
                             "estimates need examples both in and out of the subsets")
    flags.register_validator("workdir", lambda v: v is None or shared_flags.valid(
        lambda path: released.check_output_dir(path, "--workdir"), v), "see the message above")


RSS_BUDGET_GB = 4.0


def generate(workdir: Path, rng):
    tr_labels = np.arange(FLAGS.n) % FLAGS.classes
    tt_labels = np.arange(FLAGS.n_test) % FLAGS.classes
    write_dataset_meta(workdir, tr_labels, tt_labels, "bench")
    learner = make_learner(rng, tr_labels, tt_labels)
    start = time.monotonic()
    for k in range(FLAGS.trials):
        write_trial(workdir / f"{FLAGS.subset_ratio:g}", k, *learner.trial(rng, FLAGS.subset_ratio),
                    rng=rng)
        if (k + 1) % 500 == 0:
            print(f"generated {k + 1}/{FLAGS.trials} trials ({time.monotonic() - start:.0f} s)",
                  flush=True)
    return learner


def main(argv):
    del argv
    workdir = Path(FLAGS.workdir or tempfile.mkdtemp(prefix="im-aggregate-bench-"))
    try:
        learner = generate(workdir, np.random.default_rng(FLAGS.seed))
        size_gb = sum(f.stat().st_size for f in workdir.rglob("*.npz")) / 1e9
        cmd = [sys.executable, "-m", "influence_mem.aggregate", f"--workdir={workdir}",
               f"--subset_ratio={FLAGS.subset_ratio}", f"--output_dir={workdir / 'out'}",
               f"--chunk_size={FLAGS.chunk_size}"] + ["--full_influence"] * FLAGS.full_influence
        print("running:", " ".join(cmd), flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"aggregator failed with status {status}")
        peak_gb = usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux

        m = released.load_infl_matrix(workdir / "out" / "bench_infl_matrix.npz")
        pairs = pairs_from_matrix(m)
        found = set(zip(pairs["tr_idx"].tolist(), pairs["tt_idx"].tolist()))
        planted = set(zip(learner.planted_tr.tolist(), learner.planted_tt.tolist()))
        mse = float(np.mean((m.tr_mem - learner.true_mem) ** 2))
        bound = lemma_bound(FLAGS.subset_ratio, FLAGS.trials)
        print(f"\ntrials {FLAGS.trials}, n {FLAGS.n}, n_test {FLAGS.n_test}, classes "
              f"{FLAGS.classes}, chunk_size {FLAGS.chunk_size}, full_influence "
              f"{FLAGS.full_influence}, trial files {size_gb:.2f} GB, load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"aggregator wall time      {wall:8.1f} s  ({1000 * wall / FLAGS.trials:.1f} ms/trial)")
        print(f"aggregator peak RSS       {peak_gb:8.3f} GB ({peak_gb / RSS_BUDGET_GB:.1%} of the "
              f"{RSS_BUDGET_GB:g} GB budget)")
        print(f"aggregator CPU time       {usage.ru_utime + usage.ru_stime:8.1f} s  "
              f"(CPU/wall {(usage.ru_utime + usage.ru_stime) / wall:.2f})")
        print(f"mem MSE vs truth          {mse:.2e}  (Lemma 2.1 bound {bound:.2e}, ratio "
              f"{mse / bound:.3f})")
        print(f"planted pairs found       {len(planted & found)}/{len(planted)}; pairs selected "
              f"{len(found)}")
        if peak_gb > RSS_BUDGET_GB or mse > bound or not planted <= found:
            sys.exit("benchmark check FAILED")
    finally:
        if FLAGS.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
