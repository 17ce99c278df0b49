"""im-status: which trials of a workdir are done, in progress, failed or missing, and what to rerun.

  python -m influence_mem.train.status --workdir=/data/cifar100_run --trials=0-3999

Reads only the layout the trainer writes (train.outputs, train.claims): <ratio>/<trial>/aux_arrays.npz
is done; <ratio>/.<trial>.inprogress/ is in progress while its claim is live, and
failed otherwise (error recorded, or the worker was killed: a rerun resumes it
from its checkpoint).  Everything goes through tf.io.gfile or fsspec (estimate.fileio), so gs:// works.
"""
import os

import tensorflow as tf
from absl import app, flags

from influence_mem.formats.trial import (AUX_FILE, FAILED_FILE, MAX_TRIAL_ID, format_trials, parse_trials,
                                         trial_id, work_dir_trial)
from influence_mem.estimate.trials import ratio_dirs
from influence_mem.programs import shared_flags, start
from influence_mem.train import checkpoints, claims

FLAGS = flags.FLAGS


def define_flags():
    """Only when run as the program: the launchers import this module next to the trainer's same-named flags."""
    flags.DEFINE_string("workdir", None, "The trainer's --workdir.")
    flags.DEFINE_string("trials", None, "Trials the experiment should have, e.g. 0-3999 (default: 0 to the "
                        "largest trial id seen, per ratio).")
    flags.DEFINE_float("claim_timeout_minutes", claims.STALE_SECONDS / 60,
                       "A claim from another host with an older heartbeat counts as failed (its worker is gone).")
    flags.register_validator("trials", lambda v: v is None or shared_flags.valid(parse_trials, v),
                             "see the message above")
    flags.mark_flag_as_required("workdir")


def _work_state(work: str, stale_seconds: float):
    """('in_progress' | 'failed', detail) of a trial's .inprogress work dir."""
    epoch = checkpoints.latest_epoch(os.path.join(work, "ckpt"))
    at = f"checkpoint at epoch {epoch}" if epoch else "no checkpoint yet"
    state, owner = claims.claim_state(work, stale_seconds)
    who = f"{owner.get('host', '?')} pid {owner.get('pid', '?')}"
    if state == "live":
        return "in_progress", f"{who}, {at}"
    failed = os.path.join(work, FAILED_FILE)
    if tf.io.gfile.exists(failed):
        error = claims.read_owner(failed).get("error") or f"unreadable record, see {failed}"
        return "failed", f"error: {error}; {at}"
    if state == "stale":
        return "failed", f"interrupted ({who} gone); {at}"
    return "failed", f"interrupted (no live claim); {at}"


def scan_ratio(ratio_dir: str, stale_seconds: float = claims.STALE_SECONDS) -> dict:
    """{'done': {ids}, 'in_progress': {id: detail}, 'failed': {id: detail}} of one ratio directory."""
    names = [n.rstrip("/") for n in tf.io.gfile.listdir(ratio_dir)]
    result = {"done": set(), "in_progress": {}, "failed": {}, "ignored": {}}
    trials = {}
    for name in names:
        trial = trial_id(name)
        if trial is not None:
            trials[trial] = name
        elif _looks_like_a_trial(name):
            result["ignored"][name] = (f"not a trial directory name (trials are canonical integers 0..{MAX_TRIAL_ID:,}"
                                       f"); left alone")
    for trial, name in trials.items():
        path = os.path.join(ratio_dir, name)
        if not tf.io.gfile.isdir(path):
            result["ignored"][name] = "a file where a trial directory should be; left alone"
        elif tf.io.gfile.exists(os.path.join(path, AUX_FILE)):
            result["done"].add(trial)
        else:
            result["failed"][trial] = f"directory without {AUX_FILE} (incomplete copy)"
    for name in names:
        work = work_dir_trial(name)
        if work is not None and work <= MAX_TRIAL_ID and work not in result["done"]:
            state, detail = _work_state(os.path.join(ratio_dir, name), stale_seconds)
            result[state][work] = detail
    return result


def _looks_like_a_trial(name: str) -> bool:
    """Names someone may have meant as a trial ('-7', '+40', '041', '٣', '999999999'): reported, not counted."""
    return bool(name) and (name.lstrip("+-").isdigit() or name.isdigit())


def report(workdir: str, expected=None, stale_seconds: float = claims.STALE_SECONDS) -> str:
    """The status text: per ratio, counts, the in-progress and failed trials, and the --trials to rerun."""
    ratios = ratio_dirs(workdir, include_full=True)
    if not ratios:
        return f"{workdir}: no <subset_ratio>/ directories (no trial started yet)"
    lines = []
    for ratio, path in sorted(ratios.items()):
        name = f"{ratio:g}"
        found = scan_ratio(path, stale_seconds)
        seen = found["done"] | set(found["in_progress"]) | set(found["failed"])
        wanted = set(expected) if expected is not None else set(range(max(seen) + 1 if seen else 0))
        missing = wanted - seen
        lines.append(f"subset ratio {name}: {len(found['done'] & wanted)} done, {len(found['in_progress'])} in "
                     f"progress, {len(found['failed'])} failed, {len(missing)} missing (of {len(wanted)}: "
                     f"trials {format_trials(wanted) or '-'})")
        for state in ("in_progress", "failed"):
            for trial, detail in sorted(found[state].items()):
                lines.append(f"  {state.replace('_', ' ')} {trial}: {detail}")
        for entry, detail in sorted(found["ignored"].items()):
            lines.append(f"  ignored {name}/{entry}: {detail}")
        rerun = set(found["failed"]) | missing
        lines.append(f"  rerun: --subset_ratio={name} --trials={format_trials(rerun)}" if rerun
                     else "  nothing to rerun")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not tf.io.gfile.isdir(FLAGS.workdir):
        raise SystemExit(f"error: --workdir={FLAGS.workdir}: not a directory")
    expected = parse_trials(FLAGS.trials) if FLAGS.trials else None
    print(report(FLAGS.workdir, expected, FLAGS.claim_timeout_minutes * 60))


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
