"""run_trials: train every trial of a range that is neither complete nor held by another worker.

The library behind im-train (no flags here): claim each trial
(train.claims), plan it (train.plan), hand the plans to a backend (one Keras
model per trial, or packs of K), write each trained trial with the one
writer (train.outputs.write_trial) and commit it by rename.
"""
import math
import os

import tensorflow as tf
from absl import logging

from influence_mem.data import corrupt
from influence_mem.progress import Progress
from influence_mem.estimate.trial_format import FAILED_FILE, METRICS_FILE, trial_dir
from influence_mem.train import checkpoints, claims, outputs
from influence_mem.train.config import TrainConfig
from influence_mem.train.one_model import OneModel
from influence_mem.train.pack import Pack
from influence_mem.train.plan import plan_trial


class TrialsFailed(Exception):
    """Some trials raised; the others ran.  Carries the run summary and the failed ids."""

    def __init__(self, summary: dict, failed: list):
        super().__init__(f"trials {','.join(map(str, failed))} failed (error in <ratio>/.<trial>.inprogress/"
                         f"{FAILED_FILE}; rerun resumes them from their checkpoints)")
        self.summary, self.failed = summary, failed


class _Claimed:
    """A trial this worker holds: its plan, claim and the empty temporary output directory."""

    def __init__(self, plan, position, claim, temp):
        self.plan, self.position, self.claim, self.temp = plan, position, claim, temp
        self.checkpoint_dir = os.path.join(claim.work, "ckpt")


def _claim(workdir, config, trial, stale_seconds, summary, log=logging.info):
    """(claim, empty temp output dir) for `trial`, or None (recorded as skipped) if complete or held elsewhere."""
    final = trial_dir(workdir, config.subset_ratio, trial)
    if outputs.is_complete(workdir, config.subset_ratio, trial):
        logging.info("trial %d: already complete in %s, skipping", trial, final)
        summary["skipped"].append(trial)
        return None
    claim = claims.claim_trial(workdir, config.subset_ratio, trial, stale_seconds)
    if claim is None:
        logging.info("trial %d: claimed by another live worker, skipping", trial)
        summary["skipped"].append(trial)
        return None
    if outputs.is_complete(workdir, config.subset_ratio, trial):  # finished while we claimed
        claim.release(remove_work=True)
        summary["skipped"].append(trial)
        return None
    log("trial %d: claimed by %s pid %d", trial, claim.owner["host"], claim.owner["pid"])
    temp = os.path.join(claim.work, "out")
    if tf.io.gfile.exists(temp):  # partial outputs of a killed worker
        tf.io.gfile.rmtree(temp)
    tf.io.gfile.makedirs(temp)
    return claim, temp


def _commit(workdir, config, held: _Claimed, metrics, flag_record, summary, progress, corrupted_idx=None):
    """Write metrics.json (and corrupted_idx.npy), rename the trial into place and release its claim."""
    trial, claim, temp = held.plan.trial, held.claim, held.temp
    final = trial_dir(workdir, config.subset_ratio, trial)
    if corrupted_idx is not None:
        corrupt.write_corrupted_idx(temp, corrupted_idx)
        metrics["num_corrupted"] = int(len(corrupted_idx))
    metrics["flags"] = flag_record or {}
    metrics["worker"] = {k: claim.owner[k] for k in ("host", "pid")}
    outputs.write_json(os.path.join(temp, METRICS_FILE), metrics)
    committed = outputs.commit_trial(temp, final)
    claim.release(remove_work=True)
    if committed:
        summary["done"].append(trial)
        summary["test_accuracy"].append(metrics["test_accuracy"])
        logging.debug("trial %d done (%s): test accuracy %.4f, %.1fs -> %s", trial, progress,
                      metrics["test_accuracy"], metrics["wall_seconds"], final)
    else:
        logging.info("trial %d: completed meanwhile by another worker, discarded this copy", trial)
        summary["skipped"].append(trial)


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


def _fail(held, error, failed):
    logging.error("trial %d failed: %s", held.plan.trial, error)
    held.claim.release(failure=error)
    failed.append(held.plan.trial)


def _train_group(backend, dataset, config, group, workdir, flag_record, summary, failed, on_trained, progress):
    """Train the claimed trials `group` on `backend`, check, write and commit each; a raising backend fails
    the trials it has not yielded yet."""
    checkpoint_dirs = [held.checkpoint_dir for held in group] if backend.checkpoint_every > 0 else None
    finished = set()
    try:
        trained_trials = backend.train([held.plan for held in group], checkpoint_dirs,
                                       [held.claim.held for held in group])
        for held, trained in zip(group, trained_trials):
            finished.add(held.plan.trial)
            if not held.claim.held():
                logging.warning("trial %d: claim taken over by another worker; leaving it to that worker",
                                held.plan.trial)
                held.claim.release()
                summary["skipped"].append(held.plan.trial)
                continue
            try:
                metrics = outputs.write_trial(dataset, config, trained, held.temp, on_trained)
                check_trained(metrics, dataset.num_classes)
                _commit(workdir, config, held, metrics, flag_record, summary, progress(held, len(group)),
                        dataset.corrupted_idx)
            except GarbageTrial as e:
                _fail(held, str(e), failed)
            except Exception as e:  # one trial's writer failed; its error is kept on disk
                logging.exception("trial %d failed", held.plan.trial)
                _fail(held, f"{type(e).__name__}: {e}", failed)
    except Exception as e:  # the backend failed: the trials it had not yielded failed, each keeps the error
        logging.exception("trials %s failed", ",".join(str(h.plan.trial) for h in group
                                                       if h.plan.trial not in finished))
        for held in group:
            if held.plan.trial not in finished:
                _fail(held, f"{type(e).__name__}: {e}", failed)


def run_trials(dataset, config: TrainConfig, trials, workdir: str, flag_record: dict = None, strategy=None,
               checkpoint_every: int = 1, stale_seconds: float = claims.STALE_SECONDS, pack_trials: int = 1,
               on_trained=None, progress_bar: bool = None) -> dict:
    """Train every trial in `trials` that is neither complete nor held by another live worker.

    Returns {'done': [...], 'skipped': [...] (complete or claimed elsewhere),
    'test_accuracy': [...]}.  Each trial is claimed first (claims.claim_trial)
    and checkpointed every `checkpoint_every` epochs (0: never) in its work dir,
    so a rerun after a kill resumes it.  A trial that raises leaves failed.json,
    the rest still run, and TrialsFailed is raised at the end.  With
    `pack_trials` K > 1, claimed trials are trained K at a time as one packed
    model (train.pack), each checkpointed and written as if trained alone;
    trials are packed with others that resume from the same epoch.
    `on_trained(model, out_dir)` runs on each trained model before it is written.
    After each pack (or trial) one progress line gives trials done/total, trials per minute and the ETA
    (progress.Progress: a tqdm bar in a terminal or notebook, else a log line; `progress_bar` forces either).
    """
    outputs.check_experiment(workdir, config)  # before anything is written
    outputs.ensure_dataset_meta(workdir, dataset.meta())
    outputs.ensure_experiment(workdir, config)
    if pack_trials > 1:
        backend = Pack(dataset, config, pack_trials, strategy, checkpoint_every, keep_models=on_trained is not None)
    else:
        backend = OneModel(dataset, config, strategy, checkpoint_every)
    summary, failed = {"done": [], "skipped": [], "test_accuracy": []}, []
    total = len(trials)
    bar = Progress(total, "trials", bar=progress_bar)
    claim_log = logging.info if backend.size == 1 else logging.debug  # a pack: its progress line says it all

    def report(group):
        done = [h.plan.trial for h in group if h.plan.trial in set(summary["done"])]
        accuracy = summary["test_accuracy"][-len(done):] if done else []
        counted = len(summary["done"]) + len(summary["skipped"]) + len(failed)
        note = ""
        if len(group) == 1 and done:
            note = f"trial {done[0]}: test accuracy {accuracy[0]:.4f}"
        elif done:
            note = (f"trials {group[0].plan.trial}..{group[-1].plan.trial}: mean test accuracy "
                    f"{sum(accuracy) / len(accuracy):.4f}")
        failed_here = [h.plan.trial for h in group if h.plan.trial in failed]
        if failed_here:
            note += (", " if note else "") + f"failed {','.join(map(str, failed_here))}"
        bar.update(trained=len(done), skipped=counted - bar.finished - len(done), note=note)

    def progress(held, group_size):
        return f"{held.position + 1}/{total}" if group_size == 1 else f"pack of {group_size}"

    groups = {}  # resume epoch -> claimed trials waiting for a group: a pack steps all its trials together
    for position, trial in enumerate(trials):
        claimed = _claim(workdir, config, trial, stale_seconds, summary, claim_log)
        if claimed is None:
            continue
        held = _Claimed(plan_trial(dataset.num_train, config, trial), position, *claimed)
        resume = checkpoints.latest_epoch(held.checkpoint_dir) if backend.size > 1 and checkpoint_every > 0 else 0
        group = groups.setdefault(resume, [])
        group.append(held)
        if len(group) == backend.size:
            _train_group(backend, dataset, config, group, workdir, flag_record, summary, failed, on_trained, progress)
            report(group)
            groups[resume] = []
    for group in groups.values():
        if group:
            _train_group(backend, dataset, config, group, workdir, flag_record, summary, failed, on_trained, progress)
            report(group)
    if bar.finished < len(summary["done"]) + len(summary["skipped"]) + len(failed):
        report([])
    bar.close()
    if failed:
        raise TrialsFailed(summary, failed)
    return summary
