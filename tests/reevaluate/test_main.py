"""im-reevaluate's flags: each bad value or input is one line and exit 1, with nothing written."""
import numpy as np
import pytest

from influence_mem.reevaluate import main as program_main


def invoke(program, *argv):
    return program.invoke(program_main.define_flags, program_main.main, *argv)


@pytest.mark.parametrize("flag,message", [
    ("--verify_tolerance=1.5", "--verify_tolerance must be in [0, 1]"),
    ("--trials=3-1", "malformed --trials '3-1'"),
    ("--arch=mlp", "--arch: the authors' checkpoints load into inception_small, resnet18_cifar"),
    ("--runs_order=sorted", "value should be one of <auto|dataset|tfds_position>"),
    ("--dataset=nonsense", "unknown dataset 'nonsense'"),
])
def test_bad_flag_values(program, tmp_path, flag, message):
    result = invoke(program, f"--runs={tmp_path}", "--points=digits", "--dataset=digits",
                    f"--workdir={tmp_path / 'out'}", flag)
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_required_flags(program, tmp_path):
    result = invoke(program, "--points=digits", "--dataset=digits", f"--workdir={tmp_path / 'out'}")
    assert result.returncode == 1 and "Flag --runs must have a value other than None" in result.stderr


def test_bad_inputs_stop_before_writing(program, tmp_path):
    runs = tmp_path / "runs"
    (runs / "0.7" / "0").mkdir(parents=True)
    out = tmp_path / "out"
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x_test=np.zeros((4, 8, 8), np.uint8))
    cases = [
        ([f"--points=npz:{unlabelled}"], f"error: --points=npz:{unlabelled}: {unlabelled}: no y_test: the new "
                                         f"points need labels"),
        (["--points=digits", "--subset_ratio=0.5"], "no 0.5/ directory for --subset_ratio=0.5 (subset ratios there: "
                                                    "0.7)"),
        (["--points=digits"], f"error: --runs={runs}: none of its 1 runs holds a model"),
        (["--points=digits", f"--workdir={runs}"], "is --runs: write the re-evaluated trials elsewhere"),
    ]
    for extra, message in cases:
        result = invoke(program, *invoke_args(runs, out, extra))
        assert result.returncode == 1, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not out.exists()


def invoke_args(runs, out, extra):
    """The flags of one case: the defaults, overridden by `extra`."""
    given = {a.split("=", 1)[0] for a in extra}
    defaults = [f"--runs={runs}", "--dataset=digits", f"--workdir={out}"]
    return [a for a in defaults if a.split("=", 1)[0] not in given] + list(extra)
