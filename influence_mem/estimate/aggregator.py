"""The streaming aggregation library: completed trials -> the released estimate files.

`aggregate_workdir(W, ...)` reads `W/<subset_ratio>/<trial_id>/` trials (the
layout of estimate.trial_format) a chunk at a time (memory: O(n + n_test +
class blocks + one chunk), never the [t, n] stack), labels from
`W/dataset_meta.npz`, and writes one estimate set with
released.write_estimate_set: `N_infl_matrix.npz`,
`N_high_infl_pairs_infl{θ}_mem{θ}.npz`, `N_index.npz` (when the dataset has
filenames), the sidecar `N_estimates_stats.npz`, optionally `N_infl_full.npy`,
and `N-cscores-orig-order.npz` when C-scores are computed (default: when W
holds more than one subset ratio).  The im-aggregate program is estimate/main.py.

All outputs are staged in a hidden directory (`.im-aggregate-*`) and renamed
into place only after everything succeeded: a failed run (a full disk
included: one AggregateError line) removes it, writes nothing and leaves
earlier outputs untouched; staging directories older than a day (a killed
run's) are removed by the next run, all of them with clean=True.

`trials` (im-aggregate --trials, the trainer's range syntax) aggregates only
those trial ids: unfinished ones named there are listed in a warning and left
out, and the sidecar records the selection.  The result (and the sidecar)
carries what tells whether the estimates can mean what the paper means: the
trials' accuracy on their own training subsets (warned about below
`min_train_accuracy`) and the number of pairs pure noise would select
(pairs.expected_noise_pairs).

Every trial read must have been trained under the workdir's experiment
record (`experiment.json`, trial_format.EXPERIMENT_FILE; the config in each
trial's metrics.json is compared with it): trials of different configs are
never averaged together.
"""
import dataclasses
import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from absl import logging

from influence_mem.formats import released
from influence_mem.estimate.estimators import Accumulator, Estimates
from influence_mem.estimate.pairs import expected_noise_pairs, high_influence_pairs
from influence_mem.estimate import fileio
from influence_mem.formats.trial import (EXPERIMENT_FILE, META_FILE, METRICS_FILE, config_differences,
                                         format_trials, training_fields)
from influence_mem.estimate.trials import TrialReader, list_trials, load_dataset_meta, ratio_dirs
from influence_mem.formats.trial import TrialIds, parse_trials


class AggregateError(RuntimeError):
    """The run cannot produce estimates (e.g. no usable trials); nothing is written."""


@dataclasses.dataclass
class AggregateResult:
    outputs: Dict[str, Path]
    num_trials: int
    trial_ids: List[int]
    skipped: List[Tuple[int, str]]
    num_no_in: int
    num_no_out: int
    num_pairs: int
    cscore_ratios: List[float]
    num_pairs_2se: int = 0          # pairs whose influence exceeds the threshold by 2 standard errors
    noise_pairs_expected: float = 0.0   # pairs the selection would give if no influence were real
    candidate_pairs: int = 0        # same-class pairs whose training example has mem >= the threshold
    train_accuracy: float = float("nan")  # the trials' mean accuracy on their own training subsets
    not_finished: str = ""          # trials named by `trials` that are not finished (ranges), left out
    warnings: List[str] = dataclasses.field(default_factory=list)


def find_ratio_dir(ratios: Dict[float, str], subset_ratio: float, workdir) -> str:
    for r, path in ratios.items():
        if np.isclose(r, subset_ratio):
            return path
    raise AggregateError(f"no usable trials: no directory for subset ratio {subset_ratio} under "
                         f"{workdir} (found ratios: {sorted(ratios) or 'none'})")


def trial_selection(trials) -> Optional[TrialIds]:
    """`trials` as TrialIds: None (every finished trial), a --trials spec ('0-499,1000'), TrialIds or an
    iterable of ids; AggregateError naming --trials when malformed."""
    if trials is None or isinstance(trials, TrialIds):
        return trials
    if isinstance(trials, str):
        try:
            return parse_trials(trials)
        except ValueError as e:
            raise AggregateError(str(e)) from None
    return TrialIds((int(t), int(t)) for t in trials)


ALL_TRIALS = "all"


def _ranges_text(ranges) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)


def selection_text(selection: Optional[TrialIds]) -> str:
    """'0-499,1000' (what --trials accepts; never materializes the ids) or 'all'."""
    return ALL_TRIALS if selection is None else _ranges_text(selection.ranges)


def select_trials(listed, selection: Optional[TrialIds]):
    """(the trials of `listed` [(id, path)], sorted by id, whose id is in `selection`; the ids of `selection`
    not among them, as ranges text: '' when none).  selection None keeps every trial."""
    if selection is None:
        return listed, ""
    kept = [(tid, path) for tid, path in listed if tid in selection]
    done, k, missing = [tid for tid, _ in kept], 0, []
    for first, last in selection.ranges:
        start = first
        while k < len(done) and done[k] <= last:
            if done[k] > start:
                missing.append((start, done[k] - 1))
            start, k = done[k] + 1, k + 1
        if start <= last:
            missing.append((start, last))
    return kept, _ranges_text(missing)


def finished_trials(ratio_dir, selection: Optional[TrialIds]):
    """(the finished trials of ratio_dir [(id, path)] in `selection`, the named ids not finished as ranges
    text); AggregateError (one line naming --trials) when the selection names no finished trial."""
    listed, not_finished = select_trials(list_trials(ratio_dir)[0], selection)
    if selection is not None and not listed:
        raise AggregateError(f"--trials={selection_text(selection)}: none of these trials is finished in {ratio_dir}")
    return listed, not_finished


def not_finished_warning(not_finished: str, selection: Optional[TrialIds], ratio_dir) -> List[str]:
    """[the warning naming the trials of --trials that are not finished] or []."""
    return [f"trials {not_finished} of --trials={selection_text(selection)} are not finished in {ratio_dir}: "
            f"left out"] if not_finished else []


def no_usable_trials(ratio_dir, reader: TrialReader) -> AggregateError:
    """The error of a read that found no usable trial, with the first reasons."""
    reasons = "; ".join(f"trial {t}: {r}" for t, r in reader.skipped[:5])
    return AggregateError(f"no usable trials in {ratio_dir} ({len(reader.trials)} trial directories, "
                          f"{len(reader.skipped)} skipped{': ' + reasons if reasons else ''})")


def fit_warning(train_accuracy: float, min_train_accuracy: float) -> Optional[str]:
    """A warning when the trials do not fit their own training subsets: memorization (accuracy on i with i
    in the subset minus without) then measures a model that does not learn its training data, not the
    paper's interpolating one.  None when they do (or no threshold)."""
    if min_train_accuracy is None or not train_accuracy < min_train_accuracy:
        return None
    return (f"the trials fit their training subsets at {100 * train_accuracy:.1f}% on average, below "
            f"--min_train_accuracy={min_train_accuracy:g}: memorization and influence then describe models "
            f"that do not learn their training data, not what the paper measures (train longer or check the labels)")


NOISE_WARNING_FRACTION = 0.1  # warn when noise alone would give this fraction of the selected pairs


def noise_statement(num_pairs: int, expected: float, candidates: int, infl_threshold: float, min_z: float,
                    num_2se: Optional[int] = None) -> str:
    """One line: the pairs selected and how many of them noise alone would give (pairs.expected_noise_pairs);
    with num_2se, how many exceed the threshold by 2 standard errors."""
    rule = f"infl >= {infl_threshold:g}" + (f" + {min_z:g} standard errors" if min_z else "")
    confident = f", {num_2se} of them exceed it by 2 standard errors (--min_z=2)" if num_2se is not None else ""
    return (f"{num_pairs} high-influence pairs ({rule}){confident}; noise alone (no real influence) would give "
            f"{expected:.1f} of the {candidates} candidate pairs")


def noise_warning(num_pairs: int, expected: float, *statement_args) -> Optional[str]:
    """noise_statement as a warning when noise alone would give NOISE_WARNING_FRACTION of the pairs or more."""
    if not num_pairs or expected < NOISE_WARNING_FRACTION * num_pairs:
        return None
    return (noise_statement(num_pairs, expected, *statement_args) + f": about {min(1, expected / num_pairs):.0%} "
            f"of the list may be noise (more trials, or --min_z)")


STAGING_PREFIX = ".im-aggregate-"
STALE_STAGING_SECONDS = 24 * 3600


def clean_staging(output_dir, everything: bool = False) -> List[Path]:
    """Remove the staging directories of earlier runs in output_dir older than a day (a killed run's), or
    all of them with `everything` (--clean: no other aggregation may be running there); the removed paths."""
    removed, now = [], time.time()
    for path in Path(output_dir).glob(STAGING_PREFIX + "*"):
        try:
            stale = path.is_dir() and (everything or now - path.stat().st_mtime > STALE_STAGING_SECONDS)
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            logging.warning("removed the staging directory %s of an earlier, unfinished run", path)
            removed.append(path)
    return removed


def _os_error(e: OSError) -> str:
    what = "no space left on the device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    return f"{what}{f' ({e.filename})' if e.filename else ''}"


def _load_experiment(workdir) -> Optional[dict]:
    """The training config recorded in <workdir>/experiment.json; None (with a warning) for a workdir from
    before the record."""
    path = fileio.join(workdir, EXPERIMENT_FILE)
    if not fileio.is_file(path):
        logging.warning("%s: no %s (a workdir from before experiment records): the trials' configs are only "
                        "compared with each other", workdir, EXPERIMENT_FILE)
        return None
    try:
        recorded = fileio.read_json(path)["config"]
        if not isinstance(recorded, dict):
            raise TypeError(f"'config' is a {type(recorded).__name__}")
        return recorded
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AggregateError(f"{path}: unreadable experiment record ({type(e).__name__}: {e})") from None


def check_configs(workdir, ratio_dirs: List[str], selection: Optional[TrialIds] = None) -> List[dict]:
    """AggregateError (listing the groups) unless every trial in `ratio_dirs` that records its config
    (metrics.json "config") was trained under the workdir's experiment record (without a record: under one
    config).  Trials without a recorded config are counted in a warning.  Returns the distinct training
    configs found."""
    recorded = _load_experiment(workdir)
    groups: Dict[str, List[int]] = {}
    unrecorded = 0
    for ratio_dir in ratio_dirs:
        for tid, aux_path in select_trials(list_trials(ratio_dir)[0], selection)[0]:
            try:
                config = fileio.read_json(_parent(aux_path) + "/" + METRICS_FILE)["config"]
                key = json.dumps(training_fields(config), sort_keys=True)
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                unrecorded += 1
                continue
            groups.setdefault(key, []).append(tid)
    if unrecorded:
        logging.warning("%d trials record no training config (no readable metrics.json 'config'): not checked "
                        "against the experiment", unrecorded)
    configs = [json.loads(k) for k in groups]
    if recorded is not None:
        reference = training_fields(recorded)
        if not any(config_differences(reference, c) for c in configs):
            return configs
    elif len(groups) <= 1:
        return configs
    else:
        reference = json.loads(max(groups, key=lambda k: len(groups[k])))  # compare with the largest group
    lines = []
    for key, tids in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        diff = config_differences(reference, json.loads(key))
        lines.append(f"trials {format_trials(tids)}: " + ("; ".join(diff) if diff else
                     "the experiment's config" if recorded is not None else "the most common config"))
    raise AggregateError(f"trials of different training configs in {workdir} (averaging them would mix "
                         f"experiments; aggregate each in its own workdir): " + " | ".join(lines))


def _precisions(configs: List[dict]) -> List[str]:
    """The compute precisions of the trials' training configs (older trials: mixed_precision true ->
    mixed_float16, else float32); ['unrecorded'] when no trial records its config."""
    found = {c.get("precision") or ("mixed_float16" if c.get("mixed_precision") else "float32") for c in configs}
    return sorted(found) or ["unrecorded"]


def _parent(path) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[0]


def _stream(ratio_dir, n, n_test, chunk_size, acc: Accumulator, what: str, ratio=None, max_elements=None,
            selection=None):
    """Feed every usable trial of ratio_dir (in `selection`) into acc; returns the reader (used/skipped)."""
    trials, ignored = list_trials(ratio_dir)
    trials = select_trials(trials, selection)[0]
    for name, reason in ignored:
        logging.warning("ignoring %s: %s", fileio.join(ratio_dir, name), reason)
    logging.info("%s: %d trial directories in %s", what, len(trials), ratio_dir)
    reader = TrialReader(trials, n, n_test, chunk_size, subset_ratio=ratio, max_elements=max_elements)
    for chunk in reader.chunks():
        acc.add(*chunk)
    return reader


def _cscores(workdir, ratios, subset_ratio, est: Estimates, n, chunk_size, selection=None):
    """Held-out accuracy P[correct on i | i out] averaged over subset ratios (Jiang et al.)."""
    held_out, used = [], []
    for r, path in ratios.items():
        if np.isclose(r, subset_ratio):
            mem_out, num, n_out = est.mem_out, est.num_trials, est.n_out
        else:
            acc = Accumulator(n)
            _stream(path, n, None, chunk_size, acc, f"C-scores, ratio {r:g}", r, n + len(est.tt_correct),
                    selection)
            if acc.num_trials == 0:
                logging.warning("C-scores: no usable trials for ratio %g, left out", r)
                continue
            part = acc.finalize()
            mem_out, num, n_out = part.mem_out, part.num_trials, part.n_out
            if part.num_no_out:
                logging.warning("C-scores, ratio %g: %d examples never held out (scored 0 at this ratio)",
                                r, part.num_no_out)
        # Never held out: 0, as the authors' C-score example (sum / max(count, tiny)); memorization keeps 1/2.
        held_out.append(np.where(n_out > 0, mem_out, 0.0))
        used.append((r, num))
    return np.mean(held_out, axis=0), used


def aggregate_workdir(workdir, subset_ratio=0.7, name=None, output_dir=None, mem_threshold=0.25,
              infl_threshold=0.15, full_influence=False, chunk_size=100, labels_from=None,
              cscores: Optional[bool] = None, clean: bool = False, trials=None, min_z: float = 0.0,
              min_train_accuracy: Optional[float] = 0.95) -> AggregateResult:
    """Estimate memorization/influence from the trials under workdir and write the files.

    cscores: True/False forces C-scores on/off; None computes them when the
    workdir holds more than one subset ratio.  clean=True removes every
    staging directory of earlier runs in the output directory (default: those
    older than a day).  trials: only these trial ids, at every subset ratio
    read (a --trials spec such as '0-1999', TrialIds or ids; None: all).
    min_z > 0 keeps only the pairs whose influence exceeds infl_threshold by
    min_z standard errors.  AggregateResult.warnings (im-aggregate prints
    them) lists named trials that are not finished, a mean accuracy of the
    trials on their training subsets below min_train_accuracy (None: never
    warned) and a pairs list that noise alone would largely give.  Raises AggregateError (no usable
    trials, none finished among `trials`, trials of different configs, a bad
    output name or directory, a full disk) or trials.MetaError (bad
    dataset_meta.npz); then nothing is written.
    """
    workdir = str(workdir)
    selection = trial_selection(trials)
    if not min_z >= 0:
        raise AggregateError(f"--min_z={min_z}: must be a number >= 0 (standard errors)")
    if min_train_accuracy is not None and not 0 <= min_train_accuracy <= 1:
        raise AggregateError(f"--min_train_accuracy={min_train_accuracy}: must be in [0, 1]")
    meta = load_dataset_meta(labels_from or fileio.join(workdir, META_FILE))
    if labels_from and fileio.is_file(fileio.join(workdir, META_FILE)):
        trained = load_dataset_meta(fileio.join(workdir, META_FILE))
        if (len(trained.tr_labels), len(trained.tt_labels)) != (len(meta.tr_labels), len(meta.tt_labels)):
            raise AggregateError(f"--labels_from={labels_from}: {len(meta.tr_labels)} train / {len(meta.tt_labels)} "
                                 f"test labels, but the trials of {workdir} have {len(trained.tr_labels)} / "
                                 f"{len(trained.tt_labels)} examples ({trained.path})")
    if name:
        source = "--name"
    elif meta.dataset:
        name, source = released.default_output_name(meta.dataset), f"'dataset' {meta.dataset!r} in {meta.path}"
    else:
        raise AggregateError(f"{meta.path} has no 'dataset' name; pass --name")
    if output_dir is None and fileio.is_remote(workdir):
        raise AggregateError(f"{workdir} is remote; pass --output_dir (a local directory)")
    output_dir = Path(output_dir or workdir)
    try:
        released.check_output_name(name, source)
        released.check_output_dir(output_dir, "--output_dir" if output_dir != Path(workdir) else "--workdir")
    except ValueError as e:
        raise AggregateError(str(e)) from None
    n, n_test = len(meta.tr_labels), len(meta.tt_labels)
    ratios = ratio_dirs(workdir) if fileio.is_dir(workdir) else {}
    ratio_dir = find_ratio_dir(ratios, subset_ratio, workdir)
    not_finished = finished_trials(ratio_dir, selection)[1]
    want_cscores = len(ratios) > 1 if cscores is None else cscores
    configs = check_configs(workdir, list(ratios.values()) if want_cscores else [ratio_dir], selection)

    created_output_dir = not output_dir.exists()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        clean_staging(output_dir, everything=clean)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir))
    except OSError as e:
        raise AggregateError(f"cannot write into {output_dir}: {_os_error(e)}") from None
    try:
        full = None
        if full_influence:
            full = released.open_infl_full(staging / released.infl_full_filename(name), n, n_test)
        acc = Accumulator(n, n_test, meta.tr_labels, meta.tt_labels, full=full)
        start = time.monotonic()
        reader = _stream(ratio_dir, n, n_test, chunk_size, acc, "estimates", subset_ratio, n + n_test, selection)
        warnings = not_finished_warning(not_finished, selection, ratio_dir)
        if acc.num_trials == 0:
            raise no_usable_trials(ratio_dir, reader)
        est = acc.finalize()
        logging.info("estimates from %d trials in %.1f s", est.num_trials, time.monotonic() - start)
        _report_coverage(est)

        mem32 = est.mem.astype(np.float32)
        pairs = high_influence_pairs(mem32, est.tr_classidx, est.tt_classidx, est.infl_blocks,
                                     mem_threshold, infl_threshold,
                                     extra_blocks={"infl_se": est.infl_se_blocks},
                                     min_z=min_z, se_blocks=est.infl_se_blocks)
        noise, candidates = expected_noise_pairs(mem32, est.n_in, est.n_out, est.tt_correct, est.num_trials,
                                                 est.tr_classidx, est.tt_classidx, mem_threshold,
                                                 infl_threshold, min_z)
        num_2se = int(np.sum(pairs["infl"] - 2 * pairs["infl_se"] >= infl_threshold))
        warnings += [w for w in (fit_warning(est.train_accuracy, min_train_accuracy),
                                 noise_warning(len(pairs["tr_idx"]), noise, candidates, infl_threshold, min_z,
                                               num_2se)) if w]
        stats = dict(
            num_trials=est.num_trials, subset_ratio=float(subset_ratio),
            trial_ids=np.asarray(reader.used, np.int64),
            skipped_trial_ids=np.asarray([t for t, _ in reader.skipped], np.int64),
            skipped_reasons=np.asarray([r for _, r in reader.skipped], dtype=str),
            n_in=est.n_in, n_out=est.n_out, mem_se=est.mem_se, mem_in=est.mem_in,
            mem_out=est.mem_out, tt_correct=est.tt_correct,
            num_no_in=est.num_no_in, num_no_out=est.num_no_out,
            mem_threshold=mem_threshold, infl_threshold=infl_threshold,
            pairs_infl_se=pairs["infl_se"].astype(np.float32),
            # What the numbers are: accuracy differences of the subsampled estimator (paper 000, Algorithm 1),
            # in the example order of the trials' index, trained at these precisions.
            estimator="subsampled", unit="accuracy", example_order=meta.example_order,
            precision=np.asarray(_precisions(configs), dtype=str))
        stats.update({released.STATS_TRIAL_SELECTION: selection_text(selection),
                      released.STATS_PAIRS_MIN_Z: float(min_z),
                      released.STATS_TRAIN_ACCURACY: est.train_accuracy,
                      released.STATS_MIN_TRAIN_ACCURACY: np.nan if min_train_accuracy is None else min_train_accuracy,
                      released.STATS_NOISE_PAIRS: noise, released.STATS_CANDIDATE_PAIRS: candidates})

        cscore_ratios, scores = [], None
        if want_cscores:
            scores, used = _cscores(workdir, ratios, subset_ratio, est, n, chunk_size, selection)
            cscore_ratios = [r for r, _ in used]
            stats.update(cscore_ratios=np.asarray(cscore_ratios),
                         cscore_num_trials=np.asarray([k for _, k in used], np.int64))

        released.write_estimate_set(
            staging, name, meta.tr_labels, meta.tt_labels, mem32, est.tr_classidx, est.tt_classidx,
            est.infl_blocks, pairs, mem_threshold, infl_threshold, stats,
            tr_filenames=meta.tr_filenames, cscores=scores, infl_full=full)
        if full is not None:
            full = acc.full = est.infl_full = None  # close the memmap before the rename

        outputs = {}
        for path in sorted(staging.iterdir()):
            os.replace(path, output_dir / path.name)
            outputs[path.name] = output_dir / path.name
    except BaseException as e:
        full = acc = est = None  # unmap a full-influence file before removing it  # noqa: F841
        shutil.rmtree(staging, ignore_errors=True)
        if created_output_dir and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        if isinstance(e, OSError):
            raise AggregateError(f"writing the estimates into {output_dir} failed: {_os_error(e)}; "
                                 f"nothing was written") from None
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return AggregateResult(outputs, est.num_trials, reader.used, reader.skipped, est.num_no_in,
                           est.num_no_out, len(pairs["tr_idx"]), cscore_ratios, num_2se, noise, candidates,
                           est.train_accuracy, not_finished, warnings)


def _report_coverage(est: Estimates):
    """Log examples whose in- or out-term rests on no trials (Lemma 2.1: term = 1/2)."""
    for what, where, counts in (("in", "in", est.n_in), ("out", "out of", est.n_out)):
        zero = np.flatnonzero(counts == 0)
        if len(zero):
            logging.warning("%d training examples were never %s a subset (their %s-term is set to "
                            "1/2, Lemma 2.1), e.g. ids %s", len(zero), where, what,
                            zero[:10].tolist())
        logging.info("trials per example with i %s the subset: min %d, median %d",
                     where, counts.min(), int(np.median(counts)))
