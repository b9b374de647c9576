"""GradientCheckerLab: *your* numerical gradient and relative error at work (exercise 06).

Pick a function whose gradient is known in closed form and move the step ``h`` (the slider
is log10 h). The left panel is the U-shaped curve of notebook 06 measured with your code:
``rel_error(numerical_gradient(f, x, h), exact)`` for 45 steps from 1e-12 to 1e-1, with your
``h`` marked. The right panel puts every entry of your estimate at that ``h`` against the
exact gradient: on the diagonal when they agree.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit._known_gradients import CASES, Case
from bpkit.widgets._answers import error_html, returned_array, returned_number, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["GradientCheckerLab", "LabState", "error_curve"]

STEPS = np.logspace(-12, -1, 45)  # the steps of the error curve
NumericalGradient = Callable[..., Any]
RelError = Callable[[Any, Any], Any]


def _raw_estimate(numerical_gradient: NumericalGradient, case: Case, h: float) -> Any:
    x = case.x.copy()

    def f() -> float:
        return case.f(x)

    f.__qualname__ = "f"  # errors such as "f() takes 0 positional arguments" name f
    return numerical_gradient(f, x, h)


def _estimate(numerical_gradient: NumericalGradient, case: Case, h: float) -> np.ndarray:
    return np.asarray(_raw_estimate(numerical_gradient, case, h), dtype=np.float64)


def _checked_estimate(numerical_gradient: NumericalGradient, case: Case, h: float
                      ) -> np.ndarray:
    """Your estimate at ``h``, or an error naming a None, a tuple or a wrong shape."""
    shape = case.x.shape
    return returned_array(_raw_estimate(numerical_gradient, case, h), "numerical_gradient",
                          f"an array of the shape of x, {shape}", shape, given="x")


def _as_float(value: Any) -> float:
    """What ``rel_error`` returned as a float, or an error naming what came instead."""
    return returned_number(value, "rel_error", "one number, the largest relative difference")


def error_curve(numerical_gradient: NumericalGradient, rel_error: RelError, case: Case,
                steps: np.ndarray = STEPS) -> np.ndarray:
    """``rel_error(numerical_gradient(f, x, h), exact)`` for every ``h`` in ``steps``.

    Shape:
        ``steps`` (S,) -> (S,) floats (NaN where an estimate has the wrong shape).
    """
    exact = case.grad(case.x)
    out = np.empty(len(steps))
    for i, h in enumerate(steps):
        est = _estimate(numerical_gradient, case, float(h))
        out[i] = _as_float(rel_error(est, exact)) if est.shape == exact.shape else np.nan
    return out


@dataclass
class LabState:
    """What the lab shows: the curve, your estimate at ``h`` and its error.

    Shape:
        ``errors`` (45,) one per step of ``STEPS``; ``estimate`` and ``exact`` the shape of
        the problem's x. ``error`` is the text of an exception from your code ("" if none).
    """

    problem: str
    h: float
    errors: np.ndarray = field(default_factory=lambda: np.full(len(STEPS), np.nan))
    error_at_h: float = float("nan")
    best_h: float = float("nan")
    estimate: np.ndarray | None = None
    exact: np.ndarray | None = None
    error: str = ""


class GradientCheckerLab(WidgetApp):
    """Your ``numerical_gradient`` and ``rel_error`` on functions with known gradients.

    Controls: ``problem`` (Dropdown of the exercise's functions), ``log10_h`` (FloatSlider
    from -12 to -1). ``state`` is a :class:`LabState`. An exception from your code is shown
    in the panel instead of raised.

    Shape:
        ``numerical_gradient(f, x, h)`` returns an array of x's shape; ``rel_error(a, b)``
        a float.
    """

    def __init__(self, numerical_gradient: NumericalGradient, rel_error: RelError, *,
                 problem: str | None = None, log10_h: float = -5.0) -> None:
        import ipywidgets as widgets

        if not callable(numerical_gradient) or not callable(rel_error):
            raise TypeError("GradientCheckerLab expected two functions, numerical_gradient "
                            "and rel_error")
        self.cases = CASES  # the functions with known gradients the grader uses
        names = [c.name for c in CASES]
        if problem is not None and problem not in names:
            raise ValueError(f"GradientCheckerLab: problem must be one of {names}, "
                             f"got {problem!r}")
        if not -12.0 <= log10_h <= -1.0:
            raise ValueError(f"GradientCheckerLab: log10_h must be in [-12, -1], got {log10_h}")
        self.numerical_gradient = numerical_gradient
        self.rel_error = rel_error
        self.problem = widgets.Dropdown(options=names, value=problem or names[0],
                                        description="function")
        self.log10_h = widgets.FloatSlider(value=log10_h, min=-12.0, max=-1.0, step=0.25,
                                           description="log10 h", continuous_update=False)
        self._curves: dict[str, tuple[np.ndarray, str]] = {}
        super().__init__([self.problem, self.log10_h], figsize=(10.0, 4.0))

    def _case(self) -> Case:
        return next(c for c in self.cases if c.name == self.problem.value)

    def update(self) -> None:
        """Measure the curve (once per problem) and your estimate at the slider's h."""
        case = self._case()
        h = float(10.0 ** self.log10_h.value)
        s = LabState(problem=case.name, h=h, exact=case.grad(case.x))
        if case.name not in self._curves:
            try:
                with np.errstate(all="ignore"):
                    curve = error_curve(self.numerical_gradient, self.rel_error, case)
                self._curves[case.name] = (curve, "")
            except Exception as exc:  # the learner's code
                self._curves[case.name] = (np.full(len(STEPS), np.nan),
                                           short_error(exc))
        s.errors, s.error = self._curves[case.name]
        if not s.error:
            try:
                with np.errstate(all="ignore"):
                    s.estimate = _checked_estimate(self.numerical_gradient, case, h)
                    s.error_at_h = _as_float(self.rel_error(s.estimate, s.exact))
            except Exception as exc:
                s.error = short_error(exc)
        if np.any(np.isfinite(s.errors)):
            s.best_h = float(STEPS[int(np.nanargmin(s.errors))])
        self.state = s
        if s.error:
            self.message.value = error_html("Your code", s.error)
        else:
            verdict = "good" if s.error_at_h < 1e-7 else (
                "wrong" if s.error_at_h > 1e-2 else "look closer")
            self.message.value = html.escape(
                f"h = {h:.2g}: relative error {s.error_at_h:.2e} ({verdict}); the best h on "
                f"your curve is {s.best_h:.2g}")

    def draw(self, figure: Any) -> None:
        """Left: your relative error against h. Right: your estimate against the exact."""
        s = self.state
        left, right = figure.subplots(1, 2)
        finite = np.isfinite(s.errors)
        if finite.any():
            left.loglog(STEPS[finite], np.maximum(s.errors[finite], 1e-17), color="C0",
                        gid="curve", label="your rel_error")
        if np.isfinite(s.error_at_h):
            left.loglog([s.h], [max(s.error_at_h, 1e-17)], "o", color="k", gid="your-h")
        for level, text in ((1e-2, "1e-2 wrong"), (1e-7, "1e-7 good")):
            left.axhline(level, color="C3", ls=":", lw=1)
            left.text(2e-12, level * 1.8, text, color="C3", fontsize="small")
        left.set_xlabel("step h")
        left.set_ylabel("relative error")
        left.set_xlim(STEPS[0], STEPS[-1])
        left.set_ylim(1e-13, 5)
        left.set_title("your error curve")
        if s.estimate is not None and s.exact is not None and s.estimate.shape == s.exact.shape:
            ex, est = s.exact.ravel(), s.estimate.ravel()
            lo, hi = float(min(ex.min(), est.min())), float(max(ex.max(), est.max()))
            right.plot([lo, hi], [lo, hi], color="0.6", lw=1)
            right.plot(ex, est, "o", color="C0", gid="entries")
        right.set_xlabel("exact gradient entry")
        right.set_ylabel("your numerical estimate")
        right.set_title(f"entries at h = {s.h:.2g}")
