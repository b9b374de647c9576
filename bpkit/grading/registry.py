"""The registry of checks: which checks an exercise has, with ids, points and hints.

Checks are registered with the `register_check` decorator, one module per exercise. The
exercises shipped with bpkit are listed in ``bpkit.grading.exercises.MODULES`` (exercise id
-> module name) and imported on first use. Instructors register their own exercises from
any file or module and load it with `load_checks`::

    # my_course/checks_07.py
    from bpkit.grading import Feedback, compare, register_check

    @register_check(exercise="07_softmax", id="softmax_rows", points=2,
                    requires=("softmax",), hint="subtract the row maximum first")
    def softmax_rows(ns):
        "softmax(z) sums to 1 along each row"
        z = np.array([[1.0, 2.0], [3.0, 0.0]])
        return compare(ns["softmax"](z).sum(axis=1), np.ones(2), name="softmax(z).sum(axis=1)")

    # in the notebook:            bpkit.grading.load_checks("my_course/checks_07.py")
    # on the shell:               bpkit grade submissions/ --checks my_course/checks_07.py
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpkit.grading.exercises import MODULES

__all__ = [
    "Check",
    "UnknownExerciseError",
    "checks_for",
    "exercise_ids",
    "load_checks",
    "register_check",
]

CheckFunction = Callable[[dict[str, Any]], Any]


class UnknownExerciseError(LookupError):
    """No checks are registered for the exercise asked for."""


@dataclass(frozen=True)
class Check:
    """One registered check of an exercise.

    ``func(namespace)`` tests the names the learner defined (``requires``) and returns a
    `Feedback`; ``points`` are earned when it passes; ``timeout`` (seconds) bounds the
    learner's code it runs.
    """

    exercise: str
    id: str
    func: CheckFunction
    points: float = 1.0
    requires: tuple[str, ...] = ()
    hint: str = ""
    timeout: float = 10.0

    @property
    def title(self) -> str:
        """The first line of the check function's docstring ("" when it has none)."""
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def source_file(self) -> str:
        """The file the check function is written in."""
        code = getattr(self.func, "__code__", None)
        return code.co_filename if code is not None else ""


# exercise id -> check id -> Check, both in registration order.
_REGISTRY: dict[str, dict[str, Check]] = {}


def register_check(
    *,
    exercise: str,
    id: str,
    points: float = 1.0,
    requires: Sequence[str] = (),
    hint: str = "",
    timeout: float = 10.0,
) -> Callable[[CheckFunction], CheckFunction]:
    """Decorator registering ``func(namespace) -> Feedback`` as a check of ``exercise``.

    Registering the same ``(exercise, id)`` again replaces the earlier check, so a module of
    checks can be re-run or reloaded. Returns the function unchanged.
    """
    if not exercise or not isinstance(exercise, str):
        raise ValueError(f"register_check: exercise must be a non-empty string, got {exercise!r}")
    if not id or not isinstance(id, str):
        raise ValueError(f"register_check({exercise!r}): id must be a non-empty string, got {id!r}")
    if isinstance(requires, str):
        raise TypeError(
            f"register_check({exercise!r}, id={id!r}): requires must be a sequence of names, "
            f"got the string {requires!r} (write requires=({requires!r},))"
        )
    if not points >= 0:
        raise ValueError(f"register_check({exercise!r}, id={id!r}): points must be >= 0")
    if not timeout > 0:
        raise ValueError(f"register_check({exercise!r}, id={id!r}): timeout must be > 0")

    def decorate(func: CheckFunction) -> CheckFunction:
        check = Check(exercise, id, func, float(points), tuple(requires), hint, float(timeout))
        _REGISTRY.setdefault(exercise, {})[id] = check
        return func

    return decorate


def exercise_ids() -> list[str]:
    """Every exercise with checks: registered ones and bpkit's own, sorted."""
    return sorted(set(_REGISTRY) | set(MODULES))


def checks_for(exercise: str, reload: bool = False) -> list[Check]:
    """The checks of ``exercise`` in registration order.

    bpkit's own exercises are imported on first use (or re-imported with ``reload=True``,
    which puts back checks that code in the notebook replaced).
    """
    module = MODULES.get(exercise)
    if module is not None:
        if reload and module in sys.modules:
            _forget_module(module)
            importlib.reload(sys.modules[module])
        else:
            importlib.import_module(module)
    checks = _REGISTRY.get(exercise)
    if not checks:
        known = ", ".join(exercise_ids()) or "none"
        raise UnknownExerciseError(
            f"no checks are registered for exercise {exercise!r} (known exercises: {known}); "
            "for your own exercises, load their checks first with "
            "bpkit.grading.load_checks('path/to/checks.py')"
        )
    return list(checks.values())


def _forget_module(module_name: str) -> None:
    """Drop the checks registered by ``module_name`` (before it is executed again)."""
    for exercise in list(_REGISTRY):
        checks = _REGISTRY[exercise]
        for cid in [c for c, chk in checks.items() if chk.func.__module__ == module_name]:
            del checks[cid]
        if not checks:
            del _REGISTRY[exercise]


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"bpkit_user_checks_{stem}_{digest}"


def load_checks(source: str | Path) -> list[str]:
    """Load the checks in a Python file or an importable module; returns their exercise ids.

    A file is executed afresh each time (its earlier checks are dropped first), so editing
    the checks and loading them again picks up the change. A module name is imported, or
    reloaded when it was imported before.
    """
    text = str(source)
    path = Path(text).expanduser()
    if text.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"load_checks: no such file of checks: {text}")
        path = path.resolve()
        name = _module_name_for(path)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"load_checks: cannot load {path} as Python code")
        module = importlib.util.module_from_spec(spec)
        _forget_module(name)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    else:
        name = text
        if name in sys.modules:
            _forget_module(name)
            importlib.reload(sys.modules[name])
        else:
            importlib.import_module(name)
    return sorted(
        ex
        for ex, checks in _REGISTRY.items()
        if any(c.func.__module__ == name for c in checks.values())
    )
