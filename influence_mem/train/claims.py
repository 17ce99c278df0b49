"""Which worker trains which trial: exclusive claims kept alive by a heartbeat.

Many workers (processes, GPUs, machines) may run the same --trials range on
one workdir; each trial is trained by the worker that holds its claim.
"""
import json
import os
import socket
import sys
import threading
import time
import uuid

import tensorflow as tf

from influence_mem.formats.trial import CLAIM_FILE, FAILED_FILE, work_dir
from influence_mem.train.outputs import is_complete, write_json

# --- Work in progress: one stable, claimed directory per trial --------------------------------------
#
# <ratio>/.<trial>.inprogress/ holds claim.json (which worker trains the trial),
# ckpt/ (per-epoch checkpoints, see train.checkpoints), out/ (the outputs being
# written; renamed to <ratio>/<trial> by commit_trial) and failed.json after an
# error.  The name is stable so a rerun after a kill finds the checkpoints; the
# aggregator ignores hidden names.  The claim file is created exclusively
# (O_EXCL on local and NFS paths; write-then-verify on object stores, where it is
# best-effort and the commit rename still keeps one copy).  A claim is stale when
# its owner is a dead process on this host or its heartbeat is older than
# `stale_seconds`; a stale claim may be taken over.

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0


def _is_local(path: str) -> bool:
    return "://" not in path


def _create_exclusive(path: str, text: str) -> bool:
    """Create `path` with `text` unless it exists; True if this call created it."""
    if _is_local(path):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True
    if tf.io.gfile.exists(path):
        return False
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)
    time.sleep(1.0)  # let a concurrent writer land, then see who won
    return _read_text(path) == text


def _read_text(path: str):
    """The file's text; None if it is missing or unreadable (e.g. a directory where a file should be)."""
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return f.read()
    except (tf.errors.OpError, OSError, UnicodeDecodeError):
        return None


def read_owner(path: str) -> dict:
    """The owner recorded in a claim or failure file: a dict, empty when the file is missing or not a
    JSON object (being rewritten by its heartbeat, corrupt, or crafted)."""
    try:
        owner = json.loads(_read_text(path) or "{}")
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_state(work: str, stale_seconds: float = STALE_SECONDS):
    """('none' | 'live' | 'stale', owner dict) of the claim in a trial's work dir."""
    path = os.path.join(work, CLAIM_FILE)
    try:
        age = time.time() - tf.io.gfile.stat(path).mtime_nsec / 1e9
    except tf.errors.NotFoundError:
        return "none", {}
    owner = read_owner(path)
    pid = owner.get("pid")
    if (owner.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0
            and not _pid_alive(pid)):
        return "stale", owner
    return ("stale" if age > stale_seconds else "live"), owner


class Claim:
    """This worker's exclusive right to train one trial, kept fresh by a heartbeat thread.

    `lost` becomes True if another worker took the claim over (we looked
    stale); the trainer then stops the trial without committing it
    (train.run checks held() before writing).
    """

    def __init__(self, work: str, owner: dict):
        self.work, self.path, self.owner = work, os.path.join(work, CLAIM_FILE), owner
        self.text = json.dumps(owner, sort_keys=True)
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def held(self) -> bool:
        if not self.lost and _read_text(self.path) != self.text:
            self.lost = True
        return not self.lost

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if not self.held():
                return
            with tf.io.gfile.GFile(self.path, "w") as f:  # same content, fresh mtime
                f.write(self.text)

    def release(self, failure: str = None, remove_work: bool = False) -> None:
        """Give the trial up: remove the whole work dir (after a commit), or keep the
        checkpoints for a rerun, with failed.json when `failure` says what went wrong."""
        self._stop.set()
        self._thread.join()
        if not self.held():
            return
        if remove_work:
            tf.io.gfile.rmtree(self.work)
            return
        if failure is not None:
            try:
                write_json(os.path.join(self.work, FAILED_FILE), {**self.owner, "error": failure})
            except (tf.errors.OpError, OSError) as e:  # e.g. a full disk: the failure path must not raise
                sys.stderr.write(f"error: could not record the failure of {self.work} ({e}); it was: {failure}\n")
        try:
            tf.io.gfile.remove(self.path)
        except (tf.errors.OpError, OSError) as e:
            sys.stderr.write(f"warning: could not remove {self.path} ({e}); it goes stale in time\n")


def claim_trial(workdir: str, ratio: float, trial: int, stale_seconds: float = STALE_SECONDS):
    """A Claim on `trial`, or None when another live worker holds it.

    A stale claim (a killed worker) is taken over; its checkpoints are kept.
    """
    work = work_dir(workdir, ratio, trial)
    tf.io.gfile.makedirs(work)
    path = os.path.join(work, CLAIM_FILE)
    state, stale_owner = claim_state(work, stale_seconds)
    if state == "live":
        return None
    if state == "stale":
        # Rename first: of several workers seeing the same stale claim, one rename wins.
        aside = f"{path}.stale-{socket.gethostname()}-{os.getpid()}"
        try:
            tf.io.gfile.rename(path, aside, overwrite=True)
        except tf.errors.NotFoundError:
            return None
        moved = _read_text(aside) or "{}"
        if stale_owner.get("token") and stale_owner["token"] not in moved:  # a fresh claim: put it back
            tf.io.gfile.rename(aside, path, overwrite=False)
            return None
        tf.io.gfile.remove(aside)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
             "token": uuid.uuid4().hex}
    if not _create_exclusive(path, json.dumps(owner, sort_keys=True)):
        return None
    failed = os.path.join(work, FAILED_FILE)
    if tf.io.gfile.exists(failed):
        tf.io.gfile.remove(failed)
    return Claim(work, owner)


def claim_unfinished(workdir: str, ratio: float, trial: int, stale_seconds: float = STALE_SECONDS):
    """(Claim, its empty temporary output dir `<work>/out`) for `trial`, or why not: 'complete' (done, or
    completed by another worker while we claimed) or 'held' (another live worker's).  How a worker starts
    each trial it writes (trained by im-train, re-evaluated by im-reevaluate); a killed worker's partial
    outputs are removed, its checkpoints kept."""
    if is_complete(workdir, ratio, trial):
        return "complete"
    claim = claim_trial(workdir, ratio, trial, stale_seconds)
    if claim is None:
        return "held"
    if is_complete(workdir, ratio, trial):  # finished while we claimed
        claim.release(remove_work=True)
        return "complete"
    temp = os.path.join(claim.work, "out")
    if tf.io.gfile.exists(temp):
        tf.io.gfile.rmtree(temp)
    tf.io.gfile.makedirs(temp)
    return claim, temp
