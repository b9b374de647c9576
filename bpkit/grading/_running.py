"""Running one submission for `bpkit grade`: a kernel of the current Python, driven with
`jupyter_client` one cell at a time (with a time limit, an interrupt and a restart), then
the exercise's checks in the same kernel, whose results come back through a file.

The steps are described in :mod:`bpkit.grading.grade`; `Grader` carries them out.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from bpkit.grading import _kernel
from bpkit.grading._cells import Cell, learner_cells
from bpkit.grading._files import read_notebook
from bpkit.grading._reports import CellOutcome, NotebookGrade
from bpkit.grading.feedback import CheckResult
from bpkit.grading.registry import Check

__all__ = ["Grader", "GradingError", "KernelProcess"]

_SETUP_TIMEOUT = 120.0  # loading bpkit and the checks in a fresh kernel
_INTERRUPT_GRACE = 3.0  # how long an interrupted cell gets to stop before a restart


class GradingError(RuntimeError):
    """Grading could not run at all (e.g. no kernel could be started)."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"Cell In\s?\[(\d+)\], line (\d+)")


class _CurrentPythonKernels(KernelSpecManager):
    """Kernel specs with one kernel: ipykernel on this very Python (``sys.executable``)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        from ipykernel.kernelspec import RESOURCES, get_kernel_dict

        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


class KernelProcess:
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
        ``{"stopped": bool, "traceback": [...]}`` telling whether the interrupt stopped the
        cell, and where it was (empty when it did not stop).
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
        after, reply = await self._wait(msg_id, _INTERRUPT_GRACE)
        return "timeout", {
            "stopped": after in ("ok", "error"),
            "traceback": reply.get("traceback", []),  # where the interrupt found the cell
        }


def _error_message(content: dict[str, Any], counts: dict[int, Cell]) -> str:
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


class Grader:
    """Runs one submission; see the module docstring for the steps.

    ``timeout`` limits each cell and each check; ``notebook_timeout`` the time the
    learner's cells and the checks run in all (kernel start-ups not counted).
    """

    def __init__(
        self,
        path: Path,
        display: str,
        exercise: str,
        checks: list[Check],
        timeout: float,
        sources: list[str],
        notebook_timeout: float = math.inf,
    ) -> None:
        self.path, self.display, self.exercise = path, display, exercise
        self.checks, self.timeout, self.sources = checks, timeout, sources
        self.notebook_timeout = notebook_timeout
        self.kernel: KernelProcess | None = None
        self.counts: dict[int, Cell] = {}  # execution count -> cell, in the last kernel
        self.spent = 0.0  # seconds the learner's cells have run
        self.hung: dict[str, str] = {}  # name known to hang -> the sentence saying where

    async def run(self) -> NotebookGrade:
        with tempfile.TemporaryDirectory(prefix="bpkit-grade-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            copy = work / self.path.name
            shutil.copyfile(self.path, copy)
            nb = read_notebook(copy)
            cells = learner_cells(nb)
            side_channel = Path(tmp) / "results.jsonl"
            try:  # whatever happens (even Ctrl-C), no kernel is left running
                outcomes = await self._run_cells(work, cells)
                left = max(self.notebook_timeout - self.spent, 0.0)  # for the checks
                status, content = await self._kernel().run(
                    _kernel.checks_cell(
                        self.exercise,
                        str(side_channel),
                        self.timeout,
                        self.sources,
                        self.notebook_timeout,
                        self.spent,
                        self.hung,
                    ),
                    min(self.timeout * (len(self.checks) + 1), left) + 30,
                )
            finally:
                if self.kernel is not None:
                    await self.kernel.shutdown()
            events = self._read_events(side_channel)
        results = self._results(cells, outcomes, status, content, events)
        return NotebookGrade(
            self.display, self.exercise, results, sorted(outcomes.values(), key=lambda o: o.index)
        )

    def _kernel(self) -> KernelProcess:
        assert self.kernel is not None
        return self.kernel

    async def _new_kernel(self, cwd: Path) -> None:
        """Replace ``self.kernel`` by a fresh kernel with the checks loaded."""
        if self.kernel is not None:
            await self.kernel.shutdown()
        self.kernel = KernelProcess(cwd)
        await self.kernel.start()
        status, content = await self.kernel.run(_kernel.prepare_cell(self.sources), _SETUP_TIMEOUT)
        if status != "ok":
            detail = f"{content.get('ename')}: {content.get('evalue')}" if content else status
            raise GradingError(
                f"could not load the checks of {self.exercise!r} in the kernel: {detail}"
            )

    async def _run_cells(self, cwd: Path, cells: list[Cell]) -> dict[int, CellOutcome]:
        outcomes: dict[int, CellOutcome] = {}
        skip: set[int] = set()
        counts: dict[int, Cell] = {}  # execution count -> cell, to read tracebacks
        await self._new_kernel(cwd)
        pos = 0
        while pos < len(cells):
            cell = cells[pos]
            pos += 1
            if cell.index in skip:
                continue
            limit = min(self.timeout, self.notebook_timeout - self.spent)
            if limit <= 0:  # the notebook's time is up: this cell and the rest are not run
                message = (
                    f"not run: the notebook's time limit of {self.notebook_timeout:g} s ran out"
                )
                for rest in cells[pos - 1 :]:
                    outcomes.setdefault(rest.index, CellOutcome(rest.index, "not-run", message))
                break
            start = time.monotonic()
            status, content = await self._kernel().run(cell.source, limit)
            seconds = time.monotonic() - start
            self.spent += seconds
            if "execution_count" in content:
                counts[content["execution_count"]] = cell
            if status == "ok":
                outcomes.setdefault(cell.index, CellOutcome(cell.index, "ok", seconds=seconds))
                for name in cell.names:  # redefined by a cell that finished
                    self.hung.pop(name, None)
            elif status == "error":
                message = _error_message(content, counts)
                outcome = CellOutcome(
                    cell.index, "error", message, content.get("ename", ""), seconds
                )
                outcomes.setdefault(cell.index, outcome)
            else:
                if status == "timeout":
                    message = self._late(limit)
                    self._note_hung(cell, message, content.get("traceback", []), counts)
                else:
                    status, message = "kernel-died", "stopped the kernel (it exited or crashed)"
                outcomes[cell.index] = CellOutcome(cell.index, status, message, seconds=seconds)
                skip.add(cell.index)
                if status == "kernel-died" or not content.get("stopped"):
                    # A fresh kernel re-runs the cells before this one and goes on without it.
                    await self._new_kernel(cwd)
                    counts = {}
                    pos = 0
        self.counts = counts
        return outcomes

    def _late(self, limit: float) -> str:
        """Why a cell run with ``limit`` seconds was interrupted."""
        if limit < self.timeout:
            return f"ran past the notebook's time limit of {self.notebook_timeout:g} s"
        return f"ran longer than the time limit of {self.timeout:g} s"

    def _note_hung(
        self, cell: Cell, why: str, traceback: list[str], counts: dict[int, Cell]
    ) -> None:
        """Record the names of a cell that timed out, and of the cell whose code it was
        running when interrupted (the last notebook frame of the interrupt's traceback)."""
        for name in sorted(cell.names):
            self.hung[name] = f"`{name}` is defined in {cell.label}, which {why}"
        frames = _CELL_FRAME.findall(_ANSI.sub("", "\n".join(traceback)))
        inner = counts.get(int(frames[-1][0])) if frames else None
        if inner is None or inner is cell:
            return
        for name in sorted(inner.names):
            self.hung.setdefault(
                name,
                f"`{name}` is defined in {inner.label}, whose code was running when "
                f"{cell.label} {why}",
            )

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
        self, names: list[str], cells: list[Cell], outcomes: dict[int, CellOutcome]
    ) -> tuple[str, str] | None:
        """(status, message) when a missing name is defined only in a cell that failed."""
        rank = {"kernel-died": "not-run", "timeout": "timeout", "error": "error"}
        for name in names:
            for cell in reversed(cells):
                outcome = outcomes.get(cell.index)
                if name not in cell.names or outcome is None or outcome.status not in rank:
                    continue
                if outcome.status == "error" and outcome.ename == "NotImplementedError":
                    continue  # the untouched stub: "not attempted" stays
                why = {
                    "kernel-died": "stopped the kernel (it exited or crashed)",
                    "timeout": outcome.message,
                    "error": f"raised {outcome.message}",
                }[outcome.status]
                prefix = "not run: " if outcome.status == "kernel-died" else ""
                return rank[
                    outcome.status
                ], f"{prefix}`{name}` is defined in {cell.label}, which {why}"
        return None

    def _results(
        self,
        cells: list[Cell],
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
