"""train.progress: done/total, trials per minute and ETA, as log lines when not interactive; run_trials'
TrialsProgress says what became of each group of trials and returns the run's summary."""
import logging

from influence_mem.train.progress import Progress, TrialsProgress, format_seconds


def test_progress_lines(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="absl")
    clock = iter([100.0, 160.0, 160.0, 160.0, 160.0])
    monkeypatch.setattr("influence_mem.train.progress.time.time", lambda: next(clock, 160.0))
    progress = Progress(10, bar=False)
    line = progress.update(trained=2, skipped=1, note="trials 0..2")
    assert line == "trials 3/10 (1 skipped), 2.0 trials/min, ETA 0:03:30; trials 0..2"
    assert caplog.records[-1].getMessage() == line
    assert format_seconds(3725) == "1:02:05"
    progress.close()


def test_no_rate_yet():
    assert Progress(4, bar=False).line() == "trials 0/4, 0.0 trials/min, ETA ?"


def test_trials_progress_reports_each_group_and_counts_skipped_and_failed_trials(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="absl")
    clock = iter([0.0])
    monkeypatch.setattr("influence_mem.train.progress.time.time", lambda: next(clock, 60.0))
    progress = TrialsProgress(6, bar=False)
    progress.skip(0)  # complete already, found while claiming
    progress.done(1, 0.90)
    progress.fail(2)
    progress.done(3, 0.96)
    assert progress.report([1, 2, 3]) == ("trials 4/6 (2 skipped), 2.0 trials/min, ETA 0:01:00; "
                                          "trials 1..3: mean test accuracy 0.9300, failed 2")
    progress.done(4, 0.95)
    assert progress.report([4]) == "trials 5/6 (2 skipped), 3.0 trials/min, ETA 0:00:20; trial 4: test accuracy 0.9500"
    progress.skip(5)  # taken by another worker after the last group: counted when the progress closes
    progress.close()
    assert caplog.records[-1].getMessage() == "trials 6/6 (3 skipped), 3.0 trials/min, ETA 0:00:00"
    assert progress.summary == {"done": [1, 3, 4], "skipped": [0, 5], "test_accuracy": [0.90, 0.96, 0.95]}
    assert progress.failed == [2]
    progress.close()  # closing twice says nothing more
    assert caplog.records[-1].getMessage() == "trials 6/6 (3 skipped), 3.0 trials/min, ETA 0:00:00"
