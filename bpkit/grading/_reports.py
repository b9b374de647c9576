"""What `bpkit grade` found, and the reports it writes: the table, the JSON report and the
CSV gradebook (each file written atomically).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpkit.grading._files import atomic_write
from bpkit.grading.feedback import Card, CheckResult

__all__ = [
    "CellOutcome",
    "NotebookGrade",
    "format_table",
    "gradebook_csv",
    "report_json",
    "write_reports",
]


@dataclass
class CellOutcome:
    """What happened to one learner cell: ``ok``, ``error``, ``timeout``, ``kernel-died``
    or ``not-run`` (the notebook's time limit ran out before it).

    ``index`` is the cell's 1-based position in the notebook; ``message`` says it in words;
    ``seconds`` is how long it ran (its first run, when a restart ran it again).
    """

    index: int
    status: str
    message: str = ""
    ename: str = ""
    seconds: float = 0.0

    @property
    def problem(self) -> bool:
        """True when the cell did not run to its end."""
        return self.status != "ok"


@dataclass
class NotebookGrade:
    """The grade of one submission: every check's result, and what each cell did."""

    path: str
    exercise: str
    results: list[CheckResult]
    cells: list[CellOutcome] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Points earned (the card's score)."""
        return self.card().score

    @property
    def max_score(self) -> float:
        """Points available."""
        return self.card().max_score

    def card(self) -> Card:
        """The results as a feedback `Card`."""
        return Card(self.exercise, self.results)

    def cells_text(self) -> str:
        """The cells that did not run to their end, one line each ("" when none)."""
        lines = [
            f"  cell {c.index}: {c.status} after {c.seconds:.1f} s: {c.message}"
            for c in self.cells
            if c.problem
        ]
        return "\n".join(["cells that did not finish:", *lines]) if lines else ""

    def to_json(self) -> dict[str, Any]:
        """``{"path", "score", "max_score", "checks": [{"id", "points", "max_points",
        "status", "message"}], "cells": [{"index", "status", "seconds"}]}``, ``cells``
        listing only the cells that did not run to their end."""
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
            "cells": [
                {"index": c.index, "status": c.status, "seconds": round(c.seconds, 2)}
                for c in self.cells
                if c.problem
            ],
        }


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


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
