"""What a check says: `Feedback` from one check, `CheckResult` with points, `Card` for all.

A check returns a `Feedback` (passed or not, what was expected, what came, and *why* in
words). The runner turns it into a `CheckResult` (status and points); a `Card` shows the
results of one exercise in the notebook (`_repr_html_`) or as plain text (`str`).

Statuses are the grader's: ``passed``, ``failed``, ``error`` (the learner's code raised),
``timeout`` (it ran past the time limit) and ``not-run`` (it could not run at all). A
check whose code has not been written yet is ``failed`` with ``attempted=False`` and is
shown as "not attempted".
"""

from __future__ import annotations

import html
import linecache
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import numpy as np

from bpkit._diagnoses import VALUE, Finding, value_findings

__all__ = [
    "STATUSES",
    "Card",
    "CheckFailed",
    "CheckResult",
    "Feedback",
    "compare",
    "describe",
    "gradcheck_feedback",
    "short_exception",
]

STATUSES = ("passed", "failed", "error", "timeout", "not-run")


def describe(value: Any, max_chars: int = 300) -> str:
    """A short, readable description of ``value`` for "expected" and "got" lines.

    Arrays show their shape, dtype and rounded values; long text is cut with "...".
    """
    if isinstance(value, np.ndarray):
        body = np.array2string(value, precision=4, suppress_small=True, threshold=12, edgeitems=2)
        body = " ".join(body.split())
        text = f"array of shape {value.shape}, dtype {value.dtype}: {body}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
    else:
        text = repr(value)
    if len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return text


@dataclass
class Feedback:
    """The outcome of one check: passed or not, and in words why.

    ``expected`` and ``got`` are described with `describe` unless they are strings already;
    ``why`` lists the reasons in words (e.g. "sign flipped. ..."); ``findings`` holds the
    same diagnoses structured (``bpkit._diagnoses.Finding``: a kind and its numbers) where
    a check knows them.
    """

    passed: bool
    message: str = ""
    expected: Any = None
    got: Any = None
    why: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def ok(cls, message: str = "") -> Feedback:
        """A passing result."""
        return cls(True, message)

    @classmethod
    def fail(
        cls, message: str, expected: Any = None, got: Any = None, why: Iterable[str] = ()
    ) -> Feedback:
        """A failing result with what was expected, what came and why."""
        return cls(False, message, expected, got, list(why))


class CheckFailed(Exception):
    """Raise from deep inside a check to end it with ``feedback`` (a failing `Feedback`)."""

    def __init__(self, feedback: Feedback) -> None:
        super().__init__(feedback.message)
        self.feedback = feedback


@dataclass
class CheckResult:
    """One check's result: status, points and the feedback to show.

    ``status`` is one of `STATUSES`; ``attempted`` is False when the learner has not
    written the code yet (shown as "not attempted"). ``expected`` and ``got`` are text.
    """

    id: str
    exercise: str
    status: str
    points: float
    max_points: float
    message: str = ""
    expected: str | None = None
    got: str | None = None
    why: list[str] = field(default_factory=list)
    hint: str = ""
    title: str = ""
    attempted: bool = True

    @property
    def passed(self) -> bool:
        """True when the check passed."""
        return self.status == "passed"

    @property
    def label(self) -> str:
        """The status as shown to a learner: "passed", "not attempted", "failed", ..."""
        if self.status == "failed" and not self.attempted:
            return "not attempted"
        return self.status

    def summary(self) -> str:
        """One line: the message, then expected/got and the reasons."""
        parts = [self.message] if self.message else []
        if self.status != "passed":
            if self.expected is not None:
                parts.append(f"expected {self.expected}")
            if self.got is not None:
                parts.append(f"got {self.got}")
            parts += self.why
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "id": self.id,
            "exercise": self.exercise,
            "status": self.status,
            "points": self.points,
            "max_points": self.max_points,
            "message": self.message,
            "expected": self.expected,
            "got": self.got,
            "why": list(self.why),
            "hint": self.hint,
            "title": self.title,
            "attempted": self.attempted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """The inverse of `to_dict`."""
        return cls(
            id=str(data["id"]),
            exercise=str(data["exercise"]),
            status=str(data["status"]),
            points=float(data["points"]),
            max_points=float(data["max_points"]),
            message=str(data.get("message", "")),
            expected=data.get("expected"),
            got=data.get("got"),
            why=[str(w) for w in data.get("why", [])],
            hint=str(data.get("hint", "")),
            title=str(data.get("title", "")),
            attempted=bool(data.get("attempted", True)),
        )


def _points(x: float) -> str:
    return f"{x:g}"


_COLOURS = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "not attempted": "#6e7781",
    "error": "#cf222e",
    "timeout": "#bc4c00",
    "not-run": "#6e7781",
}
_MARKS = {
    "passed": "✔",
    "failed": "✘",
    "not attempted": "–",
    "error": "✘",
    "timeout": "⏱",
    "not-run": "–",
}


@dataclass
class Card:
    """The feedback card of one exercise: every check with its status and points.

    Shows as HTML in a notebook and as plain text with ``str(card)``.
    """

    exercise: str
    results: list[CheckResult]

    @property
    def score(self) -> float:
        """Points earned."""
        return float(sum(r.points for r in self.results))

    @property
    def max_score(self) -> float:
        """Points available."""
        return float(sum(r.max_points for r in self.results))

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(r.passed for r in self.results)

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {_points(self.score)}/{_points(self.max_score)} points"]
        width = max((len(r.id) for r in self.results), default=0)
        for r in self.results:
            pts = f"{_points(r.points)}/{_points(r.max_points)}"
            head = f"  [{r.label}] {r.id:<{width}}  {pts}"
            lines.append(head + (f"  {r.message}" if r.message and r.passed else ""))
            if r.passed:
                continue
            indent = "      "
            if r.message:  # "your code raised ...\nin Cell In[3], line 2: ..." stays indented
                lines.append(indent + r.message.replace("\n", "\n" + indent))
            if r.expected is not None:
                lines.append(f"{indent}expected: {r.expected}")
            if r.got is not None:
                lines.append(f"{indent}got:      {r.got}")
            lines += [f"{indent}why: {w}" for w in r.why]
            if r.hint:
                lines.append(f"{indent}hint: {r.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)  # a console (or a notebook's text view) shows the whole card

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for r in self.results:
            colour = _COLOURS.get(r.label, "#6e7781")
            detail = []
            if r.message:
                detail.append(f"<div>{esc(r.message)}</div>")
            if not r.passed:
                if r.expected is not None:
                    detail.append(f"<div><b>expected:</b> <code>{esc(r.expected)}</code></div>")
                if r.got is not None:
                    detail.append(f"<div><b>got:</b> <code>{esc(r.got)}</code></div>")
                if r.why:
                    items = "".join(f"<li>{esc(w)}</li>" for w in r.why)
                    detail.append(f"<div><b>why:</b><ul style='margin:2px 0'>{items}</ul></div>")
                if r.hint:
                    detail.append(f"<div><b>hint:</b> {esc(r.hint)}</div>")
            title = f"<div style='color:#57606a'>{esc(r.title)}</div>" if r.title else ""
            rows.append(
                "<tr style='vertical-align:top'>"
                f"<td style='color:{colour};font-weight:bold;padding:4px 8px'>"
                f"{_MARKS.get(r.label, '?')}&nbsp;{esc(r.label)}</td>"
                f"<td style='padding:4px 8px'><code>{esc(r.id)}</code>{title}{''.join(detail)}</td>"
                f"<td style='padding:4px 8px;white-space:nowrap'>"
                f"{_points(r.points)}/{_points(r.max_points)}</td></tr>"
            )
        head = (
            f"<div style='font-weight:bold;margin-bottom:4px'>{esc(self.exercise)}: "
            f"{_points(self.score)}/{_points(self.max_score)} points</div>"
        )
        return (
            "<div class='bpkit-card' style='border:1px solid #d0d7de;border-radius:6px;"
            "padding:8px 12px;font-family:sans-serif;font-size:14px'>"
            f"{head}<table style='border-collapse:collapse'>{''.join(rows)}</table></div>"
        )


# -- short exceptions ---------------------------------------------------------------------------

_LIBRARY_DIRS = tuple(
    os.path.realpath(p)
    for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)
_BPKIT_DIR = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _is_library(filename: str, exclude: Sequence[str]) -> bool:
    if filename.startswith("<") and not filename.startswith("<ipython-input"):
        return True  # "<frozen ...>", "<string>": not a learner's line
    path = os.path.realpath(filename)
    if path in exclude:
        return True
    return path.startswith(_BPKIT_DIR + os.sep) or path.startswith(_LIBRARY_DIRS)


def _cell_label(filename: str) -> str:
    """ "Cell In[3]" for an IPython cell, else the file's name."""
    shell_mod = sys.modules.get("IPython")
    if shell_mod is not None:
        shell = shell_mod.get_ipython()
        if shell is not None:
            name = shell.compile.format_code_name(filename)
            if name:
                return f"{name[0]} {name[1]}"
    if filename.startswith("<ipython-input"):
        return "your cell"
    return os.path.basename(filename)


def short_exception(exc: BaseException, exclude_files: Sequence[str] = ()) -> str:
    """The exception in one or two lines, pointing at the learner's line.

    Picks the innermost traceback frame that is neither bpkit, nor the standard library or
    an installed package, nor one of ``exclude_files`` (a check's own module), and shows
    ``<Type>: <message>`` then ``in <cell or file>, line <n>: <source line>``.
    """
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    exclude = [os.path.realpath(f) for f in exclude_files]
    tb: TracebackType | None = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    learner = [f for f in frames if not _is_library(f[0], exclude)]
    if not learner:
        return text
    filename, lineno = learner[-1]
    line = linecache.getline(filename, lineno).strip()
    where = f"in {_cell_label(filename)}, line {lineno}"
    return f"{text}\n{where}: {line}" if line else f"{text}\n{where}"


# -- comparing arrays ---------------------------------------------------------------------------

#: compare's message for the first finding's kind (any other kind: wrong values).
_HEADLINES = {
    "none": "is None",
    "not_numeric": "is not a number or an array",
    "wrong_shape": "has the wrong shape",
    "nan": "contains NaN or Inf",
}


def _as_float(got: Any) -> Any:
    """``got`` as a float64 array for "got" lines, or as it is when it is not numeric."""
    try:
        arr = np.asarray(got, dtype=np.float64) if not isinstance(got, np.ndarray) else got
        return arr.astype(np.float64, copy=False) if arr.dtype.kind in "fiub" else got
    except (TypeError, ValueError):
        return got


def compare(
    got: Any,
    expected: np.ndarray | float,
    *,
    name: str = "the result",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    batch_size: int | None = None,
    hint: str = "",
) -> Feedback:
    """Compare a learner's value with the expected one and say in words what is wrong.

    The findings are those of the gradient checker, in the same words (from
    ``bpkit._diagnoses.value_findings``): nothing returned, not an array, wrong shape,
    transposed, right numbers in a wrong shape, NaN/Inf, sign flipped, off by a constant
    factor (named "the batch size" when it equals ``batch_size``), and otherwise the
    largest difference and where. They are in ``Feedback.findings``; ``why`` holds their
    sentences, then ``hint``.

    Shape:
        ``got`` and ``expected``: any shape, compared with
        ``|got - expected| <= atol + rtol * |expected|`` elementwise.
    """
    exp = np.asarray(expected)
    sizes = (("batch size N", int(batch_size)),) if batch_size else ()
    findings = value_findings(got, exp, rtol=rtol, atol=atol,
                              subject=replace(VALUE, sizes=sizes))
    if not findings:
        return Feedback.ok()
    kind = findings[0].kind
    if kind == "transposed" and np.shape(got) != exp.shape:
        kind = "wrong_shape"
    headline = _HEADLINES.get(kind, "has wrong values")
    shown = "None" if got is None else describe(_as_float(got))
    return Feedback(False, f"{name} {headline}", describe(exp), shown,
                    [f.message for f in findings] + ([hint] if hint else []), findings)


def gradcheck_feedback(report: Any, what: str = "the gradients") -> Feedback:
    """Turn a gradient-check report (`bpkit.gradcheck.GradcheckReport`) into `Feedback`.

    The reasons are the report's plain-language ``diagnoses``; "expected" and "got" are the
    numerical and analytic values where the first failing tensor is worst. A report that
    passes with notes (e.g. a kink false alarm) passes with those notes as its message.
    """
    diagnoses = [str(d) for d in getattr(report, "diagnoses", [])]
    findings = list(getattr(report, "findings", []))
    if bool(report.ok):
        return Feedback(True, "; ".join(diagnoses), findings=findings)
    failing = [e for e in getattr(report, "entries", []) if not e.passed]
    expected = got = None
    if failing:
        worst = failing[0]
        at = "" if worst.worst_index is None else f" at {tuple(worst.worst_index)}"
        if worst.worst_index is not None:  # None: no gradient or a wrong shape (no numbers)
            expected = f"d/d{worst.name}{at} = {worst.numerical_value:.6g} (numerical)"
            got = f"{worst.analytic_value:.6g} (relative error {worst.max_rel_error:.2g})"
        names = ", ".join(f"'{e.name}'" for e in failing)
        message = f"{what}: the gradient of {names} does not match the numerical gradient"
    else:
        message = f"{what}: the gradient check failed"
    return Feedback(False, message, expected, got,
                    diagnoses or ["the analytic and numerical gradients differ"], findings)
