"""influence_mem.progress: done/total, trials per minute and ETA, as log lines when not interactive."""
import logging

from influence_mem.progress import Progress, format_seconds


def test_progress_lines(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="absl")
    clock = iter([100.0, 160.0, 160.0, 160.0, 160.0])
    monkeypatch.setattr("influence_mem.progress.time.time", lambda: next(clock, 160.0))
    progress = Progress(10, bar=False)
    line = progress.update(trained=2, skipped=1, note="trials 0..2")
    assert line == "trials 3/10 (1 skipped), 2.0 trials/min, ETA 0:03:30; trials 0..2"
    assert caplog.records[-1].getMessage() == line
    assert format_seconds(3725) == "1:02:05"
    progress.close()


def test_no_rate_yet():
    assert Progress(4, bar=False).line() == "trials 0/4, 0.0 trials/min, ETA ?"
