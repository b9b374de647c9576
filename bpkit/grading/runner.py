"""Running checks against a learner's namespace, each within a time limit.

`check(exercise)` is what a notebook's check cell calls: it runs the exercise's checks on
the names the learner defined and returns a `Card`.

Time limits use ``SIGALRM`` (``signal.setitimer``), which works in the main thread on
Linux and macOS, where Jupyter kernels run cells. Elsewhere (Windows, or a check run from
another thread) the checks run without a time limit. The limit interrupts Python code; a
single long call inside a C extension ends only when that call returns.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bpkit.grading.feedback import (
    Card,
    CheckFailed,
    CheckResult,
    Feedback,
    describe,
    short_exception,
)
from bpkit.grading.registry import Check, checks_for

__all__ = ["CheckTimeout", "check", "run_check", "run_checks", "time_limit"]


class CheckTimeout(BaseException):
    """Raised inside a check when its time limit has passed.

    A ``BaseException`` so that a learner's ``except Exception:`` cannot swallow it.
    """


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `CheckTimeout` in the body after ``seconds`` (no limit where SIGALRM is absent,
    nor for a limit longer than the OS timer counts, such as ``inf``).

    The previous SIGALRM handler is put back afterwards; an outer alarm is not resumed.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if usable:

        def on_alarm(signum: int, frame: Any) -> None:
            raise CheckTimeout(seconds)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, float(seconds))
        except OverflowError:  # e.g. inf: more than the timer counts, so no limit
            signal.signal(signal.SIGALRM, previous)
            usable = False
    if not usable:
        yield
        return
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def run_check(check: Check, namespace: dict[str, Any], timeout: float | None = None) -> CheckResult:
    """Run one check on ``namespace`` and turn its outcome into a `CheckResult`.

    Missing required names or a ``NotImplementedError`` (the untouched stub) give a
    "not attempted" result; a learner's exception gives ``error`` with a short message that
    points at their line; running past ``timeout`` (default: the check's own) gives
    ``timeout``.
    """
    base = {
        "id": check.id,
        "exercise": check.exercise,
        "max_points": check.points,
        "hint": check.hint,
        "title": check.title,
    }
    missing = [name for name in check.requires if name not in namespace]
    if missing:
        return CheckResult(
            status="failed",
            points=0.0,
            attempted=False,
            message=f"not attempted: {_names(missing)} is not defined yet "
            "(write it, then run its cell)",
            **base,
        )
    limit = check.timeout if timeout is None else timeout
    try:
        with time_limit(limit):
            outcome = check.func(namespace)
    except CheckTimeout:
        return CheckResult(
            status="timeout",
            points=0.0,
            message=f"timed out: your code ran longer than {limit:g} s (an endless loop?)",
            **base,
        )
    except CheckFailed as failure:
        outcome = failure.feedback
    except NotImplementedError:
        return CheckResult(
            status="failed",
            points=0.0,
            attempted=False,
            message="not attempted: your code still raises NotImplementedError "
            "(replace the `raise NotImplementedError()` line with your answer)",
            **base,
        )
    except Exception as exc:  # the learner's mistake: shown short, pointing at their line
        return CheckResult(
            status="error",
            points=0.0,
            message="your code raised " + short_exception(exc, [check.source_file]),
            **base,
        )
    if not isinstance(outcome, Feedback):
        return CheckResult(
            status="error",
            points=0.0,
            message=f"check {check.id!r} of {check.exercise!r} returned "
            f"{type(outcome).__name__}, not a Feedback (a bug in the check, not in your code)",
            **base,
        )

    def text(value: Any) -> str | None:
        return None if value is None else value if isinstance(value, str) else describe(value)

    return CheckResult(
        status="passed" if outcome.passed else "failed",
        points=check.points if outcome.passed else 0.0,
        message=outcome.message,
        expected=text(outcome.expected),
        got=text(outcome.got),
        why=[str(w) for w in outcome.why],
        **base,
    )


def run_checks(
    exercise: str,
    namespace: dict[str, Any],
    part: str | Sequence[str] | None = None,
    timeout: float | None = None,
) -> list[CheckResult]:
    """Run the checks of ``exercise`` (all, or the ids in ``part``) on ``namespace``."""
    checks = checks_for(exercise)
    if part is not None:
        wanted = [part] if isinstance(part, str) else list(part)
        known = {c.id for c in checks}
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise ValueError(
                f"exercise {exercise!r} has no check {unknown[0]!r}; its checks are: "
                + ", ".join(c.id for c in checks)
            )
        checks = [c for c in checks if c.id in wanted]
    return [run_check(c, namespace, timeout) for c in checks]


def _caller_namespace(depth: int) -> dict[str, Any]:
    """The IPython user namespace inside IPython, else the globals ``depth`` frames up."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        if shell is not None:
            return shell.user_ns
    return sys._getframe(depth + 1).f_globals


def check(
    exercise: str,
    part: str | Sequence[str] | None = None,
    *,
    namespace: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Card:
    """Check the learner's code for ``exercise`` (or only the check ids in ``part``).

    Runs against ``namespace``, by default the notebook's (IPython's user namespace) or,
    outside IPython, the caller's globals. Returns a `Card` that shows itself in the
    notebook: every check with pass/fail and points, and for each failure why.
    """
    if namespace is None:
        namespace = _caller_namespace(1)
    return Card(exercise, run_checks(exercise, namespace, part, timeout))
