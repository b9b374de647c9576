"""ActivationBackwardExplorer: your activation f and your backward's f' (exercise 04).

Pick one of your activation layers and a range of x. The left panel draws your forward
f(x) (with bpkit's own layer dashed, when given); the right panel draws what your
``backward`` returns for an upstream gradient g (a slider, 1 by default) at every x, on top
of g times the central-difference slope of your own forward (dots). A forgotten upstream
factor shows as a curve that does not move with g; a wrong derivative as a curve that
leaves its dots. The text under the figure also says whether your backward changed the
upstream gradient it was given (the in-place trap).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.widgets._answers import error_html, returned_array, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["ActivationBackwardExplorer", "ActivationBackwardState", "backward_curve"]

GRID = 401  # points of the curves (odd: the grid holds x = 0 exactly)
H = 1e-5  # step of the central differences
AGREE = 1e-6  # |yours - numerical| <= AGREE * (1 + |numerical|) counts as agreement
KINK = 1e-3  # points this close to 0 are left out of the agreement (ReLU's kink)
DOTS = 41  # numerical estimates drawn as dots


def _error(exc: BaseException) -> str:
    return short_error(exc)


def backward_curve(layer_class: type, x: np.ndarray, upstream: float
                   ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Run a fresh ``layer_class()`` forward on ``x`` and backward on ``upstream * ones``.

    Returns f(x), the returned dx, and whether backward changed the upstream array it was
    given. Floating-point warnings are silenced; exceptions propagate.

    Shape:
        ``x`` (n,) -> f(x) (n,), dx (n,).
    """
    layer = layer_class()
    if not callable(layer):
        raise TypeError(f"{layer_class.__name__}() cannot be called like a layer: make it a "
                        f"subclass of bp.Module (class {layer_class.__name__}(bp.Module))")
    with np.errstate(all="ignore"):
        y = returned_array(layer(x.copy()), "forward", "one array")
        g = np.full(x.shape, float(upstream))
        g_in = g.copy()
        dx = layer.backward(g_in)
    changed = not np.array_equal(g_in, g)
    return y, returned_array(dx, "backward", "one array"), changed


@dataclass
class ActivationBackwardState:
    """What the explorer shows for the chosen layer, range and upstream gradient.

    Shape:
        ``x``, ``y``, ``reference``, ``dx`` and ``numerical``: (GRID,) arrays (NaN where
        not available); the rest scalars. ``dx`` is your backward of ``upstream`` * ones;
        ``numerical`` is ``upstream`` times the central-difference slope of your forward.
    """

    label: str
    x_max: float
    upstream: float
    x: np.ndarray
    y: np.ndarray
    reference: np.ndarray
    dx: np.ndarray
    numerical: np.ndarray
    max_difference: float  # away from the kink at 0 (NaN if your code raised)
    agree: bool
    upstream_changed: bool
    error: str


class ActivationBackwardExplorer(WidgetApp):
    """Your activation layers: f from your forward, f' from your backward, against the slope.

    ``layers`` maps a label to one of your layer classes (built with no arguments);
    ``references`` optionally maps the same labels to bpkit's layers, drawn dashed. Controls:
    ``activation`` (Dropdown of the labels), ``x_max`` (FloatSlider: the range is
    [-x_max, x_max]) and ``upstream`` (FloatSlider: the upstream gradient g). ``state`` is
    an :class:`ActivationBackwardState`. An exception in your code is shown, not raised.

    Shape:
        your ``forward`` maps (n,) -> (n,) and ``backward`` (n,) -> (n,).
    """

    def __init__(self, layers: Mapping[str, type], *,
                 references: Mapping[str, type] | None = None, x_max: float = 5.0,
                 upstream: float = 1.0) -> None:
        import ipywidgets as widgets

        if not layers:
            raise ValueError("ActivationBackwardExplorer needs at least one layer class")
        for label, cls in layers.items():
            if not isinstance(cls, type):
                raise TypeError(f"ActivationBackwardExplorer: layers[{label!r}] must be a "
                                f"layer class, got {type(cls).__name__}")
        if not 1.0 <= x_max <= 10.0:
            raise ValueError(f"ActivationBackwardExplorer expected x_max in [1, 10], got {x_max}")
        self.layers = dict(layers)
        self.references = dict(references or {})
        self.activation = widgets.Dropdown(options=list(self.layers), description="layer")
        self.x_max = widgets.FloatSlider(value=x_max, min=1.0, max=10.0, step=0.5,
                                         description="x range ±", continuous_update=False)
        self.upstream = widgets.FloatSlider(value=upstream, min=-2.0, max=2.0, step=0.25,
                                            description="upstream g", continuous_update=False)
        super().__init__([self.activation, self.x_max, self.upstream], figsize=(10.0, 3.8))

    def update(self) -> None:
        """Run your layer's forward and backward on the grid, and the numerical slope."""
        label = str(self.activation.value)
        cls = self.layers[label]
        x_max = float(self.x_max.value)
        g = float(self.upstream.value)
        x = np.linspace(-x_max, x_max, GRID)
        nan = np.full(GRID, np.nan)
        reference = nan.copy()
        ref_cls = self.references.get(label)
        if ref_cls is not None:
            reference = np.asarray(ref_cls()(x.copy()), dtype=np.float64)
        state = ActivationBackwardState(label, x_max, g, x, nan.copy(), reference, nan.copy(),
                                        nan.copy(), float("nan"), False, False, "")
        try:
            y, dx, changed = backward_curve(cls, x, g)
            with np.errstate(all="ignore"):
                up = np.asarray(cls()(x + H), dtype=np.float64)
                down = np.asarray(cls()(x - H), dtype=np.float64)
            numerical = g * (up - down) / (2 * H)
            if y.shape != x.shape or dx.shape != x.shape or numerical.shape != x.shape:
                raise ValueError(f"expected arrays of shape {x.shape}, got f(x) {y.shape} "
                                 f"and dx {dx.shape}")
        except Exception as exc:  # the learner's code: shown in the panel, not raised
            state.error = _error(exc)
        else:
            away = np.abs(x) > KINK
            diff = np.abs(dx - numerical)[away]
            state.y, state.dx, state.numerical = y, dx, numerical
            state.upstream_changed = changed
            state.max_difference = float(np.max(diff)) if np.all(np.isfinite(diff)) \
                else float("inf")
            state.agree = bool(np.all(diff <= AGREE * (1 + np.abs(numerical[away]))))
        self.state = state
        self._message()

    def _message(self) -> None:
        s = self.state
        if s.error:
            self.message.value = error_html(f"Your {s.label}", s.error)
            return
        parts = []
        if s.agree:
            parts.append("✔ your backward matches g · f' from the slope of your forward")
        else:
            parts.append(f"✘ your backward is off by up to {s.max_difference:.3g}")
        if s.upstream_changed:
            parts.append("✘ your backward changed the upstream gradient it was given "
                         "(the in-place trap)")
        else:
            parts.append("✔ the upstream gradient was left unchanged")
        self.message.value = html.escape(";  ".join(parts))

    def draw(self, figure: Any) -> None:
        """Left: f(x), yours and bpkit's. Right: your backward against g · numerical f'."""
        s = self.state
        left, right = figure.subplots(1, 2)
        if np.all(np.isfinite(s.reference)):
            left.plot(s.x, s.reference, "k--", lw=1, label="bpkit", gid="reference")
        if not s.error:
            left.plot(s.x, s.y, color="C0", label="your forward", gid="yours")
            step = max(1, GRID // DOTS)
            right.plot(s.x, s.dx, color="C3", label="your backward", gid="your-backward")
            right.plot(s.x[::step], s.numerical[::step], "k.", ms=4,
                       label="g · slope of your f", gid="numerical")
            verdict = "agree" if s.agree else "differ"
            right.set_title(f"backward of g = {s.upstream:g}: {verdict}")
        else:
            right.set_title("your layer raised: see below")
        left.set_title(f"{s.label}: f(x)")
        for ax in (left, right):
            ax.axhline(0, color="0.7", lw=0.6)
            ax.set_xlabel("x")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="best")
        right.set_ylabel("dx")
