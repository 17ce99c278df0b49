"""bench.packed (python -m influence_mem.bench): the MLP work count, the packed step's floor, and every figure it
prints, on a tiny run (digits, and an idx: dataset, the Fashion-MNIST spec's path)."""
import pytest

from influence_mem.bench import packed as bench
from influence_mem.train.config import TrainConfig


def test_trial_gflop_counts_the_mlp_flops(digits):
    config = TrainConfig(arch_options={"mlp_hidden": "512,256"}, epochs=10)
    train, evaluation = bench.trial_gflop(config, digits)
    forward = 2 * (64 * 512 + 512 * 256 + 256 * 10)
    assert train == pytest.approx(3 * forward * 1005 * 10 / 1e9)  # m = int(1437 * 0.7) = 1005
    assert evaluation == pytest.approx(forward * 1797 / 1e9)


def test_the_step_floor_counts_the_packs_matmuls_and_update_bytes(digits, monkeypatch):
    """A forward and a weight-gradient matmul per layer, an input gradient for all but the first; 20 bytes a
    weight moved by the update with momentum, 12 without; times at the measured rates."""
    monkeypatch.setattr(bench, "batched_matmul_rate", lambda models, batch, rows, cols, dtype: 100.0)
    monkeypatch.setattr(bench, "memory_bandwidth", lambda: 10.0)
    config = TrainConfig(arch_options={"mlp_hidden": "32"}, batch_size=16)
    floor = bench.dense_step_floor(config, digits, 8, 2, "bfloat16")
    flops = 8 * 16 * (2 * 64 * 32 * 2 + 2 * 32 * 10 * 3)
    weights = 64 * 32 + 32 + 32 * 10 + 10
    assert floor["gflop"] == pytest.approx(flops / 1e9)
    assert floor["megabytes"] == pytest.approx(8 * weights * 20 / 1e6)
    assert floor["seconds"] == pytest.approx(flops / 1e9 / 100.0 + 8 * weights * 20 / 1e9 / 10.0)
    assert floor["widest"] == (64, 32) and floor["dtype"] in ("bfloat16", "float32")  # float32 on CPUs without AVX-512
    plain = bench.dense_step_floor(TrainConfig(arch_options={"mlp_hidden": "32"}, momentum=0.0), digits, 8, 2,
                                   "float32")
    assert plain["megabytes"] == pytest.approx(8 * weights * 12 / 1e6)


def test_the_measured_rates_are_positive_and_finite():
    assert 0 < bench.batched_matmul_rate(2, 8, 16, 16, "bfloat16", runs=2) < float("inf")
    assert 0 < bench.memory_bandwidth(megabytes=4, runs=2) < float("inf")


@pytest.mark.slow
def test_main_prints_every_figure(program, capsys):
    program.run(bench.define_flags, bench.main, "--epochs=1", "--mlp_hidden=16", "--single_trials=1",
                "--pack_trials=2", "--packed_trials=2", "--peak_size=64", "--run_trials=10",
                "--bench_precisions=float32", "--repeats=1")
    out = capsys.readouterr().out
    for text in ("matmul peak", "K=1 (one Keras fit per trial)", "packed K=2, first pack", "of peak"):
        assert text in out, out


@pytest.mark.slow
def test_main_runs_an_idx_dataset_and_prints_its_floor_without_the_digits_targets(program, capsys, tmp_path):
    import gzip

    import keras
    import numpy as np

    for prefix, count in (("train", 200), ("t10k", 40)):  # MNIST's four IDX files: class c lights rows 2c, 2c + 1
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = np.zeros((count, 28, 28), np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c:2 * c + 2] = 255
        with gzip.open(tmp_path / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([2051, count, 28, 28], ">u4").tobytes() + images.tobytes())
        with gzip.open(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([2049, count], ">u4").tobytes() + labels.tobytes())
    try:
        program.run(bench.define_flags, bench.main, f"--dataset=idx:{tmp_path}", "--mlp_hidden=16", "--epochs=2",
                    "--single_trials=0", "--pack_trials=2", "--packed_trials=2", "--peak_size=64", "--run_trials=10",
                    "--bench_precisions=mixed_bfloat16", "--batch_size=16")
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the models it built set Keras's global policy
    out = capsys.readouterr().out
    assert "floor of a packed step (K=2" in out and "x the floor" in out, out
    assert "met (<=" not in out and "JAX recipe" not in out, out
