"""estimate.aggregator under bad input and faults: output names, output folders, full disks, staging
directories, zip bombs and trials of different configs (docs/reliability.md)."""
import errno
import io
import json
import os
import time
import zipfile

import numpy as np
import pytest

from influence_mem.estimate import aggregator, simulate
from influence_mem.formats import released
from influence_mem.formats import trial as trial_format
from influence_mem.formats.released import write as released_write
from influence_mem.estimate.aggregator import AggregateError, aggregate_workdir
from influence_mem.estimate.trials import MetaError

N, N_TEST = 20, 6


def _workdir(root, trials=4, ratio=0.5, dataset="simulated", configs=None):
    """A simulated workdir: dataset_meta.npz and `trials` trials of `ratio` (metrics.json with configs[k])."""
    work = root / "work"
    simulate.write_dataset_meta(work, np.arange(N) % 2, np.arange(N_TEST) % 2, dataset=dataset)
    rng = np.random.default_rng(0)
    for k in range(trials):
        mask = np.zeros(N, bool)
        mask[rng.permutation(N)[:int(N * ratio)]] = True
        ratio_dir = work / trial_format.format_ratio(ratio)
        simulate.write_trial(ratio_dir, k, mask, rng.random(N) < 0.8, rng.random(N_TEST) < 0.7)
        if configs is not None:
            (ratio_dir / str(k) / trial_format.METRICS_FILE).write_text(json.dumps({"config": configs[k]}))
    return work


def _files(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


@pytest.mark.parametrize("bad", ["/tmp/pwn", "../up", "a/b", "..", ".", "x y", "n\n"])
def test_a_crafted_dataset_name_in_a_labels_file_is_refused_and_nothing_is_written(tmp_path, bad):
    work = _workdir(tmp_path)
    labels = tmp_path / "crafted_meta.npz"
    np.savez(labels, tr_labels=np.arange(N) % 2, tt_labels=np.arange(N_TEST) % 2, dataset=np.array(bad))
    before = _files(work)
    with pytest.raises(AggregateError, match="output name"):
        aggregate_workdir(work, subset_ratio=0.5, labels_from=str(labels))
    assert _files(work) == before
    assert not os.path.exists("/tmp/pwn_infl_matrix.npz")


def test_a_bad_name_flag_and_a_bad_dataset_key_are_refused(tmp_path):
    work = _workdir(tmp_path, dataset="../escape")
    with pytest.raises(AggregateError, match="'dataset'"):
        aggregate_workdir(work, subset_ratio=0.5)
    with pytest.raises(AggregateError, match="--name"):
        aggregate_workdir(work, subset_ratio=0.5, name="/tmp/pwn")
    assert not any(p.name.endswith(".npz") and "infl" in p.name for p in work.iterdir())


def test_npz_and_tfrecord_datasets_default_to_the_file_stem(tmp_path):
    assert released.default_output_name("npz:/data/my_digits.npz") == "my_digits"
    assert released.default_output_name("tfrecord:/data/in_tfrec/") == "in_tfrec"
    assert released.default_output_name("cifar100") == "cifar100"
    work = _workdir(tmp_path, dataset="npz:/data/my_digits.npz")
    result = aggregate_workdir(work, subset_ratio=0.5, output_dir=tmp_path / "out")
    assert released.infl_matrix_filename("my_digits") in result.outputs


def test_a_two_dimensional_dataset_key_is_one_clear_error(tmp_path):
    work = _workdir(tmp_path)
    np.savez(work / trial_format.META_FILE, tr_labels=np.arange(N) % 2, tt_labels=np.arange(N_TEST) % 2,
             dataset=np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(MetaError, match=r"'dataset' must be one string.*\(2, 2\)"):
        aggregate_workdir(work, subset_ratio=0.5)


def test_an_output_dir_that_is_a_file_is_refused_before_writing(tmp_path):
    work = _workdir(tmp_path)
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(AggregateError, match="not a directory"):
        aggregate_workdir(work, subset_ratio=0.5, output_dir=target)
    assert target.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_dir_is_refused_before_writing(tmp_path):
    work = _workdir(tmp_path)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(AggregateError, match="not a writable directory"):
            aggregate_workdir(work, subset_ratio=0.5, output_dir=out)
    finally:
        out.chmod(0o755)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "injected")


def test_a_full_disk_is_one_error_and_the_staging_directory_is_removed(tmp_path, monkeypatch):
    work = _workdir(tmp_path)
    out = tmp_path / "out"
    monkeypatch.setattr(released_write, "write_infl_matrix", _enospc)  # what write_estimate_set calls
    with pytest.raises(AggregateError, match="no space left on the device"):
        aggregate_workdir(work, subset_ratio=0.5, output_dir=out)
    assert not out.exists()  # created by the run, removed again: nothing written


def test_a_full_disk_with_the_full_influence_file_is_an_error_not_sigbus(tmp_path, monkeypatch):
    work = _workdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(os, "posix_fallocate", _enospc)
    with pytest.raises(AggregateError, match="no space left"):
        aggregate_workdir(work, subset_ratio=0.5, output_dir=out, full_influence=True)
    assert _files(out) == []


def test_the_full_influence_file_is_allocated_before_it_is_mapped(tmp_path):
    path = tmp_path / "full.npy"
    full = released.open_infl_full(path, 300, 200)
    assert os.stat(path).st_blocks * 512 >= 300 * 200 * 4  # no sparse holes for the mapping to fault on
    full[:] = 1.5
    full.flush()
    del full
    np.testing.assert_array_equal(np.load(path), np.full((300, 200), 1.5, np.float32))


def test_stale_staging_directories_are_removed_and_all_of_them_with_clean(tmp_path):
    work = _workdir(tmp_path)
    old, new = work / ".im-aggregate-old", work / ".im-aggregate-new"
    for d in (old, new):
        d.mkdir()
        (d / "x_infl_full.npy").write_bytes(b"0" * 100)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    aggregate_workdir(work, subset_ratio=0.5)
    assert not old.exists() and new.exists()
    aggregate_workdir(work, subset_ratio=0.5, clean=True)
    assert not new.exists()
    assert not [p for p in work.iterdir() if p.name.startswith(".im-aggregate-")]


def _bomb_member(shape, dtype="<f8", data=b"\0" * 4096) -> bytes:
    """An .npy member whose header declares `shape` but which holds only `data`."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def _write_bomb(path, keys, shape):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key in keys:
            z.writestr(f"{key}.npy", _bomb_member(shape))


def test_a_zip_bomb_trial_is_refused_before_it_is_read(tmp_path):
    work = _workdir(tmp_path)
    bomb = work / "0.5" / "0" / trial_format.AUX_FILE
    _write_bomb(bomb, trial_format.AUX_KEYS, (5 * 10 ** 9 // 8,))  # declares 5 GB per array
    result = aggregate_workdir(work, subset_ratio=0.5, output_dir=tmp_path / "out")
    reasons = dict(result.skipped)
    assert 0 in reasons and "refused" in reasons[0] and "elements" in reasons[0]
    assert result.num_trials == 3


def test_a_zip_bomb_released_file_is_one_error(tmp_path):
    bomb = tmp_path / "x_infl_matrix.npz"
    _write_bomb(bomb, ["tr_labels", "tt_labels", "tr_mem"], (5 * 10 ** 9 // 8,))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(released.ReleasedFormatError, match="refused: .*bytes"):
        released.load_infl_matrix(bomb)
    with pytest.raises(released.ReleasedFormatError, match="refused"):
        released.load(bomb)


def test_a_zip_bomb_dataset_meta_is_one_error(tmp_path):
    work = _workdir(tmp_path)
    _write_bomb(work / trial_format.META_FILE, ["tr_labels", "tt_labels"], (5 * 10 ** 9 // 8,))
    with pytest.raises(MetaError, match="refused"):
        aggregate_workdir(work, subset_ratio=0.5)


def _config(**changes):
    base = {"arch": "mlp", "epochs": 30, "seed": 0, "base_lr": 0.1, "subset_ratio": 0.5, "save_model": True,
            "eval_batch_size": 1024, "decay_epochs": [30, 60, 90]}
    return {**base, **changes}


def _record(work, config):
    (work / trial_format.EXPERIMENT_FILE).write_text(json.dumps(trial_format.experiment_record(config)))


def test_trials_under_another_config_than_the_record_are_refused_listing_the_groups(tmp_path):
    configs = [_config(), _config(save_model=False), _config(epochs=5), _config(epochs=5, seed=1)]
    work = _workdir(tmp_path, configs=configs)
    _record(work, _config(eval_batch_size=7))  # fields that do not change training are not compared
    with pytest.raises(AggregateError) as e:
        aggregate_workdir(work, subset_ratio=0.5, output_dir=tmp_path / "out")
    message = str(e.value)
    assert "\n" not in message
    assert "trials 0-1: the experiment's config" in message
    assert "trials 2: --epochs: 30 (recorded) != 5" in message
    assert "trials 3: --epochs: 30 (recorded) != 5; --seed: 0 (recorded) != 1" in message
    assert not (tmp_path / "out").exists()


def test_trials_of_the_recorded_config_aggregate(tmp_path):
    work = _workdir(tmp_path, configs=[_config(), _config(subset_ratio=0.7), _config(), _config()])
    _record(work, _config())
    assert aggregate_workdir(work, subset_ratio=0.5).num_trials == 4


def test_a_legacy_workdir_is_flagged_and_its_trials_must_still_agree(tmp_path, caplog):
    work = _workdir(tmp_path, configs=[_config()] * 4)
    assert aggregate_workdir(work, subset_ratio=0.5).num_trials == 4
    assert "no experiment.json" in caplog.text
    mixed = _workdir(tmp_path / "m", configs=[_config(), _config(), _config(), _config(base_lr=0.5)])
    with pytest.raises(AggregateError, match=r"trials 3: --base_lr: 0.1 \(recorded\) != 0.5"):
        aggregate_workdir(mixed, subset_ratio=0.5)


def test_old_records_with_mixed_precision_compare_as_their_precision():
    old = trial_format.training_fields({"mixed_precision": False, "epochs": 3, "subset_ratio": 0.7})
    assert old == {"precision": "float32", "epochs": 3}
    assert trial_format.config_differences(old, {"precision": "mixed_float16", "epochs": 3, "new": 1}) == [
        '--precision: "float32" (recorded) != "mixed_float16"']


def test_staging_helpers_leave_other_directories_alone(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / ".im-aggregate-x").mkdir()
    assert aggregator.clean_staging(tmp_path, everything=True) == [tmp_path / ".im-aggregate-x"]
    assert _files(tmp_path) == ["keep"]
