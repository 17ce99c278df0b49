"""programs.configs: the shipped flagfiles by name (`cifar100_resnet50`, `turnover/mnist_mlp`) and nothing else:
a path is refused without being read, an unknown name is answered with the known ones."""
from pathlib import Path

import pytest

from influence_mem.programs import configs as config_files
from tests.helpers import REPO
ON_DISK = sorted(p.relative_to(REPO / "configs").with_suffix("").as_posix()
                 for p in (REPO / "configs").rglob("*.cfg"))


def test_names_are_the_repository_configs():
    assert config_files.names() == ON_DISK
    assert "cifar100_resnet50" in ON_DISK and "turnover/mnist_mlp" in ON_DISK


def test_in_a_checkout_the_configs_are_the_source_files():
    # editable install (or no install): the shipped directory is the repository's configs/
    assert config_files.directory().resolve() == (REPO / "configs").resolve()


def test_resolve_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = config_files.resolve("cifar100_resnet50")
    assert Path(path).resolve() == (REPO / "configs" / "cifar100_resnet50.cfg").resolve()
    assert "--arch=resnet50_cifar" in Path(path).read_text()


def test_resolve_subdirectory_name():
    assert Path(config_files.resolve("turnover/mnist_mlp")).read_bytes() == \
        (REPO / "configs" / "turnover" / "mnist_mlp.cfg").read_bytes()


def test_a_shipped_name_wins_over_a_file_of_that_name_here(tmp_path, monkeypatch):
    (tmp_path / "digits_mlp").write_text("--epochs=1\n")
    monkeypatch.chdir(tmp_path)
    assert Path(config_files.resolve("digits_mlp")).resolve() == (REPO / "configs" / "digits_mlp.cfg").resolve()


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "configs/digits_mlp.cfg",
                                  "./configs/digits_mlp.cfg", "digits_mlp.cfg", "turnover/../digits_mlp",
                                  "missing/dir.cfg", "own_flags", "~/x", "a\nb"])
def test_a_path_is_refused_without_being_read(path, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "own_flags").write_text("SECRET-LINE\n")  # an existing file named like a config: still a path
    if path == "own_flags":
        monkeypatch.chdir(tmp_path)
    with pytest.raises(config_files.ConfigNotFoundError) as e:
        config_files.resolve(path)
    message = str(e.value)
    assert message.startswith(f"{path!r} is a path, not a config name") and "--flagfile=PATH" in message
    assert "\n" not in message and "known names" not in message and "turnover/mnist_mlp" in message
    assert "SECRET-LINE" not in message and "root:" not in message and "--dataset" not in message


@pytest.mark.parametrize("bad", ["cifar100_resnet5", "", "turnover/nope", "configs/digits_mlp"])
def test_unknown_name_lists_the_names(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(config_files.ConfigNotFoundError, match="known names: cifar100_densenet100, ") as e:
        config_files.resolve(bad)
    assert str(e.value).startswith(f"no config named {bad!r};")
    assert "\n" not in str(e.value) and "turnover/mnist_mlp" in str(e.value)
    assert isinstance(e.value, ValueError)
