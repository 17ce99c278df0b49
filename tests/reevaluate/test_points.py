"""reevaluate.points: the new points are a dataset's test split; an npz needs only x_test and y_test; points
without labels, of another shape or with a class the runs do not know are refused in one line."""
import numpy as np
import pytest

from influence_mem.data import pipeline
from influence_mem.reevaluate.points import PointsError, load_points


def test_an_npz_with_only_test_arrays_is_enough(digits, tmp_path):
    x = (digits.x_test[:7] * 255).astype(np.uint8) if digits.x_test.dtype != np.uint8 else digits.x_test[:7]
    path = tmp_path / "mine.npz"
    np.savez(path, x_test=x[..., 0], y_test=digits.test_labels[:7].reshape(-1, 1))  # no channel, a label column
    points = load_points(f"npz:{path}", digits)
    assert points.name == "mine" and points.num_test == 7 and points.image_shape == digits.image_shape
    batch = next(iter(pipeline.eval_pipeline(points, "test", 100)))
    np.testing.assert_array_equal(batch["index"].numpy(), np.arange(7))
    np.testing.assert_array_equal(batch["label"].numpy(), digits.test_labels[:7])
    np.testing.assert_allclose(batch["image"].numpy(), x / 255.0, rtol=1e-6)  # the trainer's pixel / 255


def test_a_whole_dataset_gives_its_test_split(digits):
    points = load_points("digits", digits)
    np.testing.assert_array_equal(points.test_labels, digits.test_labels)


@pytest.mark.parametrize("arrays,message", [
    ({"x_test": np.zeros((3, 8, 8), np.uint8)}, r"no y_test: the new points need labels"),
    ({"x_test": np.zeros((3, 8, 8), np.uint8), "y_test": np.array([1, -1, -1])},
     r"2 points have no label \(negative\); the new points need labels"),
    ({"y_test": np.array([1, 2])}, r"no x_test"),
    ({"x_test": np.zeros((3, 9, 8), np.uint8), "y_test": np.array([1, 2, 3])},
     r"images of shape \(9, 8, 1\), but the runs were trained on \(8, 8, 1\) images \(digits\)"),
    ({"x_test": np.zeros((3, 8, 8), np.uint8), "y_test": np.array([1, 2, 10])}, r"label 10 is outside \[0, 10\)"),
    ({"x_test": np.full((2, 8, 8), np.nan, np.float32), "y_test": np.array([1, 2])}, r"non-finite"),
])
def test_bad_points_are_one_line_naming_the_flag(digits, tmp_path, arrays, message):
    path = tmp_path / "p.npz"
    np.savez(path, **arrays)
    with pytest.raises(PointsError, match=message) as error:
        load_points(f"npz:{path}", digits)
    assert str(error.value).startswith(f"--points=npz:{path}: ") and "\n" not in str(error.value)


def test_a_missing_file_or_unknown_name(digits, tmp_path):
    with pytest.raises(PointsError, match=r"--points=npz:.*nothing.npz: no such file"):
        load_points(f"npz:{tmp_path / 'nothing.npz'}", digits)
    with pytest.raises(PointsError, match="--points=nonsense: unknown dataset"):
        load_points("nonsense", digits)
