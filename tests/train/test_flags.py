"""train.flags: the trainer's flags parsed in-process (absl FlagValues, as im-train parses its argv) and their
validation; config_from_flags / dataset_from_flags."""
import pytest
from absl import flags

from influence_mem.train import flags as train_flags
from influence_mem.train import main as trainer
from influence_mem.train.config import TrainConfig
from tests.helpers import DIGITS_MLP


@pytest.mark.parametrize("flag,message", [
    ("--dataset=imagenet22k", "unknown dataset 'imagenet22k'"),
    ("--arch=transformer9000", "--arch='transformer9000': unknown"),
    ("--subset_ratio=1.5", "--subset_ratio must be in (0, 1]"),
    ("--subset_ratio=0", "--subset_ratio must be in (0, 1]"),
    ("--trials=5-2", "malformed --trials"),
    ("--trials=a,b", "malformed --trials"),
    ("--lr_schedule=cosine", "lr_schedule"),
    ("--pack_trials=0", "--pack_trials must be >= 1"),
    ("--epochs=0", "--epochs must be >= 1"),
    ("--base_lr=nan", "--base_lr must be a finite number > 0"),
    ("--mlp_hidden=64,oops", "widths must be positive integers"),
    ("--decay_epochs=30,x", "'x' is not a number"),
    ("--checkpoint_seconds=-1", "--checkpoint_seconds must be a finite number >= 0"),
    ("--checkpoint_seconds=inf", "--checkpoint_seconds must be a finite number >= 0"),
])
def test_bad_flags_are_rejected_when_parsed(program, tmp_path, flag, message):
    with pytest.raises(flags.Error) as error:
        program.parse(trainer.define_flags, f"--workdir={tmp_path}", flag)
    assert message in str(error.value)


def test_workdir_is_required(program):
    with pytest.raises(flags.Error, match="workdir"):
        program.parse(trainer.define_flags, "--epochs=2")


def test_define_flags_is_idempotent(program):
    def twice():
        train_flags.define_flags()
        train_flags.define_flags()

    program.parse(twice, "--epochs=3")
    assert program.FLAGS.epochs == 3


def test_flagfile_values_become_the_config(program, tmp_path):
    program.parse(trainer.define_flags, f"--flagfile={DIGITS_MLP}", f"--workdir={tmp_path}", "--epochs=7",
                  "--mlp_hidden=32,16", "--flip=true", "--decay_epochs=3,5", "--seed=4")
    config = train_flags.config_from_flags()
    assert isinstance(config, TrainConfig)
    assert (config.arch, config.epochs, config.arch_options, config.flip, config.decay_epochs, config.seed) == \
        ("mlp", 7, {"mlp_hidden": "32,16"}, True, (3.0, 5.0), 4)
    assert train_flags.flag_values()["epochs"] == 7


def test_missing_npz_file_is_a_one_line_error(program, tmp_path):
    program.parse(trainer.define_flags, f"--workdir={tmp_path}", f"--dataset=npz:{tmp_path}/none.npz")
    with pytest.raises(SystemExit, match="none.npz: file not found"):
        train_flags.dataset_from_flags()


def test_corrupt_fraction_corrupts_the_loaded_labels(program, tmp_path, digits):
    program.parse(trainer.define_flags, f"--workdir={tmp_path}", "--corrupt_fraction=0.1", "--corrupt_seed=3")
    dataset = train_flags.dataset_from_flags()
    assert (dataset.train_labels != digits.train_labels).sum() == len(dataset.corrupted_idx) == round(
        0.1 * digits.num_train)


def test_mixed_precision_alias_and_its_conflict(program, tmp_path):
    program.parse(trainer.define_flags, f"--workdir={tmp_path}", "--mixed_precision")
    assert train_flags.config_from_flags().precision == "mixed_float16"
    program.parse(trainer.define_flags, f"--workdir={tmp_path}", "--mixed_precision", "--precision=float32")
    with pytest.raises(SystemExit, match="conflicts with --precision=float32"):
        train_flags.config_from_flags()
