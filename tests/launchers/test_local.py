"""launchers/local.py (influence_mem_launchers.local): GPU pinning, trial blocks, the trainer command and the
forwarded flags, as pure functions.  Running processes: tests/integration/test_launchers.py."""
import pytest
from absl import flags

from influence_mem.formats.trial import parse_trials
from influence_mem_launchers import local


def test_visible_gpus_from_environment_or_nvidia_smi():
    assert local.visible_gpus("0,1,3") == ["0", "1", "3"]
    assert local.visible_gpus("") == [] and local.visible_gpus("-1") == []
    listing = "\n".join(f"GPU {k}: Tesla P100-PCIE-16GB (UUID: GPU-{k})" for k in range(8))
    assert local.visible_gpus(None, listing) == [str(k) for k in range(8)]
    assert local.visible_gpus(None, "") == []


def test_device_groups_pin_one_gpu_or_a_mirrored_group_per_process():
    gpus = [str(k) for k in range(8)]
    assert local.device_groups(gpus, "per_gpu") == gpus
    assert local.device_groups(gpus, "mirrored") == ["0,1,2,3,4,5,6,7"]
    assert local.device_groups(gpus, "mirrored", 2) == ["0,1", "2,3", "4,5", "6,7"]
    assert local.device_groups(["4", "6"], "per_gpu") == ["4", "6"]
    assert local.device_groups([], "per_gpu", cpu_workers=3) == ["", "", ""]
    with pytest.raises(ValueError, match="--gpus_per_process=3 does not divide the 8 GPUs"):
        local.device_groups(gpus, "mirrored", 3)


def test_blocks_cover_the_trials_in_order():
    for spec, size in (("0-3999", 10), ("0-34", 10), ("3,7,9-12", 2), ("5", 4)):
        trials = parse_trials(spec)
        got = local.blocks(trials, size)
        assert [t for b in got for t in b] == trials
        assert all(1 <= len(b) <= size for b in got) and all(len(b) == size for b in got[:-1])
    command = local.trainer_command([10, 11, 12, 20], ["--workdir=/w"], mirrored=True, python="py")
    assert command == ["py", "-m", "influence_mem.train", "--workdir=/w", "--strategy=mirrored", "--num_gpus=0",
                       "--trials=10-12,20"]
    assert local.trainer_command([1], [], False, "py", "influence_mem.train.last_layer")[:3] == \
        ["py", "-m", "influence_mem.train.last_layer"]


def test_forwarded_flags_are_the_ones_set_minus_launcher_flags():
    values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "", flag_values=values)
    flags.DEFINE_string("trials", "0", "", flag_values=values)
    flags.DEFINE_integer("epochs", 30, "", flag_values=values)
    flags.DEFINE_float("base_lr", 0.1, "", flag_values=values)
    flags.DEFINE_integer("cpu_workers", 1, "", flag_values=values)
    values(["prog", "--workdir=/w", "--trials=0-9", "--epochs=5", "--cpu_workers=4"])
    assert local.forwarded_flags(values) == ["--epochs=5", "--workdir=/w"]


def test_the_launchers_run_im_reevaluate_with_its_flags(program):
    program.parse(local.define_flags, "--trainer_module=influence_mem.reevaluate", "--runs=/r", "--points=npz:/p.npz",
                  "--dataset=cifar10", "--arch=inception_small", "--workdir=/w", "--verify", "--trials=0-3")
    forwarded = local.forwarded_flags()
    assert forwarded == ["--arch=inception_small", "--dataset=cifar10", "--points=npz:/p.npz", "--runs=/r",
                         "--verify", "--workdir=/w"]
    assert local.trainer_command([0, 1], forwarded, False, python="py", module=local.REEVALUATE) == \
        ["py", "-m", "influence_mem.reevaluate", *forwarded, "--trials=0-1"]
    # im-train launches do not need im-reevaluate's flags.
    program.parse(local.define_flags, "--workdir=/w", "--trials=0-3")
    assert local.forwarded_flags() == ["--workdir=/w"]
