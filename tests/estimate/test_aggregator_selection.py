"""estimate.aggregator --trials, --min_z and the estimates' quality: a selection gives bitwise the files of a
workdir holding only those trials; the sidecar records the selection, the fit of the trials and the pairs noise
alone would give, each equal to a direct computation; bad selections are one error line."""
import shutil

import numpy as np
import pytest

from influence_mem import released
from influence_mem.estimate import estimate_from_arrays, high_influence_pairs
from influence_mem.estimate import main as aggregate_program
from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir, select_trials, trial_selection
from influence_mem.estimate.pairs import expected_noise_pairs
from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial

N, N_TEST, T = 120, 40, 40
PAIRS = "sim_high_infl_pairs_infl0.15_mem0.25.npz"


def _workdir(root, t=T, seed=0, fit=None):
    """Simulated trials 0..t-1; `fit` replaces every p_in (how well the trials fit their subsets)."""
    rng = np.random.default_rng(seed)
    tr_labels, tt_labels = rng.integers(0, 4, N), rng.integers(0, 4, N_TEST)
    write_dataset_meta(root, tr_labels, tt_labels, "sim")
    learner = make_learner(rng, tr_labels, tt_labels)
    if fit is not None:
        learner.p_in = np.full(N, fit)
    stacks = learner.trials(rng, 0.7, t)
    for k in range(t):
        write_trial(root / "0.7", k, *(a[k] for a in stacks), rng=rng)
    return stacks, tr_labels, tt_labels


@pytest.fixture
def im_aggregate(program):
    return lambda *args: program.invoke(aggregate_program.define_flags, aggregate_program.main, *args)


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _assert_bitwise_equal(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


def test_a_selection_gives_bitwise_the_files_of_a_workdir_holding_only_those_trials(tmp_path):
    _workdir(tmp_path / "all")
    spec, ids = "3-17,25,30-34", [*range(3, 18), 25, *range(30, 35)]
    only = tmp_path / "only"
    (only / "0.7").mkdir(parents=True)
    shutil.copy(tmp_path / "all" / "dataset_meta.npz", only)
    for k in ids:
        shutil.copytree(tmp_path / "all" / "0.7" / str(k), only / "0.7" / str(k))
    for min_z in (0.0, 2.0):
        chosen = aggregate_workdir(tmp_path / "all", output_dir=tmp_path / f"chosen{min_z}", trials=spec, min_z=min_z)
        alone = aggregate_workdir(only, output_dir=tmp_path / f"alone{min_z}", min_z=min_z)
        assert chosen.trial_ids == alone.trial_ids == ids and chosen.num_pairs == alone.num_pairs > 0
        for name in ("sim_infl_matrix.npz", PAIRS):
            _assert_bitwise_equal(_arrays(tmp_path / f"chosen{min_z}" / name), _arrays(tmp_path / f"alone{min_z}" / name))
        sidecars = [_arrays(tmp_path / f"{which}{min_z}" / "sim_estimates_stats.npz") for which in ("chosen", "alone")]
        assert [str(s[released.STATS_TRIAL_SELECTION]) for s in sidecars] == [spec, "all"]
        _assert_bitwise_equal(*({k: v for k, v in s.items() if k not in released.STATS_SELECTION_KEYS}
                                for s in sidecars))


def test_the_sidecar_records_selection_fit_and_noise_as_computed_directly(tmp_path):
    (in_mask, c_tr, c_tt), tr_labels, tt_labels = _workdir(tmp_path)
    result = aggregate_workdir(tmp_path, output_dir=tmp_path / "out", trials=range(0, 30))
    stats = released.load_estimates_stats(tmp_path / "out" / "sim_estimates_stats.npz")
    ref = estimate_from_arrays(in_mask[:30], c_tr[:30], c_tt[:30], tr_labels, tt_labels)
    mem = ref.mem.astype(np.float32)
    noise, candidates = expected_noise_pairs(mem, ref.n_in, ref.n_out, ref.tt_correct, 30, ref.tr_classidx,
                                             ref.tt_classidx)
    assert str(stats[released.STATS_TRIAL_SELECTION]) == "0-29" and stats["trial_ids"].tolist() == list(range(30))
    assert float(stats[released.STATS_TRAIN_ACCURACY]) == pytest.approx(c_tr[:30][in_mask[:30]].mean())
    assert float(stats[released.STATS_MIN_TRAIN_ACCURACY]) == 0.95 and float(stats[released.STATS_PAIRS_MIN_Z]) == 0
    assert float(stats[released.STATS_NOISE_PAIRS]) == pytest.approx(noise) and noise > 0
    assert int(stats[released.STATS_CANDIDATE_PAIRS]) == candidates == result.candidate_pairs
    pairs = high_influence_pairs(mem, ref.tr_classidx, ref.tt_classidx, ref.infl_blocks,
                                 extra_blocks={"se": ref.infl_se_blocks})
    assert result.num_pairs_2se == int(np.sum(pairs["infl"] - 2 * pairs["se"] >= 0.15))
    assert result.train_accuracy > 0.95 and not any("training subsets" in w for w in result.warnings)


def test_min_z_keeps_the_confident_pairs_and_the_default_is_the_papers(tmp_path):
    _workdir(tmp_path)
    aggregate_workdir(tmp_path, output_dir=tmp_path / "paper")
    aggregate_workdir(tmp_path, output_dir=tmp_path / "z2", min_z=2)
    paper, z2 = (released.load_high_infl_pairs(tmp_path / d / PAIRS) for d in ("paper", "z2"))
    se = released.load_estimates_stats(tmp_path / "paper" / "sim_estimates_stats.npz")["pairs_infl_se"]
    keep = paper["infl"].to_numpy() - 2 * se >= 0.15
    assert 0 < keep.sum() < len(paper)
    np.testing.assert_array_equal(z2["tr_idx"], paper["tr_idx"][keep])
    np.testing.assert_array_equal(z2["tt_idx"], paper["tt_idx"][keep])
    stats = released.load_estimates_stats(tmp_path / "z2" / "sim_estimates_stats.npz")
    assert float(stats[released.STATS_PAIRS_MIN_Z]) == 2.0
    with pytest.raises(AggregateError, match="--min_z=-1"):
        aggregate_workdir(tmp_path, output_dir=tmp_path / "bad", min_z=-1)
    assert not (tmp_path / "bad").exists()


def test_trials_that_do_not_fit_their_subsets_are_warned_about(tmp_path, im_aggregate):
    _workdir(tmp_path, fit=0.85)
    proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    assert "im-aggregate: warning: the trials fit their training subsets at 85" in proc.stderr
    assert "below --min_train_accuracy=0.95" in proc.stderr
    assert "noise alone (no real influence) would give" in proc.stdout
    stats = released.load_estimates_stats(tmp_path / "out" / "sim_estimates_stats.npz")
    assert float(stats[released.STATS_TRAIN_ACCURACY]) == pytest.approx(0.85, abs=0.02)
    quiet = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'out2'}", "--min_train_accuracy=0.8")
    assert quiet.returncode == 0 and "training subsets at" not in quiet.stderr


def test_unfinished_empty_and_malformed_selections(tmp_path, im_aggregate):
    _workdir(tmp_path, t=12)
    proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'out'}", "--trials=0-9,100-101")
    assert proc.returncode == 0, proc.stderr
    assert (f"im-aggregate: warning: trials 100-101 of --trials=0-9,100-101 are not finished in "
            f"{tmp_path / '0.7'}: left out") in proc.stderr
    assert "used 10 trials" in proc.stdout
    for bad, message in (("--trials=50-60", f"im-aggregate: error: --trials=50-60: none of these trials is "
                                            f"finished in {tmp_path / '0.7'}"),
                         ("--trials=5-", "malformed --trials '5-'")):
        proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'none'}", bad)
        assert proc.returncode == 1 and message in proc.stderr.strip().splitlines()[-1]
        assert not (tmp_path / "none").exists()


def test_select_trials_lists_the_missing_ids_as_ranges():
    listed = [(k, f"p{k}") for k in (0, 1, 2, 5, 9, 10)]
    kept, missing = select_trials(listed, trial_selection("1-6,9,20-22"))
    assert [k for k, _ in kept] == [1, 2, 5, 9] and missing == "3-4,6,20-22"
    assert select_trials(listed, None) == (listed, "")
    assert select_trials(listed, trial_selection("0-9999999"))[1] == "3-4,6-8,11-9999999"
