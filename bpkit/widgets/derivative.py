"""DerivativeExplorer: a function, its tangent and a finite-difference secant (notebook 01).

Move ``x`` and ``h`` and watch the secant through ``x`` and ``x + h`` (or ``x - h`` and
``x + h``) turn into the tangent, while a second panel shows how the error of the
finite-difference estimate depends on ``h``: falling like ``h`` (forward) or ``h**2``
(central) until floating-point rounding takes over.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.widgets._app import WidgetApp
from bpkit.widgets._drawing import decades

__all__ = ["FUNCTIONS", "DerivativeExplorer", "DerivativeState", "finite_difference"]

Function = Callable[[np.ndarray], np.ndarray]

X_MIN, X_MAX = -2.0, 2.0  # range of the x slider
LOG10_H_MIN, LOG10_H_MAX = -12.0, 0.0  # range of the log10(h) slider
PLOT_MIN, PLOT_MAX = -3.0, 3.0  # the plotted interval holds x - h and x + h for every setting
ERROR_FLOOR = 1e-17  # errors below this (often exactly 0) are drawn at it on the log axis


def _square(x: np.ndarray) -> np.ndarray:
    return x**2


def _d_square(x: np.ndarray) -> np.ndarray:
    return 2.0 * x


def _gaussian(x: np.ndarray) -> np.ndarray:
    return np.exp(-(x**2))


def _d_gaussian(x: np.ndarray) -> np.ndarray:
    return -2.0 * x * np.exp(-(x**2))


def _cubic(x: np.ndarray) -> np.ndarray:
    return x**3 - 2.0 * x


def _d_cubic(x: np.ndarray) -> np.ndarray:
    return 3.0 * x**2 - 2.0


def _sin_of_square(x: np.ndarray) -> np.ndarray:
    return np.sin(x**2)


def _d_sin_of_square(x: np.ndarray) -> np.ndarray:
    return np.cos(x**2) * 2.0 * x  # chain rule: outer derivative at the inner value, times inner


#: The explorer's functions: label -> (f, f') with f' written out by hand.
FUNCTIONS: dict[str, tuple[Function, Function]] = {
    "x²": (_square, _d_square),
    "sin(x)": (np.sin, np.cos),
    "exp(-x²)": (_gaussian, _d_gaussian),
    "x³ - 2x": (_cubic, _d_cubic),
    "sin(x²)": (_sin_of_square, _d_sin_of_square),
}


def finite_difference(f: Function, x: float, h: float, *, central: bool = False) -> float:
    """The slope of a secant of ``f`` near ``x``: an estimate of f'(x).

    Shape:
        ``x`` and ``h`` are scalars; returns a float.

    Forward:  (f(x + h) - f(x)) / h,           error about h/2 |f''(x)|.
    Central:  (f(x + h) - f(x - h)) / (2h),    error about h²/6 |f'''(x)|.
    """
    h = float(h)
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"finite_difference expected a finite step h > 0, got {h!r}")
    x = float(x)
    if central:
        return float((f(x + h) - f(x - h)) / (2.0 * h))
    return float((f(x + h) - f(x)) / h)


@dataclass
class DerivativeState:
    """What the explorer shows: the point, the step, both slopes and the error.

    Shape:
        scalars, except ``hs``, ``errors_forward`` and ``errors_central`` (each ``(K,)``):
        the step sizes of the error panel and |estimate - f'(x)| of each method at them.
    """

    label: str
    x: float
    h: float
    method: str  # "forward" or "central"
    fx: float
    analytic: float
    estimate: float
    abs_error: float
    secant_points: tuple[float, float]  # the two x positions the secant passes through
    hs: np.ndarray
    errors_forward: np.ndarray
    errors_central: np.ndarray


class DerivativeExplorer(WidgetApp):
    """Pick f, move x and h: the tangent (analytic f'(x)) against a finite-difference secant.

    Controls: ``function`` (a Dropdown whose value is the pair (f, f')), ``x`` and
    ``log10_h`` (FloatSliders) and ``central`` (a Checkbox: central instead of forward
    difference). ``state`` is a :class:`DerivativeState`. The left panel draws f, its tangent
    at x and the secant; the right panel draws the error of both methods against h on
    log-log axes, with the current h marked.

    Shape:
        each function maps an ndarray to an ndarray of the same shape, elementwise.
    """

    def __init__(
        self,
        functions: Mapping[str, tuple[Function, Function]] | None = None,
        *,
        x: float = 1.0,
        log10_h: float = -0.5,
        central: bool = False,
    ) -> None:
        import ipywidgets as widgets

        functions = dict(FUNCTIONS if functions is None else functions)
        if not functions:
            raise ValueError("DerivativeExplorer expected at least one function, got none")
        for label, pair in functions.items():
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(callable, pair))):
                raise TypeError(
                    f"DerivativeExplorer expected functions[{label!r}] to be a pair "
                    f"(f, df) of callables, got {pair!r}"
                )
        for name, value in (("x", x), ("log10_h", log10_h)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(
                    f"DerivativeExplorer expected {name} to be a number, "
                    f"got {type(value).__name__}"
                )
        if not X_MIN <= x <= X_MAX:
            raise ValueError(f"DerivativeExplorer expected x in [{X_MIN}, {X_MAX}], got {x!r}")
        if not LOG10_H_MIN <= log10_h <= LOG10_H_MAX:
            raise ValueError(
                f"DerivativeExplorer expected log10_h in [{LOG10_H_MIN}, {LOG10_H_MAX}], "
                f"got {log10_h!r}"
            )
        self.function = widgets.Dropdown(options=functions, description="f(x)")
        self.x = widgets.FloatSlider(
            value=x, min=X_MIN, max=X_MAX, step=0.01, description="x", continuous_update=False
        )
        self.log10_h = widgets.FloatSlider(
            value=log10_h,
            min=LOG10_H_MIN,
            max=LOG10_H_MAX,
            step=0.1,
            description="log10 h",
            continuous_update=False,
        )
        self.central = widgets.Checkbox(value=bool(central), description="central difference")
        super().__init__(
            [self.function, self.x, self.log10_h, self.central],
            figsize=(10.0, 4.0),
            rows=[[self.function, self.central], [self.x, self.log10_h]],
        )

    def update(self) -> None:
        """Compute f(x), the analytic and estimated slopes and the error curves."""
        f, df = self.function.value
        x = float(self.x.value)
        h = 10.0 ** float(self.log10_h.value)
        central = bool(self.central.value)
        analytic = float(df(x))
        estimate = finite_difference(f, x, h, central=central)
        hs = np.logspace(LOG10_H_MIN, LOG10_H_MAX, 121)
        errors_forward = np.abs((f(x + hs) - f(x)) / hs - analytic)
        errors_central = np.abs((f(x + hs) - f(x - hs)) / (2.0 * hs) - analytic)
        self.state = DerivativeState(
            label=str(self.function.label),
            x=x,
            h=h,
            method="central" if central else "forward",
            fx=float(f(x)),
            analytic=analytic,
            estimate=estimate,
            abs_error=abs(estimate - analytic),
            secant_points=(x - h if central else x, x + h),
            hs=hs,
            errors_forward=errors_forward,
            errors_central=errors_central,
        )
        s = self.state
        self.message.value = html.escape(
            f"f'({s.x:.2f}) = {s.analytic:.6f} (analytic); {s.method} difference with "
            f"h = {s.h:.1e} gives {s.estimate:.6f}; |error| = {s.abs_error:.1e}"
        )

    def draw(self, figure: Any) -> None:
        """Left: f, tangent and secant. Right: |error| against h, log-log."""
        f, _ = self.function.value
        s = self.state
        # Fixed margins: constrained layout would add a third to the cost of every redraw.
        figure.set_layout_engine("none")
        margins = {"left": 0.065, "right": 0.985, "bottom": 0.12, "top": 0.92, "wspace": 0.2}
        left, right = figure.subplots(1, 2, width_ratios=[1.25, 1.0], gridspec_kw=margins)

        ts = np.linspace(PLOT_MIN, PLOT_MAX, 601)
        ys = f(ts)
        low, high = float(np.min(ys)), float(np.max(ys))
        margin = 0.15 * max(high - low, 1.0)
        a, b = s.secant_points
        left.plot(ts, ys, color="C0", lw=2, label=f"f(x) = {s.label}", gid="function")
        left.plot(
            ts, s.fx + s.analytic * (ts - s.x), color="C2", ls="--",
            label=f"tangent, slope {s.analytic:.4f}", gid="tangent", zorder=3,
        )
        fa = float(f(a))
        left.plot(
            ts, fa + s.estimate * (ts - a), color="C3",
            label=f"secant ({s.method}), slope {s.estimate:.4f}", gid="secant",
        )
        left.plot([a, b], [fa, float(f(b))], "o", color="C3", ms=5, gid="secant-points")
        left.plot([s.x], [s.fx], "o", color="k", ms=5, gid="point")
        left.set_xlim(PLOT_MIN, PLOT_MAX)
        left.set_ylim(low - margin, high + margin)
        left.set_xlabel("x")
        left.set_ylabel("f(x)")
        left.set_title(f"Tangent vs secant at x = {s.x:.2f}, h = {s.h:.1e}")
        left.legend(loc="best", fontsize="small")

        current, other = (
            (s.errors_central, s.errors_forward)
            if s.method == "central"
            else (s.errors_forward, s.errors_central)
        )
        other_method = "forward" if s.method == "central" else "central"
        right.loglog(
            s.hs, np.maximum(current, ERROR_FLOOR), color="C3", label=s.method, gid="errors"
        )
        right.loglog(
            s.hs, np.maximum(other, ERROR_FLOOR), color="0.6", ls=":", label=other_method,
            gid="errors-other",
        )
        right.axvline(s.h, color="k", lw=0.8, alpha=0.5)
        right.loglog(
            [s.h], [max(s.abs_error, ERROR_FLOOR)], "o", color="k", ms=6, gid="current",
            label="current h",
        )
        shown = np.concatenate([current, other, [s.abs_error]])
        lowest = float(np.min(np.maximum(shown, ERROR_FLOOR)))
        right.set_ylim(lowest / 5, None)
        decades(right.xaxis, 4)
        decades(right.yaxis, 5)
        right.set_xlabel("h")
        right.set_ylabel("|estimate - f'(x)|")
        right.set_title("Error of the estimate vs h")
        right.legend(loc="lower left", fontsize="small")
