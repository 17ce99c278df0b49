"""im-train's main in-process: trains the --trials, reports a rerun's skip, refuses a bad --workdir."""
import logging

import pytest
from absl import flags

from influence_mem.train import main as trainer
from tests.helpers import DIGITS_MLP


def test_main_trains_and_a_rerun_skips(program, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    args = [f"--flagfile={DIGITS_MLP}", f"--workdir={tmp_path}", "--trials=1", "--epochs=2", "--save_model=false",
            "--mlp_hidden=32"]
    program.run(trainer.define_flags, trainer.main, *args)
    assert (tmp_path / "0.7" / "1" / "aux_arrays.npz").exists()
    assert not (tmp_path / "0.7" / "1" / "saved_model").exists()
    assert "epoch 2/2" in caplog.text
    caplog.clear()
    program.run(trainer.define_flags, trainer.main, *args)
    assert "already complete" in caplog.text and "0 trained, 1 skipped" in caplog.text


def test_main_rejects_extra_arguments_and_a_file_as_workdir(program, tmp_path):
    from absl import app

    program.parse(trainer.define_flags, f"--workdir={tmp_path}")
    with pytest.raises(app.UsageError, match="unexpected arguments: extra"):
        trainer.main(["prog", "extra"])
    (tmp_path / "file").write_text("x")
    # refused when the flag is parsed (programs.bad_input's output-folder check), before main runs
    with pytest.raises((SystemExit, flags.IllegalFlagValueError), match="exists and is not a directory"):
        program.run(trainer.define_flags, trainer.main, f"--workdir={tmp_path / 'file'}")
