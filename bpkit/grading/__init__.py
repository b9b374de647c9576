"""Grading: checks with feedback cards, notebook grading and student-copy generation.

In a notebook::

    from bpkit.grading import check
    check("03_linear_layer")                   # a Card: every check, points, and why

Writing checks: `register_check` (see :mod:`bpkit.grading.registry`); instructors load
their own with `load_checks`. Student copies: `release_notebook` / `release_folder`.
Grading submissions (imports jupyter_client): :mod:`bpkit.grading.grade`. The command
line (``bpkit release``, ``bpkit grade``) lives in :mod:`bpkit.grading.cli`.
"""

from bpkit.grading.feedback import (
    Card,
    CheckFailed,
    CheckResult,
    Feedback,
    compare,
    describe,
    gradcheck_feedback,
    short_exception,
)
from bpkit.grading.registry import (
    Check,
    UnknownExerciseError,
    checks_for,
    exercise_ids,
    load_checks,
    register_check,
)
from bpkit.grading.release import release_folder, release_notebook
from bpkit.grading.runner import CheckTimeout, check, run_check, run_checks, time_limit

__all__ = [
    "Card",
    "Check",
    "CheckFailed",
    "CheckResult",
    "CheckTimeout",
    "Feedback",
    "UnknownExerciseError",
    "check",
    "checks_for",
    "compare",
    "describe",
    "exercise_ids",
    "gradcheck_feedback",
    "load_checks",
    "register_check",
    "release_folder",
    "release_notebook",
    "run_check",
    "run_checks",
    "short_exception",
    "time_limit",
]
