"""Grading submitted notebooks: each in a fresh kernel, on a copy, with a time limit per cell
and one for the whole notebook.

For one submission the grader:

1. copies the notebook into a temporary folder (the submission is never opened for
   writing) and starts a kernel of the current Python there;
2. runs the learner's code cells one at a time, each with the time limit. Check cells
   (tagged ``bpkit-check``, or holding nothing but a call of ``check(...)``) are skipped. A
   cell that raises is recorded and the next one runs. A cell that runs past the limit is
   interrupted (the kernel is restarted when the interrupt does not stop it). A cell that
   kills the kernel is recorded; a fresh kernel re-runs the cells before it and goes on
   without it. Once the notebook's own limit is used up (the time its cells and checks
   have run), the remaining cells are not run (``not-run``);
3. runs every check registered for the exercise itself, in the same kernel, and reads the
   results from a file it chose (a side channel): outputs in the notebook, deleted or
   edited check cells change nothing;
4. explains what could not be checked: a check needing a name that is defined in a cell
   that raised gets ``error``, in a cell that timed out ``timeout``, in a cell that killed
   the kernel ``not-run``, each with a message naming the cell. A check needing a name
   known to hang (defined in a cell that timed out, or whose code a cell or an earlier
   check was running when it timed out) is ``timeout`` at once, without waiting again,
   and so is every check once the notebook's limit is used up;
5. records every cell that did not run to its end (``error``, ``timeout``,
   ``kernel-died``, ``not-run``) with how long it ran, in `NotebookGrade.cells`.

What it does not protect against: the learner's code runs with your rights, so grade
untrusted submissions in a container or VM; and the checks run in the learner's kernel,
where determined code can tamper with bpkit itself.

This module puts the parts together: `bpkit.grading._cells` reads the notebook's cells,
`bpkit.grading._running` drives the kernel and `bpkit.grading._reports` holds the results
and writes the reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bpkit.grading._cells import CHECK_TAG, defined_names, is_check_cell, notebook_exercise
from bpkit.grading._files import read_notebook
from bpkit.grading._reports import (
    CellOutcome,
    NotebookGrade,
    format_table,
    gradebook_csv,
    report_json,
    write_reports,
)
from bpkit.grading._running import Grader, GradingError
from bpkit.grading.registry import checks_for, load_checks

__all__ = [
    "CHECK_TAG",
    "NOTEBOOK_TIMEOUT_FACTOR",
    "CellOutcome",
    "GradingError",
    "NotebookGrade",
    "defined_names",
    "find_notebooks",
    "format_table",
    "grade_notebook",
    "grade_paths",
    "gradebook_csv",
    "is_check_cell",
    "notebook_exercise",
    "report_json",
    "write_reports",
]

#: The notebook's default limit, in multiples of the per-cell limit: ten cells' worth, so
#: a submission that hangs in a few places is still graded in full, and one that hangs
#: everywhere stops after ten waits, not one per cell and check.
NOTEBOOK_TIMEOUT_FACTOR = 10


def grade_notebook(
    path: str | Path,
    *,
    exercise: str | None = None,
    timeout: float = 60.0,
    checks: Sequence[str] = (),
    notebook_timeout: float | None = None,
) -> NotebookGrade:
    """Grade one submitted notebook in a fresh kernel on a copy (see the module docstring).

    ``exercise`` overrides the notebook's metadata; ``checks`` are files or modules of
    instructor checks (`load_checks`) loaded in the grader and in the kernel; ``timeout``
    is the limit, in seconds, for each cell and each check; ``notebook_timeout`` for all
    of them together (default ``NOTEBOOK_TIMEOUT_FACTOR * timeout``).
    """
    grader = _grader(Path(path), exercise, timeout, _load_sources(checks), notebook_timeout)
    return asyncio.run(grader.run())


def find_notebooks(paths: Sequence[str | Path]) -> list[Path]:
    """The notebooks named by ``paths``: files as given, folders searched recursively.

    ``.ipynb_checkpoints`` folders are skipped; each notebook appears once, in order.
    """
    found: dict[Path, Path] = {}
    for item in paths:
        item = Path(item)
        if item.is_dir():
            candidates = sorted(
                p
                for p in item.rglob("*.ipynb")
                if p.is_file() and ".ipynb_checkpoints" not in p.relative_to(item).parts
            )
        elif item.exists():
            candidates = [item]
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
        for p in candidates:
            found.setdefault(p.resolve(), p)
    return list(found.values())


def grade_paths(
    paths: Sequence[str | Path],
    *,
    exercise: str | None = None,
    timeout: float = 60.0,
    jobs: int = 1,
    checks: Sequence[str] = (),
    notebook_timeout: float | None = None,
) -> list[NotebookGrade]:
    """Grade every notebook under ``paths``, ``jobs`` at a time (each with its own kernel).

    Every notebook is read and its exercise looked up before any is run, so a bad file
    stops the run early (`NotebookReadError`, `UnknownExerciseError` or ValueError).
    """
    sources = _load_sources(checks)
    graders = [
        _grader(path, exercise, timeout, sources, notebook_timeout)
        for path in find_notebooks(paths)
    ]

    def run(grader: Grader) -> NotebookGrade:
        return asyncio.run(grader.run())

    if jobs <= 1 or len(graders) <= 1:
        return [run(g) for g in graders]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, graders))


def _load_sources(checks: Sequence[str]) -> list[str]:
    """The instructor's check files (as absolute paths) or modules, loaded in the grader."""
    sources = []
    for source in checks:
        path = Path(source).expanduser()
        sources.append(str(path.resolve()) if source.endswith(".py") or path.is_file()
                       else source)
        load_checks(sources[-1])
    return sources


def _grader(
    path: Path,
    exercise: str | None,
    timeout: float,
    sources: list[str],
    notebook_timeout: float | None,
) -> Grader:
    """The grader of one notebook, its exercise from ``exercise`` or else its metadata."""
    name = exercise or notebook_exercise(read_notebook(path))
    if name is None:
        raise ValueError(
            f"{path}: the notebook does not name its exercise (metadata['bpkit']['exercise']); "
            "pass --exercise"
        )
    limit = NOTEBOOK_TIMEOUT_FACTOR * timeout if notebook_timeout is None else notebook_timeout
    return Grader(path, str(path), name, checks_for(name), float(timeout), sources, float(limit))
