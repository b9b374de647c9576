"""GradcheckExplorer: the error of a finite-difference gradient against h (notebook 06).

Choose a function (or a Linear layer's weight gradient), a dtype, a difference formula and a
step h. The figure is the error of the numerical derivative against h on log-log axes: it
falls as h shrinks (truncation error, ~h or ~h^2) until rounding error (~eps |f| / h) takes
over and it rises again, a U. The chosen h, the best h on the curve and the rule-of-thumb
optimum (sqrt(eps) forward, eps^(1/3) central) are marked, with CS231n's thresholds 1e-7
("good") and 1e-2 ("wrong") for the relative error.
"""

from __future__ import annotations

import copy
import html
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.gradcheck import rel_error
from bpkit.layers import Linear, Tanh
from bpkit.widgets._app import WidgetApp
from bpkit.widgets._drawing import decades

__all__ = [
    "DTYPES",
    "METHODS",
    "PROBLEMS",
    "Elementwise",
    "GradcheckExplorer",
    "GradcheckState",
    "LinearWeight",
    "error_curve",
    "optimal_h",
    "step_grid",
]

LOG10_H_MIN, LOG10_H_MAX, LOG10_H_STEP = -14.0, -1.0, 0.1  # the h slider (and the curve's grid)
ERROR_FLOOR = 1e-17  # errors below this (often exactly 0) are drawn at it on the log axis
THRESHOLDS = ((1e-7, "1e-7: good (float64)"), (1e-2, "1e-2: wrong"))  # CS231n's rule of thumb

#: The dtypes the explorer offers: label -> numpy scalar type.
DTYPES: dict[str, type[np.floating]] = {"float32": np.float32, "float64": np.float64}
#: The two difference formulas.
METHODS: tuple[str, ...] = ("forward", "central")


def step_grid() -> np.ndarray:
    """The step sizes of the error curve: 10^-14 to 10^-1 in steps of 0.1 in log10(h).

    Shape:
        returns (131,), increasing.
    """
    count = round((LOG10_H_MAX - LOG10_H_MIN) / LOG10_H_STEP) + 1
    return 10.0 ** np.round(np.linspace(LOG10_H_MIN, LOG10_H_MAX, count), 10)


def _check_method(method: str, where: str) -> str:
    if method not in METHODS:
        raise ValueError(f"{where} expected method to be one of {list(METHODS)}, got {method!r}")
    return method


def _check_dtype(dtype: Any, where: str) -> type[np.floating]:
    for scalar in DTYPES.values():
        if dtype is scalar or dtype == np.dtype(scalar).name:
            return scalar
    raise ValueError(
        f"{where} expected dtype to be one of {list(DTYPES)} (or np.float32, np.float64), "
        f"got {dtype!r}"
    )


def optimal_h(method: str, dtype: Any) -> float:
    """The rule-of-thumb best step: sqrt(eps) for forward, eps^(1/3) for central differences.

    Shape:
        returns a float.

    Formula:
        forward:  h/2 |f''| + eps |f| / h is smallest near h = sqrt(2 eps |f| / |f''|) ~ sqrt(eps);
        central:  h^2/6 |f'''| + eps |f| / h is smallest near h = (3 eps |f| / |f'''|)^(1/3)
        ~ eps^(1/3), with eps the machine epsilon of ``dtype``.
    """
    where = "optimal_h"
    method = _check_method(method, where)
    eps = float(np.finfo(_check_dtype(dtype, where)).eps)
    return eps ** 0.5 if method == "forward" else eps ** (1.0 / 3.0)


@dataclass(frozen=True, eq=False)
class Elementwise:
    """An elementwise function f and its derivative f', differentiated at the points ``x``.

    Shape:
        ``x`` (P,) float64; ``f`` and ``df`` map an array to an array of the same shape and
        dtype. ``exact()`` and ``estimate(...)`` return (P,) float64.

    Formula:
        forward  (f(x + h) - f(x)) / h,   central  (f(x + h) - f(x - h)) / (2h),
        every operation in the chosen dtype (h too).
    """

    label: str
    f: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    df: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    x: np.ndarray = field(repr=False)

    def exact(self) -> np.ndarray:
        """f'(x) in float64 from the formula."""
        return np.asarray(self.df(self.x), dtype=np.float64)

    def estimate(self, h: float, dtype: Any, method: str) -> np.ndarray:
        """The finite-difference estimate of f'(x), computed in ``dtype``."""
        scalar = _check_dtype(dtype, f"Elementwise({self.label!r}).estimate")
        x, step = self.x.astype(scalar), scalar(h)
        if _check_method(method, "Elementwise.estimate") == "central":
            slope = (self.f(x + step) - self.f(x - step)) / (2 * step)
        else:
            slope = (self.f(x + step) - self.f(x)) / step
        return np.asarray(slope).astype(np.float64)


class LinearWeight:
    """The weight gradient of a small Linear layer followed by tanh, entry by entry.

    The scalar differentiated is L(W) = sum(tanh(x W^T + b) * G) with a fixed input x and
    upstream gradient G, as ``bp.check_module`` does it: each entry of W is moved by +-h in
    turn (in the chosen dtype) and L is evaluated again.

    Shape:
        ``x`` (N, in_features), ``grad_output`` G (N, out_features), ``layer.weight``
        (out_features, in_features); ``exact()`` and ``estimate(...)`` return
        (out_features * in_features,) float64.

    Formula:
        dL/dW = (G * (1 - tanh(x W^T + b)^2))^T x  (from the layers' backward, float64).
    """

    def __init__(
        self,
        in_features: int = 3,
        out_features: int = 2,
        batch_size: int = 5,
        *,
        rng: np.random.Generator | int = 0,
        label: str = "Linear weight (then tanh)",
    ) -> None:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.label = label
        self.layer = Linear(in_features, out_features, rng=gen)
        self.x = gen.standard_normal((batch_size, in_features))
        self.grad_output = gen.standard_normal((batch_size, out_features))

    def __repr__(self) -> str:
        return f"LinearWeight({self.label!r}, {self.layer!r})"

    def exact(self) -> np.ndarray:
        """dL/dW from backward in float64, flattened."""
        layer, act = copy.deepcopy(self.layer), Tanh()
        layer.zero_grad()
        act(layer(self.x))
        layer.backward(act.backward(self.grad_output))
        return layer.weight.grad.reshape(-1).copy()

    def estimate(self, h: float, dtype: Any, method: str) -> np.ndarray:
        """Finite differences of L with respect to every weight entry, computed in ``dtype``."""
        scalar = _check_dtype(dtype, "LinearWeight.estimate")
        central = _check_method(method, "LinearWeight.estimate") == "central"
        layer, act = copy.deepcopy(self.layer).astype(scalar), Tanh()
        x, g, step = self.x.astype(scalar), self.grad_output.astype(scalar), scalar(h)

        def loss() -> np.floating:
            return np.sum(act(layer(x)) * g)

        w = layer.weight.data.reshape(-1)  # a view: writing w[i] moves the layer's weight
        base = None if central else loss()
        out = np.empty(w.size)
        for i in range(w.size):
            old = w[i]
            w[i] = old + step
            plus = loss()
            if central:
                w[i] = old - step
                out[i] = (plus - loss()) / (2 * step)
            else:
                out[i] = (plus - base) / step
            w[i] = old
        return out


Problem = Elementwise | LinearWeight


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, 0)  # log(1 + e^x), stable, in x's dtype


def _d_softplus(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))  # the sigmoid


def _d_tanh(x: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(x) ** 2


_POINTS = np.linspace(-2.0, 2.0, 33)

#: The explorer's fixed choices: label -> problem.
PROBLEMS: dict[str, Problem] = {
    "tanh(x)": Elementwise("tanh(x)", np.tanh, _d_tanh, _POINTS),
    "softplus(x)": Elementwise("softplus(x)", _softplus, _d_softplus, _POINTS),
    "Linear weight (then tanh)": LinearWeight(),
}


def error_curve(problem: Problem, dtype: Any, method: str, hs: np.ndarray) -> np.ndarray:
    """The largest relative error of the numerical derivative at each step size.

    Shape:
        ``hs`` (K,) -> (K,).

    Formula:
        error(h) = max_i |n_i(h) - a_i| / max(|n_i(h)| + |a_i|, 1e-8)  (``bp.rel_error``),
        n = ``problem.estimate(h, dtype, method)``, a = ``problem.exact()``.
    """
    exact = problem.exact()
    return np.array([rel_error(problem.estimate(float(h), dtype, method), exact) for h in hs])


@dataclass
class GradcheckState:
    """What the explorer shows: the error curve, the chosen h and its error, the best h.

    Shape:
        ``hs``, ``errors`` and ``other_errors`` (K,) (``other_errors``: the other method's
        curve); ``exact`` and ``estimate`` (P,) at the chosen h; the rest are scalars.
    """

    label: str
    dtype: str
    method: str
    eps: float  # machine epsilon of the dtype
    hs: np.ndarray
    errors: np.ndarray
    other_errors: np.ndarray
    h: float
    exact: np.ndarray
    estimate: np.ndarray
    error_at_h: float
    best_h: float
    best_error: float
    optimal_h: float  # the rule of thumb: sqrt(eps) or eps^(1/3)


class GradcheckExplorer(WidgetApp):
    """Choose h, the dtype and the difference formula: see the error-vs-h curve and where h is.

    Controls: ``problem`` (a Dropdown whose value is an :class:`Elementwise` or a
    :class:`LinearWeight`), ``log10_h`` (a FloatSlider), ``dtype`` (ToggleButtons "float32" /
    "float64") and ``method`` (ToggleButtons "forward" / "central"). ``state`` is a
    :class:`GradcheckState`. The figure draws the largest relative error against h (log-log)
    for the chosen method and dtype, the other method faintly, the chosen h (a dot), the best
    h on the curve (a star), the rule-of-thumb optimum (a dashed line) and the thresholds.

    Shape:
        curves on ``step_grid()``: (131,) step sizes from 1e-14 to 1e-1.
    """

    def __init__(
        self,
        problems: Mapping[str, Problem] | None = None,
        *,
        problem: str | None = None,
        log10_h: float = -6.0,
        dtype: str = "float64",
        method: str = "central",
    ) -> None:
        import ipywidgets as widgets

        where = "GradcheckExplorer"
        problems = dict(PROBLEMS if problems is None else problems)
        if not problems:
            raise ValueError(f"{where} expected at least one problem, got none")
        for label, value in problems.items():
            if not (callable(getattr(value, "exact", None))
                    and callable(getattr(value, "estimate", None))):
                raise TypeError(
                    f"{where} expected problems[{label!r}] to be an Elementwise or a "
                    f"LinearWeight (with exact() and estimate(h, dtype, method)), got {value!r}"
                )
        if problem is None:
            problem = next(iter(problems))
        if problem not in problems:
            raise ValueError(
                f"{where} expected problem to be one of {list(problems)}, got {problem!r}"
            )
        if not isinstance(log10_h, numbers.Real) or isinstance(log10_h, bool):
            raise TypeError(f"{where} expected log10_h to be a number, got {log10_h!r}")
        if not LOG10_H_MIN <= log10_h <= LOG10_H_MAX:
            raise ValueError(
                f"{where} expected log10_h in [{LOG10_H_MIN}, {LOG10_H_MAX}], got {log10_h!r}"
            )
        dtype = np.dtype(_check_dtype(dtype, where)).name
        method = _check_method(method, where)
        self.hs = step_grid()
        self._curves: dict[tuple[str, str, str], np.ndarray] = {}
        self.problem = widgets.Dropdown(
            options=problems, value=problems[problem], description="function"
        )
        self.log10_h = widgets.FloatSlider(
            value=float(log10_h),
            min=LOG10_H_MIN,
            max=LOG10_H_MAX,
            step=LOG10_H_STEP,
            description="log10 h",
            continuous_update=False,
        )
        self.dtype = widgets.ToggleButtons(options=list(DTYPES), value=dtype, description="dtype")
        self.method = widgets.ToggleButtons(options=list(METHODS), value=method,
                                            description="method")
        super().__init__(
            [self.problem, self.log10_h, self.dtype, self.method],
            figsize=(11.0, 4.2),
            rows=[[self.problem, self.log10_h], [self.dtype, self.method]],
        )

    def _curve(self, label: str, problem: Problem, dtype: str, method: str) -> np.ndarray:
        """The error curve, computed once per (problem, dtype, method) and then reused."""
        key = (label, dtype, method)
        if key not in self._curves:
            self._curves[key] = error_curve(problem, DTYPES[dtype], method, self.hs)
        return self._curves[key]

    def update(self) -> None:
        """Compute both methods' curves, the error at the chosen h and the best h."""
        problem, label = self.problem.value, str(self.problem.label)
        dtype, method = str(self.dtype.value), str(self.method.value)
        other = METHODS[1 - METHODS.index(method)]
        errors = self._curve(label, problem, dtype, method)
        h = float(10.0 ** round(float(self.log10_h.value), 10))
        exact = problem.exact()
        estimate = problem.estimate(h, DTYPES[dtype], method)
        best = int(np.argmin(errors))
        self.state = GradcheckState(
            label=label,
            dtype=dtype,
            method=method,
            eps=float(np.finfo(DTYPES[dtype]).eps),
            hs=self.hs,
            errors=errors,
            other_errors=self._curve(label, problem, dtype, other),
            h=h,
            exact=exact,
            estimate=estimate,
            error_at_h=rel_error(estimate, exact),
            best_h=float(self.hs[best]),
            best_error=float(errors[best]),
            optimal_h=optimal_h(method, dtype),
        )
        s = self.state
        rule = "sqrt(eps)" if method == "forward" else "eps^(1/3)"
        self.message.value = html.escape(
            f"{s.label}, {s.dtype} (eps = {s.eps:.1e}), {s.method} difference: relative error "
            f"{s.error_at_h:.1e} at h = {s.h:.1e}. Best h on the curve: {s.best_h:.1e} "
            f"(error {s.best_error:.1e}); rule of thumb {rule} = {s.optimal_h:.1e}."
        )

    def draw(self, figure: Any) -> None:
        """The error curve against h, log-log, with h, the best h and the optimum marked."""
        s = self.state
        figure.set_layout_engine("none")  # fixed margins: constrained layout slows redraws
        ax = figure.subplots(gridspec_kw={"left": 0.075, "right": 0.64, "bottom": 0.12,
                                          "top": 0.91})
        other = "forward" if s.method == "central" else "central"
        ax.loglog(s.hs, np.maximum(s.other_errors, ERROR_FLOOR), color="0.65", lw=1.2,
                  label=f"{other} difference", gid="other-curve")
        ax.loglog(s.hs, np.maximum(s.errors, ERROR_FLOOR), color="C0", lw=2,
                  label=f"{s.method} difference", gid="curve")
        for level, text in THRESHOLDS:
            ax.axhline(level, color="C3", ls=":", lw=1, gid="threshold")
            ax.text(1.01, level, text, color="C3", fontsize="small", va="center",
                    transform=ax.get_yaxis_transform())
        rule = "√eps" if s.method == "forward" else "eps^(1/3)"
        ax.axvline(s.optimal_h, color="C2", ls="--", lw=1.2, gid="optimum",
                   label=f"rule of thumb h = {rule} = {s.optimal_h:.1e}")
        ax.loglog([s.best_h], [max(s.best_error, ERROR_FLOOR)], "*", color="C2", ms=13,
                  gid="best", label=f"best h on the curve = {s.best_h:.1e}")
        ax.axvline(s.h, color="k", lw=0.8, alpha=0.4)
        ax.loglog([s.h], [max(s.error_at_h, ERROR_FLOOR)], "o", color="k", ms=7, gid="chosen",
                  label=f"chosen h = {s.h:.1e}: error {s.error_at_h:.1e}")
        shown = np.concatenate([s.errors, s.other_errors, [s.error_at_h]])
        lowest = float(np.min(np.maximum(shown, ERROR_FLOOR)))
        ax.set_ylim(min(lowest / 10, 1e-8), 10.0)
        ax.set_xlim(s.hs[0], s.hs[-1])
        decades(ax.xaxis, 8)
        decades(ax.yaxis, 8)
        ax.set_xlabel("step h")
        ax.set_ylabel("max relative error")
        ax.set_title(f"{s.label} in {s.dtype}: {s.method} difference")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 0.7), fontsize="small", frameon=False)
