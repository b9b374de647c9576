"""The package surface: the public names, and the README's example running as written."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bpkit

ROOT = Path(__file__).resolve().parents[1]


def test_all_lists_every_public_name_once_and_each_resolves():
    assert len(set(bpkit.__all__)) == len(bpkit.__all__)
    for name in bpkit.__all__:
        assert getattr(bpkit, name) is not None, name


def test_the_code_passes_the_linter():
    # ruff's configuration (pyproject.toml) includes RUF022: every __all__ sorted isort-style.
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    result = subprocess.run(
        [ruff, "check", "bpkit", "tests", "benchmarks", "tools"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_example_runs_and_learns():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The engine in ten lines", 1)[1].split("```python", 1)[1]
    code = block.split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model, X, y = namespace["model"], namespace["X"], namespace["y"]
    accuracy = float(np.mean(model(X).argmax(axis=1) == y))
    assert namespace["loss"] < 0.3
    assert accuracy > 0.9
