"""reevaluate_runs: evaluate each run of a release or workdir on new points and write it as a trial.

The library behind im-reevaluate (no flags here).  open_runs checks the whole input before anything
is written (the runs' ratio directory, their dataset, the points, the example order, --arch on the
first run's model); then every run is claimed as the trainer claims trials (train.claims: a killed job
resumes, overlapping workers evaluate each run once), evaluated on the points' test split, optionally
verified against the correctness stored beside it, written with the trainer's aux writer
(train.outputs.write_aux: the run's own subset and train correctness, the points as the test split)
and committed by rename.  A run that cannot be used (no model, arrays that do not fit the dataset, a
failed verification) is one error line and a failed.json in its work dir; the other runs go on.
"""
import dataclasses
import io
import json
import os
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from influence_mem.data.base import Dataset
from influence_mem.formats import npz
from influence_mem.formats.trial import EXPERIMENT_FILE, META_FILE, METRICS_FILE, FAILED_FILE, trial_dir
from influence_mem.reevaluate import evaluate, order as order_lib
from influence_mem.reevaluate.loading import ArchError, load_run_model
from influence_mem.reevaluate.runs import RunError, RunsError, list_runs, model_kind, ratio_dir, read_run_arrays
from influence_mem.train import claims, outputs
from influence_mem.train.progress import TrialsProgress


class RunsFailed(Exception):
    """Some runs could not be used (each said why in a line and its failed.json); the others were written."""

    def __init__(self, summary: dict, failed: List[int]):
        super().__init__(f"runs {','.join(map(str, failed))} failed (why: the error lines above, and "
                         f"<ratio>/.<run>.inprogress/{FAILED_FILE} in --workdir)")
        self.summary, self.failed = summary, failed


class VerifyFailed(RunError):
    """The run's model does not predict what its aux_arrays.npz says it did (`checked`: the numbers)."""

    def __init__(self, message: str, checked: dict):
        super().__init__(message)
        self.checked = checked


@dataclasses.dataclass
class Runs:
    """The checked input: the runs of one ratio, the dataset they trained on, the points, the example order."""
    runs_dir: str
    ratio: float
    runs: Dict[int, str]                 # run id -> directory
    dataset: Dataset
    points: Dataset
    points_spec: str
    order: order_lib.ExampleOrder
    train_labels: np.ndarray             # in the runs' order (an im-train workdir: as it recorded them)
    arch: Optional[str] = None
    experiment: Optional[dict] = None    # an im-train workdir's experiment.json
    corrupted_idx: Optional[np.ndarray] = None

    def meta(self) -> dict:
        """<workdir>/dataset_meta.npz: the runs' labels and order, the points' labels, where both came from."""
        meta = {"tr_labels": self.train_labels, "tt_labels": self.points.test_labels,
                "dataset": np.array(self.dataset.name), "example_order": np.array(self.order.note),
                "runs": np.array(self.runs_dir), "points": np.array(self.points_spec),
                "points_order": np.array(self.points.index_note)}
        if self.dataset.train_filenames is not None:
            meta["tr_filenames"] = self.order.in_run_order("train", self.dataset.train_filenames)
        if self.corrupted_idx is not None:
            meta["corrupted_idx"] = self.corrupted_idx
        return meta


def open_runs(runs_dir: str, ratio: float, dataset: Dataset, points: Dataset, points_spec: str, *,
              arch: str = None, runs_order: str = "auto", data_dir: str = None) -> Runs:
    """The checked input (RunsError, order_lib.OrderError: one line, nothing written).  An im-train workdir
    (it has dataset_meta.npz) must have trained on `dataset`'s labels."""
    runs = list_runs(ratio_dir(runs_dir, ratio))
    if not runs:
        raise RunsError(f"--runs={runs_dir}: no runs in {ratio_dir(runs_dir, ratio)}")
    meta_path = os.path.join(runs_dir, META_FILE)
    authors = not tf.io.gfile.exists(meta_path)
    order = order_lib.example_order(order_lib.choose(runs_order, dataset, authors), dataset, data_dir)
    labels = order.in_run_order("train", dataset.train_labels)
    corrupted, experiment = None, None
    if not authors:
        labels, corrupted = _recorded_labels(meta_path, labels, dataset.name)
        experiment = _read_json(os.path.join(runs_dir, EXPERIMENT_FILE))
    return Runs(runs_dir, ratio, runs, dataset, points, points_spec, order, labels, arch, experiment, corrupted)


def _recorded_labels(path: str, labels: np.ndarray, name: str):
    """(labels, corrupted ids) an im-train workdir recorded, checked against the dataset's `labels`
    (its --corrupt_fraction changed some: those may differ)."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            recorded = npz.read(io.BytesIO(f.read()), name=path)
    except npz.NpzError as e:
        raise RunsError(str(e)) from None
    if "tr_labels" not in recorded:
        raise RunsError(f"{path}: no tr_labels (has {', '.join(sorted(recorded))})")
    trained = np.asarray(recorded["tr_labels"]).astype(np.int64)
    corrupted = recorded.get("corrupted_idx")
    same = len(trained) == len(labels)
    if same:
        differ = np.flatnonzero(trained != labels)
        same = not len(differ) or (corrupted is not None and np.isin(differ, corrupted).all())
    if not same:
        raise RunsError(f"--runs: {path} records {len(trained)} training labels that are not those of "
                        f"--dataset={name} ({len(labels)} examples): the runs trained on another dataset")
    return trained, corrupted


def _read_json(path: str) -> Optional[dict]:
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())
    except ValueError as e:
        raise RunsError(f"{path}: unreadable ({e})") from None


def select_runs(runs: Runs, wanted=None) -> List[int]:
    """The run ids to evaluate: `wanted` (ids, e.g. formats.trial.TrialIds) as given, else every run that
    holds a model (an im-train workdir saved them for --save_model_trials only)."""
    if wanted is not None:
        return list(wanted)
    return [run for run, path in runs.runs.items() if model_kind(path) is not None]


def _check_outputs(model, runs: Runs, where: str) -> None:
    """RunError unless `model` takes the points' images and gives one logit per class of the dataset."""
    probe = next(iter(runs.points.source("test").batch(1)))["image"]  # as the evaluation pipeline makes it
    try:
        logits = model(probe, training=False)
    except Exception as e:  # Keras/TF raise many types for an input the model cannot take
        raise RunError(f"{where}: the model does not take images of shape {tuple(probe.shape[1:])} "
                       f"({type(e).__name__})") from None
    classes = int(logits.shape[-1])
    if classes != runs.dataset.num_classes:
        raise RunError(f"{where}: the model has {classes} outputs, {runs.dataset.name} {runs.dataset.num_classes} "
                       f"classes")


def preflight(runs: Runs, run_ids, strategy=None):
    """(run id, loaded model, kind) of the first selected run holding a model, after checking that --arch
    fits it and it fits the data (ArchError / RunsError: the whole input is wrong); None if no run has one."""
    for run in run_ids:
        path = runs.runs.get(run)
        if path is None or model_kind(path) is None:
            continue
        try:
            model, kind = load_run_model(path, runs.arch, strategy)
            _check_outputs(model, runs, path)
        except RunError as e:
            raise RunsError(f"the first run cannot be used, so none would be: {e}") from None
        return run, model, kind
    return None


def _evaluate_run(runs: Runs, run: int, loaded, reuse, *, verify: bool, verify_train: bool, tolerance: float,
                  batch_size: int, strategy) -> dict:
    """{'arrays', 'points_eval', 'model', 'kind', 'verify'} of one run (`loaded`: its (model, kind) if loaded
    already; `reuse`: the previous run's model, see loading.load_run_model), or RunError / VerifyFailed."""
    path = runs.runs.get(run)
    if path is None:
        raise RunError(f"{os.path.join(ratio_dir(runs.runs_dir, runs.ratio), str(run))}: no such run")
    arrays = read_run_arrays(path, runs.dataset.num_train, runs.dataset.num_test)
    if loaded is None:
        try:
            loaded = load_run_model(path, runs.arch, strategy, reuse)
        except ArchError as e:
            raise RunError(str(e)) from None
        _check_outputs(loaded[0], runs, path)
    model, kind = loaded
    points_eval = evaluate.correct_on(model, runs.points, "test", batch_size, strategy)
    checked = _verify(runs, model, arrays, verify_train, batch_size, strategy) if verify else None
    if checked is not None and checked["agreement"] < tolerance:
        raise VerifyFailed(f"{path}: verify failed: the model agrees with {os.path.basename(arrays.path)} on "
                           f"{_agreement_text(checked)}, below --verify_tolerance={tolerance:g}; not used", checked)
    return {"arrays": arrays, "points_eval": points_eval, "model": model, "kind": kind, "verify": checked}


def _verify(runs: Runs, model, arrays, verify_train: bool, batch_size: int, strategy) -> dict:
    """The authors' demo.py check (lines 87-108) for one run: its model's correctness on the dataset's
    test (and train) examples against what its aux arrays store, per split and in total."""
    found = {}
    splits = (("test", arrays.test_index, arrays.test_correct),) + \
        ((("train", arrays.train_index, arrays.train_correct),) if verify_train else ())
    for split, stored_index, stored_correct in splits:
        index, correct = evaluate.correct_on(model, runs.dataset, split, batch_size, strategy)
        by_dataset_id = np.zeros(len(correct), bool)
        by_dataset_id[index] = correct
        in_runs = runs.order.in_run_order(split, by_dataset_id)
        found[split] = evaluate.agreement(stored_index, stored_correct, np.arange(len(in_runs)), in_runs)
    agree, total = sum(f["agree"] for f in found.values()), sum(f["total"] for f in found.values())
    return {**found, "agree": agree, "total": total, "agreement": agree / total}


def _agreement_text(checked: dict) -> str:
    return ", ".join(f"{split} {checked[split]['agree']}/{checked[split]['total']} "
                     f"({100 * checked[split]['agreement']:.2f}%)" for split in ("test", "train") if split in checked)


def _write(runs: Runs, run: int, result: dict, out_dir: str, started: float) -> dict:
    """aux_arrays.npz (the run's subset and stored train correctness, the points as the test split) and its
    metrics dict (as the trainer's: accuracies; plus where the run came from, and its training config when
    an im-train trial recorded one, so im-aggregate's experiment check applies)."""
    arrays = result["arrays"]
    aux = outputs.write_aux(out_dir, arrays.subset, (arrays.train_index, arrays.train_correct), result["points_eval"])
    metrics = {"trial": run, "subset_ratio": runs.ratio, "num_subset": int(len(arrays.subset)),
               "train_accuracy": float(aux["correctness_train"].mean()),
               "removed_accuracy": float(aux["correctness_removed"].mean()) if len(aux["correctness_removed"]) else None,
               "test_accuracy": float(aux["correctness_test"].mean()),
               "reevaluated": {"run": runs.runs[run], "model": result["kind"], "points": runs.points_spec,
                               "example_order": runs.order.note},
               "wall_seconds": round(time.time() - started, 3)}
    if result["verify"] is not None:
        metrics["verify"] = result["verify"]
    source = os.path.join(runs.runs[run], METRICS_FILE)
    if tf.io.gfile.exists(source):
        try:
            with tf.io.gfile.GFile(source) as f:
                recorded = json.loads(f.read())
            if isinstance(recorded, dict) and isinstance(recorded.get("config"), dict):
                metrics["config"] = recorded["config"]
        except ValueError:
            logging.warning("%s: unreadable; the re-evaluated trial records no training config", source)
    return metrics


def _ensure_experiment(workdir: str, experiment: Optional[dict]) -> None:
    """Copy the runs' experiment.json (im-train workdirs) to `workdir` once; a different one there is refused."""
    if experiment is None:
        return
    path = os.path.join(workdir, EXPERIMENT_FILE)
    if tf.io.gfile.exists(path):
        if _read_json(path) != experiment:
            raise RunsError(f"{path} records another experiment than the runs'; use another --workdir")
        return
    temp = f"{path}.tmp-{os.getpid()}"
    outputs.write_json(temp, experiment)
    tf.io.gfile.rename(temp, path, overwrite=True)


def _claim(workdir: str, ratio: float, run: int, stale_seconds: float, progress: TrialsProgress):
    """(claim, empty temp output dir) for `run`, or None (recorded as skipped) if complete or held elsewhere."""
    found = claims.claim_unfinished(workdir, ratio, run, stale_seconds)
    if isinstance(found, str):
        logging.info("run %d: %s, skipping", run, f"already re-evaluated in {trial_dir(workdir, ratio, run)}"
                     if found == "complete" else "claimed by another live worker")
        progress.skip(run)
        return None
    return found


def reevaluate_runs(runs: Runs, run_ids, workdir: str, *, verify: bool = False, verify_train: bool = False,
                    tolerance: float = 0.995, batch_size: int = 1024, strategy=None,
                    stale_seconds: float = claims.STALE_SECONDS, flag_record: dict = None,
                    progress_bar: bool = None) -> dict:
    """Evaluate every run of `run_ids` not yet in `workdir` (nor held by another live worker) and write it.

    Returns {'done', 'skipped', 'test_accuracy', 'failed': {run: reason}, 'verify': {'runs', 'agree',
    'total'} of the runs verified here, failed ones included}; raises RunsFailed at the end when some run failed, RunsError / ArchError before
    writing anything when the input as a whole is wrong.
    """
    run_ids = list(run_ids)
    first = preflight(runs, run_ids, strategy)
    outputs.ensure_dataset_meta(workdir, runs.meta())
    _ensure_experiment(workdir, runs.experiment)
    progress = TrialsProgress(len(run_ids), bar=progress_bar)
    failed, checks = {}, {}  # run -> reason; run -> its verify numbers (passed or not)
    reuse = first[1] if first is not None else None
    for run in run_ids:
        held = _claim(workdir, runs.ratio, run, stale_seconds, progress)
        if held is None:
            continue
        claim, temp = held
        started = time.time()
        loaded = (first[1], first[2]) if first is not None and first[0] == run else None
        try:
            result = _evaluate_run(runs, run, loaded, reuse, verify=verify, verify_train=verify_train,
                                   tolerance=tolerance, batch_size=batch_size, strategy=strategy)
            reuse = result["model"]
            metrics = _write(runs, run, result, temp, started)
            metrics["flags"] = flag_record or {}
            metrics["worker"] = {k: claim.owner[k] for k in ("host", "pid")}
            outputs.write_json(os.path.join(temp, METRICS_FILE), metrics)
        except (RunError, OSError, tf.errors.OpError) as e:
            if isinstance(e, VerifyFailed):
                checks[run] = e.checked
            reason = str(e) if isinstance(e, RunError) else f"{type(e).__name__}: {e}"
            logging.error("run %d: %s", run, reason)
            claim.release(failure=reason)
            failed[run] = reason
            progress.fail(run)
            progress.report([run])
            continue
        if result["verify"] is not None:
            checks[run] = result["verify"]
            logging.info("run %d: verify %s", run, _agreement_text(result["verify"]))
        committed = outputs.commit_trial(temp, trial_dir(workdir, runs.ratio, run))
        claim.release(remove_work=True)
        if committed:
            progress.done(run, metrics["test_accuracy"])
        else:
            progress.skip(run)
        progress.report([run])
    progress.close()
    agree, total = sum(c["agree"] for c in checks.values()), sum(c["total"] for c in checks.values())
    summary = {**progress.summary, "failed": failed, "verify": {"runs": len(checks), "agree": agree, "total": total}}
    if checks:
        below = [run for run, c in checks.items() if c["agreement"] < tolerance]
        logging.info("verify: %d runs, their models agree with the stored correctness on %d/%d predictions "
                     "(%.2f%%); below --verify_tolerance=%g: %s", len(checks), agree, total, 100 * agree / total,
                     tolerance, ",".join(map(str, below)) or "none")
    if failed:
        raise RunsFailed(summary, sorted(failed))
    return summary
