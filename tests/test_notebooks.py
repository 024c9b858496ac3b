"""The notebooks run top to bottom with small settings (IVIDR_NOTEBOOK_SMALL=1)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "ividr-test-venv"


@pytest.fixture()
def venv_kernel(tmp_path, monkeypatch):
    """A kernel spec that runs this very interpreter (the venv's), whatever else is installed."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ividr test (venv)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IVIDR_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("IVIDR_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return KERNEL


@pytest.mark.parametrize(
    "name", ["latent_space.ipynb", "mcc_sweep.ipynb", "score_your_model.ipynb"]
)
@pytest.mark.slow
def test_notebook_runs(name, venv_kernel, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs (regenerate with notebooks/make_notebooks.py)"
    )
    client = nbclient.NotebookClient(
        nb,
        kernel_name=venv_kernel,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert os.listdir(tmp_path / "out")  # the notebook wrote its figures there
