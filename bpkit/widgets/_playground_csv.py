"""The Playground's own data from a CSV file: two feature columns and a label or target.

The file is only read (opened read-only, or given as the bytes of an upload), never
written. Every error names the file, and where it can the row and the column at fault.

**The file.** Comma-separated, UTF-8 (a spreadsheet's byte-order mark is fine), exactly
three columns on every row: x1, x2 and the label (classification) or target (regression).
Blank lines are skipped. The first row is a header when none of its three cells is a
number (``header=None``, the default); ``header=True`` or ``False`` says so explicitly.
At least 4 and at most ``MAX_ROWS`` = 10,000 data rows: the Playground draws every point
and trains on all of them between redraws.

**Classification or regression.** With ``task=None`` the third column holds class labels
when every value in it is a whole number and there are at most ``MAX_CLASSES`` = 10
distinct values; otherwise it holds regression targets. ``task="classification"`` or
``"regression"`` decides it explicitly. The distinct labels, sorted, become the classes
0, 1, ...: labels 0/1, 1/2 and -1/+1 all give class 0 (orange) and class 1 (blue).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpkit.widgets._playground_data import MAX_CLASSES

__all__ = ["MAX_ROWS", "PlaygroundCSV", "parse_playground_csv", "read_playground_csv"]

MAX_ROWS = 10_000  # data rows at most
MIN_ROWS = 4  # a training and a test part of at least two points each
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class PlaygroundCSV:
    """A CSV file read for the Playground.

    Shape:
        X (N, 2) float64, the first two columns; y (N,) int64 class indices 0..C-1
        (classification) or float64 targets (regression), from the third column.
        ``classes`` (C,): the label each class index stands for (empty for regression).
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    classes: tuple[float, ...]
    columns: tuple[str, str, str]
    header: bool
    name: str

    def summary(self) -> str:
        """One sentence on what was read: the points, the task and the classes."""
        text = f"Read {len(self.X)} points from {self.name}: "
        if self.task == "regression":
            return text + f"regression, the third column ({self.columns[2]}) is the target."
        labels = ", ".join(f"{_number(c)} → class {k}" for k, c in enumerate(self.classes))
        return text + f"classification, {len(self.classes)} classes ({labels})."


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def read_playground_csv(
    path: str | os.PathLike[str], *, task: str | None = None, header: bool | None = None,
    max_rows: int = MAX_ROWS,
) -> PlaygroundCSV:
    """Read a CSV file of points for the Playground (opened read-only, never modified).

    Shape:
        a file of N rows ``x1,x2,label`` (a header row optional) -> ``PlaygroundCSV``
        with X (N, 2) float64 and y (N,): class indices int64 or targets float64.

    See the module's description for the rules: three columns, finite numbers, 4 to
    ``max_rows`` rows, whole-number labels with at most 10 distinct values are classes.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Playground CSV {str(path)!r} is a folder, not a file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return _parse(f, path.name, task=task, header=header, max_rows=max_rows)
    except FileNotFoundError:
        raise FileNotFoundError(f"Playground CSV {str(path)!r} not found") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path.name} is not a UTF-8 text file (byte {e.start} cannot be "
                         "read); save it as CSV (UTF-8)") from None


def parse_playground_csv(
    content: bytes, name: str, *, task: str | None = None, header: bool | None = None,
    max_rows: int = MAX_ROWS,
) -> PlaygroundCSV:
    """Read the bytes of a CSV file (an upload's content) for the Playground.

    Shape:
        as ``read_playground_csv``; ``name`` is the file's name, used in every message.
    """
    try:
        text = bytes(content).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name} is not a UTF-8 text file (byte {e.start} cannot be read); "
                         "save it as CSV (UTF-8)") from None
    return _parse(io.StringIO(text, newline=""), name, task=task, header=header,
                  max_rows=max_rows)


def _parse(lines: Iterable[str], name: str, *, task: str | None, header: bool | None,
           max_rows: int) -> PlaygroundCSV:
    if task is not None and task not in TASKS:
        raise ValueError(f"Playground CSV expected task to be one of {list(TASKS)} or None, "
                         f"got {task!r}")
    if header not in (None, True, False):
        raise ValueError(f"Playground CSV expected header to be True, False or None (find "
                         f"out), got {header!r}")
    columns: tuple[str, str, str] = ("x1", "x2", "label" if task != "regression" else "target")
    values: list[tuple[float, float, float]] = []
    cells: list[str] = []  # the third column as written, for messages
    rows: list[int] = []  # the file's line number of every data row
    first, had_header = True, False
    reader = csv.reader(lines)
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != 3:
            hint = ""
            if len(row) == 1 and any(sep in row[0] for sep in ";\t"):
                hint = "; separate the values with commas"
            raise ValueError(f"{name}, row {line}: expected 3 columns (x1, x2 and a label or "
                             f"target), got {len(row)}{hint}")
        cells_here = [cell.strip() for cell in row]
        if first:
            first = False
            numeric = [_is_number(cell) for cell in cells_here]
            is_header = header if header is not None else not any(numeric)
            if is_header:
                columns = (cells_here[0], cells_here[1], cells_here[2])
                had_header = True
                continue
        if len(values) == max_rows:
            raise ValueError(f"{name} has more than {max_rows} data rows (row {line} is one "
                             f"too many); the Playground takes at most {max_rows} points")
        numbers = []
        for j, cell in enumerate(cells_here):
            where = f"{name}, row {line}, column {j + 1} ({columns[j]})"
            if not cell:
                raise ValueError(f"{where} is empty; every row needs three numbers")
            if not _is_number(cell):
                raise ValueError(f"{where}: {cell!r} is not a number")
            number = float(cell)
            if not np.isfinite(number):
                raise ValueError(f"{where}: {cell!r} is not a finite number (NaN and "
                                 "infinity cannot be plotted or trained on)")
            numbers.append(number)
        values.append((numbers[0], numbers[1], numbers[2]))
        cells.append(cells_here[2])
        rows.append(line)
    if len(values) < MIN_ROWS:
        n = len(values)
        raise ValueError(f"{name} holds {n} data row{'' if n == 1 else 's'}; the Playground "
                         f"needs at least {MIN_ROWS}")
    table = np.array(values, dtype=np.float64)
    X, labels = table[:, :2].copy(), table[:, 2].copy()
    whole = labels == np.round(labels)
    distinct = np.unique(labels)
    if task is None:
        task = "classification" if whole.all() and len(distinct) <= MAX_CLASSES else "regression"
    if task == "regression":
        return PlaygroundCSV(X, labels, task, (), columns, had_header, name)
    if not whole.all():
        i = int(np.flatnonzero(~whole)[0])
        raise ValueError(f"{name}, row {rows[i]}, column 3 ({columns[2]}): {cells[i]!r} is not "
                         "a whole number, so it cannot be a class label (pass "
                         "task='regression' for real targets)")
    if len(distinct) > MAX_CLASSES:
        raise ValueError(f"{name}: column 3 ({columns[2]}) holds {len(distinct)} different "
                         f"labels; the Playground shows at most {MAX_CLASSES} classes (pass "
                         "task='regression' for real targets)")
    if len(distinct) < 2:
        raise ValueError(f"{name}: every row has the label {_number(distinct[0])} in column 3 "
                         f"({columns[2]}); classification needs at least two classes")
    y = np.searchsorted(distinct, labels).astype(np.int64)
    return PlaygroundCSV(X, y, task, tuple(float(c) for c in distinct), columns, had_header,
                         name)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
