"""bench.packed (python -m influence_mem.bench): the MLP work count and every figure it prints, on a tiny run."""
import pytest

from influence_mem.bench import packed as bench
from influence_mem.train.config import TrainConfig


def test_trial_gflop_counts_the_mlp_flops(digits):
    config = TrainConfig(arch_options={"mlp_hidden": "512,256"}, epochs=10)
    train, evaluation = bench.trial_gflop(config, digits)
    forward = 2 * (64 * 512 + 512 * 256 + 256 * 10)
    assert train == pytest.approx(3 * forward * 1005 * 10 / 1e9)  # m = int(1437 * 0.7) = 1005
    assert evaluation == pytest.approx(forward * 1797 / 1e9)


@pytest.mark.slow
def test_main_prints_every_figure(program, capsys):
    program.run(bench.define_flags, bench.main, "--epochs=1", "--mlp_hidden=16", "--single_trials=1",
                "--pack_trials=2", "--packed_trials=2", "--peak_size=64", "--run_trials=10",
                "--bench_precisions=float32", "--repeats=1")
    out = capsys.readouterr().out
    for text in ("matmul peak", "K=1 (one Keras fit per trial)", "packed K=2, first pack", "of peak"):
        assert text in out, out
