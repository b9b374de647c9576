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


# -- module boundaries ----------------------------------------------------------------------------

# Attributes Python gives every module; reading them is not reaching into a module's privates.
_MODULE_ATTRIBUTES = {"__all__", "__dict__", "__doc__", "__file__", "__loader__", "__name__",
                      "__package__", "__path__", "__spec__"}


def _bpkit_modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    modules = {}
    for path in sorted((ROOT / "bpkit").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _private(name: str, source: str) -> bool:
    """True for a name private to the module ``source`` it comes from.

    A leading underscore makes a name private, dunders included (``__version__`` has one
    home, ``bpkit._version``), except the attributes every module has."""
    if name in _MODULE_ATTRIBUTES or not name.startswith("_"):
        return False
    return not (source == "bpkit._version" and name == "__version__")


def _private_uses(module: str, source: str, where: str, modules: set[str]) -> list[str]:
    """``where:line: what`` for each private name of another bpkit module that ``module``
    (whose code is ``source``) imports, or reads as an attribute of that module."""
    import ast

    tree = ast.parse(source, filename=where)
    package = module if where.endswith("__init__.py") else module.rpartition(".")[0]
    bound: dict[str, str] = {}  # local name -> the bpkit module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bpkit":
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound["bpkit"] = "bpkit"
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            if origin.split(".")[0] != "bpkit":
                continue
            for alias in node.names:
                if f"{origin}.{alias.name}" in modules:  # a module, private or not, is fine
                    bound[alias.asname or alias.name] = f"{origin}.{alias.name}"
                elif origin != module and _private(alias.name, origin):
                    found.append(f"{where}:{node.lineno}: from {origin} import {alias.name}")

    def module_of(expr: ast.AST) -> str | None:
        if isinstance(expr, ast.Name):
            return bound.get(expr.id)
        if isinstance(expr, ast.Attribute):
            outer = module_of(expr.value)
            if outer is not None and f"{outer}.{expr.attr}" in modules:
                return f"{outer}.{expr.attr}"
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = module_of(node.value)
            if owner is not None and owner != module and f"{owner}.{node.attr}" not in modules \
                    and _private(node.attr, owner):
                found.append(f"{where}:{node.lineno}: {owner}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    # Shared helpers live in the module that owns them, under a public name (a private
    # *module* such as bpkit._checks is fine to import; its underscored names are not).
    modules = _bpkit_modules()
    found = [
        use
        for name, path in modules.items()
        for use in _private_uses(name, path.read_text(encoding="utf-8"),
                                 path.relative_to(ROOT).as_posix(), set(modules))
    ]
    assert not found, "private names used across modules:\n" + "\n".join(sorted(found))


def test_the_boundary_check_catches_private_imports_and_attributes():
    code = (
        "import bpkit\n"
        "import bpkit.grading._kernel as grader\n"
        "from bpkit import _checks, plot\n"
        "from bpkit.plot import _graph_values\n"
        "from bpkit import __version__\n"
        "from bpkit._version import __version__\n"
        "from bpkit._checks import paired\n"
        "from .derivative import _decades, decades\n"
        "from ._bad import _own\n"
        "x = _checks._number(1, 'x', 'f'), grader.run_checks_to_file, grader._call_cell\n"
        "y = bpkit.plot._fmt(1.0), bpkit.grading._kernel, bpkit.widgets._app\n"
        "z = plot.__name__, bpkit.__version__, _checks.paired, plot.draw_graph\n"
    )
    modules = {"bpkit", "bpkit._checks", "bpkit._version", "bpkit.plot", "bpkit.grading",
               "bpkit.grading._kernel", "bpkit.widgets", "bpkit.widgets._app",
               "bpkit.widgets.derivative", "bpkit.widgets._bad"}
    found = _private_uses("bpkit.widgets._bad", code, "bad.py", modules)
    assert sorted(found) == sorted([
        "bad.py:4: from bpkit.plot import _graph_values",
        "bad.py:5: from bpkit import __version__",
        "bad.py:8: from bpkit.widgets.derivative import _decades",
        "bad.py:10: bpkit._checks._number",
        "bad.py:10: bpkit.grading._kernel._call_cell",
        "bad.py:11: bpkit.plot._fmt",
        "bad.py:12: bpkit.__version__",
    ])
