"""reevaluate.evaluate: agreement counts ids whose correctness matches, whatever order each side lists them
in (the authors' demo.py check), and correct_on is the trainer's evaluation."""
import keras
import numpy as np

from influence_mem.data import pipeline
from influence_mem.reevaluate.evaluate import agreement, correct_on
from influence_mem.train import recipe


def test_agreement_against_a_brute_force_count():
    rng = np.random.RandomState(0)
    n = 50
    stored_index, index = rng.permutation(n), rng.permutation(n)
    truth = rng.rand(n) < 0.5                       # by id
    flipped = np.zeros(n, bool)
    flipped[[3, 17, 40]] = True
    found = agreement(stored_index, truth[stored_index], index, (truth ^ flipped)[index])
    assert found == {"agree": n - 3, "total": n, "agreement": (n - 3) / n}
    assert agreement(stored_index, truth[stored_index], index, truth[index])["agreement"] == 1.0


def test_correct_on_is_the_trainers_prediction(digits):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(digits.image_shape), keras.layers.Flatten(), keras.layers.Dense(10)])
    index, correct = correct_on(model, digits, "test", 100)
    expected_index, expected = recipe.predict_correct(model, pipeline.eval_pipeline(digits, "test", 100))
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_array_equal(correct, expected)
    logits = model(pipeline.in_memory_split(digits, "test")["image"]).numpy()
    np.testing.assert_array_equal(correct[np.argsort(index)], logits.argmax(1) == digits.test_labels)
