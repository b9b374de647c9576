"""Student copies: one solution notebook in, one exercise notebook out.

In a solution notebook the answers sit between nbgrader's markers::

    def forward(self, x):
        ### BEGIN SOLUTION
        return x @ self.weight.T + self.bias
        ### END SOLUTION

`release_notebook` replaces each marked region of a code cell by ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` at the marker's indentation, and each marked region of a
markdown cell by ``YOUR ANSWER HERE``. Outputs, execution counts, widget state and
execution timestamps are cleared. The written file is byte-stable (same solution, same
bytes), so ``bpkit release --check`` can compare committed copies exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpkit.grading._files import atomic_write, notebook_text, read_notebook

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "ReleaseError",
    "ReleaseReport",
    "release_folder",
    "release_notebook",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = ("YOUR ANSWER HERE",)


class ReleaseError(ValueError):
    """A solution notebook whose markers do not pair up, or folders it cannot go into."""


def _strip_solutions(source: str, stub: tuple[str, ...], where: str) -> str:
    """``source`` with every marked region replaced by ``stub`` at the marker's indentation."""
    out: list[str] = []
    begin_line = 0
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if begin_line:
                raise ReleaseError(
                    f"{where}: line {number} opens '{BEGIN_SOLUTION}' inside the region opened "
                    f"at line {begin_line}"
                )
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + s for s in stub]
        elif marker == END_SOLUTION:
            if not begin_line:
                raise ReleaseError(
                    f"{where}: line {number} has '{END_SOLUTION}' without a '{BEGIN_SOLUTION}'"
                )
            begin_line = 0
        elif not begin_line:
            out.append(line)
    if begin_line:
        raise ReleaseError(
            f"{where}: the '{BEGIN_SOLUTION}' at line {begin_line} has no '{END_SOLUTION}'"
        )
    return "\n".join(out)


def release_notebook(nb: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """The student copy of solution notebook ``nb`` (a new notebook; ``nb`` is unchanged).

    ``nb`` is a notebook dict (as `json.load` or ``nbformat.read`` give). ``name`` is used
    in error messages (`ReleaseError` names the cell and the line).
    """
    student = copy.deepcopy(nb)
    student.get("metadata", {}).pop("widgets", None)
    with_ids = student.get("nbformat", 4) == 4 and student.get("nbformat_minor", 0) >= 5
    for index, cell in enumerate(student["cells"], start=1):
        where = f"{name}, cell {index}"
        source = cell.get("source", "")
        source = source if isinstance(source, str) else "".join(source)
        if cell["cell_type"] == "code":
            cell["source"] = _strip_solutions(source, CODE_STUB, where)
            cell["outputs"] = []
            cell["execution_count"] = None
        elif cell["cell_type"] == "markdown":
            cell["source"] = _strip_solutions(source, ANSWER_STUB, where)
        cell.get("metadata", {}).pop("execution", None)
        if with_ids and not cell.get("id"):
            cell["id"] = f"cell-{index}"
    return student


@dataclass
class ReleaseReport:
    """What `release_folder` wrote or found, by exercise file path."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    extra: list[Path] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        """True when no committed copy is stale or missing and none is extra."""
        return not (self.stale or self.missing or self.extra)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def release_folder(
    solutions: str | Path, exercises: str | Path, check: bool = False
) -> ReleaseReport:
    """Write the student copy of every ``solutions/*.ipynb`` into ``exercises/``.

    With ``check=True`` nothing is written: the report lists the copies that differ from
    what would be written (``stale``), are not there (``missing``) or have no solution
    (``extra``). Without it, copies are written atomically and only when they change; extra
    notebooks are listed, never deleted.
    """
    solutions, exercises = Path(solutions), Path(exercises)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder not found: {solutions}")
    if exercises.resolve() == solutions.resolve():
        raise ReleaseError(
            f"the exercises folder {exercises} is the solutions folder: the student copies "
            "would overwrite the solutions"
        )
    if exercises.exists() and not exercises.is_dir():
        raise ReleaseError(f"the exercises folder {exercises} is a file, not a folder")
    if not check:
        exercises.mkdir(parents=True, exist_ok=True)
    elif not exercises.is_dir():
        raise FileNotFoundError(f"exercises folder not found: {exercises}")
    report = ReleaseReport()
    sources = _notebooks(solutions)
    # Every solution is read and stripped before anything is written: a bad one stops the
    # release with no copy half-refreshed.
    texts = [notebook_text(release_notebook(read_notebook(s), str(s))) for s in sources]
    for target in (exercises / s.name for s in sources):
        if target.is_dir():
            raise ReleaseError(f"cannot write the student copy {target}: it is a folder")
    for source, text in zip(sources, texts, strict=True):
        target = exercises / source.name
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            report.unchanged.append(target)
        elif check:
            (report.stale if current is not None else report.missing).append(target)
        else:
            atomic_write(target, text)
            report.written.append(target)
    names = {s.name for s in sources}
    report.extra = (
        [p for p in _notebooks(exercises) if p.name not in names] if exercises.is_dir() else []
    )
    return report
