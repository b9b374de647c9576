"""Courses of hundreds: bpkit's exercises as an nbgrader course or as Otter-Grader assignments.

`bpkit grade` grades a folder of submissions on one machine. A course that runs nbgrader
(JupyterHub) or Otter-Grader (Gradescope) gets its exercises from here instead, graded by
the same checks:

- `export_nbgrader` writes ``COURSE/source/<exercise>/<exercise>.ipynb`` for each solution
  notebook, with nbgrader's cell metadata (``metadata["nbgrader"]``, schema 3): answer cells
  are autograded answers (``solution``), the given code is ``locked``, and each bpkit check
  cell becomes an autograder test cell (``grade``, with the points of its checks). A test
  cell calls `nbgrader_score`, which runs the registered checks of its part with the code
  `bpkit grade` runs (`bpkit.grading._kernel.run_bounded`), shows bpkit's card and returns
  the points earned as the cell's result: nbgrader's ``determine_grade`` reads a number
  there as partial credit. Nothing is written to stderr (which nbgrader scores as 0).
  ``COURSE/nbgrader_config.py`` is written beside them.
- `export_otter` writes ``OUT/<exercise>/<exercise>.ipynb``, an Otter master notebook: an
  ``# ASSIGNMENT CONFIG`` raw cell, one ``# BEGIN QUESTION`` block per bpkit check cell with
  its answer cells as solutions and one exception-based test per check (points from the
  check), each calling `otter_check`, which raises with bpkit's card when the check fails.

A check cell names its part, ``check("03_linear_layer", ["backward_input", "bias_grad"])``;
each check belongs to one part. A cell of ``check(exercise)`` with no part (the notebook's
last cell, usually) takes the checks no other cell names; when there are none it stays a
locked cell that shows the whole card and scores nothing.

The exporters read the solutions and write only the files named above (atomically); an
existing course or output folder is refused unless ``force=True``, and even then nothing
else in it (submissions, autograded copies, the gradebook) is touched.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpkit.grading._cells import is_check_cell, notebook_exercise
from bpkit.grading._files import atomic_write, notebook_text, read_notebook
from bpkit.grading._kernel import run_bounded
from bpkit.grading.feedback import Card
from bpkit.grading.registry import UnknownExerciseError, checks_for
from bpkit.grading.release import BEGIN_SOLUTION, CODE_STUB, END_SOLUTION

__all__ = [
    "CHECK_TIMEOUT",
    "ExportError",
    "Part",
    "export_nbgrader",
    "export_otter",
    "nbgrader_notebook",
    "nbgrader_score",
    "otter_check",
    "otter_notebook",
    "parts",
    "run_part",
]

#: Seconds each check may run the learner's code: `bpkit grade`'s default ``--timeout``.
CHECK_TIMEOUT = 60.0

NBGRADER_CONFIG = """\
# nbgrader's configuration of this course, written by `bpkit export nbgrader`.
c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.course_id = "bpkit"
# A bpkit test cell runs the checks of one part, each within {timeout:g} s (as `bpkit grade`
# does); this bounds the whole cell, and every other cell of a submission.
c.Execute.timeout = {cell_timeout}
"""


class ExportError(ValueError):
    """A solution notebook that cannot be exported, or a folder that cannot be written."""


@dataclass(frozen=True)
class Part:
    """The checks one check cell of a solution notebook stands for.

    ``index`` is the cell's position (from 0), ``ids`` the check ids in registration order
    (empty for a ``check(exercise)`` cell whose checks other cells name), ``each`` their
    points.
    """

    index: int
    cell_id: str
    ids: tuple[str, ...]
    each: tuple[float, ...]

    @property
    def points(self) -> float:
        """The points of the part: its checks' together."""
        return float(sum(self.each))


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _is_answer(cell: dict[str, Any]) -> bool:
    return any(line.strip() == BEGIN_SOLUTION for line in _source(cell).split("\n"))


def _literal(node: ast.AST | None, where: str) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        raise ExportError(
            f"{where}: check(...) is called with `{ast.unparse(node)}`; write the exercise "
            "and the check ids out (strings), so the exporter can read them"
        ) from None


def _check_calls(source: str, where: str, exercise: str) -> list[tuple[str, ...] | None]:
    """The parts named by the ``check(...)`` calls of a check cell (None: every check)."""
    calls: list[tuple[str, ...] | None] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "check":
            continue
        args = list(node.args) + [None] * 2
        keywords = {k.arg: k.value for k in node.keywords}
        named = _literal(args[0] or keywords.get("exercise"), where)
        part = _literal(args[1] or keywords.get("part"), where)
        if named != exercise:
            raise ExportError(
                f"{where}: check({named!r}, ...) is not a check of this notebook's exercise "
                f"{exercise!r}"
            )
        if part is None:
            calls.append(None)
        elif isinstance(part, str):
            calls.append((part,))
        elif isinstance(part, (list, tuple)) and all(isinstance(p, str) for p in part):
            calls.append(tuple(part))
        else:
            raise ExportError(
                f"{where}: the part of check({exercise!r}, ...) must be a check id or a list "
                "of them written out, so the exporter can read it"
            )
    return calls


def parts(nb: dict[str, Any], name: str = "notebook") -> tuple[str, list[Part]]:
    """The exercise of solution notebook ``nb`` and the `Part` of each of its check cells.

    Raises `ExportError` naming the notebook (``name``) and the cell when the notebook names
    no exercise with checks, has no check cell, a check cell names an unknown check or a
    check another cell names too, or a check is named by no cell.
    """
    exercise = notebook_exercise(nb)
    if exercise is None:
        raise ExportError(
            f"{name}: the notebook does not name its exercise (metadata['bpkit']['exercise'])"
        )
    try:
        checks = {c.id: c for c in checks_for(exercise)}
    except UnknownExerciseError as exc:
        raise ExportError(f"{name}: {exc}") from None
    cells = [(i, c) for i, c in enumerate(nb["cells"]) if is_check_cell(c)]
    if not cells:
        raise ExportError(
            f"{name}: no check cells (a code cell calling check({exercise!r}, "
            "...)); there is nothing to grade"
        )
    owner: dict[str, int] = {}
    named: dict[int, list[tuple[str, ...] | None]] = {}
    for index, cell in cells:
        where = f"{name}, cell {index + 1}"
        named[index] = _check_calls(_source(cell), where, exercise)
        for call in named[index]:
            for cid in call or ():
                if cid not in checks:
                    raise ExportError(
                        f"{where}: exercise {exercise!r} has no check {cid!r}; its checks "
                        "are: " + ", ".join(checks)
                    )
                if cid in owner and owner[cid] != index:
                    raise ExportError(
                        f"{where}: check {cid!r} is also named by cell {owner[cid] + 1}; "
                        "each check belongs to one check cell (one part), or nbgrader and "
                        "Otter would count its points twice"
                    )
                owner.setdefault(cid, index)
    for index, _cell in cells:  # `check(exercise)` takes what no other cell names
        if None in named[index]:
            for cid in checks:
                owner.setdefault(cid, index)
    unowned = [cid for cid in checks if cid not in owner]
    if unowned:
        raise ExportError(
            f"{name}: the checks {', '.join(unowned)} of {exercise!r} are in no check cell; "
            f"add a cell `check({exercise!r})` at the end so that every check is graded"
        )
    result = []
    for index, cell in cells:
        ids = tuple(cid for cid in checks if owner[cid] == index)
        each = tuple(checks[c].points for c in ids)
        result.append(Part(index, cell.get("id") or f"cell-{index + 1}", ids, each))
    return exercise, result


# -- in the grader's kernel ----------------------------------------------------------------------


def run_part(
    exercise: str,
    ids: tuple[str, ...] | list[str],
    namespace: dict[str, Any],
    timeout: float = CHECK_TIMEOUT,
) -> Card:
    """The `Card` of the checks ``ids`` of ``exercise`` run on ``namespace``.

    The checks are loaded afresh (as `bpkit grade` does, undoing replacements made by the
    learner's code) and each runs within ``timeout`` seconds through the grader's own
    `run_bounded`. What the learner's code writes to stderr meanwhile is shown on stdout:
    nbgrader scores a test cell that writes to stderr as 0, and `bpkit grade` ignores it.
    """
    checks = [c for c in checks_for(exercise, reload=True) if c.id in ids]
    unknown = sorted(set(ids) - {c.id for c in checks})
    if unknown:
        raise ValueError(f"exercise {exercise!r} has no check {unknown[0]!r}")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        results = [run_bounded(c, namespace, timeout, math.inf, math.inf, {}) for c in checks]
    if stderr.getvalue():
        print(f"(written to stderr while checking)\n{stderr.getvalue()}", end="")
    return Card(exercise, results)


def _user_namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("nbgrader_score runs in a notebook's kernel (IPython), not here")
    return shell.user_ns


def nbgrader_score(exercise: str, ids: list[str], timeout: float = CHECK_TIMEOUT) -> float:
    """Run the checks ``ids`` of ``exercise`` on the notebook's names, show the card, and
    return the points earned: an nbgrader test cell's result, read as partial credit."""
    from IPython.display import display

    card = run_part(exercise, ids, _user_namespace(), timeout)
    display(card)
    return card.score


def otter_check(
    env: dict[str, Any], exercise: str, check_id: str, timeout: float = CHECK_TIMEOUT
) -> None:
    """An Otter test case: run check ``check_id`` of ``exercise`` on ``env`` (the notebook's
    names); raise AssertionError with bpkit's card when it does not pass."""
    card = run_part(exercise, (check_id,), env, timeout)
    if not card.passed:
        raise AssertionError("\n" + str(card))


# -- writing the notebooks -----------------------------------------------------------------------


def _code(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _raw(source: str) -> dict[str, Any]:
    return {"cell_type": "raw", "metadata": {}, "source": source}


def _cleared(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``nb`` without outputs, execution counts, widget state or timestamps."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        cell["source"] = _source(cell)
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def _nbgrader_meta(
    grade_id: str,
    *,
    solution: bool = False,
    grade: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
    }
    if points is not None:
        meta["points"] = points
    return meta


def _nbgrader_test_source(exercise: str, part: Part) -> str:
    return (
        f"# bpkit's checks {', '.join(part.ids)} ({part.points:g} points); this cell's\n"
        "# result is the points they earn (nbgrader's partial credit).\n"
        "from bpkit.grading.export import nbgrader_score\n"
        f"nbgrader_score({exercise!r}, {list(part.ids)!r})"
    )


def nbgrader_notebook(nb: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """nbgrader's source notebook of solution notebook ``nb`` (a new notebook)."""
    exercise, found = parts(nb, name)
    by_index = {p.index: p for p in found}
    out = _cleared(nb)
    for index, cell in enumerate(out["cells"]):
        grade_id = cell.get("id") or f"cell-{index + 1}"
        meta = cell.setdefault("metadata", {})
        if cell["cell_type"] != "code":
            if _is_answer(cell):
                raise ExportError(
                    f"{name}, cell {index + 1}: a {cell['cell_type']} cell with an answer; "
                    "bpkit's checks grade code, so nbgrader could only grade it by hand"
                )
            continue
        part = by_index.get(index)
        if part is not None and part.ids:
            cell["source"] = _nbgrader_test_source(exercise, part)
            meta["nbgrader"] = _nbgrader_meta(grade_id, grade=True, locked=True, points=part.points)
        elif _is_answer(cell):
            meta["nbgrader"] = _nbgrader_meta(grade_id, solution=True)
        else:
            meta["nbgrader"] = _nbgrader_meta(grade_id, locked=True)
    return out


def _otter_config(exercise: str) -> str:
    return (
        "# ASSIGNMENT CONFIG\n"
        f"name: {exercise}\n"
        "init_cell: true\n"
        "check_all_cell: false\n"
        "export_cell: false\n"
        "run_tests: false\n"
        "generate: true\n"
        "tests:\n"
        "  files: false\n"
        "  ok_format: false\n"
    )


def _otter_question(part: Part, used: set[str]) -> str:
    name = part.cell_id.removeprefix("check-").replace("-", "_")
    if not name.isidentifier() or name in used:
        name = f"part_{part.index + 1}"
    used.add(name)
    points = ", ".join(f"{p:g}" for p in part.each)
    return f"# BEGIN QUESTION\nname: {name}\npoints: [{points}]\n"


def _otter_answer(source: str) -> str:
    """An answer cell in Otter's markers, whose student copy is bpkit's.

    Each region becomes ``# BEGIN SOLUTION NO PROMPT`` ... ``# END SOLUTION`` followed by
    bpkit's stub in Otter's prompt block (a string in the solution, so it does nothing
    there; code in the student copy): the untouched copy raises NotImplementedError, is
    "not attempted" and scores what `bpkit grade` gives bpkit's copy.
    """
    lines = []
    for line in source.split("\n"):
        marker, indent = line.strip(), line[: len(line) - len(line.lstrip())]
        if marker == BEGIN_SOLUTION:
            lines.append(f"{indent}# BEGIN SOLUTION NO PROMPT")
        elif marker == END_SOLUTION:
            lines += [f"{indent}# END SOLUTION", f'{indent}""" # BEGIN PROMPT']
            lines += [indent + stub for stub in CODE_STUB]
            lines.append(f'{indent}""" # END PROMPT')
        else:
            lines.append(line)
    return "\n".join(lines)


def _otter_test(exercise: str, check_id: str) -> str:
    return (
        f"def test_{check_id}(env):\n"
        "    from bpkit.grading.export import otter_check\n"
        f"    otter_check(env, {exercise!r}, {check_id!r})\n"
    )


def otter_notebook(nb: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """The Otter master notebook of solution notebook ``nb`` (a new notebook).

    Each check cell with checks becomes a question block holding the answer cells since
    the previous one (as solutions), the cells between them as they are, and one test per
    check; Otter puts a ``grader.check(...)`` cell in the check cell's place.
    """
    exercise, found = parts(nb, name)
    by_index = {p.index: p for p in found}
    source = _cleared(nb)
    cells: list[dict[str, Any]] = [_raw(_otter_config(exercise))]
    used: set[str] = set()
    question_at: int | None = None  # where the open question's BEGIN QUESTION goes
    for index, cell in enumerate(source["cells"]):
        part = by_index.get(index)
        if part is not None and part.ids:
            if question_at is None:
                question_at = len(cells)
            cells.insert(question_at, _raw(_otter_question(part, used)))
            cells.append(_raw("# BEGIN TESTS"))
            cells += [_code(_otter_test(exercise, cid)) for cid in part.ids]
            cells += [_raw("# END TESTS"), _raw("# END QUESTION")]
            question_at = None
        elif _is_answer(cell):
            if cell["cell_type"] != "code":
                raise ExportError(
                    f"{name}, cell {index + 1}: a {cell['cell_type']} cell with an answer; "
                    "bpkit's checks grade code, so Otter could only grade it by hand"
                )
            if question_at is None:
                question_at = len(cells)
            answer = dict(cell, source=_otter_answer(cell["source"]))
            cells += [_raw("# BEGIN SOLUTION"), answer, _raw("# END SOLUTION")]
        else:
            cells.append(cell)
    if question_at is not None:
        raise ExportError(f"{name}: answer cells after the last check cell; no check grades them")
    if source.get("nbformat_minor", 0) >= 5:  # cell ids, unique and the same at every export
        for number, cell in enumerate(cells):
            cell.setdefault("id", f"otter-{number}")
    return dict(source, cells=cells)


# -- folders -------------------------------------------------------------------------------------


def _solutions(solutions: Path) -> list[Path]:
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder not found: {solutions}")
    found = sorted(p for p in solutions.glob("*.ipynb") if p.is_file())
    if not found:
        raise ExportError(f"no solution notebooks (*.ipynb) in {solutions}")
    return found


def _target(solutions: Path, out: Path, what: str, force: bool) -> None:
    root = solutions.resolve()
    target = out.resolve()
    if target == root or root in target.parents:
        raise ExportError(
            f"the {what} folder {out} is inside the solutions folder {solutions}: the "
            "solutions would be mixed with what graders and students see"
        )
    if target in root.parents:
        raise ExportError(f"the {what} folder {out} holds the solutions folder {solutions}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"the {what} folder {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(
            f"the {what} folder {out} exists; pass --force to rewrite the files the export "
            "writes (nothing else in it is touched)"
        )


def _write_all(files: dict[Path, str]) -> list[Path]:
    for path in files:
        if path.is_dir():
            raise ExportError(f"cannot write {path}: it is a folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    return list(files)


def export_nbgrader(
    solutions: str | Path, course: str | Path, *, force: bool = False
) -> list[Path]:
    """Write an nbgrader course from the solution notebooks in ``solutions``; returns the
    files written (``course/source/<exercise>/<exercise>.ipynb`` and
    ``course/nbgrader_config.py``). Every notebook is read and converted before anything is
    written, so a bad one leaves the course as it was."""
    solutions, course = Path(solutions), Path(course)
    sources = _solutions(solutions)
    _target(solutions, course, "course", force)
    files: dict[Path, str] = {}
    for path in sources:
        nb = nbgrader_notebook(read_notebook(path), str(path))
        files[course / "source" / path.stem / path.name] = notebook_text(nb)
    cell_timeout = int(CHECK_TIMEOUT * 10)
    files[course / "nbgrader_config.py"] = NBGRADER_CONFIG.format(
        timeout=CHECK_TIMEOUT, cell_timeout=cell_timeout
    )
    return _write_all(files)


def export_otter(solutions: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write an Otter master notebook ``out/<exercise>/<exercise>.ipynb`` for each solution
    notebook in ``solutions``; returns the files written. Every notebook is converted
    before anything is written."""
    solutions, out = Path(solutions), Path(out)
    sources = _solutions(solutions)
    _target(solutions, out, "output", force)
    files = {
        out / path.stem / path.name: notebook_text(otter_notebook(read_notebook(path), str(path)))
        for path in sources
    }
    return _write_all(files)
