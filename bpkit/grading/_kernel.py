"""The grader's side of the kernel: code `bpkit grade` runs inside a learner's kernel.

The grader sends two small cells of its own: `prepare` (before the learner's cells: load
the exercise's checks) and `run_checks_to_file` (after them: run every check on the user
namespace and append one JSON line per event to a file the grader chose). The grader reads
that file, never the notebook's outputs.

Time is bounded twice: each check by the per-cell limit, all of them by what is left of the
notebook's limit. A check needing a name known to hang (the grader's list, plus every name
whose code a check was running when it timed out) is recorded ``timeout`` at once.
"""

from __future__ import annotations

import json
import linecache
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bpkit.grading.feedback import CheckResult
from bpkit.grading.registry import Check, checks_for, load_checks
from bpkit.grading.runner import CheckTimeout, run_check

__all__ = ["checks_cell", "prepare", "prepare_cell", "run_bounded", "run_checks_to_file"]


def prepare(sources: Sequence[str]) -> None:
    """Load the instructor's check files or modules (so check cells work while grading)."""
    for source in sources:
        load_checks(source)


def run_checks_to_file(
    exercise: str,
    out_path: str,
    timeout: float,
    sources: Sequence[str],
    notebook_timeout: float = math.inf,
    spent: float = 0.0,
    hung: Mapping[str, str] | None = None,
) -> None:
    """Run every check of ``exercise`` on the IPython user namespace; log JSON lines.

    Events: ``{"event": "start", "id"}`` before a check, ``{"event": "result", "missing",
    "result"}`` after it, so a check that hangs or kills the kernel is still identified.
    Checks are loaded afresh first, undoing replacements made by notebook code. Each
    check gets ``timeout`` seconds, all together what is left of ``notebook_timeout`` after
    the ``spent`` seconds the learner's cells took; ``hung`` maps names known to
    hang to the sentence that says why (see `run_bounded`).
    """
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    for source in sources:
        load_checks(source)
    checks = checks_for(exercise, reload=True)
    deadline = time.monotonic() + notebook_timeout - spent
    known = dict(hung or {})
    with open(out_path, "a", encoding="utf-8") as log:
        for check in checks:
            log.write(json.dumps({"event": "start", "id": check.id}) + "\n")
            log.flush()
            missing = [name for name in check.requires if name not in namespace]
            result = run_bounded(check, namespace, timeout, deadline, notebook_timeout, known)
            log.write(
                json.dumps({"event": "result", "missing": missing, "result": result.to_dict()})
                + "\n"
            )
            log.flush()


def run_bounded(
    check: Check,
    namespace: dict[str, Any],
    timeout: float,
    deadline: float,
    notebook_timeout: float,
    hung: dict[str, str],
) -> CheckResult:
    """`run_check` within ``timeout`` and the ``deadline`` (``time.monotonic``) that the
    notebook's limit, ``notebook_timeout`` seconds, sets.

    A check needing a name in ``hung`` (defined, so not "not attempted") is ``timeout`` at
    once with ``hung[name]`` as its message; so is every check once the deadline has passed.
    When a check times out, the names it requires whose code (a function's, or a method's
    of a class defined in the notebook) was running are added to ``hung``.
    """
    stuck = [n for n in check.requires if n in hung and n in namespace]
    left = deadline - time.monotonic()
    if stuck or left <= 0:
        limit_text = f"the notebook's time limit of {notebook_timeout:g} s"
        message = hung[stuck[0]] if stuck else f"not run: {limit_text} ran out before this check"
        return CheckResult(
            id=check.id,
            exercise=check.exercise,
            status="timeout",
            points=0.0,
            max_points=check.points,
            message=message,
            hint=check.hint,
            title=check.title,
        )
    stops: list[CheckTimeout] = []

    def func(ns: dict[str, Any]) -> Any:
        try:
            return check.func(ns)
        except CheckTimeout as stop:
            stops.append(stop)
            raise

    limit = min(timeout, left)
    result = run_check(replace(check, func=func), namespace, limit)
    if result.status != "timeout" or not stops:
        return result
    if limit < timeout:
        result.message = (
            f"timed out: the notebook's time limit of {notebook_timeout:g} s ran out while "
            "this check ran your code"
        )
    names, where = _running_names(stops[0], check, namespace)
    if where:
        result.message += f"\n{where}"
    for name in names:
        hung.setdefault(name, f"`{name}` hung in the check `{check.id}` ({where}); not run again")
    return result


def _code_files(obj: Any) -> set[str]:
    """The files (IPython cells) of the code of ``obj`` defined in the notebook: a
    function's, or the methods' of a class (or of an instance's class) and its bases."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return {code.co_filename} if getattr(obj, "__module__", None) == "__main__" else set()
    klass = obj if isinstance(obj, type) else type(obj)
    files = set()
    for k in klass.__mro__:
        if k.__module__ != "__main__":
            continue
        for member in vars(k).values():
            member = member.fget if isinstance(member, property) else member
            code = getattr(getattr(member, "__func__", member), "__code__", None)
            if code is not None:
                files.add(code.co_filename)
    return files


def _running_names(
    stop: CheckTimeout, check: Check, namespace: dict[str, Any]
) -> tuple[list[str], str]:
    """The names in ``check.requires`` whose code was running when ``stop`` was raised, and
    ``in Cell In[5], line 9: <line>`` for the innermost such frame (``[], ""`` if none)."""
    files = {n: _code_files(namespace[n]) for n in check.requires if n in namespace}
    frames = []
    tb = stop.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    for filename, lineno in reversed(frames):
        names = [n for n, f in files.items() if filename in f]
        if names:
            line = linecache.getline(filename, lineno).strip()
            where = f"in {_cell_name(filename)}, line {lineno}" + (f": {line}" if line else "")
            return names, where
    return [], ""


def _cell_name(filename: str) -> str:
    """``Cell In[5]`` for an IPython cell's file (the grader turns it into the notebook's
    cell number), else the file's name."""
    from IPython import get_ipython

    shell = get_ipython()
    name = shell.compile.format_code_name(filename) if shell is not None else None
    return f"{name[0]} {name[1]}" if name else filename


def _call_cell(call: str) -> str:
    # Names the learner may have shadowed (bpkit, print, json, ...) are not used: the
    # import binds a private name inside a function, which is deleted afterwards.
    return (
        "def _bpkit_grader_entry_point():\n"
        "    import bpkit.grading._kernel as grader\n"
        f"    grader.{call}\n"
        "_bpkit_grader_entry_point()\n"
        "del _bpkit_grader_entry_point\n"
    )


def prepare_cell(sources: Sequence[str]) -> str:
    """The source of the grader's cell run before the learner's cells."""
    return _call_cell(f"prepare({list(sources)!r})")


def checks_cell(
    exercise: str,
    out_path: str,
    timeout: float,
    sources: Sequence[str],
    notebook_timeout: float = math.inf,
    spent: float = 0.0,
    hung: Mapping[str, str] | None = None,
) -> str:
    """The source of the grader's cell run after the learner's cells."""
    return _call_cell(
        f"run_checks_to_file({exercise!r}, {out_path!r}, float({str(float(timeout))!r}), "
        f"{list(sources)!r}, float({str(float(notebook_timeout))!r}), "
        f"float({str(float(spent))!r}), {dict(hung or {})!r})"
    )
