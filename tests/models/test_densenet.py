"""models.densenet: DenseNet-BC-100 against Huang et al. Table 2."""
import pytest
import numpy as np

from influence_mem import models


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.slow
def test_densenet100_matches_huang_table2():
    # Huang et al. 2017 Table 2: DenseNet-BC (L=100, k=12) has 0.8M parameters (CIFAR).
    params = trainable_count(models.build("densenet100", (32, 32, 3), 10))
    assert round(params / 1e6, 1) == 0.8
    assert params == 769_162  # the exact count docs/architectures.md gives
