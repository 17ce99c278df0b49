"""Per-trial output layout: <workdir>/<subset_ratio>/<trial>/{aux_arrays.npz, metrics.json, saved_model/}.

A trial is written in a hidden work dir (work_dir: .<trial>.inprogress/out)
and renamed into place only when complete, so a crash or SIGKILL never leaves
a directory the aggregator would count, and of two workers racing on one trial
the second to finish discards its copy.  All I/O goes through tf.io.gfile
(local paths, gs://).
"""
import io
import json
import os
import socket
import threading
import time
import uuid

import numpy as np
import tensorflow as tf

AUX_KEYS = ("subsample_idx", "correctness_train", "correctness_removed", "correctness_test",
            "index_train", "index_removed", "index_test")
META_FILE = "dataset_meta.npz"


def format_ratio(ratio: float) -> str:
    """0.7 -> '0.7' (the released layout's directory name)."""
    return f"{float(ratio):g}"


def trial_dir(workdir: str, ratio: float, trial: int) -> str:
    return os.path.join(workdir, format_ratio(ratio), str(int(trial)))


def is_complete(workdir: str, ratio: float, trial: int) -> bool:
    return tf.io.gfile.exists(os.path.join(trial_dir(workdir, ratio, trial), "aux_arrays.npz"))


def write_npz(path: str, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def read_npz(path: str) -> dict:
    with tf.io.gfile.GFile(path, "rb") as f:
        with np.load(io.BytesIO(f.read()), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


def write_json(path: str, obj: dict) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def aux_arrays(subset: np.ndarray, train_index: np.ndarray, train_correct: np.ndarray,
               test_index: np.ndarray, test_correct: np.ndarray) -> dict:
    """The heldout aux_arrays.npz content from full-train-set correctness.

    `train_index`/`train_correct` cover every training example (any order);
    `train` = the examples in `subset`, `removed` = the rest.
    """
    inside = np.isin(train_index, subset)
    return {
        "subsample_idx": np.asarray(subset, np.int64),
        "correctness_train": np.asarray(train_correct[inside], bool),
        "correctness_removed": np.asarray(train_correct[~inside], bool),
        "correctness_test": np.asarray(test_correct, bool),
        "index_train": np.asarray(train_index[inside], np.int64),
        "index_removed": np.asarray(train_index[~inside], np.int64),
        "index_test": np.asarray(test_index, np.int64),
    }


def commit_trial(temp_dir: str, final_dir: str) -> bool:
    """Rename a finished temporary trial directory into place.

    Returns False (and removes the temporary copy) when another worker already
    completed the trial; an existing complete trial is never overwritten.
    """
    if tf.io.gfile.exists(os.path.join(final_dir, "aux_arrays.npz")):
        tf.io.gfile.rmtree(temp_dir)
        return False
    if tf.io.gfile.exists(final_dir):  # a leftover without aux_arrays.npz: incomplete, replace it
        tf.io.gfile.rmtree(final_dir)
    try:
        tf.io.gfile.rename(temp_dir, final_dir, overwrite=False)
    except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
        tf.io.gfile.rmtree(temp_dir)
        return False
    return True


def ensure_dataset_meta(workdir: str, meta: dict) -> None:
    """Write <workdir>/dataset_meta.npz once; later runs must be on the same dataset."""
    path = os.path.join(workdir, META_FILE)
    if tf.io.gfile.exists(path):
        existing = read_npz(path)
        for key in ("tr_labels", "tt_labels"):
            if key not in existing or not np.array_equal(existing[key], meta[key]):
                raise ValueError(f"{path}: {key} differ from dataset {meta['dataset']}; "
                                 f"this workdir holds trials of another dataset")
        return
    tf.io.gfile.makedirs(workdir)
    temp = f"{path}.tmp-{os.getpid()}"
    write_npz(temp, meta)
    tf.io.gfile.rename(temp, path, overwrite=True)


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

CLAIM_FILE = "claim.json"
FAILED_FILE = "failed.json"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0


def work_dir(workdir: str, ratio: float, trial: int) -> str:
    """<workdir>/<ratio>/.<trial>.inprogress: where an unfinished trial lives between runs."""
    return os.path.join(workdir, format_ratio(ratio), f".{int(trial)}.inprogress")


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
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return f.read()
    except tf.errors.NotFoundError:
        return None


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
    try:
        owner = json.loads(_read_text(path) or "{}")
    except json.JSONDecodeError:  # being rewritten by its heartbeat
        owner = {}
    if owner.get("host") == socket.gethostname() and "pid" in owner and not _pid_alive(int(owner["pid"])):
        return "stale", owner
    return ("stale" if age > stale_seconds else "live"), owner


class ClaimLost(Exception):
    """Another worker took over a trial this worker was training."""


class Claim:
    """This worker's exclusive right to train one trial, kept fresh by a heartbeat thread.

    `lost` becomes True if another worker took the claim over (we looked
    stale); the trainer then stops the trial without committing it.
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
            write_json(os.path.join(self.work, FAILED_FILE), {**self.owner, "error": failure})
        tf.io.gfile.remove(self.path)


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
