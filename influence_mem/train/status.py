"""im-status: which trials of a workdir are done, in progress, failed or missing, and what to rerun.

  python -m influence_mem.train.status --workdir=/data/cifar100_run --trials=0-3999

Reads only the layout the trainer writes (train.outputs, train.claims): <ratio>/<trial>/aux_arrays.npz
is done; <ratio>/.<trial>.inprogress/ is in progress while its claim is live, and
failed otherwise (error recorded, or the worker was killed: a rerun resumes it
from its checkpoint).  Everything goes through tf.io.gfile or fsspec (estimate.fileio), so gs:// works.

--quality (opt-in: it reads every finished trial once, streaming, as the aggregator does) adds per subset ratio
the median standard error of memorization now and projected at the planned number of trials (the error
falls as 1/sqrt(t), Lemma 2.1), the trials' accuracy on their training subsets (a warning below
--min_train_accuracy) and how many high-influence pairs noise alone would give now.
"""
import os

import numpy as np
import tensorflow as tf
from absl import app, flags

from influence_mem.formats.trial import (AUX_FILE, FAILED_FILE, MAX_TRIAL_ID, META_FILE, format_trials,
                                         parse_trials, trial_id, work_dir_trial)
from influence_mem.estimate.aggregator import fit_warning
from influence_mem.estimate.estimators import Accumulator
from influence_mem.estimate.pairs import expected_noise_pairs
from influence_mem.estimate.trials import MetaError, TrialReader, list_trials, load_dataset_meta, ratio_dirs
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
    flags.DEFINE_boolean("quality", False, "Also read the finished trials (streaming) and show the median standard "
                         "error of memorization now and projected at the planned count, the trials' accuracy on "
                         "their training subsets and the pairs noise alone would give.")
    shared_flags.define_min_train_accuracy()
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


def quality(ratio_dir: str, ratio: float, done, planned: int, meta, min_train_accuracy=0.95,
            mem_threshold=0.25, infl_threshold=0.15, chunk_size=100) -> list:
    """Lines on the estimates the finished trials `done` (ids) of one ratio give now: the median mem_se, its
    projection at `planned` trials (se ∝ 1/sqrt(t)), the accuracy on the training subsets (warning below
    min_train_accuracy) and the pairs noise alone would select (pairs.expected_noise_pairs).  Memory: the
    aggregator's per-example counts and one chunk, no influence blocks."""
    trials = [(t, path) for t, path in list_trials(ratio_dir)[0] if t in done]
    n, n_test = len(meta.tr_labels), len(meta.tt_labels)
    acc = Accumulator(n, n_test)
    reader = TrialReader(trials, n, n_test, chunk_size, subset_ratio=ratio)
    for chunk in reader.chunks():
        acc.add(*chunk)
    if acc.num_trials == 0:
        return [f"  quality: no usable finished trials ({len(reader.skipped)} skipped)"]
    est = acc.finalize()
    median = float(np.median(est.mem_se))
    classes = np.unique(np.concatenate([meta.tr_labels, meta.tt_labels]))
    noise, candidates = expected_noise_pairs(
        est.mem.astype(np.float32), est.n_in, est.n_out, est.tt_correct, est.num_trials,
        {c: np.flatnonzero(meta.tr_labels == c) for c in classes}, {c: np.flatnonzero(meta.tt_labels == c) for c in classes},
        mem_threshold, infl_threshold)
    planned = max(planned, est.num_trials)
    lines = [f"  quality from {est.num_trials} finished trials: median mem_se {median:.4f} now, "
             f"{median * np.sqrt(est.num_trials / planned):.4f} projected at {planned} trials (se falls as 1/sqrt(t))",
             f"    accuracy on their training subsets {100 * est.train_accuracy:.1f}%; noise alone would give "
             f"{noise:.1f} of {candidates} candidate pairs infl >= {infl_threshold:g} now"]
    fit = fit_warning(est.train_accuracy, min_train_accuracy)
    return lines + ([f"  warning: {fit}"] if fit else [])


def report(workdir: str, expected=None, stale_seconds: float = claims.STALE_SECONDS, with_quality: bool = False,
           min_train_accuracy: float = 0.95) -> str:
    """The status text: per ratio, counts, the in-progress and failed trials, and the --trials to rerun; with
    `with_quality`, quality() of every ratio below 1 (needs <workdir>/dataset_meta.npz)."""
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
        if with_quality and ratio < 1:
            lines += quality(path, ratio, found["done"] & wanted, len(wanted), load_dataset_meta(
                os.path.join(workdir, META_FILE)), min_train_accuracy)
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not tf.io.gfile.isdir(FLAGS.workdir):
        raise SystemExit(f"error: --workdir={FLAGS.workdir}: not a directory")
    expected = parse_trials(FLAGS.trials) if FLAGS.trials else None
    try:
        print(report(FLAGS.workdir, expected, FLAGS.claim_timeout_minutes * 60, FLAGS.quality,
                     FLAGS.min_train_accuracy))
    except MetaError as e:
        raise SystemExit(f"error: --quality: {e}") from None


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
