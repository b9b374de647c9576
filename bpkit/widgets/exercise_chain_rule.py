"""ChainRuleExplorer: your hand-written derivative against the true slope (exercise 01).

Pick a function and move ``x``: the left panel draws the function with two tangents at
``x``, one whose slope is *your* derivative and one whose slope is the numerical derivative
(central differences); the right panel draws your derivative over the whole range against
the numerical one, so a forgotten factor shows as two curves that part.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.widgets._answers import returned_array, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["ChainRuleExplorer", "ChainRuleState", "numerical_slope"]

Function = Callable[[np.ndarray], np.ndarray]

X_MIN, X_MAX = -3.0, 3.0  # range of the x slider and of the plots
GRID = 241  # points of the curves
H = 1e-6  # step of the central differences
AGREE = 1e-5  # your derivative "agrees" when |yours - numerical| <= AGREE * (1 + |numerical|)


def numerical_slope(f: Function, x: np.ndarray | float, h: float = H) -> np.ndarray:
    """The central-difference slope of ``f`` at ``x`` (the true tangent's slope, to ~1e-9).

    Shape:
        ``x`` any shape -> the same shape.

    Formula:
        (f(x + h) - f(x - h)) / (2h).
    """
    x = np.asarray(x, dtype=np.float64)
    return (f(x + h) - f(x - h)) / (2.0 * h)


@dataclass
class ChainRuleState:
    """What the explorer shows for the chosen function at the chosen ``x``.

    Shape:
        scalars, except ``xs``, ``yours`` and ``numerical`` (each ``(GRID,)``): the grid of
        the right panel, your derivative on it (NaN if it raised) and the numerical one.
        ``error`` is the message of the exception your derivative raised, or "".
    """

    label: str
    x: float
    fx: float
    slope: float  # your derivative at x (NaN if it raised)
    true_slope: float  # numerical derivative at x
    difference: float  # |slope - true_slope|
    xs: np.ndarray
    yours: np.ndarray
    numerical: np.ndarray
    max_difference: float  # over the grid (NaN if your derivative raised)
    agree: bool  # your derivative matches the numerical one everywhere on the grid
    error: str


def _evaluate(df: Function, xs: np.ndarray) -> tuple[np.ndarray, str]:
    """``df(xs)`` as a float array of xs's shape, or NaNs and the error message."""
    try:
        with np.errstate(all="ignore"):
            values = returned_array(df(xs.copy()), "your derivative",
                                    f"an array of the shape of x, {xs.shape}")
        if values.shape != xs.shape:
            if values.size != 1:
                raise ValueError(f"your derivative returned shape {values.shape} for x of "
                                 f"shape {xs.shape}; expected the shape of x")
            values = np.broadcast_to(values.reshape(()), xs.shape).copy()
    except Exception as exc:  # the learner's code: shown in the panel, not raised
        return np.full(xs.shape, np.nan), short_error(exc)
    return values, ""


class ChainRuleExplorer(WidgetApp):
    """Your derivative against the numerical slope, for each function you differentiated.

    Controls: ``function`` (a Dropdown whose value is the pair (f, your f')) and ``x`` (a
    FloatSlider on [-3, 3]). ``state`` is a :class:`ChainRuleState`. Left panel: f, the
    tangent with your slope (solid, ``gid="your-tangent"``) and the true tangent from
    central differences (dashed, ``gid="true-tangent"``). Right panel: your f' over
    [-3, 3] (``gid="yours"``) and the numerical f' (``gid="numerical"``), ``x`` marked.
    A derivative that raises (e.g. ``NotImplementedError``) is reported in the panel below
    the figure instead of stopping the widget.

    Shape:
        each function maps an array to an array of the same shape, entry by entry.
    """

    def __init__(self, functions: Mapping[str, tuple[Function, Function]], *,
                 x: float = 1.0) -> None:
        import ipywidgets as widgets

        functions = dict(functions)
        if not functions:
            raise ValueError("ChainRuleExplorer expected at least one function, got none")
        for label, pair in functions.items():
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(callable, pair))):
                raise TypeError(
                    f"ChainRuleExplorer expected functions[{label!r}] to be a pair (f, df) of "
                    f"functions, got {pair!r}"
                )
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not X_MIN <= x <= X_MAX:
            raise ValueError(f"ChainRuleExplorer expected x in [{X_MIN}, {X_MAX}], got {x!r}")
        self.function = widgets.Dropdown(options=functions, description="f(x)")
        self.x = widgets.FloatSlider(value=float(x), min=X_MIN, max=X_MAX, step=0.05,
                                     description="x", continuous_update=False)
        super().__init__([self.function, self.x], figsize=(10.0, 3.8))

    def update(self) -> None:
        """Evaluate your derivative and the numerical one on the grid and at ``x``."""
        f, df = self.function.value
        x = float(self.x.value)
        xs = np.linspace(X_MIN, X_MAX, GRID)
        yours, error = _evaluate(df, xs)
        numerical = numerical_slope(f, xs)
        slope_arr, error_at_x = _evaluate(df, np.array([x]))
        slope = float(slope_arr[0])
        true_slope = float(numerical_slope(f, x))
        diff = np.abs(yours - numerical)
        max_diff = float(np.nanmax(diff)) if not error and np.any(np.isfinite(diff)) \
            else float("nan")
        agree = bool(not error and np.all(diff <= AGREE * (1.0 + np.abs(numerical))))
        self.state = ChainRuleState(
            label=str(self.function.label), x=x, fx=float(f(np.array(x))), slope=slope,
            true_slope=true_slope, difference=abs(slope - true_slope), xs=xs, yours=yours,
            numerical=numerical, max_difference=max_diff, agree=agree,
            error=error or error_at_x,
        )
        self.message.value = _panel(self.state)

    def draw(self, figure: Any) -> None:
        """Left: f and the two tangents at x. Right: your f' against the numerical f'."""
        f, _ = self.function.value
        s = self.state
        left, right = figure.subplots(1, 2)
        fs = f(s.xs)
        left.plot(s.xs, fs, color="C0", lw=2, label=f"f(x) = {s.label}", gid="function")
        low, high = float(np.min(fs)), float(np.max(fs))
        margin = 0.2 * max(high - low, 1.0)
        left.plot(s.xs, s.fx + s.true_slope * (s.xs - s.x), color="k", ls="--", lw=1.2,
                  label=f"true tangent, slope {s.true_slope:.4f}", gid="true-tangent")
        if np.isfinite(s.slope):
            left.plot(s.xs, s.fx + s.slope * (s.xs - s.x), color="C3", lw=1.5,
                      label=f"your tangent, slope {s.slope:.4f}", gid="your-tangent")
        left.plot([s.x], [s.fx], "o", color="k", ms=5, gid="point")
        left.set_ylim(low - margin, high + margin)
        left.set_xlim(X_MIN, X_MAX)
        left.set_xlabel("x")
        left.set_ylabel("f(x)")
        left.set_title(f"Tangents at x = {s.x:.2f}")
        left.legend(loc="best", fontsize="small")

        right.plot(s.xs, s.numerical, color="k", ls="--", lw=1.2, label="numerical f'(x)",
                   gid="numerical")
        if not s.error:
            right.plot(s.xs, s.yours, color="C3", lw=1.5, label="your f'(x)", gid="yours")
        right.axvline(s.x, color="0.5", lw=0.8)
        right.plot([s.x], [s.true_slope], "o", color="k", ms=5, gid="true-slope")
        if np.isfinite(s.slope):
            right.plot([s.x], [s.slope], "o", color="C3", ms=5, gid="your-slope")
        right.set_xlim(X_MIN, X_MAX)
        right.set_xlabel("x")
        right.set_ylabel("f'(x)")
        bad = int(np.sum(~np.isfinite(s.yours)))
        if s.error:
            verdict = "your derivative failed (see below)"
        elif s.agree:
            verdict = "yours matches everywhere"
        elif bad:
            verdict = f"yours is NaN or inf at {bad} of {GRID} points"
        else:
            verdict = f"yours is off: max |difference| {s.max_difference:.3g}"
        right.set_title(f"Derivative on [{X_MIN:g}, {X_MAX:g}]: {verdict}")
        right.legend(loc="best", fontsize="small")


def _panel(s: ChainRuleState) -> str:
    if s.error:
        return (f"<b>Your derivative failed:</b> <code>{html.escape(s.error)}</code>. Fix it "
                "(and run its cell), then move x again.")
    mark = "✔" if s.difference <= AGREE * (1 + abs(s.true_slope)) else "✘"
    return html.escape(
        f"{mark} at x = {s.x:.2f}: your f'(x) = {s.slope:.6f}, numerical slope = "
        f"{s.true_slope:.6f}, difference {s.difference:.1e}"
    )
