"""influence_mem.configs: the shipped flagfiles by name (`cifar100_resnet50`), by path, and the errors."""
from pathlib import Path

import pytest

from influence_mem import configs as config_files
from tests.helpers import REPO
ON_DISK = sorted(p.relative_to(REPO / "configs").with_suffix("").as_posix()
                 for p in (REPO / "configs").rglob("*.cfg"))


def test_names_are_the_repository_configs():
    assert config_files.names() == ON_DISK
    assert "cifar100_resnet50" in ON_DISK and "turnover/mnist_mlp" in ON_DISK


def test_in_a_checkout_the_configs_are_the_source_files():
    # editable install (or no install): the shipped directory is the repository's configs/
    assert config_files.directory().resolve() == (REPO / "configs").resolve()


@pytest.mark.parametrize("spelling", ["cifar100_resnet50", "cifar100_resnet50.cfg", "configs/cifar100_resnet50.cfg",
                                      "./configs/cifar100_resnet50.cfg"])
def test_resolve_by_name_from_any_directory(spelling, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # configs/... does not exist here: the shipped copy is used
    path = config_files.resolve(spelling)
    assert Path(path).resolve() == (REPO / "configs" / "cifar100_resnet50.cfg").resolve()
    assert "--arch=resnet50_cifar" in Path(path).read_text()


def test_resolve_subdirectory_name():
    assert Path(config_files.resolve("turnover/mnist_mlp")).read_bytes() == \
        (REPO / "configs" / "turnover" / "mnist_mlp.cfg").read_bytes()


def test_existing_files_are_returned_unchanged(tmp_path, monkeypatch):
    own = tmp_path / "cifar100_resnet50.cfg"  # a user's flagfile that shadows a shipped name
    own.write_text("--epochs=1\n")
    assert config_files.resolve(own) == str(own)
    monkeypatch.chdir(REPO)
    assert config_files.resolve("configs/digits_mlp.cfg") == "configs/digits_mlp.cfg"  # --flagfile style


@pytest.mark.parametrize("bad", ["cifar100_resnet5", "../configs/digits_mlp", "", "missing/dir.cfg"])
def test_unknown_config_lists_the_names(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(config_files.ConfigNotFoundError, match="known names: cifar100_densenet100, ") as e:
        config_files.resolve(bad)
    assert "\n" not in str(e.value) and "turnover/mnist_mlp" in str(e.value)
    assert isinstance(e.value, ValueError)
