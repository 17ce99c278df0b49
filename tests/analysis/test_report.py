"""The report folder: every section the files allow, numbers from a hand-made estimate set."""
import os
import re

import numpy as np
import pandas as pd
import pytest

from influence_mem import released
from influence_mem.analysis import report
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.released import EstimateSetError, find_estimate_set
from tests.helpers import write_digits_estimates

TR_LABELS, TT_LABELS = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1])
MEM = np.array([0.9, 0.3, 0.0, 0.6, 0.1])
TR_IDX, TT_IDX = {0: np.array([0, 1, 2]), 1: np.array([3, 4])}, {0: np.array([0, 1]), 1: np.array([2])}
BLOCKS = {0: np.array([[0.5, 0.2], [0.1, 0.16], [0.9, 0.9]]), 1: np.array([[0.4], [0.8]])}
# pairs (mem >= 0.25, infl >= 0.15): (0,0) (0,1) (1,1) (3,2); train 2 and 4 have low mem


def _write(directory, name="toy", mem=MEM, blocks=BLOCKS, pairs_file=True):
    directory.mkdir(exist_ok=True)
    released.write_infl_matrix(directory / f"{name}_infl_matrix.npz", TR_LABELS, TT_LABELS, mem, TR_IDX, TT_IDX,
                               blocks)
    if pairs_file:
        p = pairs_from_matrix(released.load_infl_matrix(directory / f"{name}_infl_matrix.npz"))
        released.write_high_infl_pairs(directory / f"{name}_high_infl_pairs_infl0.15_mem0.25.npz",
                                       *[p[k] for k in released.PAIR_KEYS])
    return directory


def _links(summary_path):
    text = open(summary_path).read()
    return re.findall(r"\]\(([^)]+)\)", text)


@pytest.mark.parametrize("pairs_file", [True, False])
def test_report_pair_numbers_by_hand(tmp_path, pairs_file):
    est = _write(tmp_path / "est", pairs_file=pairs_file)
    written = report.build_report(str(est), with_longtail=False)
    out = est / "report"
    assert all(os.path.exists(p) for p in written)
    summary = pd.read_csv(out / "toy_pair_summary.csv").iloc[0]
    assert [summary.num_pairs, summary.unique_train, summary.unique_test] == [4, 3, 3]
    per_test = pd.read_csv(out / "toy_influencers_per_test.csv")
    assert per_test.values.tolist() == [[1, 2], [2, 1]]   # tests 0, 2 by one example; test 1 by two
    counts = pd.read_csv(out / "toy_memorization_counts.csv").set_index("theta").num_train_mem_ge_theta
    assert counts[0.25] == 3 and counts[0.9] == 1
    links = _links(out / "summary.md")
    assert "toy_influence_histogram.png" in links
    assert all((out / link).exists() for link in links)


@pytest.mark.slow
def test_report_consistency_longtail_and_removal_results(tmp_path):
    est = _write(tmp_path / "est")
    other_blocks = {0: BLOCKS[0].copy(), 1: np.array([[0.1], [0.8]])}   # pair (3,2) drops to 0.1 in B
    other = _write(tmp_path / "other", name="run2", blocks=other_blocks)
    pd.DataFrame({"theta": [0.5], "removal": ["memorized"], "num_removed": [2]}).to_csv(
        est / "toy_marginal_utility.csv", index=False)
    pd.DataFrame({"quantity": ["test accuracy difference"], "mean": [0.5]}).to_csv(
        est / "toy_removal_bucket1.csv", index=False)
    out = tmp_path / "out"
    report.build_report(str(est), str(out), compare=[str(other)])
    mem = pd.read_csv(out / "toy_consistency_mem_vs_run2.csv")
    assert (mem.dropna().jaccard == 1.0).all() and (mem.dropna().mean_abs_diff == 0.0).all()
    infl = pd.read_csv(out / "toy_consistency_infl_vs_run2.csv").set_index("theta")
    # θ = 0.15: A has 4 pairs, B the 3 without (3,2); D = |0.4 - 0.1| / 4
    assert infl.loc[0.15, "jaccard"] == pytest.approx(0.75)
    assert infl.loc[0.15, "mean_abs_diff"] == pytest.approx(0.3 / 4)
    for png in ("toy_consistency_memorization.png", "toy_consistency_influence.png", "toy_longtail.png"):
        assert (out / png).stat().st_size > 0
    assert len(pd.read_csv(out / "toy_longtail.csv")) == 6
    text = (out / "summary.md").read_text()
    assert "Marginal utility of memorized examples" in text and (out / "toy_marginal_utility.csv").exists()
    assert "Removal of bucket1" in text and (out / "toy_removal_bucket1.csv").exists()
    assert all((out / link).exists() for link in _links(out / "summary.md"))


def test_missing_or_ambiguous_estimates_are_one_clear_error(tmp_path):
    with pytest.raises(EstimateSetError, match="no such directory"):
        find_estimate_set(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EstimateSetError, match="no <name>_infl_matrix.npz found"):
        find_estimate_set(str(tmp_path / "empty"))
    est = _write(_write(tmp_path / "two"), name="second")
    with pytest.raises(EstimateSetError, match="several estimates .*pass --name"):
        find_estimate_set(str(est))
    assert find_estimate_set(str(est), "second")["name"] == "second"
    other = tmp_path / "other"
    other.mkdir()
    released.write_infl_matrix(other / "x_infl_matrix.npz", TR_LABELS[::-1], TT_LABELS, MEM, {0: np.array([2, 3, 4]),
                               1: np.array([0, 1])}, TT_IDX, BLOCKS)
    one = _write(tmp_path / "one")
    with pytest.raises(EstimateSetError, match="x_infl_matrix.npz: --compare estimates are for other"):
        report.build_report(str(one), compare=[str(other)], with_longtail=False)
    with pytest.raises(EstimateSetError, match="labels do not match dataset digits"):
        report.build_report(str(one), dataset="digits", with_longtail=False)
    assert not (one / "report").exists()  # refused before anything was written


@pytest.mark.slow
def test_main_with_digits_images(tmp_path, program):
    from influence_mem.data import datasets

    labels = datasets.load("digits").train_labels
    est = tmp_path / "est"
    est.mkdir()
    mem = np.linspace(0, 1, len(labels)).astype(np.float32)
    write_digits_estimates(est, mem)
    proc = program.invoke(report.define_flags, report.main, f"--estimates={est}", "--dataset=digits", "--classes=2,3",
                      "--nolongtail")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report:" in proc.stdout and "estimates dg: 1437 training / 360 test" in proc.stdout
    out = est / "report"
    for png in ("dg_memorization_near_0_05_1.png", "dg_memorization_examples.png", "dg_pair_examples_0.png"):
        assert (out / png).stat().st_size > 0
    assert all((out / link).exists() for link in _links(out / "summary.md"))
    near = pd.read_csv(out / "dg_near_duplicates.csv").set_index("pairs")  # the pairs file's pairs, ranked
    pairs = released.load_high_infl_pairs(next(est.glob("dg_high_infl_pairs_*.npz")))
    assert near.loc["high influence", "num_pairs"] == near.loc["random same-class", "num_pairs"] == len(pairs)
    assert 0 <= near.loc["high influence", "within_nearest"] <= 1
    bad = program.invoke(report.define_flags, report.main, f"--estimates={tmp_path / 'missing'}")
    assert bad.returncode != 0 and bad.stderr.strip().endswith("missing: no such directory")


def test_example_figures_of_a_part_with_flipped_labels_name_the_classes(tmp_path, digits, monkeypatch):
    """--dataset_meta: the figures show the run's part and labels; --class_names reaches every figure."""
    from influence_mem.analysis import figures
    from influence_mem.data import balanced, corrupt
    from influence_mem.data.npzio import write_npz

    part = corrupt.corrupt_dataset(balanced.first_per_class(digits, 12), 0.05)
    write_npz(str(tmp_path / "dataset_meta.npz"), part.meta())
    tr = {c: np.flatnonzero(part.train_labels == c) for c in range(10)}
    tt = {c: np.flatnonzero(part.test_labels == c) for c in range(10)}
    blocks = {c: np.zeros((len(tr[c]), len(tt[c]))) for c in range(10)}
    est = tmp_path / "est"
    est.mkdir()
    mem = np.linspace(0, 1, part.num_train).astype(np.float32)
    released.write_infl_matrix(est / "part_infl_matrix.npz", part.train_labels, part.test_labels, mem, tr, tt, blocks)
    names = [f"digit {c}" for c in range(10)]
    with pytest.raises(EstimateSetError, match="labels do not match dataset digits"):  # the whole set, clean labels
        report.build_report(str(est), dataset="digits", with_longtail=False)
    with pytest.raises(ValueError, match=r"--class_names: 9 names, but the estimates' labels go up to 9"):
        report.build_report(str(est), dataset="digits", dataset_meta=str(tmp_path / "dataset_meta.npz"),
                            class_names=names[:9], with_longtail=False)
    assert not (est / "report").exists()
    shown = []
    monkeypatch.setattr(figures, "class_name", lambda c, class_names: shown.append(class_names) or str(c))
    report.build_report(str(est), dataset="digits", dataset_meta=str(tmp_path / "dataset_meta.npz"),
                        class_names=names, with_longtail=False)
    assert shown and all(n == names for n in shown)
    assert (est / "report" / "part_memorization_near_0_05_1.png").stat().st_size > 0


def test_with_the_workdir_the_report_links_the_convergence_of_its_trials(tmp_path):
    from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir
    from influence_mem.estimate.convergence import convergence_table
    from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial

    rng = np.random.default_rng(0)
    tr_labels, tt_labels = rng.integers(0, 3, 60), rng.integers(0, 3, 20)
    write_dataset_meta(tmp_path / "w", tr_labels, tt_labels, "sim")
    stacks = make_learner(rng, tr_labels, tt_labels).trials(rng, 0.7, 16)
    for k in range(16):
        write_trial(tmp_path / "w" / "0.7", k, *(a[k] for a in stacks))
    aggregate_workdir(tmp_path / "w", output_dir=tmp_path / "e", trials="0-11")
    written = report.build_report(str(tmp_path / "e"), str(tmp_path / "r"), with_longtail=False,
                                  workdir=str(tmp_path / "w"))
    assert {"convergence.csv", "convergence.png"} <= set(_links(tmp_path / "r" / "summary.md"))
    assert str(tmp_path / "r" / "convergence.png") in written
    table = pd.read_csv(tmp_path / "r" / "convergence.csv")  # the sidecar's selection: the estimates' 12 trials
    assert table.trials.tolist() == [12] and table.pairs[0] == convergence_table(tmp_path / "w", trials="0-11").rows[0]["pairs"]
    (tmp_path / "w" / "0.7").rename(tmp_path / "w" / "0.5")
    with pytest.raises(AggregateError, match="no directory for subset ratio 0.7"):
        report.build_report(str(tmp_path / "e"), str(tmp_path / "r2"), with_longtail=False, workdir=str(tmp_path / "w"))
    assert not (tmp_path / "r2").exists()  # refused before anything was written
