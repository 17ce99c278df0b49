"""docs/quickstart.ipynb runs end to end (train packs, aggregate, explore, figures) in a fresh kernel."""
import os
import time

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("QUICKSTART_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(REPO / "docs" / "quickstart.ipynb", as_version=4)
    started = time.time()
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.time() - started
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "every figure cell shows its figure"
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "InflMatrix(1437 train x 360 test examples" in text
    assert (tmp_path / "work" / "estimates" / "digits_infl_matrix.npz").is_file()
    assert elapsed < 300, f"the quickstart took {elapsed:.0f}s"
