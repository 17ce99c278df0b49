"""estimate.aggregator (and its program im-aggregate, estimate.main, run in-process): the streaming aggregator
equals the in-memory estimator, and every bad input is skipped with its reason or fails cleanly without writing
anything."""
import numpy as np
import pytest

from influence_mem import released
from influence_mem.estimate import estimate_from_arrays, high_influence_pairs
from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir
from influence_mem.estimate.simulate import make_learner, write_dataset_meta, write_trial
from influence_mem.estimate import main as aggregate_program
from influence_mem.estimate.trials import MetaError

N, N_TEST, T = 120, 40, 30
def _workdir(root, ratios=(0.7,), t=T, filenames=False, seed=0):
    """Trials of a simulated learner; returns the in-memory stacks per ratio and the labels."""
    rng = np.random.default_rng(seed)
    tr_labels, tt_labels = rng.integers(0, 4, N), rng.integers(0, 4, N_TEST)
    names = np.array([f"img_{i}.jpg".encode() for i in range(N)]) if filenames else None
    write_dataset_meta(root, tr_labels, tt_labels, "sim", names)
    learner = make_learner(rng, tr_labels, tt_labels)
    stacks = {}
    for r in ratios:
        stacks[r] = learner.trials(rng, r, t)
        for k in range(t):
            write_trial(root / f"{r:g}", k, *(a[k] for a in stacks[r]), rng=rng)
    return stacks, tr_labels, tt_labels


@pytest.fixture
def im_aggregate(program):
    """im-aggregate ARGS run in-process: returncode, stdout, stderr."""
    return lambda *args: program.invoke(aggregate_program.define_flags, aggregate_program.main, *args)


@pytest.mark.parametrize("chunk_size", [1, 7, 100])
def test_streaming_aggregate_equals_in_memory(tmp_path, chunk_size):
    stacks, tr_labels, tt_labels = _workdir(tmp_path)
    result = aggregate_workdir(tmp_path, 0.7, output_dir=tmp_path / "out", chunk_size=chunk_size,
                       full_influence=True)
    ref = estimate_from_arrays(*stacks[0.7], tr_labels, tt_labels, full_influence=True)
    assert result.num_trials == T and not result.skipped

    m = released.load_infl_matrix(tmp_path / "out" / "sim_infl_matrix.npz")
    np.testing.assert_array_equal(m.tr_labels, tr_labels)
    np.testing.assert_array_equal(m.tt_labels, tt_labels)
    np.testing.assert_allclose(m.tr_mem, ref.mem, atol=1e-6)
    for c in ref.classes:
        np.testing.assert_array_equal(m.blocks[c], ref.infl_blocks[c])
        np.testing.assert_array_equal(m.tr_classidx[c], ref.tr_classidx[c])
    full = np.load(tmp_path / "out" / "sim_infl_full.npy")
    np.testing.assert_array_equal(full, ref.infl_full)

    pairs = released.load_high_infl_pairs(
        tmp_path / "out" / "sim_high_infl_pairs_infl0.15_mem0.25.npz")
    expect = high_influence_pairs(ref.mem.astype(np.float32), ref.tr_classidx, ref.tt_classidx,
                                  ref.infl_blocks)
    assert len(pairs) == result.num_pairs > 0
    np.testing.assert_array_equal(pairs["tr_idx"], expect["tr_idx"])
    np.testing.assert_array_equal(pairs["tt_idx"], expect["tt_idx"])
    assert (tr_labels[pairs["tr_idx"]] == tt_labels[pairs["tt_idx"]]).all()

    stats = released.load_estimates_stats(tmp_path / "out" / "sim_estimates_stats.npz")
    np.testing.assert_array_equal(stats["n_in"], ref.n_in)
    np.testing.assert_array_equal(stats["n_out"], ref.n_out)
    np.testing.assert_allclose(stats["mem_se"], ref.mem_se)
    assert int(stats["num_trials"]) == T and float(stats["subset_ratio"]) == 0.7
    assert len(stats["pairs_infl_se"]) == len(pairs)
    # one ratio: no C-scores by default, no index without filenames, no temp files left
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sim_estimates_stats.npz", "sim_high_infl_pairs_infl0.15_mem0.25.npz",
        "sim_infl_full.npy", "sim_infl_matrix.npz"]


def test_bad_trials_are_skipped_with_reasons(tmp_path):
    stacks, tr_labels, tt_labels = _workdir(tmp_path)
    d = tmp_path / "0.7"
    (d / "100").mkdir()
    (d / "100" / "aux_arrays.npz").write_bytes(b"this is not a zip file")
    a = dict(np.load(d / "0" / "aux_arrays.npz"))
    np.savez(_mkdir(d / "101") / "aux_arrays.npz", **{k: v for k, v in a.items()
                                                      if k != "correctness_test"})
    small = {k: (v[:-1] if k in ("index_removed", "correctness_removed") else v)
             for k, v in a.items()}
    np.savez(_mkdir(d / "102") / "aux_arrays.npz", **small)
    np.savez(_mkdir(d / "103") / "aux_arrays.npz", **a)                  # same subset as 0
    np.savez(_mkdir(d / ".104.tmp") / "aux_arrays.npz", **a)            # in progress: ignored
    np.savez(_mkdir(d / "105.tmp") / "aux_arrays.npz", **a)             # in progress: ignored
    _mkdir(d / "106")                                                   # no aux_arrays yet

    result = aggregate_workdir(tmp_path, 0.7, output_dir=tmp_path / "out", chunk_size=4)
    reasons = dict(result.skipped)
    assert sorted(reasons) == [100, 101, 102, 103]
    assert reasons[100].startswith("corrupt npz")
    assert reasons[101] == "missing keys ['correctness_test']"
    assert reasons[102].startswith("different n")
    assert reasons[103] == "duplicate subset (same subsample_idx as trial 0)"
    assert result.trial_ids == list(range(T))
    ref = estimate_from_arrays(*stacks[0.7], tr_labels, tt_labels)
    np.testing.assert_allclose(released.memorization(tmp_path / "out" / "sim_infl_matrix.npz"),
                               ref.mem, atol=1e-6)
    stats = released.load_estimates_stats(tmp_path / "out" / "sim_estimates_stats.npz")
    assert stats["skipped_trial_ids"].tolist() == [100, 101, 102, 103]


def _mkdir(p):
    p.mkdir()
    return p


def test_no_usable_trials_fails_and_writes_nothing(tmp_path, im_aggregate):
    _workdir(tmp_path, t=0)
    (tmp_path / "0.7").mkdir()
    (tmp_path / "0.7" / "0").mkdir()
    (tmp_path / "0.7" / "0" / "aux_arrays.npz").write_bytes(b"garbage")
    out = tmp_path / "out"
    proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={out}")
    assert proc.returncode != 0
    assert "no usable trials" in proc.stderr and "trial 0: corrupt npz" in proc.stderr
    assert not out.exists()

    # an existing output directory keeps its earlier files, untouched
    out.mkdir()
    (out / "sim_infl_matrix.npz").write_bytes(b"earlier result")
    with pytest.raises(AggregateError, match="no usable trials"):
        aggregate_workdir(tmp_path, 0.7, output_dir=out, full_influence=True)
    assert [p.name for p in out.iterdir()] == ["sim_infl_matrix.npz"]
    assert (out / "sim_infl_matrix.npz").read_bytes() == b"earlier result"


def test_missing_ratio_dir_and_missing_meta(tmp_path, im_aggregate):
    _workdir(tmp_path)
    with pytest.raises(AggregateError, match=r"no directory for subset ratio 0.5 .*found ratios: \[0.7\]"):
        aggregate_workdir(tmp_path, 0.5, output_dir=tmp_path / "out")
    (tmp_path / "dataset_meta.npz").write_bytes(b"not npz")
    proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("im-aggregate: error:") and "dataset_meta.npz" in last
    (tmp_path / "dataset_meta.npz").unlink()
    with pytest.raises(MetaError, match="dataset_meta.npz: dataset metadata file not found"):
        aggregate_workdir(tmp_path, 0.7)
    assert not (tmp_path / "out").exists()


def test_labels_from_and_index_file(tmp_path):
    _, tr_labels, _ = _workdir(tmp_path / "w", filenames=True)
    (tmp_path / "w" / "dataset_meta.npz").rename(tmp_path / "meta.npz")
    result = aggregate_workdir(tmp_path / "w", 0.7, name="digits", output_dir=tmp_path / "out",
                       labels_from=tmp_path / "meta.npz")
    index = released.load_index(result.outputs["digits_index.npz"])
    assert index["tr_filenames"].iloc[3] == b"img_3.jpg"
    np.testing.assert_array_equal(index["tr_labels"], tr_labels)
    np.testing.assert_array_equal(index["tr_mem"],
                                  released.memorization(result.outputs["digits_infl_matrix.npz"]))


def test_cscores_over_several_ratios(tmp_path, im_aggregate):
    stacks, tr_labels, _ = _workdir(tmp_path, ratios=(0.3, 0.7))
    proc = im_aggregate(f"--workdir={tmp_path}", f"--output_dir={tmp_path / 'out'}", "--chunk_size=8",
                "--mem_threshold=0.3", "--infl_threshold=0.2")
    assert proc.returncode == 0, proc.stderr
    assert "used 30 trials (0 skipped)" in proc.stdout
    assert "30 trial directories" in proc.stderr
    assert (tmp_path / "out" / "sim_high_infl_pairs_infl0.2_mem0.3.npz").is_file()
    cs = released.load_cscores(tmp_path / "out" / "sim-cscores-orig-order.npz")
    # an example never held out at a ratio scores 0 there (the authors' C-score convention), not mem's 1/2
    held_out = [np.where(e.n_out > 0, e.mem_out, 0.0) for e in (estimate_from_arrays(*stacks[r][:2]) for r in (0.3, 0.7))]
    np.testing.assert_allclose(cs.scores, np.mean(held_out, axis=0))
    np.testing.assert_array_equal(cs.labels, tr_labels)

    result = aggregate_workdir(tmp_path, 0.7, output_dir=tmp_path / "out2", cscores=False)
    assert "sim-cscores-orig-order.npz" not in result.outputs and not result.cscore_ratios
    one = tmp_path / "one"
    _workdir(one)
    result = aggregate_workdir(one, 0.7, cscores=True)
    assert result.cscore_ratios == [0.7]
    stats = released.load_estimates_stats(result.outputs["sim_estimates_stats.npz"])
    np.testing.assert_allclose(released.load_cscores(result.outputs["sim-cscores-orig-order.npz"]).scores,
                               np.where(stats["n_out"] > 0, stats["mem_out"], 0.0))


def test_workdir_is_read_through_fsspec_urls(tmp_path):
    """A non-local filesystem (fsspec's memory://, standing in for gs://) gives the same estimates."""
    import fsspec

    _workdir(tmp_path / "local")
    memory = fsspec.filesystem("memory")
    for path in (tmp_path / "local").rglob("*"):
        if path.is_file():
            memory.pipe(f"/im_test/{path.relative_to(tmp_path / 'local')}", path.read_bytes())
    with pytest.raises(AggregateError, match="remote; pass --output_dir"):
        aggregate_workdir("memory://im_test", 0.7)
    remote = aggregate_workdir("memory://im_test", 0.7, output_dir=tmp_path / "from_url")
    local = aggregate_workdir(tmp_path / "local", 0.7, output_dir=tmp_path / "from_path")
    assert remote.num_trials == local.num_trials == T
    a = released.load_infl_matrix(tmp_path / "from_url" / "sim_infl_matrix.npz")
    b = released.load_infl_matrix(tmp_path / "from_path" / "sim_infl_matrix.npz")
    np.testing.assert_array_equal(a.tr_mem, b.tr_mem)
    memory.rm("/im_test", recursive=True)


def test_the_sidecar_says_what_the_numbers_are_and_labels_from_must_fit(tmp_path, digits_trial):
    """estimator, unit, example order and precision are recorded; a labels file of another size is refused."""
    import pytest

    from influence_mem import released
    from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir

    workdir = digits_trial["workdir"]
    result = aggregate_workdir(workdir, 0.7, output_dir=tmp_path / "est", name="digits")
    stats = released.load_estimates_stats(result.outputs["digits_estimates_stats.npz"])
    assert (str(stats["estimator"]), str(stats["unit"])) == ("subsampled", "accuracy")
    assert str(stats["example_order"]) == digits_trial["dataset"].index_note  # the dataset's own index
    assert list(stats["precision"]) == ["float32"]
    other = tmp_path / "labels.npz"
    np.savez(other, tr_labels=np.zeros(5, np.int64), tt_labels=np.zeros(3, np.int64), dataset=np.array("x"))
    with pytest.raises(AggregateError, match="labels_from.*5 train / 3 test labels"):
        aggregate_workdir(workdir, 0.7, output_dir=tmp_path / "est2", name="digits", labels_from=str(other))
    assert not (tmp_path / "est2").exists()
