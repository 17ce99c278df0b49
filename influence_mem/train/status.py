"""im-status: which trials of a workdir are done, in progress, failed or missing, and what to rerun.

  python -m influence_mem.train.status --workdir=/data/cifar100_run --trials=0-3999

Reads only the layout the trainer writes (train.outputs, train.claims): <ratio>/<trial>/aux_arrays.npz
is done; <ratio>/.<trial>.inprogress/ is in progress while its claim is live, and
failed otherwise (error recorded, or the worker was killed: a rerun resumes it
from its checkpoint).  Everything goes through tf.io.gfile or fsspec (estimate.fileio), so gs:// works.
"""
import json
import os

import tensorflow as tf
from absl import app, flags

from influence_mem import cli
from influence_mem.data.subsets import parse_trials
from influence_mem.estimate.trial_format import AUX_FILE, FAILED_FILE, work_dir_trial
from influence_mem.estimate.trials import ratio_dirs
from influence_mem.train import checkpoints, claims

FLAGS = flags.FLAGS


def define_flags():
    """Only when run as the program: the launchers import this module next to the trainer's same-named flags."""
    flags.DEFINE_string("workdir", None, "The trainer's --workdir.")
    flags.DEFINE_string("trials", None, "Trials the experiment should have, e.g. 0-3999 (default: 0 to the "
                        "largest trial id seen, per ratio).")
    flags.DEFINE_float("claim_timeout_minutes", claims.STALE_SECONDS / 60,
                       "A claim from another host with an older heartbeat counts as failed (its worker is gone).")
    flags.register_validator("trials", lambda v: v is None or bool(parse_trials(v)), "malformed --trials")
    flags.mark_flag_as_required("workdir")


def format_trials(ids) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (what --trials accepts)."""
    ids, parts = sorted(set(ids)), []
    for trial in ids:
        if parts and parts[-1][1] == trial - 1:
            parts[-1][1] = trial
        else:
            parts.append([trial, trial])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


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
        with tf.io.gfile.GFile(failed) as f:
            error = json.loads(f.read()).get("error", "see " + failed)
        return "failed", f"error: {error}; {at}"
    if state == "stale":
        return "failed", f"interrupted ({who} gone); {at}"
    return "failed", f"interrupted (no live claim); {at}"


def scan_ratio(ratio_dir: str, stale_seconds: float = claims.STALE_SECONDS) -> dict:
    """{'done': {ids}, 'in_progress': {id: detail}, 'failed': {id: detail}} of one ratio directory."""
    names = [n.rstrip("/") for n in tf.io.gfile.listdir(ratio_dir)]
    done = {int(n) for n in names if n.isdigit()
            and tf.io.gfile.exists(os.path.join(ratio_dir, n, AUX_FILE))}
    result = {"done": done, "in_progress": {}, "failed": {}}
    for name in names:
        work = work_dir_trial(name)
        if name.isdigit() and int(name) not in done:
            result["failed"][int(name)] = f"directory without {AUX_FILE} (incomplete copy)"
        elif work is not None and work not in done:
            state, detail = _work_state(os.path.join(ratio_dir, name), stale_seconds)
            result[state][work] = detail
    return result


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
    cli.run(main, define_flags)


if __name__ == "__main__":
    run()
