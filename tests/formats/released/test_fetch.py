"""formats.released.fetch against a local HTTP server on 127.0.0.1 (the `serve` fixture): the real C-score files,
a corrupted copy, an unknown name, HTTP 404, a truncated body, and the list/fetch/check commands in-process."""
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from influence_mem.formats import released
from influence_mem.formats.released.fetch import FILES, FetchError, check, fetch
from tests.helpers import released_dir

CSCORES = ["cifar10-cscores-orig-order.npz", "cifar100-cscores-orig-order.npz", "mnist-cscores.npy"]


@pytest.fixture
def real_files(tmp_path):
    """A directory with copies of the real C-score files (skips with how to get them if they are absent)."""
    source = released_dir(*CSCORES)
    served = tmp_path / "served"
    served.mkdir()
    for name in CSCORES:
        shutil.copyfile(source / name, served / name)
    return served


def test_table_sha256_matches_the_real_files(real_files):
    for name in CSCORES:
        assert hashlib.sha256((real_files / name).read_bytes()).hexdigest() == FILES[name].sha256
        assert (real_files / name).stat().st_size == FILES[name].size
        assert check(real_files / name) == FILES[name].sha256


def test_fetch_real_cscores_into_the_cache_once(real_files, serve, tmp_path):
    url, requests = serve(real_files)
    cache = tmp_path / "cache"
    for name in CSCORES:
        path = fetch(name, cache, base_url=url)
        assert path == str(cache / name)
        assert Path(path).read_bytes() == (real_files / name).read_bytes()
    assert sorted(os.listdir(cache)) == sorted(CSCORES)  # no temporary files left
    # a good cached copy is not downloaded again; the name works without its extension too
    assert fetch("cifar100-cscores-orig-order", cache, base_url=url) == str(cache / CSCORES[1])
    assert len(requests) == 3


def test_fetch_replaces_a_damaged_cached_copy(real_files, serve, tmp_path):
    url, requests = serve(real_files)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist-cscores.npy").write_bytes(b"not the file")
    path = fetch("mnist-cscores.npy", cache, base_url=url)
    assert Path(path).read_bytes() == (real_files / "mnist-cscores.npy").read_bytes()
    assert len(requests) == 1


def test_checksum_mismatch_leaves_nothing_in_the_cache(serve, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    entry = FILES["cifar10-cscores-orig-order.npz"]
    (served / entry.filename).write_bytes(b"\0" * entry.size)  # the right size, the wrong bytes
    url, _ = serve(served)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="checksum mismatch") as e:
        fetch(entry.filename, cache, base_url=url)
    assert "\n" not in str(e.value) and entry.sha256 in str(e.value)
    assert os.listdir(cache) == []


def test_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(FetchError, match="unknown released file 'cifar1000'") as e:
        fetch("cifar1000", tmp_path)
    assert all(name in str(e.value) for name in FILES)
    assert not any(tmp_path.iterdir())


def test_http_404(serve, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    url, _ = serve(empty)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="HTTP 404") as e:
        fetch("cifar100_infl_matrix.npz", cache, base_url=url)
    assert "cifar100_infl_matrix.npz" in str(e.value)
    assert os.listdir(cache) == []


def test_file_without_checksum_is_checked_by_size(serve, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "imagenet_index.npz").write_bytes(os.urandom(3000))
    url, _ = serve(served)
    path = fetch("imagenet_index", tmp_path / "cache", base_url=url)
    assert Path(path).read_bytes() == (served / "imagenet_index.npz").read_bytes()
    url, _ = serve(served, truncate=True)  # the body stops halfway through the announced length
    with pytest.raises(FetchError, match="download failed|size mismatch"):
        fetch("imagenet_index", tmp_path / "cache2", base_url=url)
    assert os.listdir(tmp_path / "cache2") == []


def test_released_reexports_fetch():
    assert released.fetch is fetch
