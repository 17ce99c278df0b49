"""im-reevaluate on a small fake release of the authors' kind: Sonnet modules of their SmallInception structure
(tests/models/test_reference_checkpoint.py), each run's checkpoint written as their demo.py restores it beside
the aux_arrays.npz their trainer would have written (ids in a shuffled order, images as pixel / 255).  --verify
passes the true runs, fails the one whose checkpoint is another model's, and the bad runs fail alone."""
import json

import numpy as np
import pytest
import tensorflow as tf

from influence_mem.formats.trial import subset_size
from influence_mem.reevaluate import main as reevaluate_main
from tests.helpers import load_aux

snt = pytest.importorskip("sonnet")
from tests.models.test_reference_checkpoint import SmallInceptionModule, trained_like, write_like_their_demo  # noqa: E402

pytestmark = pytest.mark.integration

N, N_TEST, SHAPE = 60, 200, (8, 8, 3)


def their_run(run_dir, module, images, labels, subset, rng):
    """aux_arrays.npz as the authors' trainer writes it: `module`'s correctness on every example."""
    correct = {split: np.argmax(module(tf.constant(images[split] / 255.0, tf.float32), is_training=False).numpy(),
                                axis=1) == labels[split] for split in ("train", "test")}
    removed = np.setdiff1d(np.arange(N), subset)
    index_train, index_removed, index_test = rng.permutation(subset), rng.permutation(removed), rng.permutation(N_TEST)
    run_dir.mkdir(parents=True)
    np.savez(run_dir / "aux_arrays.npz", subsample_idx=subset, index_train=index_train,
             correctness_train=correct["train"][index_train], index_removed=index_removed,
             correctness_removed=correct["train"][index_removed], index_test=index_test,
             correctness_test=correct["test"][index_test])


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 256, (N,) + SHAPE).astype(np.uint8),
              "test": rng.randint(0, 256, (N_TEST,) + SHAPE).astype(np.uint8)}
    labels = {"train": rng.randint(0, 10, N), "test": rng.randint(0, 10, N_TEST)}
    np.savez(root / "data.npz", x_train=images["train"], y_train=labels["train"], x_test=images["test"],
             y_test=labels["test"])
    runs = root / "cifar-inception" / "0.7"
    modules = []
    for seed in range(2):
        module = SmallInceptionModule(10)
        trained_like(module, SHAPE, seed=seed)
        modules.append(module)
    # Run 2's checkpoint is run 0's model; run 3 has none; run 4's subset is of a larger dataset.
    for run, (aux_of, checkpoint_of) in enumerate([(0, 0), (1, 1), (1, 0), (0, None), (0, 0)]):
        subset = np.sort(rng.choice(N, subset_size(N, 0.7), replace=False))
        their_run(runs / str(run), modules[aux_of], images, labels, subset, rng)
        if checkpoint_of is not None:
            write_like_their_demo(modules[checkpoint_of], runs / str(run) / "checkpoints")
    aux = load_aux(runs / "4")
    aux["index_removed"] = np.append(aux["index_removed"], np.arange(N, N + 5))
    aux["correctness_removed"] = np.append(aux["correctness_removed"], np.zeros(5, bool))
    np.savez(runs / "4" / "aux_arrays.npz", **aux)
    return root


def invoke(program, *argv):
    return program.invoke(reevaluate_main.define_flags, reevaluate_main.main, *argv)


def test_verify_a_release_as_the_authors_demo_does(release, tmp_path, program):
    out = tmp_path / "out"
    data = f"npz:{release / 'data.npz'}"
    result = invoke(program, f"--runs={release / 'cifar-inception'}", "--arch=inception_small", f"--dataset={data}",
                    f"--points={data}", f"--workdir={out}", "--verify", "--trials=0-4")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: runs 2,3,4 failed (why: the error lines above, and <ratio>/.<run>.inprogress/failed.json in "
        "--workdir)")
    runs = release / "cifar-inception" / "0.7"
    errors = {line.split(":", 1)[0]: line for line in result.stderr.splitlines() if line.startswith("run ")}
    assert "verify failed: the model agrees with aux_arrays.npz on test " in errors["run 2"]
    assert "below --verify_tolerance=0.995; not used" in errors["run 2"]
    assert errors["run 3"] == f"run 3: {runs / '3'}: no model (model.keras, saved_model/ or checkpoints/ckpt-*.index)"
    assert errors["run 4"] == (f"run 4: {runs / '4' / 'aux_arrays.npz'}: index_train + index_removed ({N + 5} ids, "
                               f"range 0..{N + 4}) is not a permutation of 0..{N - 1}: the run does not fit the "
                               f"dataset's {N} train examples")
    failed = json.loads((out / "0.7" / ".2.inprogress" / "failed.json").read_text())["error"]
    assert failed == errors["run 2"].split(": ", 1)[1]
    agreement = float(failed.split("(")[1].split("%")[0])
    assert agreement < 99.5  # another model's predictions: caught
    # The true runs: their models predict exactly what their aux arrays store; written as trials whose
    # subsets and train correctness are the release's and whose test split are the points.
    assert sorted(p.name for p in (out / "0.7").iterdir() if not p.name.startswith(".")) == ["0", "1"]
    assert "verify: 3 runs, their models agree with the stored correctness on" in result.stderr
    for run in ("0", "1"):
        theirs, ours = load_aux(runs / run), load_aux(out / "0.7" / run)
        for key in ("subsample_idx", "index_train", "correctness_train", "index_removed", "correctness_removed"):
            np.testing.assert_array_equal(ours[key], theirs[key])
        stored = np.zeros(N_TEST, bool)
        stored[theirs["index_test"]] = theirs["correctness_test"]
        np.testing.assert_array_equal(ours["correctness_test"], stored[ours["index_test"]])
        metrics = json.loads((out / "0.7" / run / "metrics.json").read_text())
        assert metrics["verify"]["agree"] == metrics["verify"]["total"] == N_TEST
        assert metrics["reevaluated"]["model"] == "checkpoint" and "config" not in metrics
    with np.load(out / "dataset_meta.npz") as meta:
        assert str(meta["runs"]) == str(release / "cifar-inception") and str(meta["points"]) == data
        assert "dataset's own ids" in str(meta["example_order"])


def test_an_arch_that_does_not_fit_stops_before_writing(release, tmp_path, program):
    data = f"npz:{release / 'data.npz'}"
    out = tmp_path / "out"
    for arch, message in (("resnet18_cifar", "--arch=resnet18_cifar does not fit"),
                          (None, "the authors' checkpoints need --arch")):
        result = invoke(program, f"--runs={release / 'cifar-inception'}", f"--dataset={data}", f"--points={data}",
                        f"--workdir={out}", *([f"--arch={arch}"] if arch else []))
        assert result.returncode == 1 and message in result.stderr
        assert len([line for line in result.stderr.splitlines() if line.startswith("error")]) == 1
        assert not out.exists()
