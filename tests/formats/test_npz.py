"""formats.npz, the one npz reader: archives declaring too much are refused before any array is read, local
paths and fsspec URLs read the same, bad files fail in one line naming them; and no other module of the
package calls np.load."""
import ast
import io
import zipfile

import fsspec
import numpy as np
import pytest

from influence_mem.formats import npz
from tests.helpers import REPO


def _bomb(path, elements):
    """An .npz whose one member's header declares `elements` float64s but holds no data (a few hundred bytes)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (elements,)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue())


def test_a_local_file_round_trips_and_a_bound_refuses_before_reading(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(1000, dtype=np.int64), y=np.ones((3, 4), np.float32))
    arrays = npz.read(path)
    np.testing.assert_array_equal(arrays["x"], np.arange(1000))
    assert arrays["y"].dtype == np.float32 and arrays["y"].shape == (3, 4)
    assert sorted(npz.read(str(path), max_bytes=8000 + 48)) == ["x", "y"]  # exactly the arrays' bytes: allowed
    with pytest.raises(npz.NpzTooLarge, match=r"a\.npz: refused: declares more than 8,047 bytes"):
        npz.read(path, max_bytes=8000 + 47)
    with pytest.raises(npz.NpzTooLarge, match="member x.npy declares 1,000 elements, more than the 999"):
        npz.read(path, max_bytes=None, max_elements=999)


def test_a_zip_bomb_is_refused_by_its_header_alone(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path, 10 ** 12)  # declares 8 TB
    assert path.stat().st_size < 1000
    with pytest.raises(npz.NpzTooLarge) as error:
        npz.read(path)
    assert str(error.value).startswith(f"{path}: refused: declares more than {npz.MAX_BYTES:,} bytes")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("protocol", ["memory", "file"])
def test_an_fsspec_url_reads_like_a_local_path(tmp_path, protocol):
    buffer = io.BytesIO()
    np.savez(buffer, labels=np.array([3, 1, 2]))
    if protocol == "memory":
        url = "memory://npz-test/labels.npz"
        with fsspec.open(url, "wb") as f:
            f.write(buffer.getvalue())
    else:
        (tmp_path / "labels.npz").write_bytes(buffer.getvalue())
        url = f"file://{tmp_path}/labels.npz"
    np.testing.assert_array_equal(npz.read(url)["labels"], [3, 1, 2])
    with pytest.raises(npz.NpzTooLarge, match="refused"):
        npz.read(url, max_bytes=8)
    with pytest.raises(npz.NpzNotFound, match="missing.npz: no such file"):
        npz.read(url.replace("labels.npz", "missing.npz"))


def test_bad_files_fail_in_one_line_naming_them(tmp_path):
    with pytest.raises(npz.NpzNotFound, match="none.npz: no such file"):
        npz.read(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(npz.NpzError, match=r"junk.npz: not an .npz file \(not a zip archive\)"):
        npz.read(junk)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(npz.NpzError, match=r"objects.npz: unreadable .npz \(ValueError"):
        npz.read(pickled)  # no pickles
    stream = io.BytesIO(b"PK\x03\x04 truncated")
    with pytest.raises(npz.NpzError, match="^gs://b/x.npz: "):
        npz.read(stream, name="gs://b/x.npz")


def test_read_npy_checks_the_header_first(tmp_path):
    path = tmp_path / "scores.npy"
    np.save(path, np.arange(10, dtype=np.float64))
    np.testing.assert_array_equal(npz.read_npy(path), np.arange(10))
    with pytest.raises(npz.NpzTooLarge, match=r"scores.npy: refused: declares an array \(10,\) of float64"):
        npz.read_npy(path, max_bytes=79)
    (tmp_path / "junk.npy").write_bytes(b"nope")
    with pytest.raises(npz.NpzError, match="junk.npy: not a readable .npy file"):
        npz.read_npy(tmp_path / "junk.npy")


def _np_load_calls(path):
    tree = ast.parse(path.read_text(), str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")]


def test_no_module_but_formats_npz_calls_np_load():
    """Every .npz (and .npy) the package reads goes through formats.npz, so every read is size-checked."""
    package = REPO / "influence_mem"
    calls = {str(p.relative_to(REPO)): _np_load_calls(p) for p in sorted(package.rglob("*.py"))}
    assert calls["influence_mem/formats/npz.py"]  # the checker sees a call where there is one
    offenders = {path: lines for path, lines in calls.items() if lines and path != "influence_mem/formats/npz.py"}
    assert not offenders, f"np.load outside formats/npz.py (read through formats.npz): {offenders}"
