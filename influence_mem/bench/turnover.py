"""Benchmark: cost of the turn-over dropout estimator vs a plain model (prints figures; no timed tests).

  python -m influence_mem.bench.turnover [--mnist_size]

Digits (the demo MLP) and, with --mnist_size, paper 002's MNIST MLP (784-4096-10)
on random MNIST-shaped arrays (npz:PATH, nothing downloaded).  Prints seconds
per training epoch with and without turn-over dropout, self-influence examples/s,
influence pairs/s, and the projected time of all same-class pairs.
"""
import dataclasses
import os
import tempfile
import time

import numpy as np
from absl import app, flags

from influence_mem.data import datasets
from influence_mem.programs import start
from influence_mem.train import recipe
from influence_mem.train.config import TrainConfig
from influence_mem.train.plan import TrialPlan
from influence_mem.turnover import trainer as turnover

FLAGS = flags.FLAGS


def _epoch_seconds(model_fit, epochs=2):
    model_fit(1)  # trace + warm up
    start = time.perf_counter()
    model_fit(epochs)
    return (time.perf_counter() - start) / epochs


def bench(dataset, config, pairs_sample_classes=1):
    ids = np.arange(dataset.num_train)
    plan = TrialPlan(trial=0, ids=ids, seeds={"init": 0, "shuffle": 0, "augment": 0}, batch_size=config.batch_size)
    plain_config = dataclasses.replace(config, crop_padding=0, flip=False)
    plain, _, _ = recipe.compiled_model(plain_config, dataset, plan)

    def plain_fit(epochs):
        run = dataclasses.replace(plain_config, epochs=epochs)
        recipe.fit(plain, recipe.train_batches(dataset, run, plan), run, plan)

    plain_s = _epoch_seconds(plain_fit)
    steps = plan.steps_per_epoch
    start = time.perf_counter()
    model = turnover.train(dataset, dataclasses.replace(config, epochs=1))
    first = time.perf_counter() - start
    to_s = _epoch_seconds(lambda e: model.fit(
        turnover.train_pipeline(dataset, config.batch_size, {"shuffle": 0, "augment": 0}, 0, False, e),
        epochs=e, steps_per_epoch=steps, verbose=0))
    small = dataclasses.replace(dataset, x_train=dataset.x_train[:64], train_labels=dataset.train_labels[:64])
    turnover.self_influence(model, small, config.eval_batch_size)  # trace first: time the steady state
    start = time.perf_counter()
    turnover.self_influence(model, dataset, config.eval_batch_size)
    self_s = time.perf_counter() - start
    # Influence pairs/s on the first class only; projected to all same-class pairs.
    sub = dataclasses.replace(dataset, x_test=dataset.x_test[dataset.test_labels == 0],
                              test_labels=dataset.test_labels[dataset.test_labels == 0])
    rows = int(np.sum(dataset.train_labels == 0))
    keep = dataset.train_labels == 0
    sub = dataclasses.replace(sub, x_train=dataset.x_train[keep][: max(1, rows // 10)],
                              train_labels=dataset.train_labels[keep][: max(1, rows // 10)])
    turnover.influence_blocks(model, sub, config.eval_batch_size)  # trace first
    start = time.perf_counter()
    turnover.influence_blocks(model, sub, config.eval_batch_size)
    pairs = len(sub.train_labels) * len(sub.test_labels)
    rate = pairs / (time.perf_counter() - start)
    total = sum(int(np.sum(dataset.train_labels == c)) * int(np.sum(dataset.test_labels == c))
                for c in range(dataset.num_classes))
    print(f"{dataset.name[:40]:40s} n={dataset.num_train} arch={config.arch} {config.arch_options}")
    print(f"  s/epoch plain {plain_s:.3f}  turn-over {to_s:.3f}  (x{to_s / plain_s:.2f}); first epoch incl. "
          f"tracing {first:.2f}s")
    print(f"  self-influence {dataset.num_train / self_s:.0f} examples/s; influence {rate:.0f} pairs/s; "
          f"all {total:.3g} same-class pairs ~ {total / rate / 3600:.2f} h")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    bench(datasets.load("digits"), TrainConfig(arch_options={"mlp_hidden": "512,256"}, batch_size=128,
                                               log_every_epochs=1000))
    if FLAGS.mnist_size:
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "mnist_shaped.npz")
            np.savez(path, x_train=rng.integers(0, 256, (60000, 28, 28), np.uint8), y_train=rng.integers(0, 10, 60000),
                     x_test=rng.integers(0, 256, (10000, 28, 28), np.uint8), y_test=rng.integers(0, 10, 10000))
            bench(datasets.load(f"npz:{path}"), TrainConfig(arch_options={"mlp_hidden": "4096"}, batch_size=256,
                                                            base_lr=0.06, lr_schedule="constant", momentum=0.0,
                                                            log_every_epochs=1000))


def define_flags() -> None:
    flags.DEFINE_boolean("mnist_size", False, "Also paper 002's MLP at MNIST size (random arrays, nothing "
                         "downloaded).")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
