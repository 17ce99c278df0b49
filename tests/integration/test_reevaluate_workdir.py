"""im-reevaluate on an im-train workdir with saved models: the estimates of its trials evaluated again on the
digits test split equal those of training (one-model float32: exactly), the same points given as an npz in
another order give the same influence per point, and batches split over two devices predict the same."""
import numpy as np
import pytest

from influence_mem.data import pipeline
from influence_mem.estimate.aggregator import aggregate_workdir
from influence_mem.reevaluate import main as reevaluate_main
from influence_mem.train.config import TrainConfig
from influence_mem.train.run import run_trials
from tests.helpers import finish, load_aux, start_with_devices

pytestmark = pytest.mark.integration

TRIALS = 8


def estimates(workdir, output_dir, name):
    aggregate_workdir(str(workdir), name=name, output_dir=str(output_dir), full_influence=True,
                      min_train_accuracy=None)
    with np.load(output_dir / f"{name}_infl_matrix.npz") as matrix:
        arrays = {k: matrix[k] for k in matrix.files}
    return arrays, np.load(output_dir / f"{name}_infl_full.npy")


def test_reevaluated_trials_give_the_training_estimates(digits, tmp_path, program):
    trained = tmp_path / "trained"
    run_trials(digits, TrainConfig(epochs=3, arch_options={"mlp_hidden": "32"}), range(TRIALS), str(trained),
               progress_bar=False)
    again = tmp_path / "again"
    result = program.invoke(reevaluate_main.define_flags, reevaluate_main.main, f"--runs={trained}",
                            "--dataset=digits", "--points=digits", f"--workdir={again}", "--verify",
                            "--verify_train", "--eval_batch_size=100")
    assert result.returncode == 0, result.stderr
    assert f"verify: {TRIALS} runs, their models agree with the stored correctness on " \
           f"{TRIALS * (digits.num_train + digits.num_test)}/{TRIALS * (digits.num_train + digits.num_test)}" \
           in result.stderr
    for trial in range(TRIALS):  # the very arrays training wrote
        before, after = load_aux(trained / "0.7" / str(trial)), load_aux(again / "0.7" / str(trial))
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_array_equal(after[key], before[key], err_msg=f"trial {trial} {key}")
    (matrix, full), (matrix_again, full_again) = (estimates(w, tmp_path / f"est_{w.name}", "digits")
                                                  for w in (trained, again))
    assert matrix.keys() == matrix_again.keys()
    for key in matrix:
        np.testing.assert_array_equal(matrix_again[key], matrix[key], err_msg=key)
    np.testing.assert_array_equal(full_again, full)
    assert np.abs(full).max() > 0.2  # some influence to compare

    # New points: 50 test images in another order, only x_test and y_test in the file.
    pick = np.random.RandomState(0).permutation(digits.num_test)[:50]
    images = pipeline.in_memory_split(digits, "test")["image"].numpy()[pick]
    points = tmp_path / "points.npz"
    np.savez(points, x_test=images, y_test=digits.test_labels[pick])
    on_points = tmp_path / "on_points"
    result = program.invoke(reevaluate_main.define_flags, reevaluate_main.main, f"--runs={trained}",
                            "--dataset=digits", f"--points=npz:{points}", f"--workdir={on_points}", "--trials=0-7")
    assert result.returncode == 0, result.stderr
    matrix_points, full_points = estimates(on_points, tmp_path / "est_points", "points")
    np.testing.assert_array_equal(matrix_points["tt_labels"], digits.test_labels[pick])
    np.testing.assert_array_equal(matrix_points["tr_mem"], matrix["tr_mem"])
    np.testing.assert_array_equal(full_points, full[:, pick])  # point j is test example pick[j]

    # --strategy=mirrored over two devices: each batch split, the same predictions.
    mirrored = tmp_path / "mirrored"
    proc = finish(start_with_devices(2, "influence_mem.reevaluate.main:run", f"--runs={trained}", "--dataset=digits",
                                     "--points=digits", f"--workdir={mirrored}", "--strategy=mirrored", "--trials=0-1",
                                     "--eval_batch_size=64"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 runs evaluated" in proc.stderr
    for trial in (0, 1):
        np.testing.assert_array_equal(load_aux(mirrored / "0.7" / str(trial))["correctness_test"],
                                      load_aux(again / "0.7" / str(trial))["correctness_test"])
