"""Fixtures shared by the tests (used as fixtures, never imported; plain helpers are in tests/helpers.py).

- `digits`: the digits dataset, loaded once per session.
- `digits_trial`: one default-config digits MLP trial (trial 0, r = 0.7) trained in-process once per session.
- `program`: a program's absl flags defined and parsed in-process, removed again after the test.
- `serve`: a local HTTP server on 127.0.0.1 serving a directory (formats.released.fetch).
"""
import functools
import http.server
import os
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from influence_mem.data import datasets

    return datasets.load("digits")


@pytest.fixture(scope="session")
def digits_trial(tmp_path_factory, digits):
    """Trial 0 of the default digits config (20 epochs), with its SavedModel, in <workdir>/0.7/0."""
    from influence_mem.train.config import TrainConfig
    from influence_mem.train.run import run_trials

    workdir = tmp_path_factory.mktemp("digits_run")
    config = TrainConfig(epochs=20, batch_size=128, base_lr=0.1)
    summary = run_trials(digits, config, [0], str(workdir))
    return {"workdir": workdir, "dataset": digits, "config": config, "summary": summary,
            "dir": workdir / "0.7" / "0"}


class Program:
    """Define a program's flags and parse its argv in the test's process, as absl's app.run would."""

    def __init__(self, values, capsys, caplog):
        self.FLAGS, self._capsys, self._caplog = values, capsys, caplog
        self.before = set(values)  # the flags defined before the test: the process's own (absl, TF)

    def forget(self):
        """Reset the values and remove every flag defined since the test started."""
        self.FLAGS.unparse_flags()
        for name in set(self.FLAGS) - self.before:
            if name in self.FLAGS:
                delattr(self.FLAGS, name)

    def parse(self, define_flags, *argv):
        """Call `define_flags()` and parse `argv` (strings, no program name); returns FLAGS.

        Bad values raise absl's flags.Error (IllegalFlagValueError carries the validator's message)."""
        import logging

        self.forget()  # a second program (or the same one again) in one test defines its flags afresh
        define_flags()
        self.argv = self.FLAGS(["prog", *map(str, argv)])  # what app.run hands to main: name + positionals
        # Parsing --verbosity (default: warnings) sets the absl logger's level; let it follow the root logger,
        # whose level a test sets with caplog.set_level.
        logging.getLogger("absl").setLevel(logging.NOTSET)
        return self.FLAGS

    def run(self, define_flags, main, *argv):
        """Parse `argv` for the program and call its `main`; returns what main returns."""
        self.parse(define_flags, *argv)
        return main(self.argv)

    def invoke(self, define_flags, main, *argv):
        """Run the program as its console script would, in-process: a CompletedProcess-like result with
        returncode, stdout and stderr (what it printed there, its log lines and its exit message)."""
        import logging
        import types

        from absl import flags

        from influence_mem.programs import bad_input

        self._capsys.readouterr()
        self._caplog.clear()
        self._caplog.set_level(logging.INFO)
        code, message = 0, ""
        try:
            self.run(define_flags, main, *argv)
        except flags.Error as e:
            code, message = 1, f"error: {bad_input.one_line(e)}"  # as programs.start reports it
        except SystemExit as e:
            if isinstance(e.code, int) or e.code is None:
                code = e.code or 0
            else:
                code, message = 1, str(e.code)
        out = self._capsys.readouterr()
        logged = "\n".join(r.getMessage() for r in self._caplog.records if r.name == "absl")
        stderr = "\n".join(filter(None, [out.err, logged, message]))
        return types.SimpleNamespace(returncode=code, stdout=out.out, stderr=stderr)


@pytest.fixture
def program(capsys, caplog):
    """A Program on the process's absl FLAGS; afterwards every flag the test defined is removed again and
    values are reset, so the next test can define another program's (same-named) flags."""
    from absl import flags

    flags.FLAGS.unparse_flags()
    program = Program(flags.FLAGS, capsys, caplog)
    try:
        yield program
    finally:
        program.forget()



class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; records the paths asked for; with `truncate`, announces a file's full length but
    sends half of it."""
    requests = []  # replaced per server
    truncate = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        if not self.truncate:
            return super().do_GET()
        body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])


@pytest.fixture
def serve():
    """serve(directory, truncate=False) -> (base URL, list of requested paths); servers stop after the test."""
    servers = []

    def start(directory, truncate=False):
        handler = type("Handler", (_Handler,), {"requests": [], "truncate": truncate})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 functools.partial(handler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", handler.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
