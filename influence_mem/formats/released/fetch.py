"""The files the authors publish, where they live, and `fetch` to download and check them.

    released.fetch("cifar100-cscores-orig-order.npz", cache_dir)     # -> path in the cache

(`python -m influence_mem.released list|fetch|check` is its program: programs/released.py.)

A name is the published file name, with or without its extension.  `fetch` downloads into the cache
directory (default `$INFLUENCE_MEM_CACHE`, else `~/.cache/influence_mem`) under a temporary name and
renames it only once the SHA-256 (where we know it) or the size (where we do not: the size the server
announced) matches, so the cache never holds a partial or corrupted file; a file already in the cache
that passes the check is not downloaded again.  Every failure is a one-line `FetchError`.  Standard
library plus tqdm (a progress bar when stderr is a terminal); docs/formats.md lists the URLs.
"""
import dataclasses
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Dict, List, Optional

from tqdm import tqdm

CSCORES_URL = "https://pluskid.github.io/structural-regularity/cscores/"
INFLUENCE_URL = "https://pluskid.github.io/influence-memorization/data/"
CHUNK = 1 << 20
TIMEOUT_S = 60


class FetchError(RuntimeError):
    """A download or check that failed; the message is one line naming the file and the cause."""


@dataclasses.dataclass(frozen=True)
class ReleasedFile:
    filename: str
    url: str
    description: str
    sha256: Optional[str] = None  # known for the files we could hash; otherwise the size is checked
    size: Optional[int] = None


FILES: Dict[str, ReleasedFile] = {f.filename: f for f in [
    # C-scores (Jiang, Zhang, Talwar & Mozer, ICML 2021), project page pluskid.github.io/structural-regularity
    ReleasedFile("cifar10-cscores-orig-order.npz", CSCORES_URL + "cifar10-cscores-orig-order.npz",
                 "C-scores of the 50,000 CIFAR-10 training examples (labels, scores)",
                 "0f8b3e219fd37867fc1ef532335b6169f8109d137275ae53b802bb8177556ac8", 800470),
    ReleasedFile("cifar100-cscores-orig-order.npz", CSCORES_URL + "cifar100-cscores-orig-order.npz",
                 "C-scores of the 50,000 CIFAR-100 training examples (labels, scores)",
                 "8e1f3cfc7075052ae2ff4d4b66441dfe399b0d0e125394675cb52b5cc3c18a3a", 447452),
    ReleasedFile("mnist-cscores.npy", CSCORES_URL + "mnist-cscores.npy",
                 "C-scores of the 60,000 MNIST training examples (scores only, TFDS order)",
                 "2e0d1a2dd4be77592e4d4570df7ae764068398187bde7c02aa071a2e05a99a34", 480128),
    ReleasedFile("imagenet-cscores-with-filename.npz", CSCORES_URL + "imagenet-cscores-with-filename.npz",
                 "C-scores of the ImageNet training examples (filenames, labels, scores)"),
    # Memorization and influence (Feldman & Zhang, NeurIPS 2020), pluskid.github.io/influence-memorization
    ReleasedFile("cifar100_infl_matrix.npz", INFLUENCE_URL + "cifar100_infl_matrix.npz",
                 "CIFAR-100 memorization and per-class influence matrices"),
    ReleasedFile("cifar100_high_infl_pairs_infl0.15_mem0.25.npz",
                 INFLUENCE_URL + "cifar100_high_infl_pairs_infl0.15_mem0.25.npz",
                 "CIFAR-100 high-influence pairs (influence >= 0.15, memorization >= 0.25)"),
    ReleasedFile("imagenet_index.npz", INFLUENCE_URL + "imagenet_index.npz",
                 "ImageNet training file names, labels and memorization estimates (defines the order)"),
]}


def default_cache_dir() -> str:
    """$INFLUENCE_MEM_CACHE, else ~/.cache/influence_mem."""
    return os.environ.get("INFLUENCE_MEM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                   "influence_mem")


def names() -> List[str]:
    return sorted(FILES)


def lookup(name: str) -> ReleasedFile:
    """The entry of a published file name, with or without its extension."""
    base = os.path.basename(str(name))
    for entry in FILES.values():
        if base in (entry.filename, os.path.splitext(entry.filename)[0]):
            return entry
    raise FetchError(f"unknown released file {name!r}; known: {', '.join(names())}")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(entry: ReleasedFile, size: int, sha256: str, expected_size: Optional[int]) -> Optional[str]:
    """Why a file of this size and digest is not `entry` (None if it passes)."""
    if entry.sha256 is not None:
        if sha256 != entry.sha256:
            return f"checksum mismatch: SHA-256 {sha256}, expected {entry.sha256} ({size:,} bytes)"
        return None
    if expected_size is not None and size != expected_size:
        return f"size mismatch: {size:,} bytes, expected {expected_size:,}"
    return None


def check(path, name: Optional[str] = None) -> str:
    """Check a local file against the table (by its file name unless `name`); its SHA-256, or FetchError."""
    entry = lookup(name or path)
    if not os.path.isfile(path):
        raise FetchError(f"{path}: no such file")
    digest = sha256_of(path)
    problem = _mismatch(entry, os.path.getsize(path), digest, entry.size)
    if problem:
        raise FetchError(f"{path}: {problem}")
    return digest


def _url(entry: ReleasedFile, base_url: Optional[str]) -> str:
    return base_url.rstrip("/") + "/" + entry.filename if base_url else entry.url


def fetch(name: str, cache_dir=None, base_url: Optional[str] = None, force: bool = False,
          progress: Optional[bool] = None) -> str:
    """Download a published file into `cache_dir` (unless a checked copy is there); its path.

    base_url: fetch `<base_url>/<file name>` instead of the authors' URL (a mirror).
    force: download even if the cache holds a good copy.  progress: tqdm bar (default: stderr is a tty).
    """
    entry = lookup(name)
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = os.path.join(cache_dir, entry.filename)
    if not force and os.path.isfile(dest):
        try:
            check(dest, entry.filename)
            return dest
        except FetchError:
            pass  # a stale or damaged copy: download again
    url = _url(entry, base_url)
    fd, tmp = _partial_file(cache_dir, entry.filename)
    try:
        with os.fdopen(fd, "wb") as out:
            size, digest, announced = _download(url, out, entry.filename, progress)
        problem = _mismatch(entry, size, digest, entry.size if entry.size is not None else announced)
        if problem:
            raise FetchError(f"{entry.filename} from {url}: {problem}")
        try:
            os.replace(tmp, dest)
        except OSError as e:
            raise FetchError(f"{dest}: cannot be written ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _partial_file(cache_dir: str, filename: str):
    """(fd, path) of a new temporary file in `cache_dir` (made if missing); FetchError naming the directory if
    it is not one or cannot be written (a file, /proc, read-only, full)."""
    if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
        raise FetchError(f"cache directory {cache_dir}: exists and is not a directory")
    try:
        os.makedirs(cache_dir, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=cache_dir)
    except OSError as e:
        raise FetchError(f"cache directory {cache_dir}: cannot be written ({e.strerror or e})") from None


def _download(url: str, out, label: str, progress: Optional[bool]):
    """Stream `url` into the open file `out`; (bytes written, SHA-256, Content-Length or None)."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            announced = int(length) if length and length.isdigit() else None
            show = sys.stderr.isatty() if progress is None else progress
            with tqdm(total=announced, unit="B", unit_scale=True, desc=label, disable=not show,
                      leave=False) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FetchError(f"{url}: {e.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # reset, timeout, truncated body
        raise FetchError(f"{url}: download failed: {e!r}") from None
    return size, digest.hexdigest(), announced
