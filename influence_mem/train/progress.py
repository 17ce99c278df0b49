"""One progress line per pack or block: trials done/total, trials per minute, ETA.

A tqdm bar where the output is a terminal or a notebook (the notebook widget
when ipywidgets is installed), one plain log line per update otherwise (log files, Ray and
Slurm task logs).  Progress counts for the launchers; TrialsProgress also records what
became of each trial of train.run.run_trials and says it after each pack or trial.
"""
import sys
import time

from absl import logging
from tqdm import notebook as tqdm_notebook
from tqdm import std as tqdm_std


def interactive() -> bool:
    """True in a Jupyter/IPython kernel or when stderr is a terminal."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _bar_class():
    """tqdm's notebook widget in a kernel with ipywidgets, else its text bar (also fine in a notebook)."""
    if "ipykernel" in sys.modules and getattr(tqdm_notebook, "IProgress", None) is not None:
        return tqdm_notebook.tqdm
    return tqdm_std.tqdm


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Counts finished trials out of `total`; update(n, note) after each pack or block.

    `skipped` trials (complete already, or another worker's) count as finished but not towards the rate.
    """

    def __init__(self, total: int, what: str = "trials", bar: bool = None):
        self.total, self.what, self.started = int(total), what, time.time()
        self.trained = self.skipped = 0
        self.bar = None
        if (interactive() if bar is None else bar) and self.total > 0:
            self.bar = _bar_class()(total=self.total, unit="trial", dynamic_ncols=True, leave=True)

    @property
    def finished(self) -> int:
        return self.trained + self.skipped

    def rate_per_minute(self) -> float:
        elapsed = time.time() - self.started
        return 60.0 * self.trained / elapsed if elapsed > 0 and self.trained else 0.0

    def eta_seconds(self):
        rate = self.rate_per_minute()
        return 60.0 * (self.total - self.finished) / rate if rate > 0 else None

    def line(self, note: str = "") -> str:
        eta = self.eta_seconds()
        text = (f"{self.what} {self.finished}/{self.total}"
                + (f" ({self.skipped} skipped)" if self.skipped else "")
                + f", {self.rate_per_minute():.1f} trials/min, ETA {format_seconds(eta) if eta is not None else '?'}")
        return text + (f"; {note}" if note else "")

    def update(self, trained: int = 0, skipped: int = 0, note: str = "") -> str:
        self.trained += trained
        self.skipped += skipped
        if self.bar is not None:
            self.bar.update(trained + skipped)
            if note:
                self.bar.set_postfix_str(note, refresh=True)
        else:
            logging.info("%s", self.line(note))
        return self.line(note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TrialsProgress(Progress):
    """run_trials' progress: what became of each trial (done with its test accuracy, skipped, failed) as
    it happens, and one update per group trained together, whose note names the group's results."""

    def __init__(self, total: int, bar: bool = None):
        super().__init__(total, "trials", bar)
        self.summary = {"done": [], "skipped": [], "test_accuracy": []}  # run_trials' return value
        self.failed = []

    def done(self, trial: int, test_accuracy: float) -> None:
        self.summary["done"].append(trial)
        self.summary["test_accuracy"].append(test_accuracy)

    def skip(self, trial: int) -> None:
        """`trial` is complete already or another worker's."""
        self.summary["skipped"].append(trial)

    def fail(self, trial: int) -> None:
        self.failed.append(trial)

    def _recorded(self) -> int:
        return len(self.summary["done"]) + len(self.summary["skipped"]) + len(self.failed)

    def report(self, group) -> str:
        """The update after the trials `group` (ids, in order) were trained: those done count towards the
        rate; the others recorded since the last update (skipped, failed) count as finished."""
        done = [t for t in group if t in set(self.summary["done"])]
        accuracy = self.summary["test_accuracy"][-len(done):] if done else []
        note = ""
        if len(group) == 1 and done:
            note = f"trial {done[0]}: test accuracy {accuracy[0]:.4f}"
        elif done:
            note = f"trials {group[0]}..{group[-1]}: mean test accuracy {sum(accuracy) / len(accuracy):.4f}"
        failed_here = [t for t in group if t in self.failed]
        if failed_here:
            note += (", " if note else "") + f"failed {','.join(map(str, failed_here))}"
        return self.update(trained=len(done), skipped=self._recorded() - self.finished - len(done), note=note)

    def close(self) -> None:
        """Count the trials recorded since the last update (skipped after the last group), then close."""
        if self.finished < self._recorded():
            self.report([])
        super().close()
