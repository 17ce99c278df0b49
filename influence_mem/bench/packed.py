"""Throughput benchmark: seconds per trial, one Keras model per trial vs packed trials, per precision.

  python -m influence_mem.bench                       # float32 and mixed_bfloat16 side by side, ~2 minutes
  python -m influence_mem.bench --precision=mixed_bfloat16 --repeats=3
  python -m influence_mem.bench --bench_precisions=float32 --pack_trials=64
  python -m influence_mem.bench --dataset=idx:/usr/share/datasets/fashion-mnist --mlp_hidden=512 \
      --bench_precisions=mixed_bfloat16 --single_trials=0 --packed_trials=32   # Fashion-MNIST, ~15 minutes

It takes the trainer's flags (influence_mem.train), with the spec of
docs/performance.md as defaults: digits, MLP 64-512-256-10, 70% subsets, 10
epochs, batch 128, SGD momentum 0.9, lr 0.1, packs of 32, no SavedModels
(--workdir is unused: each run writes into a temporary directory).  FLOPs
count dense layers only, so GFLOP/s is meaningful for --arch=mlp.  Both modes go through the real
trainer (train.run.run_trials: claims, evaluation, aux_arrays.npz,
metrics.json; SavedModels only with --save_model) into a temporary workdir,
without per-epoch checkpoints (as in configs/digits_mlp.cfg).  Achieved GFLOP/s counts the
matmul FLOPs of training (3 x forward: forward, input and weight gradients)
plus evaluation of the full train and test sets, against the matmul peak of
the precision's compute dtype (float32, bfloat16 or float16): the best of 10
rounds of large tf.matmuls of that dtype, one per core at once, timed at the
start and again after each packed run (the host may be shared), and the
highest of these is used.  Like im-train, it gives each op one thread and
steps one sub-pack per core on a host without GPUs (--pack_cpu_threads,
train.packed_graph.SubPacks); the K=1 mode then runs with one thread per op too
(--nopack_cpu_threads for TensorFlow's defaults).  Each
precision in --bench_precisions (--precision adds itself next to float32) is
timed in the same process, their repeats interleaved so that both see the
same load.  The packed mode's first pack is timed apart (it builds and traces
the packed trainer, once per process and precision); the figure that is
compared with the target is a real run's: (first pack + later packs' rate x
the other trials) / --run_trials.  For an MLP it also prints the floor of a
packed step on this machine (dense_step_floor: the matmul FLOPs at the batched
rate of the widest layer's shapes plus the SGD update's bytes at the memory
bandwidth, both measured in the same process) and how far the later packs are
above it.  The targets are the digits spec's; other datasets print none.
"""
import dataclasses
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from influence_mem.formats.trial import subset_size
from influence_mem.models.packed_model import matmul_dtype
from influence_mem.programs import start
from influence_mem.train import flags as train_flags
from influence_mem.train.config import TrainConfig
from influence_mem.train.pack import PackCache
from influence_mem.train.packed_graph import default_parts
from influence_mem.train.recipe import build_model
from influence_mem.train.run import run_trials
from influence_mem.train.strategy import cpu_cores

PUBLIC_RECIPE_SECONDS = 1.2  # the authors' MNIST example recipe on this machine (docs/performance.md)
TARGET_SECONDS = 0.15
# The bfloat16 work's targets (0.1.2, 0.1.3) for a 2,000-trial run of the spec on this machine
# (docs/performance.md, "Precision").
PRECISION_TARGETS = {"float32": 0.055, "mixed_bfloat16": 0.030}
COMPUTE_DTYPES = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The trainer flags with the benchmark spec as defaults (--workdir is unused), plus ours."""
    train_flags.define_flags()
    for name, value in {"epochs": 10, "pack_trials": 32, "save_model": False}.items():
        FLAGS.set_default(name, value)
    flags.DEFINE_integer("packed_trials", 256, "Trials timed in the packed mode after the first pack (which is "
                         "timed apart: it traces the packed trainer once per process).")
    flags.DEFINE_integer("run_trials", 2000, "Trials of the real run the per-trial figure is projected to (paper "
                         "000: 2,000-4,000 per experiment): (first pack + later packs' rate x the rest) / run_trials.")
    flags.DEFINE_integer("single_trials", 4, "Trials timed in the one-model-per-trial mode (0 = skip it).")
    flags.DEFINE_integer("repeats", 1, "Time the packed mode this many times; prints each, the best and the spread.")
    flags.DEFINE_integer("peak_size", 2048, "Side of the square matmul that measures each dtype's peak.")
    flags.DEFINE_list("bench_precisions", ["float32", "mixed_bfloat16"], "Precisions timed side by side "
                      "(--precision=X, if given, times float32 and X).")
    flags.register_validator("packed_trials", lambda v: v >= 1, "--packed_trials must be >= 1")
    flags.register_validator("run_trials", lambda v: v >= 1, "--run_trials must be >= 1")
    flags.register_validator("single_trials", lambda v: v >= 0, "--single_trials must be >= 0")
    flags.register_validator("repeats", lambda v: v >= 1, "--repeats must be >= 1")
    flags.register_validator("peak_size", lambda v: v >= 1, "--peak_size must be >= 1")


def matmul_peak(size: int, runs: int = 10, dtype: str = "float32") -> float:
    """GFLOP/s of the best of `runs` timed rounds of size x size matmuls of `dtype`, one per core at once
    in one graph call: the machine's peak whether an op has every core (TensorFlow's default) or one
    (--pack_cpu_threads)."""
    pairs = [[tf.cast(tf.random.normal([size, size]), dtype) for _ in range(2)] for _ in range(cpu_cores())]
    matmuls = tf.function(lambda: [tf.reduce_sum(tf.matmul(a, b)[:1, :1]) for a, b in pairs])
    matmuls()
    best = min(_timed(lambda: [m.numpy() for m in matmuls()]) for _ in range(runs))
    return len(pairs) * 2 * size ** 3 / best / 1e9


def batched_matmul_rate(models: int, batch: int, rows: int, cols: int, dtype: str, runs: int = 10) -> float:
    """GFLOP/s of a pack's batched matmul [models, batch, rows] x [models, rows, cols] of `dtype`, one per
    core at once (a sub-pack per core), best of `runs`: the rate a packed dense layer's matmuls can reach."""
    pairs = [(tf.cast(tf.random.uniform([models, batch, rows]), dtype),
              tf.cast(tf.random.normal([models, rows, cols]), dtype)) for _ in range(cpu_cores())]
    matmuls = tf.function(lambda: [tf.reduce_sum(tf.cast(tf.matmul(x, w)[:, :1, :1], tf.float32)) for x, w in pairs])
    matmuls()
    best = min(_timed(lambda: [m.numpy() for m in matmuls()]) for _ in range(runs))
    return len(pairs) * 2 * models * batch * rows * cols / best / 1e9


def memory_bandwidth(megabytes: int = 256, runs: int = 5) -> float:
    """GB/s of x += y on float32 arrays of `megabytes` each, one per core at once (12 bytes an element: x and
    y read, x written), best of `runs`: what a memory-bound pass such as the SGD update can reach."""
    size = megabytes * 2 ** 20 // 4
    pairs = [(tf.Variable(tf.zeros([size])), tf.ones([size])) for _ in range(cpu_cores())]
    add = tf.function(lambda: [x.assign_add(y, read_value=False) for x, y in pairs] and None, autograph=False)
    add()
    best = min(_timed(add) for _ in range(runs))
    return len(pairs) * 12 * size / best / 1e9


def dense_step_floor(config: TrainConfig, dataset, pack: int, parts: int, compute_dtype: str) -> dict:
    """The floor of one packed step of an MLP on this machine: its matmul FLOPs at the batched rate of its
    widest layer's shapes in the dtype the pack runs them in (models.packed_model.matmul_dtype), plus the
    SGD update's bytes at the memory bandwidth (both measured here).

    Training an example costs a forward and a weight-gradient matmul per layer, and an input-gradient
    one for every layer but the first.  The update moves 20 bytes a weight with momentum (12 without):
    the float32 weight and momentum read and written, and either a float32 gradient read or a
    low-precision gradient read and the weight's low-precision copy written."""
    weights = build_model(config, dataset).trainable_variables
    kernels = [tuple(v.shape) for v in weights if len(v.shape) == 2]
    flops = pack * config.batch_size * sum(2 * m * n * (2 + (i > 0)) for i, (m, n) in enumerate(kernels))
    update = pack * sum(int(np.prod(v.shape)) for v in weights) * (12 + (8 if config.momentum else 0))
    widest = max(kernels, key=lambda shape: shape[0] * shape[1])
    dtype = matmul_dtype(tf.as_dtype(compute_dtype)).name
    rate = batched_matmul_rate(-(-pack // parts), config.batch_size, widest[0], widest[1], dtype)
    bandwidth = memory_bandwidth()
    return {"gflop": flops / 1e9, "rate": rate, "dtype": dtype, "megabytes": update / 1e6, "bandwidth": bandwidth,
            "seconds": flops / 1e9 / rate + update / 1e9 / bandwidth, "widest": widest}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_flops(config: TrainConfig, dataset) -> int:
    """Matmul FLOPs of one example's forward pass: 2 x in x out per dense kernel."""
    model = build_model(config, dataset)
    return sum(2 * int(np.prod(v.shape)) for v in model.trainable_variables if len(v.shape) == 2)


def trial_gflop(config: TrainConfig, dataset) -> tuple:
    """(train, eval) GFLOP of one trial."""
    forward = forward_flops(config, dataset)
    train = 3 * forward * subset_size(dataset.num_train, config.subset_ratio) * config.epochs
    return train / 1e9, forward * (dataset.num_train + dataset.num_test) / 1e9


def seconds_per_trial(dataset, config, trials, pack_trials: int, pack_cache: PackCache = None) -> float:
    """Wall seconds per trial of training `trials` (ids) through run_trials into a temporary workdir
    (`pack_cache`: the packed trainer built by an earlier run of this config, as a long run reuses it)."""
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        summary = run_trials(dataset, config, list(trials), workdir, checkpoint_every=0, pack_trials=pack_trials,
                             pack_cache=pack_cache)
        elapsed = time.perf_counter() - start
    if len(summary["done"]) != len(trials):
        raise RuntimeError(f"only {len(summary['done'])} of {len(trials)} trials finished")
    return elapsed / len(trials)


def _precisions() -> list:
    if FLAGS["precision"].present or FLAGS.mixed_precision:
        chosen = train_flags.precision_from_flags()
        return ["float32"] if chosen == "float32" else ["float32", chosen]
    unknown = [p for p in FLAGS.bench_precisions if p not in COMPUTE_DTYPES]
    if unknown:
        raise app.UsageError(f"--bench_precisions: unknown {', '.join(unknown)}; known: {', '.join(COMPUTE_DTYPES)}")
    return list(dict.fromkeys(FLAGS.bench_precisions))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.pack_trials < 2:
        raise app.UsageError("--pack_trials must be >= 2 for the packed mode")
    threads = ("one thread per op, one sub-pack per core (--pack_cpu_threads; the K=1 mode runs so too)"
               if train_flags.configure_threads() else "TensorFlow's thread settings")
    dataset = train_flags.dataset_from_flags()
    base = train_flags.config_from_flags()
    base.log_every_epochs = base.epochs
    precisions = _precisions()
    configs = {p: dataclasses.replace(base, precision=p) for p in precisions}
    dense = base.arch == "mlp"
    pack = FLAGS.pack_trials
    print(f"config: {FLAGS.dataset}, {base.arch} {FLAGS.mlp_hidden if dense else ''}, r={base.subset_ratio}, "
          f"{base.epochs} epochs, batch {base.batch_size}, lr {base.base_lr}, momentum {base.momentum}, "
          f"save_model={base.save_model}; precisions {', '.join(precisions)}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {threads}")
    peaks = {p: [matmul_peak(FLAGS.peak_size, dtype=COMPUTE_DTYPES[p])] for p in precisions}
    for p in precisions:
        print(f"matmul peak ({cpu_cores()} x {FLAGS.peak_size}x{FLAGS.peak_size} {COMPUTE_DTYPES[p]} at once, best of 10): "
              f"{peaks[p][0]:.1f} GFLOP/s")
    train, evaluation = trial_gflop(base, dataset)
    work = train + evaluation
    if dense:
        print(f"work per trial: {work:.2f} GFLOP (train {train:.2f} = 3 x forward x "
              f"{subset_size(dataset.num_train, base.subset_ratio)} examples x {base.epochs} epochs; "
              f"eval {evaluation:.2f})")

    def rate(seconds, against):
        return f", {work / seconds:.1f} GFLOP/s ({work / seconds / against:.0%} of peak)" if dense else ""

    single, first, runs = {}, {}, {p: [] for p in precisions}
    caches = {p: PackCache(dataset, configs[p]) for p in precisions}  # each precision's packs, traced once
    for p in precisions:
        if FLAGS.single_trials:
            single[p] = seconds_per_trial(dataset, configs[p], range(FLAGS.single_trials), 1)
            print(f"{p}: K=1 (one Keras fit per trial): {single[p]:.3f} s/trial over {FLAGS.single_trials} trials"
                  f"{rate(single[p], max(peaks[p]))}")
        first[p] = seconds_per_trial(dataset, configs[p], range(pack), pack, caches[p]) * pack
        print(f"{p}: packed K={pack}, first pack (builds and traces the packed trainer, once per process): "
              f"{first[p]:.2f} s")
    for repeat in range(FLAGS.repeats):
        for p in precisions:  # interleaved: every precision's run r sees about the same load
            seconds = seconds_per_trial(dataset, configs[p], range(pack, pack + FLAGS.packed_trials), pack, caches[p])
            runs[p].append(seconds)
            # The host may be shared: each run is also compared with a peak taken right after it.
            peaks[p].append(matmul_peak(FLAGS.peak_size, dtype=COMPUTE_DTYPES[p]))
            print(f"  {p}: later packs, run {repeat + 1}: {seconds:.3f} s/trial{rate(seconds, peaks[p][-1])} of "
                  f"the peak measured right after it ({peaks[p][-1]:.1f} GFLOP/s)")
    total = max(FLAGS.run_trials, pack)
    if dense:
        parts = default_parts(tf.distribute.get_strategy())
        steps = base.epochs * -(-subset_size(dataset.num_train, base.subset_ratio) // base.batch_size)
        for p in precisions:
            floor = dense_step_floor(configs[p], dataset, pack, parts, COMPUTE_DTYPES[p])
            trial = floor["seconds"] * steps / pack
            k, (m, n) = -(-pack // parts), floor["widest"]
            print(f"{p}: floor of a packed step (K={pack}, {parts} sub-packs): {floor['gflop']:.2f} GFLOP of "
                  f"matmuls at {floor['rate']:.1f} GFLOP/s ([{k},{base.batch_size},{m}]x[{k},{m},{n}] "
                  f"{floor['dtype']}, one per core) + {floor['megabytes']:.0f} MB of SGD update at "
                  f"{floor['bandwidth']:.1f} GB/s = "
                  f"{floor['seconds'] * 1e3:.1f} ms; x {steps} steps / {pack} = {trial:.3f} s/trial; later packs "
                  f"{min(runs[p]):.3f} s/trial, {min(runs[p]) / trial:.2f}x the floor")
    rows = []
    for p in precisions:
        best, peak = min(runs[p]), max(peaks[p])
        projected = (first[p] + best * (total - pack)) / total
        rows.append((p, peak, first[p], best, runs[p], projected, single.get(p)))
        print(f"{p}: matmul peak {peak:.1f} GFLOP/s, the highest of {len(peaks[p])} measurements "
              f"({', '.join(f'{x:.0f}' for x in peaks[p])}); packed K={pack}, later packs: {best:.3f} s/trial "
              f"over {FLAGS.packed_trials} trials{rate(best, peak)}; runs: {', '.join(f'{r:.3f}' for r in runs[p])}")
        print(f"{p}: packed K={pack}, a run of {total} trials: {projected:.3f} s/trial{rate(projected, peak)}")
        if single.get(p):
            print(f"{p}: ratio K=1 / packed: {single[p] / projected:.1f}x")
    print()
    print(f"{'precision':<16}{'peak GFLOP/s':>13}{'first pack s':>13}{'later s/trial':>14}"
          f"{f'{total}-trial s/trial':>19}{'GFLOP/s':>9}{'of peak':>8}{'target':>8}  ")
    for p, peak, first_s, best, _, projected, _ in rows:
        target = PRECISION_TARGETS.get(p) if dense and FLAGS.dataset == "digits" else None
        verdict = "" if target is None else f"{'met' if projected <= target else 'not met'} (<= {target})"
        print(f"{p:<16}{peak:>13.0f}{first_s:>13.2f}{best:>14.3f}{projected:>19.3f}"
              f"{work / projected if dense else float('nan'):>9.1f}"
              f"{(work / projected / peak) if dense else float('nan'):>8.0%}  {verdict}")
    if len(rows) > 1:
        print(f"speed-up of {rows[1][0]} over float32 ({total}-trial figure): {rows[0][5] / rows[1][5]:.2f}x")
    if dense and "float32" in precisions and FLAGS.dataset == "digits":
        projected, peak = rows[0][5], rows[0][1]
        met = projected <= TARGET_SECONDS and work / projected >= peak / 2
        print(f"float32 vs the public JAX recipe ({PUBLIC_RECIPE_SECONDS} s/trial): "
              f"{PUBLIC_RECIPE_SECONDS / projected:.1f}x; packed-training target (<= {TARGET_SECONDS} s/trial and >= 50% "
              f"of peak): {'met' if met else 'not met'}")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
