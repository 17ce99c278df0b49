"""`saved_runs`: a small im-train workdir on digits whose trials kept their models (read-only: copy it to change it)."""
import pytest


@pytest.fixture(scope="session")
def saved_runs(tmp_path_factory, digits):
    from influence_mem.train.config import TrainConfig
    from influence_mem.train.run import run_trials

    workdir = tmp_path_factory.mktemp("saved_runs")
    run_trials(digits, TrainConfig(epochs=2, arch_options={"mlp_hidden": "32"}), [0, 1, 2], str(workdir),
               progress_bar=False)
    return workdir
