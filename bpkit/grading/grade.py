"""Grading submitted notebooks: each in a fresh kernel, on a copy, with a time limit per cell.

For one submission the grader:

1. copies the notebook into a temporary folder (the submission is never opened for
   writing) and starts a kernel of the current Python there;
2. runs the learner's code cells one at a time, each with the time limit. Check cells
   (tagged ``bpkit-check``, or holding nothing but a call of ``check(...)``) are skipped. A
   cell that raises is recorded and the next one runs. A cell that runs past the limit is
   interrupted (the kernel is restarted when the interrupt does not stop it). A cell that
   kills the kernel is recorded; a fresh kernel re-runs the cells before it and goes on
   without it;
3. runs every check registered for the exercise itself, in the same kernel, and reads the
   results from a file it chose (a side channel): outputs in the notebook, deleted or
   edited check cells change nothing;
4. explains what could not be checked: a check needing a name that is defined in a cell
   that raised gets ``error``, in a cell that timed out ``timeout``, in a cell that killed
   the kernel ``not-run``, each with a message naming the cell.

What it does not protect against: the learner's code runs with your rights, so grade
untrusted submissions in a container or VM; and the checks run in the learner's kernel,
where determined code can tamper with bpkit itself.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from bpkit.grading import _kernel
from bpkit.grading._files import atomic_write, read_notebook
from bpkit.grading.feedback import Card, CheckResult
from bpkit.grading.registry import Check, checks_for, load_checks

__all__ = [
    "CHECK_TAG",
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

CHECK_TAG = "bpkit-check"
_SETUP_TIMEOUT = 120.0  # loading bpkit and the checks in a fresh kernel
_INTERRUPT_GRACE = 3.0  # how long an interrupted cell gets to stop before a restart


class GradingError(RuntimeError):
    """Grading could not run at all (e.g. no kernel could be started)."""


# -- reading the notebook -----------------------------------------------------------------------


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


# -- results ------------------------------------------------------------------------------------


@dataclass
class CellOutcome:
    """What happened to one learner cell: ``ok``, ``error``, ``timeout`` or ``died``.

    ``index`` is the cell's 1-based position in the notebook; ``message`` says it in words.
    """

    index: int
    status: str
    message: str = ""
    ename: str = ""


@dataclass
class NotebookGrade:
    """The grade of one submission: every check's result, and what each cell did."""

    path: str
    exercise: str
    results: list[CheckResult]
    cells: list[CellOutcome] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Points earned."""
        return float(sum(r.points for r in self.results))

    @property
    def max_score(self) -> float:
        """Points available."""
        return float(sum(r.max_points for r in self.results))

    def card(self) -> Card:
        """The results as a feedback `Card`."""
        return Card(self.exercise, self.results)

    def to_json(self) -> dict[str, Any]:
        """``{"path", "score", "max_score", "checks": [{"id", "points", "max_points",
        "status", "message"}]}``."""
        return {
            "path": self.path,
            "score": _number(self.score),
            "max_score": _number(self.max_score),
            "checks": [
                {
                    "id": r.id,
                    "points": _number(r.points),
                    "max_points": _number(r.max_points),
                    "status": r.status,
                    "message": r.summary(),
                }
                for r in self.results
            ],
        }


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


# -- the kernel ---------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"Cell In\s?\[(\d+)\], line (\d+)")


class _CurrentPythonKernels(KernelSpecManager):
    """Kernel specs with one kernel: ipykernel on this very Python (``sys.executable``)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        from ipykernel.kernelspec import RESOURCES, get_kernel_dict

        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


class _Kernel:
    """One ipykernel process on the current Python, run from ``cwd``."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.km: Any = None
        self.kc: Any = None

    async def start(self) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.km = AsyncKernelManager(
            kernel_name="bpkit-current-python", kernel_spec_manager=_CurrentPythonKernels()
        )
        try:
            await self.km.start_kernel(
                cwd=str(self.cwd),
                env=env,
                extra_arguments=["--HistoryManager.hist_file=:memory:"],
                stdout=subprocess.DEVNULL,  # the learner's prints to the OS streams, and the
                stderr=subprocess.DEVNULL,  # kernel's own start-up notices, stay off the report
            )
            self.kc = self.km.client()
            self.kc.start_channels()
            await self.kc.wait_for_ready(timeout=_SETUP_TIMEOUT)
        except Exception as exc:
            await self.shutdown()
            raise GradingError(
                f"could not start a Python kernel ({sys.executable}): {exc}"
            ) from exc

    async def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            try:
                if await self.km.is_alive():
                    await self.km.shutdown_kernel(now=True)
                await self.km.cleanup_resources()
            except Exception:  # a dead or half-started kernel: nothing left to stop
                pass
            self.km = None

    async def _drain_iopub(self) -> None:
        while True:
            try:
                await self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                return

    async def _wait(self, msg_id: str, seconds: float) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", {}
            try:
                msg = await self.kc.get_shell_msg(timeout=min(0.25, remaining))
            except queue.Empty:
                await self._drain_iopub()
                if not await self.km.is_alive():
                    return "died", {}
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                content = msg["content"]
                return ("ok" if content.get("status") == "ok" else "error"), content

    async def run(self, code: str, seconds: float) -> tuple[str, dict[str, Any]]:
        """Run ``code``; ``("ok" | "error" | "timeout" | "died", execute_reply content)``.

        After a timeout the kernel is interrupted; ``"timeout"`` then comes with
        ``{"stopped": bool}`` telling whether the interrupt stopped the cell.
        """
        msg_id = self.kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        status, content = await self._wait(msg_id, seconds)
        await self._drain_iopub()
        if status != "timeout":
            return status, content
        try:
            await self.km.interrupt_kernel()
        except Exception:
            return "timeout", {"stopped": False}
        after, _ = await self._wait(msg_id, _INTERRUPT_GRACE)
        return "timeout", {"stopped": after in ("ok", "error")}


# -- grading one notebook -----------------------------------------------------------------------


def _first_line(source: str) -> str:
    for line in source.split("\n"):
        if line.strip():
            text = line.strip()
            return text if len(text) <= 50 else text[:47] + "..."
    return ""


@dataclass
class _Cell:
    index: int  # 1-based position in the notebook
    source: str
    names: set[str]

    @property
    def label(self) -> str:
        return f"cell {self.index} (`{_first_line(self.source)}`)"


def _error_message(content: dict[str, Any], counts: dict[int, _Cell]) -> str:
    """``ValueError: boom`` plus the learner's line from the IPython traceback, when found."""
    text = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".rstrip(": ")
    frames = _CELL_FRAME.findall(_ANSI.sub("", "\n".join(content.get("traceback", []))))
    if frames:
        count, line = (int(v) for v in frames[-1])
        cell = counts.get(count)
        if cell is not None:
            lines = cell.source.split("\n")
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            text += f" (cell {cell.index}, line {line}" + (f": `{code}`)" if code else ")")
    return text


class _Grader:
    """Runs one submission; see the module docstring for the steps."""

    def __init__(
        self,
        path: Path,
        display: str,
        exercise: str,
        checks: list[Check],
        timeout: float,
        sources: list[str],
    ) -> None:
        self.path, self.display, self.exercise = path, display, exercise
        self.checks, self.timeout, self.sources = checks, timeout, sources
        self.kernel: _Kernel | None = None
        self.counts: dict[int, _Cell] = {}  # execution count -> cell, in the last kernel

    async def run(self) -> NotebookGrade:
        with tempfile.TemporaryDirectory(prefix="bpkit-grade-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            copy = work / self.path.name
            shutil.copyfile(self.path, copy)
            nb = read_notebook(copy)
            cells = [
                _Cell(i, c["source"], defined_names(c["source"]))
                for i, c in enumerate(nb["cells"], start=1)
                if c["cell_type"] == "code" and c["source"].strip() and not is_check_cell(c)
            ]
            side_channel = Path(tmp) / "results.jsonl"
            try:  # whatever happens (even Ctrl-C), no kernel is left running
                outcomes = await self._run_cells(work, cells)
                status, content = await self._kernel().run(
                    _kernel.checks_cell(
                        self.exercise, str(side_channel), self.timeout, self.sources
                    ),
                    self.timeout * (len(self.checks) + 1) + 30,
                )
            finally:
                if self.kernel is not None:
                    await self.kernel.shutdown()
            events = self._read_events(side_channel)
        results = self._results(cells, outcomes, status, content, events)
        return NotebookGrade(
            self.display, self.exercise, results, sorted(outcomes.values(), key=lambda o: o.index)
        )

    def _kernel(self) -> _Kernel:
        assert self.kernel is not None
        return self.kernel

    async def _new_kernel(self, cwd: Path) -> None:
        """Replace ``self.kernel`` by a fresh kernel with the checks loaded."""
        if self.kernel is not None:
            await self.kernel.shutdown()
        self.kernel = _Kernel(cwd)
        await self.kernel.start()
        status, content = await self.kernel.run(_kernel.prepare_cell(self.sources), _SETUP_TIMEOUT)
        if status != "ok":
            detail = f"{content.get('ename')}: {content.get('evalue')}" if content else status
            raise GradingError(
                f"could not load the checks of {self.exercise!r} in the kernel: {detail}"
            )

    async def _run_cells(self, cwd: Path, cells: list[_Cell]) -> dict[int, CellOutcome]:
        outcomes: dict[int, CellOutcome] = {}
        skip: set[int] = set()
        counts: dict[int, _Cell] = {}  # execution count -> cell, to read tracebacks
        await self._new_kernel(cwd)
        pos = 0
        while pos < len(cells):
            cell = cells[pos]
            pos += 1
            if cell.index in skip:
                continue
            status, content = await self._kernel().run(cell.source, self.timeout)
            if "execution_count" in content:
                counts[content["execution_count"]] = cell
            if status == "ok":
                outcomes.setdefault(cell.index, CellOutcome(cell.index, "ok"))
            elif status == "error":
                message = _error_message(content, counts)
                outcome = CellOutcome(cell.index, "error", message, content.get("ename", ""))
                outcomes.setdefault(cell.index, outcome)
            else:
                if status == "timeout":
                    message = f"ran longer than the time limit of {self.timeout:g} s"
                else:
                    message = "stopped the kernel (it exited or crashed)"
                outcomes[cell.index] = CellOutcome(cell.index, status, message)
                skip.add(cell.index)
                if status == "died" or not content.get("stopped"):
                    # A fresh kernel re-runs the cells before this one and goes on without it.
                    await self._new_kernel(cwd)
                    counts = {}
                    pos = 0
        self.counts = counts
        return outcomes

    @staticmethod
    def _read_events(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a dying kernel
        return events

    def _cell_names(self, text: str) -> str:
        """``Cell In[7], line 2`` (the grader's execution count) as ``cell 11, line 2``."""

        def name(match: re.Match[str]) -> str:
            cell = self.counts.get(int(match.group(1)))
            return match.group(0) if cell is None else f"cell {cell.index}, line {match.group(2)}"

        return _CELL_FRAME.sub(name, text)

    def _blame(
        self, names: list[str], cells: list[_Cell], outcomes: dict[int, CellOutcome]
    ) -> tuple[str, str] | None:
        """(status, message) when a missing name is defined only in a cell that failed."""
        rank = {"died": "not-run", "timeout": "timeout", "error": "error"}
        for name in names:
            for cell in reversed(cells):
                outcome = outcomes.get(cell.index)
                if name not in cell.names or outcome is None or outcome.status not in rank:
                    continue
                if outcome.status == "error" and outcome.ename == "NotImplementedError":
                    continue  # the untouched stub: "not attempted" stays
                why = {
                    "died": "stopped the kernel (it exited or crashed)",
                    "timeout": f"ran longer than the time limit of {self.timeout:g} s",
                    "error": f"raised {outcome.message}",
                }[outcome.status]
                prefix = "not run: " if outcome.status == "died" else ""
                return rank[
                    outcome.status
                ], f"{prefix}`{name}` is defined in {cell.label}, which {why}"
        return None

    def _results(
        self,
        cells: list[_Cell],
        outcomes: dict[int, CellOutcome],
        status: str,
        content: dict[str, Any],
        events: list[dict[str, Any]],
    ) -> list[CheckResult]:
        recorded = {e["result"]["id"]: e for e in events if e.get("event") == "result"}
        started = {e["id"] for e in events if e.get("event") == "start"}
        if status == "died":
            cause = "the kernel died while the checks ran"
        elif status == "timeout":
            cause = "the checks ran out of time"
        elif status == "error":
            detail = f"{content.get('ename')}: {content.get('evalue')}"
            cause = f"the grader's checks could not run ({detail})"
        else:
            cause = "the check did not report a result"
        results = []
        for check in self.checks:
            base = {
                "id": check.id,
                "exercise": check.exercise,
                "points": 0.0,
                "max_points": check.points,
                "hint": check.hint,
                "title": check.title,
            }
            event = recorded.get(check.id)
            if event is not None:
                result = CheckResult.from_dict(event["result"])
                result.message = self._cell_names(result.message)
                result.max_points = check.points
                result.points = check.points if result.status == "passed" else 0.0
                if not result.attempted and event.get("missing"):
                    blame = self._blame(list(event["missing"]), cells, outcomes)
                    if blame is not None:
                        result.status, result.message = blame
                        result.attempted = True
                results.append(result)
            elif check.id in started:
                if status == "died":
                    message = "the kernel died while this check ran your code"
                    results.append(CheckResult(status="error", message=message, **base))
                else:
                    message = f"this check ran past its time limit ({cause})"
                    results.append(CheckResult(status="timeout", message=message, **base))
            else:
                results.append(CheckResult(status="not-run", message=f"not run: {cause}", **base))
        return results


def grade_notebook(
    path: str | Path,
    *,
    exercise: str | None = None,
    timeout: float = 60.0,
    checks: Sequence[str] = (),
) -> NotebookGrade:
    """Grade one submitted notebook in a fresh kernel on a copy (see the module docstring).

    ``exercise`` overrides the notebook's metadata; ``checks`` are files or modules of
    instructor checks (`load_checks`) loaded in the grader and in the kernel; ``timeout``
    is the limit, in seconds, for each cell and each check.
    """
    path = Path(path)
    sources = [_resolve_source(s) for s in checks]
    for source in sources:
        load_checks(source)
    nb = read_notebook(path)
    name = exercise or notebook_exercise(nb)
    if name is None:
        raise ValueError(
            f"{path}: the notebook does not name its exercise (metadata['bpkit']['exercise']); "
            "pass --exercise"
        )
    registered = checks_for(name)
    grader = _Grader(path, str(path), name, registered, float(timeout), sources)
    return asyncio.run(grader.run())


def _resolve_source(source: str) -> str:
    path = Path(source).expanduser()
    return str(path.resolve()) if source.endswith(".py") or path.is_file() else source


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
) -> list[NotebookGrade]:
    """Grade every notebook under ``paths``, ``jobs`` at a time (each with its own kernel).

    Every notebook is read and its exercise looked up before any is run, so a bad file
    stops the run early (`NotebookReadError`, `UnknownExerciseError` or ValueError).
    """
    sources = [_resolve_source(s) for s in checks]
    for source in sources:
        load_checks(source)
    notebooks = find_notebooks(paths)
    graders = []
    for path in notebooks:
        nb = read_notebook(path)
        name = exercise or notebook_exercise(nb)
        if name is None:
            raise ValueError(
                f"{path}: the notebook does not name its exercise "
                "(metadata['bpkit']['exercise']); pass --exercise"
            )
        graders.append(_Grader(path, str(path), name, checks_for(name), float(timeout), sources))

    def run(grader: _Grader) -> NotebookGrade:
        return asyncio.run(grader.run())

    if jobs <= 1 or len(graders) <= 1:
        return [run(g) for g in graders]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, graders))


# -- reports ------------------------------------------------------------------------------------

_SHORT = {
    "passed": "ok",
    "failed": "FAIL",
    "error": "ERROR",
    "timeout": "TIMEOUT",
    "not-run": "NOT-RUN",
}


def format_table(grades: Sequence[NotebookGrade]) -> str:
    """A plain-text table: notebook, score/max and each check's status."""
    rows = []
    for g in grades:
        statuses = " ".join(
            f"{r.id}:{'--' if r.label == 'not attempted' else _SHORT.get(r.status, r.status)}"
            for r in g.results
        )
        rows.append((g.path, f"{_number(g.score)}/{_number(g.max_score)}", statuses))
    head = ("notebook", "score", "checks")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}" for r in [head, *rows]]
    return "\n".join(lines)


def report_json(grades: Sequence[NotebookGrade]) -> str:
    """The JSON report: ``{"notebooks": [NotebookGrade.to_json(), ...]}``."""
    return json.dumps({"notebooks": [g.to_json() for g in grades]}, indent=2) + "\n"


def gradebook_csv(grades: Sequence[NotebookGrade]) -> str:
    """The gradebook: one row per submission, one column of points per check, total, max.

    Columns are check ids; when several exercises are graded together, ``exercise:id``.
    """
    several = len({g.exercise for g in grades}) > 1
    columns: list[str] = []
    for g in grades:
        for r in g.results:
            key = f"{g.exercise}:{r.id}" if several else r.id
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", *columns, "total", "max"])
    for g in grades:
        points = {
            (f"{g.exercise}:{r.id}" if several else r.id): _number(r.points) for r in g.results
        }
        writer.writerow(
            [g.path, *(points.get(c, "") for c in columns), _number(g.score), _number(g.max_score)]
        )
    return out.getvalue()


def write_reports(
    grades: Sequence[NotebookGrade],
    json_path: str | Path | None = None,
    csv_path: str | Path | None = None,
) -> None:
    """Write the JSON report and/or the CSV gradebook, each atomically."""
    if json_path is not None:
        atomic_write(json_path, report_json(grades))
    if csv_path is not None:
        atomic_write(csv_path, gradebook_csv(grades))
