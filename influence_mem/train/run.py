"""run_trials: train every trial of a range that is neither complete nor held by another worker.

The library behind im-train (no flags here): claim each trial
(train.claims), plan it (train.plan), hand the plans to a backend (one Keras
model per trial, or packs of K), write each trained trial with the one
writer (train.outputs.write_trial) and commit it by rename.
"""
import math
import os

from absl import logging

from influence_mem.data import corrupt
from influence_mem.formats.trial import FAILED_FILE, METRICS_FILE, trial_dir
from influence_mem.train import checkpoints, claims, outputs
from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.pack import Pack, PackCache
from influence_mem.train.plan import plan_trial
from influence_mem.train.progress import TrialsProgress


class TrialsFailed(Exception):
    """Some trials raised; the others ran.  Carries the run summary and the failed ids."""

    def __init__(self, summary: dict, failed: list):
        super().__init__(f"trials {','.join(map(str, failed))} failed (error in <ratio>/.<trial>.inprogress/"
                         f"{FAILED_FILE}; rerun resumes them from their checkpoints)")
        self.summary, self.failed = summary, failed


class GarbageTrial(ValueError):
    """A trained trial whose numbers are meaningless (non-finite loss, accuracy at chance): never committed."""


def check_trained(metrics: dict, num_classes: int) -> None:
    """Raise GarbageTrial if the trial's final training loss is not finite or its training accuracy is at
    or below chance (1 / num_classes): such a trial would silently bias every estimate it enters."""
    loss, accuracy = metrics.get("final_loss"), metrics["train_accuracy"]
    if loss is not None and not math.isfinite(loss):
        raise GarbageTrial(f"final training loss is {loss} (diverged: check --base_lr and the data); not committed")
    if accuracy <= 1.0 / num_classes:
        raise GarbageTrial(f"training accuracy {accuracy:.4f} is at or below chance (1/{num_classes}); "
                           f"not committed")


class _Claimed:
    """A trial this worker holds: its plan, its position in the run, its claim and empty temporary output dir."""

    def __init__(self, plan, position, claim, temp):
        self.plan, self.position, self.claim, self.temp = plan, position, claim, temp
        self.checkpoint_dir = os.path.join(claim.work, "ckpt")


class _Run:
    """What every trial of one run_trials call shares: where it goes, what is written with it, the progress."""

    def __init__(self, dataset, config: TrainConfig, workdir: str, flag_record, on_trained, progress: TrialsProgress):
        self.dataset, self.config, self.workdir = dataset, config, workdir
        self.flag_record, self.on_trained, self.progress = flag_record or {}, on_trained, progress

    def claim(self, position: int, trial: int, stale_seconds: float, log=logging.info):
        """`trial` claimed, planned and given an empty temp output dir, or None (recorded as skipped) if it
        is complete or held elsewhere."""
        workdir, ratio = self.workdir, self.config.subset_ratio
        found = claims.claim_unfinished(workdir, ratio, trial, stale_seconds)
        if isinstance(found, str):
            logging.info("trial %d: %s, skipping", trial, f"already complete in {trial_dir(workdir, ratio, trial)}"
                         if found == "complete" else "claimed by another live worker")
            self.progress.skip(trial)
            return None
        claim, temp = found
        log("trial %d: claimed by %s pid %d", trial, claim.owner["host"], claim.owner["pid"])
        return _Claimed(plan_trial(self.dataset.num_train, self.config, trial), position, claim, temp)

    def commit_or_fail(self, held: _Claimed, trained, group_size: int) -> None:
        """Write, check and commit `trained` (a TrainedTrial), or mark the trial failed (`trained` is the
        error that stopped it, or writing or checking it raised); a trial another worker took over is left
        to that worker."""
        trial = held.plan.trial
        if isinstance(trained, Exception):
            self._fail(held, f"{type(trained).__name__}: {trained}")
            return
        try:
            if not held.claim.held():
                logging.warning("trial %d: claim taken over by another worker; leaving it to that worker", trial)
                held.claim.release()
                self.progress.skip(trial)
                return
            metrics = outputs.write_trial(self.dataset, self.config, trained, held.temp, self.on_trained)
            check_trained(metrics, self.dataset.num_classes)
            where = f"{held.position + 1}/{self.progress.total}" if group_size == 1 else f"pack of {group_size}"
            self._commit(held, metrics, where)
        except GarbageTrial as e:
            self._fail(held, str(e))
        except Exception as e:  # one trial's writer failed; its error is kept on disk
            logging.exception("trial %d failed", trial)
            self._fail(held, f"{type(e).__name__}: {e}")

    def _commit(self, held: _Claimed, metrics: dict, where: str) -> None:
        """Write metrics.json (and corrupted_idx.npy), rename the trial into place and release its claim."""
        trial, claim, temp = held.plan.trial, held.claim, held.temp
        final = trial_dir(self.workdir, self.config.subset_ratio, trial)
        corrupted_idx = self.dataset.corrupted_idx
        if corrupted_idx is not None:
            corrupt.write_corrupted_idx(temp, corrupted_idx)
            metrics["num_corrupted"] = int(len(corrupted_idx))
        metrics["flags"] = self.flag_record
        metrics["worker"] = {k: claim.owner[k] for k in ("host", "pid")}
        outputs.write_json(os.path.join(temp, METRICS_FILE), metrics)
        committed = outputs.commit_trial(temp, final)
        claim.release(remove_work=True)
        if committed:
            self.progress.done(trial, metrics["test_accuracy"])
            logging.debug("trial %d done (%s): test accuracy %.4f, %.1fs -> %s", trial, where,
                          metrics["test_accuracy"], metrics["wall_seconds"], final)
        else:
            logging.info("trial %d: completed meanwhile by another worker, discarded this copy", trial)
            self.progress.skip(trial)

    def _fail(self, held: _Claimed, error: str) -> None:
        logging.error("trial %d failed: %s", held.plan.trial, error)
        held.claim.release(failure=error)
        self.progress.fail(held.plan.trial)


def _groups(claimed, size: int, by_resume_epoch: bool):
    """The claimed trials (None: not claimed) in groups of `size`, each yielded once full, then those left.

    With `by_resume_epoch`, a group holds trials whose checkpoints resume from the same epoch: a pack
    steps all its trials together.
    """
    waiting = {}  # resume epoch -> claimed trials waiting for a group
    for held in claimed:
        if held is None:
            continue
        epoch = checkpoints.latest_epoch(held.checkpoint_dir) if by_resume_epoch else 0
        waiting.setdefault(epoch, []).append(held)
        if len(waiting[epoch]) == size:
            group, waiting[epoch] = waiting[epoch], []
            yield group
    yield from (group for group in waiting.values() if group)


def _trained(backend, group):
    """(held, its TrainedTrial) for each trial of `group`, in order, as `backend` trains them; if the
    backend raises, (held, the error) for each trial it had not yielded."""
    checkpoint_dirs = [held.checkpoint_dir for held in group] if backend.checkpoint_every > 0 else None
    trained_trials = backend.train([held.plan for held in group], checkpoint_dirs, [held.claim.held for held in group])
    finished = 0
    try:
        for held, trained in zip(group, trained_trials):
            finished += 1
            yield held, trained
    except Exception as e:  # the backend failed: the trials it had not yielded failed, each keeps the error
        left = group[finished:]
        logging.exception("trials %s failed", ",".join(str(held.plan.trial) for held in left))
        for held in left:
            yield held, e


def run_trials(dataset, config: TrainConfig, trials, workdir: str, flag_record: dict = None, strategy=None,
               checkpoint_every: int = 1, stale_seconds: float = claims.STALE_SECONDS, pack_trials: int = 1,
               on_trained=None, progress_bar: bool = None, pack_cache: PackCache = None,
               checkpoint_seconds: float = 0.0) -> dict:
    """Train every trial in `trials` that is neither complete nor held by another live worker.

    Returns {'done': [...], 'skipped': [...] (complete or claimed elsewhere),
    'test_accuracy': [...]}.  Each trial is claimed first (claims.claim_trial)
    and checkpointed every `checkpoint_every` epochs (0: never), at most once per `checkpoint_seconds`
    (0: no limit; checkpoints.SaveSchedule), in its work dir, so a rerun after a kill resumes it.  A trial that raises leaves failed.json,
    the rest still run, and TrialsFailed is raised at the end.  With
    `pack_trials` K > 1, claimed trials are trained K at a time as one packed
    model (train.pack), each checkpointed and written as if trained alone;
    trials are packed with others that resume from the same epoch; `pack_cache`
    (train.pack.PackCache) shares what earlier runs of this dataset and config built.
    `on_trained(model, out_dir)` runs on each trained model before it is written.
    After each pack (or trial) one progress line gives trials done/total, trials per minute and the ETA
    (progress.TrialsProgress: a tqdm bar in a terminal or notebook, else a log line; `progress_bar` forces either).
    """
    outputs.check_experiment(workdir, config)  # before anything is written
    outputs.ensure_dataset_meta(workdir, dataset.meta())
    outputs.ensure_experiment(workdir, config)
    if pack_trials > 1:
        backend = Pack(dataset, config, pack_trials, strategy, checkpoint_every, keep_models=on_trained is not None,
                       cache=pack_cache, checkpoint_seconds=checkpoint_seconds)
    else:
        backend = OneModel(dataset, config, strategy, checkpoint_every, checkpoint_seconds)
    progress = TrialsProgress(len(trials), bar=progress_bar)
    run = _Run(dataset, config, workdir, flag_record, on_trained, progress)
    claim_log = logging.info if backend.size == 1 else logging.debug  # a pack: its progress line says it all
    claimed = (run.claim(position, trial, stale_seconds, claim_log) for position, trial in enumerate(trials))
    for group in _groups(claimed, backend.size, by_resume_epoch=backend.size > 1 and checkpoint_every > 0):
        for held, trained in _trained(backend, group):
            run.commit_or_fail(held, trained, len(group))
        progress.report([held.plan.trial for held in group])
    progress.close()
    if progress.failed:
        raise TrialsFailed(progress.summary, progress.failed)
    return progress.summary
