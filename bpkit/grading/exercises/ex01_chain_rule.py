"""Checks of exercise ``01_chain_rule``: derivatives of composite functions written by hand.

The learner writes ``d_sin_square``, ``d_x_gauss``, ``d_softplus`` and ``d_three_links``,
each a NumPy function of an array ``x``. Each is compared, at many points at once, with the
numerical derivative (central differences) of the function it differentiates, and when it
is wrong, with the answers a learner commonly gets instead (the inner derivative left out,
the outer derivative evaluated at the wrong place, the forward value used where a
derivative was needed, a sign or a factor lost), so the card can say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bpkit.grading.feedback import Feedback
from bpkit.grading.matching import evaluated, match
from bpkit.grading.registry import register_check

__all__ = ["FUNCTIONS", "POINTS", "WRONG", "check_derivative", "numerical_derivative"]

EXERCISE = "01_chain_rule"
Function = Callable[[np.ndarray], np.ndarray]


def _sin_square(x: np.ndarray) -> np.ndarray:
    return np.sin(x**2)


def _x_gauss(x: np.ndarray) -> np.ndarray:
    return x * np.exp(-(x**2))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow


def _three_links(x: np.ndarray) -> np.ndarray:
    return np.sin(np.log1p(x**2))


#: exercise part -> the function the learner differentiates (reference copies).
FUNCTIONS: dict[str, Function] = {
    "sin_square": _sin_square,
    "x_gauss": _x_gauss,
    "softplus": _softplus,
    "three_links": _three_links,
}

#: exercise part -> the points its derivative is checked at (121 points each).
POINTS: dict[str, np.ndarray] = {
    "sin_square": np.linspace(-3.0, 3.0, 121),
    "x_gauss": np.linspace(-3.0, 3.0, 121),
    "softplus": np.linspace(-8.0, 8.0, 121),
    "three_links": np.linspace(-3.0, 3.0, 121),
}

_H = 1e-6  # step of the central differences


def numerical_derivative(f: Function, x: np.ndarray, h: float = _H) -> np.ndarray:
    """The central-difference estimate of f'(x) at every entry of ``x``.

    Shape:
        ``x`` (n,) -> (n,).

    Formula:
        (f(x + h) - f(x - h)) / (2h); error about h^2/6 |f'''| plus rounding eps |f| / h.
    """
    return (f(x + h) - f(x - h)) / (2.0 * h)


def _works_on_numbers(df: Callable[[Any], Any], x: np.ndarray) -> bool:
    try:
        [float(df(float(v))) for v in x[:3]]
    except Exception:
        return False
    return True


def check_derivative(
    ns: dict[str, Any],
    name: str,
    part: str,
    wrong: Sequence[tuple[Function, str]],
) -> Feedback:
    """Compare the learner's ``ns[name]`` with the numerical derivative of ``FUNCTIONS[part]``.

    ``wrong`` lists the common wrong answers as (function, what it means in words); the
    first one the learner's values match is named in the feedback (`match`).

    Shape:
        ``ns[name]`` maps an array (n,) to an array (n,), entry by entry.
    """
    df = ns[name]
    points = POINTS[part]
    x = points.copy()
    try:
        with np.errstate(all="ignore"):  # a 0/0 or an overflow is the card's to report
            got = df(x)
    except (TypeError, ValueError):
        if _works_on_numbers(df, points):
            return Feedback.fail(
                f"{name} works on single numbers but not on a NumPy array of x values",
                why=[
                    "use NumPy's functions (np.sin, np.cos, np.exp, np.log), not the math "
                    "module's, and no `if` on x: the check calls it once on all points"
                ],
            )
        raise
    if not np.array_equal(x, points):
        return Feedback.fail(
            f"{name} changed its input x in place",
            why=[
                "an in-place operation such as `x **= 2` or `x *= -1` overwrote the caller's "
                "array: write `u = x**2` to make a new one"
            ],
        )
    expected = numerical_derivative(FUNCTIONS[part], points)
    fb = match(got, expected, evaluated(wrong, points), name=f"{name}(x)", rtol=1e-6,
               atol=1e-7, wrong_atol=1e-9)
    lo, hi = float(points[0]), float(points[-1])
    if fb.passed:
        return Feedback.ok(
            f"matches the numerical derivative at {points.size} points in [{lo:g}, {hi:g}]"
        )
    fb.message += " (compared with the numerical derivative, central differences)"
    return fb


# -- part 1: sin(x^2) ---------------------------------------------------------------------------


_WRONG_SIN_SQUARE: list[tuple[Function, str]] = [
    (
        lambda x: np.cos(x**2),
        "forgot the inner derivative: cos(x²) is the outer derivative alone; the chain "
        "rule multiplies it by d(x²)/dx = 2x",
    ),
    (
        lambda x: 2 * x * np.cos(x),
        "the outer derivative is evaluated at x: cos must be taken at the inner value "
        "u = x², i.e. cos(x**2), not cos(x)",
    ),
    (
        lambda x: np.sin(x**2),
        "you returned sin(x²), the function's forward value, not its derivative",
    ),
    (
        lambda x: 2 * x * np.sin(x**2),
        "used the forward value sin(x²) where the outer derivative cos(x²) was needed",
    ),
    (
        lambda x: np.cos(2 * x),
        "the inner derivative went inside the outer one: cos(2x); the chain rule "
        "multiplies, cos(x²) · 2x",
    ),
    (
        lambda x: -2 * x * np.cos(x**2),
        "sign error: the derivative of sin is +cos (it is cos whose derivative is -sin)",
    ),
    (
        lambda x: x * np.cos(x**2),
        "a factor 2 is missing: d(x²)/dx = 2x",
    ),
    (
        lambda x: 2 * np.cos(x**2),
        "the x of the inner derivative is missing: d(x²)/dx = 2x, not 2",
    ),
    (
        lambda x: np.cos(x**2) * x**2,
        "multiplied by the inner value u = x² itself: the chain rule multiplies by its "
        "derivative, du/dx = 2x",
    ),
    (
        lambda x: 2 * np.sin(x) * np.cos(x),
        "that is the derivative of sin(x)², the square of sin: here the square is inside, "
        "sin(x²), so the outer derivative is cos(x²) and the inner one 2x",
    ),
]


@register_check(
    exercise=EXERCISE,
    id="sin_square",
    points=2,
    requires=("d_sin_square",),
    hint="sin(u) with u = x**2: the derivative is cos(u) * du/dx = cos(x**2) * 2x",
)
def sin_square(ns: dict[str, Any]) -> Feedback:
    """d_sin_square(x) is the derivative of sin(x²)"""
    return check_derivative(ns, "d_sin_square", "sin_square", _WRONG_SIN_SQUARE)


# -- part 2: x exp(-x^2) ------------------------------------------------------------------------


def _g(x: np.ndarray) -> np.ndarray:
    return np.exp(-(x**2))


_WRONG_X_GAUSS: list[tuple[Function, str]] = [
    (
        _g,
        "only the first term of the product rule (x' · e^(-x²) = e^(-x²)); the second "
        "term, x · d/dx e^(-x²) = -2x² e^(-x²), is missing",
    ),
    (
        lambda x: -2 * x**2 * _g(x),
        "only the second term of the product rule; the first, (d/dx x) · e^(-x²) = "
        "e^(-x²), is missing",
    ),
    (
        lambda x: -2 * x * _g(x),
        "this is the derivative of e^(-x²) alone: the factor x needs the product rule, "
        "(u v)' = u' v + u v'",
    ),
    (
        lambda x: (1 + x) * _g(x),
        "forgot the inner derivative of e^(-x²): d/dx e^(-x²) = e^(-x²) · (-2x)",
    ),
    (
        lambda x: (1 + 2 * x**2) * _g(x),
        "sign error in the inner derivative: d(-x²)/dx = -2x, so the second term is "
        "-2x² e^(-x²)",
    ),
    (
        lambda x: (1 - x**2) * _g(x),
        "a factor 2 is missing in the inner derivative: d(-x²)/dx = -2x",
    ),
    (
        _x_gauss,
        "you returned x·e^(-x²), the function's forward value, not its derivative",
    ),
    (
        lambda x: (1 - 2 * x) * _g(x),
        "a factor x is missing in the second term: x · d/dx e^(-x²) = x · (-2x) e^(-x²) = "
        "-2x² e^(-x²), not -2x e^(-x²)",
    ),
]


@register_check(
    exercise=EXERCISE,
    id="x_gauss",
    points=2,
    requires=("d_x_gauss",),
    hint="product rule, then the chain rule for exp(-x**2): (x g)' = g + x g', "
    "g' = exp(-x**2) * (-2x)",
)
def x_gauss(ns: dict[str, Any]) -> Feedback:
    """d_x_gauss(x) is the derivative of x·exp(-x²)"""
    return check_derivative(ns, "d_x_gauss", "x_gauss", _WRONG_X_GAUSS)


# -- part 3: log(1 + e^x) -----------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_WRONG_SOFTPLUS: list[tuple[Function, str]] = [
    (
        lambda x: 1.0 / (1.0 + np.exp(x)),
        "forgot the inner derivative: 1/(1 + e^x) is the derivative of log at 1 + e^x; "
        "the chain rule multiplies it by d(1 + e^x)/dx = e^x",
    ),
    (
        np.exp,
        "only the inner derivative e^x: the outer derivative of log, 1/(1 + e^x), is "
        "missing",
    ),
    (
        lambda x: np.exp(x) * _softplus(x),
        "used the forward value log(1 + e^x) where the outer derivative 1/(1 + e^x) was "
        "needed",
    ),
    (
        _softplus,
        "you returned log(1 + e^x), the function's forward value, not its derivative",
    ),
    (
        lambda x: 1.0 / (1.0 + x),
        "the outer derivative is evaluated at the wrong place: 1/u with u = 1 + e^x, "
        "not 1 + x (and times e^x)",
    ),
    (
        lambda x: 1.0 + np.exp(-x),
        "1 / 1 + np.exp(-x) is (1 / 1) + e^(-x): Python divides before it adds, so write "
        "1 / (1 + np.exp(-x))",
    ),
    (
        lambda x: np.exp(x) / _softplus(x),
        "divided by log(1 + e^x), the forward value: the derivative of log(u) is 1/u, so "
        "divide by u = 1 + e^x",
    ),
    (
        lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)),
        "that is the derivative of the sigmoid, σ(x)(1 - σ(x)): the derivative of softplus "
        "is the sigmoid itself, e^x / (1 + e^x)",
    ),
]


@register_check(
    exercise=EXERCISE,
    id="softplus",
    points=2,
    requires=("d_softplus",),
    hint="log(u) with u = 1 + e^x: the derivative is (1/u) · e^x",
)
def softplus(ns: dict[str, Any]) -> Feedback:
    """d_softplus(x) is the derivative of log(1 + eˣ)"""
    return check_derivative(ns, "d_softplus", "softplus", _WRONG_SOFTPLUS)


# -- part 4: sin(log(1 + x^2)), three links -----------------------------------------------------


def _u(x: np.ndarray) -> np.ndarray:
    return 1.0 + x**2


def _v(x: np.ndarray) -> np.ndarray:
    return np.log(1.0 + x**2)


_WRONG_THREE_LINKS: list[tuple[Function, str]] = [
    (
        lambda x: np.cos(_v(x)) / _u(x),
        "forgot the innermost link: the factor du/dx = 2x of u = 1 + x² is missing",
    ),
    (
        lambda x: np.cos(_v(x)) * 2 * x,
        "forgot the middle link: the factor d(log u)/du = 1/(1 + x²) is missing",
    ),
    (
        lambda x: 2 * x / _u(x),
        "forgot the outer link: the factor cos(log(1 + x²)) is missing",
    ),
    (
        lambda x: np.cos(_v(x)),
        "only the outer derivative: the middle (1/(1 + x²)) and inner (2x) links are "
        "missing",
    ),
    (
        lambda x: np.cos(x) * 2 * x / _u(x),
        "the outer derivative is evaluated at x: cos must be taken at the value that "
        "feeds sin, v = log(1 + x²)",
    ),
    (
        lambda x: np.cos(_u(x)) * 2 * x / _u(x),
        "the outer derivative is evaluated at u = 1 + x²: cos must be taken at the value "
        "that feeds sin, v = log(1 + x²)",
    ),
    (
        lambda x: np.sin(_v(x)) * 2 * x / _u(x),
        "used the forward value sin(v) where the outer derivative cos(v) was needed",
    ),
    (
        lambda x: np.cos(_v(x)) * _v(x) * 2 * x,
        "used the middle link's forward value log(1 + x²) where its derivative "
        "1/(1 + x²) was needed",
    ),
    (
        _three_links,
        "you returned sin(log(1 + x²)), the function's forward value, not its derivative",
    ),
    (
        lambda x: np.cos(_v(x)) * _u(x) * 2 * x,
        "1 / 1 + x**2 is (1 / 1) + x² = 1 + x²: Python divides before it adds, so the middle "
        "link's derivative is 1 / (1 + x**2)",
    ),
    (
        lambda x: np.cos(_v(x)) / _u(x) * 2,
        "the x of the innermost link is missing: du/dx = 2x, not 2",
    ),
    (
        lambda x: np.cos(_v(x)) / _v(x) * 2 * x,
        "divided by v = log(1 + x²): the middle link's derivative d(log u)/du is 1/u, with "
        "u = 1 + x²",
    ),
    (
        lambda x: -np.cos(_v(x)) / _u(x) * 2 * x,
        "sign error: d sin(v)/dv = +cos(v) and d log(u)/du = +1/u; the chain rule "
        "multiplies the three factors cos(v) · (1/u) · 2x, with no minus",
    ),
]


@register_check(
    exercise=EXERCISE,
    id="three_links",
    points=3,
    requires=("d_three_links",),
    hint="u = 1 + x², v = log(u), f = sin(v): f'(x) = cos(v) · (1/u) · 2x, one factor per "
    "link, each evaluated at its own input",
)
def three_links(ns: dict[str, Any]) -> Feedback:
    """d_three_links(x) is the derivative of sin(log(1 + x²))"""
    return check_derivative(ns, "d_three_links", "three_links", _WRONG_THREE_LINKS)


#: exercise part -> the common wrong answers it recognises, as (function, meaning) pairs.
WRONG: dict[str, list[tuple[Function, str]]] = {
    "sin_square": _WRONG_SIN_SQUARE,
    "x_gauss": _WRONG_X_GAUSS,
    "softplus": _WRONG_SOFTPLUS,
    "three_links": _WRONG_THREE_LINKS,
}
