"""The grader's side of the kernel: code `bpkit grade` runs inside a learner's kernel.

The grader sends two small cells of its own: `prepare` (before the learner's cells: load
the exercise's checks) and `run_checks_to_file` (after them: run every check on the user
namespace and append one JSON line per event to a file the grader chose). The grader reads
that file, never the notebook's outputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bpkit.grading.registry import checks_for, load_checks
from bpkit.grading.runner import run_check

__all__ = ["checks_cell", "prepare", "prepare_cell", "run_checks_to_file"]


def prepare(sources: Sequence[str]) -> None:
    """Load the instructor's check files or modules (so check cells work while grading)."""
    for source in sources:
        load_checks(source)


def run_checks_to_file(
    exercise: str, out_path: str, timeout: float, sources: Sequence[str]
) -> None:
    """Run every check of ``exercise`` on the IPython user namespace; log JSON lines.

    Events: ``{"event": "start", "id"}`` before a check, ``{"event": "result", "missing",
    "result"}`` after it, so a check that hangs or kills the kernel is still identified.
    Checks are loaded afresh first, undoing replacements made by notebook code.
    """
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    for source in sources:
        load_checks(source)
    checks = checks_for(exercise, reload=True)
    with open(out_path, "a", encoding="utf-8") as log:
        for check in checks:
            log.write(json.dumps({"event": "start", "id": check.id}) + "\n")
            log.flush()
            missing = [name for name in check.requires if name not in namespace]
            result = run_check(check, namespace, timeout)
            log.write(
                json.dumps({"event": "result", "missing": missing, "result": result.to_dict()})
                + "\n"
            )
            log.flush()


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


def checks_cell(exercise: str, out_path: str, timeout: float, sources: Sequence[str]) -> str:
    """The source of the grader's cell run after the learner's cells."""
    return _call_cell(
        f"run_checks_to_file({exercise!r}, {out_path!r}, float({str(float(timeout))!r}), "
        f"{list(sources)!r})"
    )
