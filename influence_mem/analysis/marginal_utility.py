"""Marginal utility of memorized examples (paper 000 Fig. 2) and of the training
examples of the high-influence pairs (appendix C), by retraining without them.

  python -m influence_mem.analysis.marginal_utility --estimates DIR --flagfile=configs/digits_mlp.cfg \\
      --workdir=/tmp/mu --output_dir=/tmp/mu/report --runs=5 --thresholds=0.1,0.3,0.5,0.7,0.9

Fig. 2: for each θ remove the training examples with mem >= θ, and separately
as many examples drawn uniformly from the whole training set (one draw per θ,
seeded by (--removal_seed, θ)); train --runs models on each reduced set and
report mean ± std test accuracy and the fraction removed.  Appendix C: train
on the full set and without the unique training examples of the pairs S_h;
accuracy on the whole test set and on the influenced test examples S'_h.

Mechanism: a removal run is an ordinary trainer run (train.run.run_trials)
on a reduced in-memory Dataset (the same dataset minus some rows, see
`reduced`) with subset_ratio 1, so every run trains on the whole reduced set
and run r uses trial r's seeds: the same initialization and order seeds in
every condition (paired comparisons).  Each condition is its own trainer
workdir under --workdir, so an interrupted experiment resumes.  TensorFlow is
imported only by the functions that train.
"""
import dataclasses
import os
import sys

import numpy as np
import pandas as pd
from absl import flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from influence_mem.formats import npz, released
from influence_mem.formats import trial as trial_format
from influence_mem.programs import shared_flags, start
from influence_mem.formats.released import EstimateSetError

FLAGS = flags.FLAGS

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# ---------------------------------------------------------------- choosing what to remove

def removal_sets(mem, thresholds=THRESHOLDS, seed=0) -> list:
    """[(θ, memorized ids with mem >= θ, as many random ids from range(n))] per θ, ids sorted."""
    mem = np.asarray(mem, np.float64)
    out = []
    for theta in thresholds:
        memorized = np.flatnonzero(mem >= theta)
        rng = np.random.default_rng([int(seed), int(round(theta * 1_000_000))])
        random_ids = np.sort(rng.choice(len(mem), size=len(memorized), replace=False))
        out.append((float(theta), memorized, random_ids))
    return out


def pair_examples(pairs):
    """(S_h, S'_h): sorted unique training and test ids of the high-influence pairs."""
    return np.unique(np.asarray(pairs["tr_idx"], np.int64)), np.unique(np.asarray(pairs["tt_idx"], np.int64))


# ---------------------------------------------------------------- summarizing runs

def _mean_std(values):
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else np.nan


def accuracy_table(results: dict, num_train: int) -> pd.DataFrame:
    """Fig. 2 table from {(θ, removal): (num_removed, test correctness [runs, n_test])}.

    removal is 'memorized', 'random' or 'none' (θ NaN, the full set).  Columns:
    theta, removal, num_removed, fraction_removed, runs, test_acc_mean, test_acc_std
    (std over runs, ddof 1).
    """
    rows = []
    for (theta, removal), (num_removed, correct) in results.items():
        mean, std = _mean_std(np.asarray(correct, np.float64).mean(axis=1))
        rows.append({"theta": theta, "removal": removal, "num_removed": int(num_removed),
                     "fraction_removed": num_removed / num_train, "runs": len(correct),
                     "test_acc_mean": mean, "test_acc_std": std})
    table = pd.DataFrame(rows)
    order = table.removal.map({"none": 0, "memorized": 1, "random": 2})
    return table.assign(_order=order).sort_values(["_order", "theta"], kind="mergesort",
                                                  ignore_index=True).drop(columns="_order")


def pair_removal_table(full_correct, removed_correct, influenced_ids=None, removed_name="S_h") -> pd.DataFrame:
    """Appendix C from test correctness [runs, n_test] with S and with S minus S_h (same seeds per run).

    Rows: accuracy on the test set and on S'_h (influenced_ids; rows left out
    when None) for both, their per-run differences, and the contribution of
    S'_h to the test-set difference (difference on S'_h times |S'_h| / n_test).
    Columns quantity, mean, std.  `removed_name` names the removed set in the rows.
    """
    full, removed = np.asarray(full_correct, np.float64), np.asarray(removed_correct, np.float64)
    without = f"without {removed_name}"
    acc = {"test accuracy, full set": full.mean(1), f"test accuracy, {without}": removed.mean(1)}
    acc["test accuracy difference"] = acc["test accuracy, full set"] - acc[f"test accuracy, {without}"]
    if influenced_ids is not None:
        ids = np.asarray(influenced_ids, np.int64)
        acc["S'_h accuracy, full set"] = full[:, ids].mean(1)
        acc[f"S'_h accuracy, {without}"] = removed[:, ids].mean(1)
        acc["S'_h accuracy difference"] = acc["S'_h accuracy, full set"] - acc[f"S'_h accuracy, {without}"]
        acc["contribution of S'_h to the difference"] = acc["S'_h accuracy difference"] * len(ids) / full.shape[1]
    return pd.DataFrame([{"quantity": k, **dict(zip(("mean", "std"), _mean_std(v)))} for k, v in acc.items()])


def plot_marginal_utility(table: pd.DataFrame, path, title=""):
    """Paper Fig. 2: test accuracy (mean ± std) after removing mem >= θ vs as many random
    examples (top), fraction of the training set remaining (bottom)."""
    fig = Figure(figsize=(4.5, 5))
    FigureCanvasAgg(fig)
    ax_acc, ax_frac = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for removal, label in (("memorized", "remove mem >= θ"), ("random", "remove as many random")):
        rows = table[table.removal == removal]
        ax_acc.plot(rows.theta, rows.test_acc_mean, marker="o", label=label)
        ax_acc.fill_between(rows.theta, rows.test_acc_mean - rows.test_acc_std.fillna(0),
                            rows.test_acc_mean + rows.test_acc_std.fillna(0), alpha=0.2)
    full = table[table.removal == "none"]
    if len(full):
        ax_acc.axhline(full.test_acc_mean.iloc[0], color="gray", linestyle="--", label="full training set")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.legend(fontsize=7)
    rows = table[table.removal == "memorized"]
    ax_frac.plot(rows.theta, 1 - rows.fraction_removed, marker="o", color="black")
    ax_frac.set_xlabel("memorization threshold θ")
    ax_frac.set_ylabel("fraction remaining")
    ax_frac.set_ylim(0, 1.02)
    fig.suptitle(title or "marginal utility of memorized examples", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------- training (TensorFlow)

def reduced(dataset, remove_ids):
    """The in-memory `dataset` without the training rows `remove_ids` (test set unchanged).

    Rows keep their order; positions are renumbered 0..n'-1 (the trials of a
    removal run are not mapped back to original ids: only test accuracy is used),
    and so are the ids of corrupted labels that remain.
    """
    if dataset.x_train is None:
        raise ValueError(f"dataset {dataset.name} streams its images; removal experiments need an in-memory "
                         f"dataset (digits, mnist, cifar10, cifar100, npz:PATH)")
    keep = np.ones(dataset.num_train, bool)
    keep[np.asarray(remove_ids, np.int64)] = False
    if not keep.any():
        raise ValueError(f"removing {len(remove_ids)} examples leaves no training data")
    names = None if dataset.train_filenames is None else dataset.train_filenames[keep]
    corrupted = getattr(dataset, "corrupted_idx", None)
    if corrupted is not None:  # renumbered to the kept rows' new positions
        corrupted = (np.cumsum(keep) - 1)[corrupted[keep[corrupted]]]
    return dataclasses.replace(dataset, x_train=dataset.x_train[keep], train_labels=dataset.train_labels[keep],
                               train_filenames=names, corrupted_idx=corrupted,
                               index_note=f"{dataset.index_note}, {int((~keep).sum())} removed")


def train_runs(dataset, config, runs: int, workdir: str, pack_trials: int = 1, strategy=None) -> np.ndarray:
    """Test correctness [runs, n_test] (test ids in order) of `runs` models trained on all of
    `dataset` (trials 0..runs-1 at subset_ratio 1); complete runs in `workdir` are reused."""
    from influence_mem.data.npzio import read_npz  # TensorFlow (tf.io.gfile)
    from influence_mem.train.run import run_trials

    config = dataclasses.replace(config, subset_ratio=1.0)
    run_trials(dataset, config, list(range(runs)), workdir, strategy=strategy, pack_trials=pack_trials)
    correct = np.zeros((runs, dataset.num_test), bool)
    for r in range(runs):
        aux = read_npz(os.path.join(trial_format.trial_dir(workdir, 1.0, r), trial_format.AUX_FILE))
        correct[r, aux["index_test"]] = aux["correctness_test"]
    return correct


def run_marginal_utility(dataset, config, mem, thresholds, runs, workdir, seed=0, pack_trials=1,
                         strategy=None) -> pd.DataFrame:
    """Fig. 2 table (accuracy_table) from training on every reduced set; the full set is row 'none'."""
    full = train_runs(dataset, config, runs, os.path.join(workdir, "full"), pack_trials, strategy)
    results = {(np.nan, "none"): (0, full)}
    for theta, memorized, random_ids in removal_sets(mem, thresholds, seed):
        for removal, ids in (("memorized", memorized), ("random", random_ids)):
            if len(ids) == 0:
                results[(theta, removal)] = (0, full)
            elif len(ids) == dataset.num_train:
                continue  # nothing left to train on
            else:
                sub = os.path.join(workdir, f"{removal}_mem{theta:g}")
                results[(theta, removal)] = (len(ids), train_runs(reduced(dataset, ids), config, runs, sub,
                                                                  pack_trials, strategy))
    return accuracy_table(results, dataset.num_train)


def run_pair_removal(dataset, config, pairs, runs, workdir, pack_trials=1, strategy=None) -> pd.DataFrame:
    """Appendix C table (pair_removal_table): full set vs without the pairs' training examples."""
    train_ids, test_ids = pair_examples(pairs)
    full = train_runs(dataset, config, runs, os.path.join(workdir, "full"), pack_trials, strategy)
    removed = train_runs(reduced(dataset, train_ids), config, runs, os.path.join(workdir, "without_pairs_train"),
                         pack_trials, strategy)
    return pair_removal_table(full, removed, test_ids)


def run_id_removal(dataset, config, remove_ids, label, runs, workdir, pack_trials=1, strategy=None) -> pd.DataFrame:
    """Full set vs without any given training ids (e.g. paper 003's buckets); pair_removal_table rows
    for the whole test set, the removed set named `label`."""
    full = train_runs(dataset, config, runs, os.path.join(workdir, "full"), pack_trials, strategy)
    removed = train_runs(reduced(dataset, np.unique(remove_ids)), config, runs,
                         os.path.join(workdir, f"without_{label}"), pack_trials, strategy)
    return pair_removal_table(full, removed, removed_name=label)


def read_ids(path: str, num_train: int) -> np.ndarray:
    """Training ids from a .npy array or a text file (one id per line); ValueError naming the file."""
    try:
        ids = npz.read_npy(path) if path.endswith(".npy") else np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as e:  # npz.NpzError is a ValueError
        raise ValueError(f"--remove_ids={path}: not a readable .npy or one-id-per-line text file ({e})") from None
    ids = np.asarray(ids).ravel()
    if not np.issubdtype(ids.dtype, np.integer) or (len(ids) and (ids.min() < 0 or ids.max() >= num_train)):
        raise ValueError(f"--remove_ids={path}: ids must be integers in [0, {num_train})")
    return ids.astype(np.int64)


# ---------------------------------------------------------------- command line

def main(argv):
    from influence_mem.data import balanced, datasets  # TensorFlow
    from influence_mem.train import flags as train_flags

    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    thresholds = [float(t) for t in FLAGS.thresholds]
    try:  # every input is checked before anything trains
        files = released.find_estimate_set(FLAGS.estimates, FLAGS.name)
        matrix = released.load_infl_matrix(files["infl_matrix"])
        dataset = balanced.first_per_class(datasets.load(FLAGS.dataset, FLAGS.data_dir), FLAGS.train_per_class,
                                           FLAGS.test_per_class)
        if not np.array_equal(matrix.tr_labels, dataset.train_labels):
            raise EstimateSetError(f"{files['infl_matrix']}: training labels do not match --dataset={FLAGS.dataset}")
        train_flags.check_arch(dataset)
        pairs = None
        if "pairs" in FLAGS.experiments:
            if not files["pairs"]:
                raise EstimateSetError(f"{FLAGS.estimates}: no high-influence pairs file for --experiments=pairs")
            pairs = released.load_high_infl_pairs(files["pairs"])
            if len(pairs) == 0:
                raise EstimateSetError(f"{files['pairs']}: no pairs, nothing to remove (--experiments=pairs)")
        ids = read_ids(FLAGS.remove_ids, dataset.num_train) if FLAGS.remove_ids else None
    except (EstimateSetError, released.ReleasedFormatError, datasets.DatasetError, ValueError) as e:
        sys.exit(f"error: {e}")
    config = dataclasses.replace(train_flags.config_from_flags(), save_model=False)
    strategy = train_flags.strategy_from_flags()
    output_dir = FLAGS.output_dir or FLAGS.workdir
    os.makedirs(output_dir, exist_ok=True)
    common = dict(runs=FLAGS.runs, pack_trials=FLAGS.pack_trials, strategy=strategy)
    prefix = os.path.join(output_dir, files["name"])
    try:
        if "memorized" in FLAGS.experiments:
            table = run_marginal_utility(dataset, config, matrix.tr_mem, thresholds, workdir=FLAGS.workdir,
                                         seed=FLAGS.removal_seed, **common)
            table.to_csv(f"{prefix}_marginal_utility.csv", index=False)
            plot_marginal_utility(table, f"{prefix}_marginal_utility.png",
                                  f"{files['name']}: marginal utility ({FLAGS.runs} runs)")
            print(table.to_string(index=False))
        if pairs is not None:
            table = run_pair_removal(dataset, config, pairs, workdir=FLAGS.workdir, **common)
            table.to_csv(f"{prefix}_pair_removal.csv", index=False)
            print(table.to_string(index=False))
        if ids is not None:
            label = os.path.splitext(os.path.basename(FLAGS.remove_ids))[0]
            table = run_id_removal(dataset, config, ids, label, workdir=FLAGS.workdir, **common)
            table.to_csv(f"{prefix}_removal_{label}.csv", index=False)
            print(table.to_string(index=False))
    except ValueError as e:
        sys.exit(f"error: {e}")


def _check_thresholds(values) -> None:
    """--thresholds: memorization values, finite numbers in [0, 1]."""
    for item in values:
        try:
            number = float(item)
        except ValueError:
            raise ValueError(f"--thresholds={','.join(values)}: {item!r} is not a number") from None
        if not 0 <= number <= 1:  # NaN too
            raise ValueError(f"--thresholds={','.join(values)}: {item!r} is not in [0, 1]")


def define_flags():
    """The trainer's flags (--flagfile, --dataset, --epochs, --pack_trials, ...) plus ours."""
    from influence_mem.train import flags as train_flags  # TensorFlow

    train_flags.define_flags()
    flags.mark_flag_as_required("workdir")
    shared_flags.define_estimates("Directory with <name>_infl_matrix.npz (and the pairs file).")
    shared_flags.define_name()
    shared_flags.define_output_dir("Where CSV/PNG go; default: --workdir.")
    flags.DEFINE_integer("runs", 5, "Models trained per condition (paper: 100 CIFAR-100/MNIST, 5 ImageNet).")
    flags.DEFINE_list("thresholds", [f"{t:g}" for t in THRESHOLDS], "Memorization thresholds θ of Fig. 2.")
    flags.DEFINE_list("experiments", ["memorized", "pairs"],
                      "memorized: Fig. 2 removal of mem >= θ vs random; pairs: appendix C removal of S_h "
                      "(none: only --remove_ids).")
    flags.DEFINE_integer("removal_seed", 0, "Seed of the random removal sets (one per θ).")
    flags.DEFINE_string("remove_ids", None, "Also train without these training ids (.npy or one id per line; "
                        "e.g. paper 003's buckets): <name>_removal_<file stem>.csv.")
    flags.register_validator("runs", lambda v: v >= 1, "--runs must be >= 1")
    flags.register_validator("removal_seed", lambda v: v >= 0, "--removal_seed must be >= 0")
    flags.register_validator("thresholds", lambda v: shared_flags.valid(_check_thresholds, v), "see the message above")
    flags.register_validator("experiments", lambda v: set(v) <= {"memorized", "pairs", "none"},
                             "--experiments must be memorized, pairs, both, or none")


def run():
    from influence_mem.train import flags as train_flags  # TensorFlow, which defines flags of its own on import

    start.run(main, train_flags.define_flags, define_flags)


if __name__ == "__main__":
    run()
