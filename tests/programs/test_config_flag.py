"""--config=NAME: programs.start.run turns it into --flagfile=<the shipped config's path> before absl parses, for every
program taking the trainer's flags."""
import sys
from pathlib import Path

import pytest
from absl import flags

from influence_mem.programs import config_flag, configs, start
from influence_mem.train import flags as train_flags
from influence_mem.train import main as train_main
from influence_mem.turnover import main as turnover_main
from tests.helpers import REPO


def test_expand_config_spellings():
    path = configs.resolve("cifar100_resnet50")
    assert config_flag.expand_config(["p", "--config=cifar100_resnet50", "--epochs=1"]) == ["p", f"--flagfile={path}",
                                                                                     "--epochs=1"]
    assert config_flag.expand_config(["p", "--config", "turnover/mnist_mlp"]) == \
        ["p", f"--flagfile={configs.resolve('turnover/mnist_mlp')}"]
    assert config_flag.expand_config(["p", "--", "--config=x"]) == ["p", "--", "--config=x"]  # after --: untouched
    with pytest.raises(configs.ConfigNotFoundError, match="known names"):
        config_flag.expand_config(["p", "--config=cifar100_resnet5"])


@pytest.mark.parametrize("module", [train_main, turnover_main])
def test_run_reads_the_named_config(module, program, monkeypatch):
    seen = []
    monkeypatch.setattr(start.absl_app, "run", lambda main, **_: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["/bin/prog", "--config=cifar100_resnet50", "--epochs=3", "--workdir=w"])
    module.run()
    argv = seen[0]
    assert argv[1] == f"--flagfile={configs.resolve('cifar100_resnet50')}"
    values = program.parse(module.define_flags, *argv[1:])
    assert (values.dataset, values.arch, values.epochs) == ("cifar100", "resnet50_cifar", 3)  # later flags win
    assert values.save_model_trials == "0-9"


def test_unknown_config_exits_with_one_line(program, monkeypatch):
    monkeypatch.setattr(start.absl_app, "run", lambda main, **_: pytest.fail("must not start"))
    monkeypatch.setattr(sys, "argv", ["/bin/im-train", "--config=nope"])
    with pytest.raises(SystemExit) as e:
        train_main.run()
    assert str(e.value.code).startswith("im-train: --config: no config named 'nope'; known names: ")
    assert "\n" not in str(e.value.code) and "digits_mlp" in str(e.value.code)


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "secret.cfg", "SECRET_ABS"])
def test_a_path_is_refused_and_never_read(path, program, monkeypatch, tmp_path, capsys):
    """As a new user tried it: the file was read as a flagfile and its lines printed as 'unexpected arguments'."""
    secret = tmp_path / "secret.cfg"
    secret.write_text("--epochs=1\nroot:x:0:0:SECRET-LINE\n")
    path = str(secret) if path == "SECRET_ABS" else path
    monkeypatch.chdir(tmp_path)  # ../../../../etc/passwd from here is /etc/passwd

    def parse_then_main(main, **_):  # what absl's app.run does first
        main(program.FLAGS(sys.argv))

    monkeypatch.setattr(start.absl_app, "run", parse_then_main)
    monkeypatch.setattr(sys, "argv", ["/bin/im-train", f"--config={path}", "--workdir=w"])
    with pytest.raises(SystemExit) as e:
        train_main.run()
    said = str(e.value.code) + "".join(capsys.readouterr())
    assert said.startswith(f"im-train: --config: {path!r} is a path, not a config name") and "--flagfile" in said
    assert "\n" not in str(e.value.code)
    passwd = Path("/etc/passwd").read_text().splitlines() if Path("/etc/passwd").is_file() else []
    assert "SECRET-LINE" not in said and not [line for line in passwd if line and line in said]


def test_programs_without_trainer_flags_leave_config_alone(program, monkeypatch):
    from influence_mem.analysis import report
    seen = []
    monkeypatch.setattr(start.absl_app, "run", lambda main, **_: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["/bin/im-report", "--config=x"])
    report.run()
    assert seen == [["/bin/im-report", "--config=x"]]  # absl then reports the unknown flag


def test_config_is_listed_by_help(program):
    program.parse(train_flags.define_flags, "--workdir=w")
    assert "config" in program.FLAGS and Path(configs.resolve("digits_mlp")).parent == (REPO / "configs").resolve()


def test_config_inside_a_flagfile_is_refused_not_ignored(program, tmp_path):
    own = tmp_path / "own.cfg"
    own.write_text("--config=cifar100_resnet50\n--epochs=2\n")
    with pytest.raises(flags.IllegalFlagValueError, match="command line only; inside a flagfile"):
        program.parse(train_flags.define_flags, f"--flagfile={own}", "--workdir=w")
