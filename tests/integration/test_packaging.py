"""Packaging: pyproject.toml lists every package; the built wheel's dependencies, extras (the `cpu` extra's
TensorFlow per platform), console scripts and contents (package modules, configs, launchers, LICENSE); configs resolve by name from the installed
wheel and from an editable install.  Builds from a copy of the sources so nothing lands in the work tree."""
import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["influence_mem", "launchers", "configs", "pyproject.toml", "setup.py", "README.md", "LICENSE"]
EXTRAS = {"gpu": "tensorflow[and-cuda]>=2.16", "ray": "ray", "gcs": "gcsfs", "test": "pytest", "notebook": "ipykernel",
          "docs": "pdoc>=14"}
# The TensorFlow distribution the `cpu` extra installs per platform (pip's marker environments): tensorflow-cpu
# has wheels for Linux and Windows x86_64 only; macOS (Intel, Apple silicon) and Linux aarch64 get `tensorflow`,
# the CPU build there.  (Checked against PyPI with `pip install --dry-run --platform ...`.)
CPU_TENSORFLOW = {
    ("linux", "x86_64"): "tensorflow-cpu", ("win32", "AMD64"): "tensorflow-cpu",
    ("darwin", "arm64"): "tensorflow", ("darwin", "x86_64"): "tensorflow", ("linux", "aarch64"): "tensorflow"}
SCRIPTS = {"im-train": "influence_mem.train.main:run", "im-aggregate": "influence_mem.estimate.main:run",
           "im-status": "influence_mem.train.status:run", "im-report": "influence_mem.analysis.report:run",
           "im-describe": "influence_mem.analysis.describe:run", "im-reevaluate": "influence_mem.reevaluate.main:run",
           "im-launch-local": "influence_mem_launchers.local:run",
           "im-launch-ray": "influence_mem_launchers.ray_trials:run"}
MAPPED = {"influence_mem_launchers": REPO / "launchers", "influence_mem_configs": REPO / "configs"}


def pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def source_packages():
    """Package names the wheel must hold: influence_mem's directories with __init__.py, the mapped ones."""
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "influence_mem").rglob("__init__.py")}
    for package, root in MAPPED.items():
        found |= {".".join((package,) + d.relative_to(root).parts) for d in [root, *root.rglob("*")]
                  if d.is_dir() and d.name != "__pycache__" and any(f.suffix in (".py", ".cfg", ".sh")
                                                                    for f in d.iterdir())}
    return found


def test_pyproject_lists_every_package():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    missing = source_packages() - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    gone = {p for p in listed - source_packages() if p not in MAPPED}
    assert not gone, f"pyproject.toml lists packages that do not exist: {sorted(gone)}"


def test_console_script_targets_exist():
    scripts = pyproject()["project"]["scripts"]
    assert scripts == SCRIPTS
    for target in scripts.values():
        module, function = target.split(":")
        top, *rest = module.split(".")
        path = MAPPED.get(top, REPO / top).joinpath(*rest).with_suffix(".py")
        assert path.is_file(), f"console script target {target}: no {path.relative_to(REPO)}"
        assert f"def {function}(" in path.read_text(), f"console script target {target}: no {function}()"


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def _run(*args, **kwargs):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _requirements(metadata: str):
    """(base requirements, {extra: [requirements]}) from a METADATA text, as packaging Requirements."""
    from packaging.requirements import Requirement

    base, extras = [], {}
    for line in metadata.splitlines():
        if line.startswith("Provides-Extra: "):
            extras.setdefault(line.split(": ", 1)[1], [])
        elif line.startswith("Requires-Dist: "):
            requirement = Requirement(line.split(": ", 1)[1])
            extra = re.search(r"\bextra == [\"']([^\"']+)[\"']", str(requirement.marker or ""))
            if extra:
                extras.setdefault(extra.group(1), []).append(requirement)
            else:
                base.append(requirement)
    return base, extras


def _installed_by(requirements, sys_platform: str, platform_machine: str) -> set:
    """Names of the `requirements` pip installs on that platform (their markers evaluated there)."""
    from packaging.markers import default_environment

    environment = {**default_environment(), "sys_platform": sys_platform, "platform_machine": platform_machine,
                   "platform_system": {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}[sys_platform],
                   "extra": "cpu"}
    return {r.name for r in requirements if r.marker is None or r.marker.evaluate(environment)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from a copy of the sources."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(tmp_path / "src")
    _run(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "-q", "-w",
         tmp_path / "dist", cwd=tmp_path)
    (built,) = (tmp_path / "dist").glob("influence_mem-*.whl")
    return built


def _metadata(wheel) -> str:
    with zipfile.ZipFile(wheel) as z:
        info = next(n.split("/")[0] for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(f"{info}/METADATA").decode()


@pytest.mark.integration
def test_cpu_extra_installs_a_tensorflow_that_exists_for_the_platform(wheel):
    _, extras = _requirements(_metadata(wheel))
    cpu = extras["cpu"]
    assert {r.name for r in cpu} == {"tensorflow-cpu", "tensorflow"}
    assert all(str(r.specifier) == ">=2.16" for r in cpu), [str(r) for r in cpu]
    for (platform, machine), name in CPU_TENSORFLOW.items():
        assert _installed_by(cpu, platform, machine) == {name}, (platform, machine, [str(r) for r in cpu])


@pytest.mark.integration
def test_wheel_dependencies_contents_and_installed_configs(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(f"{info}/METADATA").decode()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(z.read(f"{info}/entry_points.txt").decode())

    base, extras = _requirements(metadata)
    base_names = {r.name.lower() for r in base}
    assert not base_names & {"tensorflow", "tensorflow-cpu", "tensorflow_cpu"}, base
    assert {"keras", "tensorflow-datasets", "importlib_resources", "numpy", "tqdm"} <= base_names, base
    for extra, requirement in EXTRAS.items():
        assert requirement in [str(r).split(";")[0] for r in extras.get(extra, [])], (extra, extras)
    assert dict(entry_points["console_scripts"]) == SCRIPTS
    assert "License-Expression: Apache-2.0" in metadata and f"{info}/licenses/LICENSE" in names

    expected = {p.relative_to(REPO).as_posix() for p in (REPO / "influence_mem").rglob("*.py")}
    expected |= {"influence_mem_configs/" + p.relative_to(REPO / "configs").as_posix()
                 for p in (REPO / "configs").rglob("*.cfg")}
    expected |= {f"influence_mem_launchers/{n}" for n in ("__init__.py", "local.py", "ray_trials.py",
                                                          "slurm_array.sh")}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert not {n for n in names if n.startswith("tests/") or "__pycache__" in n}

    # installed from the wheel: configs resolve by name to the installed copies, launchers import
    target = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel, cwd=tmp_path)
    code = ("from influence_mem.programs import configs as c; import influence_mem_launchers as l; "
            "print(c.resolve('cifar100_resnet50')); print(len(c.names())); print(l.__file__)")
    out = _run(sys.executable, "-c", code, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(target))).split()
    assert out[0] == str(target / "influence_mem_configs" / "cifar100_resnet50.cfg")
    assert int(out[1]) == len(list((REPO / "configs").rglob("*.cfg")))
    assert out[2].startswith(str(target))


@pytest.mark.integration
def test_editable_install_resolves_configs_from_the_source_tree(tmp_path):
    src = _copy_sources(tmp_path / "src")
    build = "import setuptools.build_meta as b, sys; print(b.build_editable(sys.argv[1]))"
    wheel_name = _run(sys.executable, "-c", build, tmp_path / "dist", cwd=src).split()[-1]
    target = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target,
         tmp_path / "dist" / wheel_name, cwd=tmp_path)
    (src / "configs" / "added_later.cfg").write_text("--epochs=1\n")  # edits show without reinstalling
    # -S: only the editable install's .pth (not this environment's own install of the package)
    code = (f"import site; site.addsitedir({str(target)!r}); from influence_mem.programs import configs as c; "
            "import influence_mem_launchers as l; print(c.resolve('added_later')); print(l.__file__)")
    out = _run(sys.executable, "-S", "-c", code, cwd=tmp_path).split()
    assert out == [str(src / "configs" / "added_later.cfg"), str(src / "launchers" / "__init__.py")]
