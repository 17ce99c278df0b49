"""C-scores: an example never held out at a ratio scores 0 there (the authors' C-score example,
sum / max(count, tiny)); memorization keeps the 1/2 convention (paper 000 appendix A)."""
import numpy as np

from influence_mem import released
from influence_mem.estimate import simulate
from influence_mem.formats import trial as trial_format
from influence_mem.estimate.aggregator import aggregate_workdir


def test_never_held_out_scores_zero_and_mem_keeps_one_half(tmp_path):
    n, n_test = 6, 4
    work = tmp_path / "work"
    simulate.write_dataset_meta(work, np.arange(n) % 2, np.arange(n_test) % 2)
    correct_train = np.ones(n, bool)
    correct_test = np.ones(n_test, bool)
    # ratio 0.5: example 0 is in every trial (never held out); the others alternate
    masks = {0.5: [np.array([1, 1, 0, 1, 0, 0], bool), np.array([1, 0, 1, 0, 1, 0], bool)],
             0.7: [np.array([0, 1, 1, 0, 1, 1], bool), np.array([1, 0, 1, 1, 0, 1], bool),
                   np.array([1, 1, 0, 1, 1, 0], bool)]}  # int(6 * 0.7) = 4 examples each
    for ratio, trials in masks.items():
        for k, mask in enumerate(trials):
            simulate.write_trial(work / trial_format.format_ratio(ratio), k, mask, correct_train, correct_test)
    out = tmp_path / "est"
    aggregate_workdir(str(work), subset_ratio=0.5, name="s", output_dir=str(out), cscores=True)
    scores = released.load_cscores(out / released.cscores_filename("s")).scores
    # example 0: ratio 0.5 never held out -> 0; ratio 0.7 held out once, correct -> 1; mean 0.5
    assert scores[0] == 0.5
    np.testing.assert_array_equal(scores[1:], 1.0)
    mem = released.load_infl_matrix(out / released.infl_matrix_filename("s")).tr_mem
    assert mem[0] == np.float32(1.0 - 0.5)  # mem_in 1 minus the 1/2 of an empty held-out term
