"""What pytest needs to know before it runs the notebooks (the tests' fixtures are in tests/).

Notebook 12 compares bpkit with PyTorch. Its stored outputs, which nbval checks, come from a
run with PyTorch installed; without PyTorch the notebook prints "skipped" instead, so its
cells are skipped here, with the reason. `tests/test_notebook_12_without_torch.py` runs the
notebook without PyTorch and checks that it still runs to the end and says why.
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_TORCH = {"12_bridge_to_pytorch.ipynb"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(
        reason="PyTorch is not installed: this notebook's stored outputs come from a run "
        "with PyTorch (pip install torch, or see tests/test_notebook_12_without_torch.py)"
    )
    for item in items:
        if item.path.name in NEEDS_TORCH:
            item.add_marker(skip)
