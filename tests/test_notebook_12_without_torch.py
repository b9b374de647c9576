"""Notebook 12 runs cleanly to the end where PyTorch is not installed.

The stored outputs (checked by nbval) come from a run with PyTorch. Here the notebook runs in
a fresh kernel whose PYTHONPATH starts with a directory holding a ``torch.py`` that raises
ImportError, exactly what ``import torch`` does on a machine without PyTorch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed")

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "12_bridge_to_pytorch.ipynb"


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


def test_notebook_12_runs_without_torch(tmp_path, monkeypatch):
    shim = tmp_path / "no_torch"
    shim.mkdir()
    (shim / "torch.py").write_text(
        'raise ImportError("No module named \'torch\' (hidden by the test)")\n'
    )
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(shim) + (os.pathsep + old if old else ""))

    nb = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=False,  # any cell error fails the test, naming the cell
    )
    client.execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    first = _text(code[0])
    assert "PyTorch available: False" in first
    assert 'pip install "bpkit[torch]"' in first
    everything = "\n".join(_text(c) for c in code)
    assert "skipped: PyTorch not installed" in everything
    assert "PyTorch loss" not in everything  # no PyTorch cell ran
    errors = [out for c in code for out in c.get("outputs", []) if out.output_type == "error"]
    assert errors == []
