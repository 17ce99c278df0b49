"""`python -m influence_mem.released list|fetch|check`: the authors' published files (formats.released.fetch).

    python -m influence_mem.released list
    python -m influence_mem.released fetch cifar100_infl_matrix [--cache_dir=DIR] [--base_url=URL] [--force]
    python -m influence_mem.released check FILE...

Every failure is one line on stderr and exit code 1.
"""
import argparse
import sys
from typing import Optional, Sequence

from influence_mem.formats.released.fetch import FILES, FetchError, check, fetch, lookup


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit code 1, like every other program's bad input."""

    def error(self, message):
        self.exit(1, f"error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The command line: `list`, `fetch NAME... [--cache_dir] [--base_url] [--force]`, `check FILE...`."""
    parser = _Parser(prog="python -m influence_mem.released",
                     description="The estimate files the authors publish: list, fetch, check.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every known file, its URL and what is checked")
    get = commands.add_parser("fetch", help="download files into the cache (checked); prints their paths")
    get.add_argument("names", nargs="+", metavar="NAME", help="file name, with or without extension")
    get.add_argument("--cache_dir", default=None, help="default: $INFLUENCE_MEM_CACHE or ~/.cache/influence_mem")
    get.add_argument("--base_url", default=None, help="a mirror serving the files under their names")
    get.add_argument("--force", action="store_true", help="download even if the cache has a good copy")
    verify = commands.add_parser("check", help="check local files against the known checksums and sizes")
    verify.add_argument("paths", nargs="+", metavar="FILE", help="a downloaded file (.npz or .npy), named as published")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`list`, `fetch NAME... [--cache_dir] [--base_url] [--force]`, `check FILE...`; the exit code."""
    args = parser().parse_args(argv)
    if args.command == "list":
        for entry in FILES.values():
            checked = f"sha256 {entry.sha256[:12]}..., {entry.size:,} bytes" if entry.sha256 else "size only"
            print(f"{entry.filename}\n    {entry.url}\n    {entry.description}; checked: {checked}")
        return 0
    try:
        if args.command == "fetch":
            for name in args.names:
                print(fetch(name, args.cache_dir, base_url=args.base_url, force=args.force))
        else:
            for path in args.paths:
                entry = lookup(path)
                digest = check(path)
                how = "SHA-256 matches" if entry.sha256 else f"no known checksum; its SHA-256 is {digest}"
                print(f"{path}: ok ({how})")
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
