"""programs.logs: TensorFlow's own INFO lines are dropped, the program's and every warning kept;
INFLUENCE_MEM_VERBOSE=1 leaves the loggers alone."""
import logging
import os

import pytest

from influence_mem.programs import logs


def _record(path, level):
    return logging.LogRecord("absl", level, path, 1, "message", None, None)


def test_the_filter_drops_only_tensorflows_info():
    keep = logs.NotTensorFlowInfo().filter
    inside = os.path.join(os.sep, "site-packages", "tensorflow", "python", "saved_model", "save.py")
    assert not keep(_record(inside, logging.INFO)) and not keep(_record(inside, logging.DEBUG))
    assert keep(_record(inside, logging.WARNING))
    assert keep(_record(os.path.join(os.sep, "src", "influence_mem", "train", "run.py"), logging.INFO))


@pytest.fixture
def loggers():
    """The loggers quiet_tensorflow_logs touches, restored afterwards."""
    named = [logging.getLogger(name) for name in (*logs.TF_LOGGERS, "absl")]
    saved = [(log.level, list(log.filters)) for log in named]
    for log in named:
        log.setLevel(logging.NOTSET)
        log.filters = [f for f in log.filters if not isinstance(f, logs.NotTensorFlowInfo)]
    yield named
    for log, (level, filters) in zip(named, saved):
        log.setLevel(level)
        log.filters = filters


def test_quiet_raises_tensorflows_loggers_once(loggers, monkeypatch):
    monkeypatch.delenv("INFLUENCE_MEM_VERBOSE", raising=False)
    logs.quiet_tensorflow_logs()
    logs.quiet_tensorflow_logs()
    assert [log.level for log in loggers[:-1]] == [logging.WARNING] * len(logs.TF_LOGGERS)
    assert sum(isinstance(f, logs.NotTensorFlowInfo) for f in loggers[-1].filters) == 1


def test_verbose_env_leaves_them_alone(loggers, monkeypatch):
    monkeypatch.setenv("INFLUENCE_MEM_VERBOSE", "1")
    logs.quiet_tensorflow_logs()
    assert [log.level for log in loggers] == [logging.NOTSET] * len(loggers) and not loggers[-1].filters
