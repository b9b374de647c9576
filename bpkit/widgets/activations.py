"""ActivationExplorer: an activation f and its derivative f' over a range of x (notebook 05).

Pick an activation layer and a range: the left panel draws f(x) = layer(x), the right panel
the derivative f'(x) that the layer's own ``backward`` returns for an upstream gradient of
ones, with a central-difference estimate on top. Shaded bands mark where |f'| is small
(saturation: a gradient passing through is nearly stopped there) and dotted lines mark the
kinks, the points where f' jumps (ReLU's corner at 0).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.layers import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from bpkit.module import Module
from bpkit.widgets._app import WidgetApp

__all__ = [
    "ACTIVATIONS",
    "ActivationExplorer",
    "ActivationState",
    "find_kinks",
    "layer_derivative",
]

#: A layer factory: receives the explorer's ``negative_slope`` (most factories ignore it).
Factory = Callable[[float], Module]

RANGE_MIN, RANGE_MAX = -20.0, 20.0  # limits of the x-range slider
H = 1e-5  # step of the central difference
KINK_HALVINGS = 40  # bisection steps that locate a jump of f' (an interval of 0.1 -> 1e-13)
KINK_JUMP = 1e-6  # a jump of f' still this large after the halvings is a kink
MARKED_POINTS = 25  # about this many numerical estimates are drawn as dots


def _relu(negative_slope: float) -> Module:
    return ReLU()


def _leaky_relu(negative_slope: float) -> Module:
    return LeakyReLU(negative_slope)


def _sigmoid(negative_slope: float) -> Module:
    return Sigmoid()


def _tanh(negative_slope: float) -> Module:
    return Tanh()


def _gelu(negative_slope: float) -> Module:
    return GELU()


#: The explorer's activations: label -> factory building a fresh layer.
ACTIVATIONS: dict[str, Factory] = {
    "ReLU": _relu,
    "LeakyReLU": _leaky_relu,
    "Sigmoid": _sigmoid,
    "Tanh": _tanh,
    "GELU": _gelu,
}


def layer_derivative(layer: Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output and derivative of an elementwise layer: f = layer(x), f' = layer.backward(1).

    Shape:
        ``x`` (K,) -> ``f`` (K,), ``df`` (K,).

    For an elementwise layer, backward with an upstream gradient of ones returns
    1 * f'(x_k) in every entry: the local derivative at each point.
    """
    f = layer(x)
    df = layer.backward(np.ones_like(f))
    return f, df


def find_kinks(layer: Module, x: np.ndarray) -> np.ndarray:
    """The points in [x[0], x[-1]] where the layer's derivative jumps (kinks).

    Shape:
        ``x`` (K,) increasing -> (k,) kink positions, increasing.

    Each interval [x_i, x_i+1] is halved ``KINK_HALVINGS`` times, always keeping the half
    across which f' (from ``backward``) changes more. Where f' is continuous that change
    shrinks with the interval, to almost nothing; where f' jumps it stays the size of the
    jump. Intervals that end with a change above ``KINK_JUMP`` hold a kink.
    """
    a, b = x[:-1].copy(), x[1:].copy()
    da, db = layer_derivative(layer, a)[1], layer_derivative(layer, b)[1]
    for _ in range(KINK_HALVINGS):
        m = 0.5 * (a + b)
        dm = layer_derivative(layer, m)[1]
        left = np.abs(dm - da) >= np.abs(db - dm)  # keep [a, m]
        a, b = np.where(left, a, m), np.where(left, m, b)
        da, db = np.where(left, da, dm), np.where(left, dm, db)
    found = 0.5 * (a + b)[np.abs(db - da) > KINK_JUMP]
    # A kink on a grid point can be found from both sides: merge near-duplicates.
    spacing = float(np.min(np.diff(x))) if len(x) > 1 else 0.0
    kinks: list[float] = []
    for k in found:
        if not kinks or k - kinks[-1] > 0.5 * spacing:
            kinks.append(float(k))
    return np.array(kinks)


@dataclass
class ActivationState:
    """What the explorer shows: f and f' on a grid, the check, the kinks and saturation.

    Shape:
        ``x``, ``f``, ``df``, ``numerical``, ``saturated`` and ``near_kink`` (K,);
        ``kinks`` (k,); the rest are scalars or strings.

    ``df`` comes from the layer's backward, ``numerical`` from central differences
    (f(x + h) - f(x - h)) / 2h; ``max_abs_error`` is max |df - numerical| over the points
    farther than 2h from every kink (at a kink the difference straddles the corner and is
    wrong, not the backward pass). ``saturated`` marks |df| < ``threshold``, and
    ``saturated_fraction`` is the share of the range where that holds.
    """

    label: str
    layer: str  # the layer's repr, e.g. "LeakyReLU(negative_slope=0.01)"
    x: np.ndarray
    f: np.ndarray
    df: np.ndarray
    numerical: np.ndarray
    kinks: np.ndarray
    near_kink: np.ndarray
    max_abs_error: float
    threshold: float
    saturated: np.ndarray
    saturated_fraction: float
    uses_slope: bool  # whether the layer has a negative_slope (the slider applies)


class ActivationExplorer(WidgetApp):
    """Pick an activation and a range of x: see f, f' from backward, saturation and kinks.

    Controls: ``activation`` (a Dropdown whose value is a layer factory), ``x_range`` (a
    FloatRangeSlider) and ``negative_slope`` (a FloatSlider, enabled for layers that have a
    ``negative_slope``, i.e. LeakyReLU). ``state`` is an :class:`ActivationState`. Left panel:
    f(x). Right panel: f'(x) from ``backward`` (line) and central differences (dots). Both
    panels shade where |f'| < ``threshold`` and draw a dotted line at each kink.

    Shape:
        each factory takes the negative slope (a float) and returns an elementwise layer
        mapping (K,) to (K,).
    """

    def __init__(
        self,
        activations: Mapping[str, Factory] | None = None,
        *,
        activation: str | None = None,
        x_range: tuple[float, float] = (-6.0, 6.0),
        negative_slope: float = 0.01,
        threshold: float = 0.05,
        num: int = 401,
    ) -> None:
        import ipywidgets as widgets

        where = "ActivationExplorer"
        activations = dict(ACTIVATIONS if activations is None else activations)
        if not activations:
            raise ValueError(f"{where} expected at least one activation, got none")
        for label, factory in activations.items():
            if isinstance(factory, Module) or not callable(factory):
                raise TypeError(
                    f"{where} expected activations[{label!r}] to be a layer factory (a callable "
                    f"taking the negative slope, e.g. lambda slope: ReLU()), got {factory!r}"
                )
        if activation is None:
            activation = next(iter(activations))
        if activation not in activations:
            raise ValueError(
                f"{where} expected activation to be one of {list(activations)}, "
                f"got {activation!r}"
            )
        low, high = (float(v) for v in x_range)
        if not RANGE_MIN <= low < high <= RANGE_MAX:
            raise ValueError(
                f"{where} expected x_range (low, high) with {RANGE_MIN} <= low < high <= "
                f"{RANGE_MAX}, got {tuple(x_range)!r}"
            )
        if not 0.0 <= negative_slope <= 1.0:
            raise ValueError(f"{where} expected negative_slope in [0, 1], got {negative_slope!r}")
        if not threshold > 0:
            raise ValueError(f"{where} expected threshold > 0, got {threshold!r}")
        if isinstance(num, bool) or not isinstance(num, int) or num < 3:
            raise ValueError(f"{where} expected num to be an int >= 3, got {num!r}")
        self.threshold = float(threshold)
        self.num = num
        self.activation = widgets.Dropdown(
            options=activations, value=activations[activation], description="activation"
        )
        self.x_range = widgets.FloatRangeSlider(
            value=(low, high),
            min=RANGE_MIN,
            max=RANGE_MAX,
            step=0.1,
            description="x range",
            continuous_update=False,
        )
        self.negative_slope = widgets.FloatSlider(
            value=negative_slope,
            min=0.0,
            max=1.0,
            step=0.01,
            description="neg. slope",
            continuous_update=False,
        )
        super().__init__(
            [self.activation, self.x_range, self.negative_slope],
            figsize=(10.0, 4.0),
            rows=[[self.activation, self.negative_slope], [self.x_range]],
        )

    def update(self) -> None:
        """Build the layer, run forward/backward on the grid, check it, find kinks."""
        factory = self.activation.value
        layer = factory(float(self.negative_slope.value))
        if not isinstance(layer, Module):
            raise TypeError(
                f"ActivationExplorer: the factory for {self.activation.label!r} returned "
                f"{type(layer).__name__}, expected a bpkit Module"
            )
        low, high = (float(v) for v in self.x_range.value)
        if high <= low:  # the slider's two handles on one value: widen by one step each way
            low, high = low - self.x_range.step, high + self.x_range.step
        x = np.linspace(low, high, self.num)
        f, df = layer_derivative(layer, x)
        numerical = (layer(x + H) - layer(x - H)) / (2 * H)
        kinks = find_kinks(layer, x)
        near_kink = np.zeros(x.shape, dtype=bool)
        for k in kinks:
            near_kink |= np.abs(x - k) <= 2 * H
        errors = np.abs(df - numerical)[~near_kink]
        saturated = np.abs(df) < self.threshold
        self.state = ActivationState(
            label=str(self.activation.label),
            layer=repr(layer),
            x=x,
            f=f,
            df=df,
            numerical=numerical,
            kinks=kinks,
            near_kink=near_kink,
            max_abs_error=float(errors.max(initial=0.0)),
            threshold=self.threshold,
            saturated=saturated,
            saturated_fraction=float(np.mean(saturated)),
            uses_slope=hasattr(layer, "negative_slope"),
        )
        self.negative_slope.disabled = not self.state.uses_slope
        s = self.state
        kink_text = ", ".join(f"x = {k:.2f}" for k in s.kinks) if len(s.kinks) else "none"
        self.message.value = html.escape(
            f"{s.layer}: max |f' (backward) - f' (numerical)| away from kinks = "
            f"{s.max_abs_error:.1e}; |f'| < {s.threshold:g} on {100 * s.saturated_fraction:.0f}% "
            f"of the range; kinks: {kink_text}"
        )

    def draw(self, figure: Any) -> None:
        """Left: f(x). Right: f'(x) from backward and numerically. Saturation and kinks marked."""
        s = self.state
        figure.set_layout_engine("none")  # fixed margins: constrained layout slows redraws
        margins = {"left": 0.07, "right": 0.985, "bottom": 0.12, "top": 0.91, "wspace": 0.22}
        left, right = figure.subplots(1, 2, gridspec_kw=margins)
        for ax in (left, right):
            ax.fill_between(
                s.x, 0, 1, where=s.saturated, transform=ax.get_xaxis_transform(),
                color="C3", alpha=0.12, lw=0, gid="saturated",
                label=f"|f'| < {s.threshold:g} (saturated)",
            )
            for i, k in enumerate(s.kinks):
                ax.axvline(
                    k, color="k", ls=":", lw=1.2, gid="kink",
                    label=f"kink at x = {k:.2f}" if i == 0 else None,
                )
            ax.axhline(0, color="0.6", lw=0.6)
            ax.set_xlim(s.x[0], s.x[-1])
            ax.set_xlabel("x")

        left.plot(s.x, s.f, color="C0", lw=2, gid="f", label="f(x)")
        left.set_ylabel("f(x)")
        left.set_title(f"{s.layer}")

        # Break the f' line at each kink so that a jump is not drawn as a steep ramp.
        at = np.searchsorted(s.x, s.kinks)
        xs = np.insert(s.x, at, s.kinks)
        ys = np.insert(s.df, at, np.nan)
        right.plot(xs, ys, color="C1", lw=2, gid="df", label="f'(x) from backward")
        every = max(1, len(s.x) // MARKED_POINTS)
        right.plot(
            s.x[::every], s.numerical[::every], "o", color="k", ms=3.5, gid="numerical",
            label="central difference",
        )
        low = min(float(np.min(s.df)), 0.0)
        high = max(float(np.max(s.df)), 2 * s.threshold)
        pad = 0.08 * (high - low)
        right.set_ylim(low - pad, high + 2.5 * pad)
        right.set_ylabel("f'(x)")
        right.set_title(f"Derivative: max |backward - numerical| = {s.max_abs_error:.1e}")
        right.legend(loc="upper left", fontsize="small")
