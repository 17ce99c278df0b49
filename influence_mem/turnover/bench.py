"""Benchmark: cost of the turn-over dropout estimator vs a plain model (prints figures; no timed tests).

  python -m influence_mem.turnover.bench [--mnist_size]

Digits (the demo MLP) and, with --mnist_size, paper 002's MNIST MLP (784-4096-10)
on random MNIST-shaped arrays (npz:PATH, nothing downloaded).  Prints seconds
per training epoch with and without turn-over dropout, self-influence examples/s,
influence pairs/s, and the projected time of all same-class pairs.
"""
import argparse
import dataclasses
import math
import os
import tempfile
import time

import keras
import numpy as np

from influence_mem.data import datasets, pipeline
from influence_mem.train.trial import TrainConfig, build_model, make_optimizer
from influence_mem.turnover import estimate as turnover


def _epoch_seconds(model_fit, epochs=2):
    model_fit(1)  # trace + warm up
    start = time.perf_counter()
    model_fit(epochs)
    return (time.perf_counter() - start) / epochs


def bench(dataset, config, pairs_sample_classes=1):
    ids = np.arange(dataset.num_train)
    plain = build_model(config, dataset)
    plain.compile(optimizer=make_optimizer(config, 1)[1],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = math.ceil(dataset.num_train / config.batch_size)
    plain_s = _epoch_seconds(lambda e: plain.fit(
        pipeline.train_pipeline(dataset, ids, batch_size=config.batch_size, shuffle_seed=0, augment_seed=0,
                                crop_padding=0, flip=False, epochs=e), epochs=e, steps_per_epoch=steps, verbose=0))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist_size", action="store_true", help="also paper 002's MLP at MNIST size")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    bench(datasets.load("digits"), TrainConfig(arch_options={"mlp_hidden": "512,256"}, batch_size=128,
                                               log_every_epochs=1000))
    if args.mnist_size:
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "mnist_shaped.npz")
            np.savez(path, x_train=rng.integers(0, 256, (60000, 28, 28), np.uint8), y_train=rng.integers(0, 10, 60000),
                     x_test=rng.integers(0, 256, (10000, 28, 28), np.uint8), y_test=rng.integers(0, 10, 10000))
            bench(datasets.load(f"npz:{path}"), TrainConfig(arch_options={"mlp_hidden": "4096"}, batch_size=256,
                                                            base_lr=0.06, lr_schedule="constant", momentum=0.0,
                                                            log_every_epochs=1000))


if __name__ == "__main__":
    main()
