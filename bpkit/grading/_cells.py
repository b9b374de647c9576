"""Reading a submitted notebook for `bpkit grade`: its exercise, its check cells and the
names each code cell defines (so a failed check can blame the cell that failed to define them).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHECK_TAG",
    "Cell",
    "defined_names",
    "is_check_cell",
    "learner_cells",
    "notebook_exercise",
]

CHECK_TAG = "bpkit-check"


def notebook_exercise(nb: dict[str, Any]) -> str | None:
    """The exercise id in the notebook's metadata (``metadata["bpkit"]["exercise"]``)."""
    meta = nb.get("metadata", {}).get("bpkit")
    if isinstance(meta, dict) and isinstance(meta.get("exercise"), str):
        return meta["exercise"]
    return None


def _parseable(source: str) -> str:
    """``source`` with IPython magics and shell escapes blanked out (line numbers kept)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")
    )


def _target_names(target: ast.AST, names: set[str]) -> None:
    if isinstance(target, ast.Name):
        names.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _target_names(element, names)
    elif isinstance(target, ast.Starred):
        _target_names(target.value, names)


def _statement_names(body: Sequence[ast.stmt], names: set[str]) -> None:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _target_names(target, names)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            _target_names(node.target, names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            _target_names(node.target, names)
            _statement_names(node.body + node.orelse, names)
        elif isinstance(node, (ast.While, ast.If)):
            _statement_names(node.body + node.orelse, names)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    _target_names(item.optional_vars, names)
            _statement_names(node.body, names)
        elif isinstance(node, ast.Try):
            _statement_names(node.body + node.orelse + node.finalbody, names)
            for handler in node.handlers:
                _statement_names(handler.body, names)


_DEF_RE = re.compile(
    r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*(?::[^=]*)?=[^=]", re.MULTILINE
)


def defined_names(source: str) -> set[str]:
    """The names a code cell defines at top level (defs, classes, assignments, imports).

    Parsed with `ast`; a cell that does not parse falls back to a text search for
    ``def name``, ``class name`` and ``name =`` at the start of a line.
    """
    try:
        tree = ast.parse(_parseable(source))
    except SyntaxError:
        return {a or b for a, b in _DEF_RE.findall(source)}
    names: set[str] = set()
    _statement_names(tree.body, names)
    return names


def _is_call_of(node: ast.AST | None, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def is_check_cell(cell: dict[str, Any]) -> bool:
    """True for a check cell: tagged ``bpkit-check``, or only bpkit imports, ``load_checks(...)``
    and at least one ``check(...)``."""
    if cell.get("cell_type") != "code":
        return False
    if CHECK_TAG in cell.get("metadata", {}).get("tags", []):
        return True
    try:
        tree = ast.parse(_parseable(cell["source"]))
    except SyntaxError:
        return False
    calls = 0
    for node in tree.body:
        if isinstance(node, ast.Import) and all(
            a.name.split(".")[0] == "bpkit" for a in node.names
        ):
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bpkit":
            continue
        if isinstance(node, (ast.Expr, ast.Assign)) and _is_call_of(node.value, "check"):
            calls += 1
            continue
        if isinstance(node, ast.Expr) and _is_call_of(node.value, "load_checks"):
            continue
        return False
    return calls > 0


def _first_line(source: str) -> str:
    for line in source.split("\n"):
        if line.strip():
            text = line.strip()
            return text if len(text) <= 50 else text[:47] + "..."
    return ""


@dataclass
class Cell:
    """A learner's code cell as the grader runs it: its place, its code, the names it defines."""

    index: int  # 1-based position in the notebook
    source: str
    names: set[str]

    @property
    def label(self) -> str:
        return f"cell {self.index} (`{_first_line(self.source)}`)"


def learner_cells(nb: dict[str, Any]) -> list[Cell]:
    """The notebook's code cells the grader runs: not empty, not check cells."""
    return [
        Cell(i, c["source"], defined_names(c["source"]))
        for i, c in enumerate(nb["cells"], start=1)
        if c["cell_type"] == "code" and c["source"].strip() and not is_check_cell(c)
    ]
