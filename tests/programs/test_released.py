"""programs.released, the program of `python -m influence_mem.released list|fetch|check` (the command itself:
tests/integration/test_released_cli.py), against a local HTTP server on 127.0.0.1 (the `serve` fixture)."""
from influence_mem.formats.released.fetch import FILES
from influence_mem.programs.released import main


def test_cli_list_fetch_check(serve, tmp_path, capsys):
    served = tmp_path / "served"
    served.mkdir()
    (served / "imagenet_index.npz").write_bytes(b"x" * 100)
    url, _ = serve(served)
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(entry.url in listing for entry in FILES.values())
    cache = tmp_path / "cache"
    assert main(["fetch", "imagenet_index", f"--cache_dir={cache}", f"--base_url={url}"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "imagenet_index.npz")
    assert main(["check", str(cache / "imagenet_index.npz")]) == 0
    assert "no known checksum" in capsys.readouterr().out
    bad = tmp_path / "mnist-cscores.npy"
    bad.write_bytes(b"nope")
    assert main(["check", str(bad)]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["fetch", "nope", f"--cache_dir={cache}"]) == 1
    assert "unknown released file 'nope'" in capsys.readouterr().err

