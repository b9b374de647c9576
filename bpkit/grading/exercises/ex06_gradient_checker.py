"""Checks of exercise ``06_gradient_checker``: the learner's own gradient checker.

The learner writes three functions and answers one question:

- ``rel_error(a, b)``: max over entries of |a - b| / max(|a| + |b|, 1e-8), a Python float;
- ``numerical_gradient(f, x, h=1e-5)``: central differences of ``f()`` (no arguments; it
  reads ``x``) with respect to every entry of ``x``, which is nudged in place and restored
  exactly;
- ``gradient_errors(layer, x, grad_output)``: for a bpkit-style layer, the relative error
  between backward's gradients and numerical ones of L = sum(layer(x) * grad_output), as
  ``{"input": ..., <parameter name>: ...}``;
- ``suspect_tensor``: which tensor of the notebook's ``SuspectLayer`` has a wrong gradient.

``numerical_gradient`` is checked on functions whose gradients are known in closed form;
``gradient_errors`` on a correct layer and on layers with a planted bug, where it must
point at the broken tensor and only at it. When an answer is wrong, it is compared with the
wrong answers of its kind (tables ``WRONG_REL_ERROR``, ``WRONG_NUMERICAL``,
``WRONG_RESTORE`` and ``WRONG_GRADIENT_ERRORS``, each a list of (function, meaning)) so the
card can say which mistake it is.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit._known_gradients import CASES, Case
from bpkit.grading.exercises._learner import names_used, naming, with_globals
from bpkit.grading.feedback import CheckFailed, Feedback, describe, short_exception
from bpkit.grading.matching import blame, match, named, same
from bpkit.grading.registry import register_check
from bpkit.module import Module, Parameter

__all__ = [
    "CASES",
    "PLANTED",
    "WRONG_GRADIENT_ERRORS",
    "WRONG_NUMERICAL",
    "WRONG_REL_ERROR",
    "WRONG_RESTORE",
    "PlantedTanhLayer",
    "reference_gradient_errors",
    "reference_numerical_gradient",
    "reference_rel_error",
]

EXERCISE = "06_gradient_checker"
EPS = 1e-8  # the floor of the relative error's denominator
GOOD = 1e-6  # a correct gradient's relative error is below this (with h = 1e-5, float64)
BAD = 1e-2  # a wrong gradient's relative error is above this


# -- reference answers ----------------------------------------------------------------------------


def reference_rel_error(a: Any, b: Any) -> float:
    """The relative error the exercise asks for.

    Shape:
        ``a``, ``b`` the same shape (scalars allowed) -> a Python float.

    Formula:
        max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-8).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), EPS)))


def reference_numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5
                                 ) -> np.ndarray:
    """Central differences of ``f()`` with respect to every entry of ``x`` (nudged in place).

    Shape:
        ``x`` any shape -> gradient of ``x``'s shape.

    Formula:
        grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h); x[i] is written back afterwards.
    """
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


# -- recognised wrong answers: rel_error ----------------------------------------------------------


def _arr(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _floor(d: np.ndarray) -> np.ndarray:
    return np.maximum(d, EPS)


def _norm(v: np.ndarray) -> float:
    return float(np.sqrt(np.sum(v * v)))


def _each(a: Any, b: Any) -> np.ndarray:
    """The relative error of every entry."""
    return np.abs(_arr(a) - _arr(b)) / _floor(np.abs(_arr(a)) + np.abs(_arr(b)))


#: wrong ways of writing rel_error, as (function of a and b, what the mistake is).
WRONG_REL_ERROR: list[tuple[Callable[[Any, Any], Any], str]] = [
    (lambda a, b: float(np.max((_arr(a) - _arr(b)) / _floor(np.abs(_arr(a)) + np.abs(_arr(b))))),
     "the difference has no absolute value: a - b is negative where b > a, so the largest "
     "error can hide; use np.abs(a - b)"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)))),
     "this is the absolute error |a - b|: it is not divided by the size of the numbers, "
     "|a| + |b|, so it means nothing on its own (1e-6 is tiny next to 1e3, huge next to 1e-6)"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b))
                               / _floor(np.maximum(np.abs(_arr(a)), np.abs(_arr(b)))))),
     "divided by max(|a|, |b|) (the form of the CS231n notes); this exercise, like "
     "bp.rel_error and the CS231n assignments, divides by |a| + |b|"),
    (lambda a, b: float(np.mean(_each(a, b))),
     "took the mean over the entries: one wrong entry among many then looks harmless; "
     "report the largest (np.max)"),
    (lambda a, b: float(np.sum(_each(a, b))),
     "summed over the entries: the error then grows with the array's size; report the "
     "largest (np.max)"),
    (_each,
     "returned the error of every entry (an array): return only the largest one, as a float"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)) / (np.abs(_arr(a)) + np.abs(_arr(b))
                                                              + EPS))),
     "added 1e-8 to the denominator: this exercise, like bp.rel_error, floors it instead, "
     "np.maximum(np.abs(a) + np.abs(b), 1e-8); the two differ slightly for ordinary "
     "numbers and a lot for entries below 1e-8"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)) / _floor(np.abs(_arr(a) + _arr(b))))),
     "the denominator is |a + b|: it must be |a| + |b| (with |a + b|, a = 1 and b = -1 "
     "divide by 0)"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)) / _floor(np.abs(_arr(b))))),
     "divided by |b| alone: the error must not depend on which argument comes first; "
     "divide by |a| + |b|"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)) / _floor(np.abs(_arr(a))))),
     "divided by |a| alone: the error must not depend on which argument comes first; "
     "divide by |a| + |b|"),
    (lambda a, b: float(_norm(_arr(a) - _arr(b)) / max(_norm(_arr(a)) + _norm(_arr(b)), EPS)),
     "used vector norms, ||a - b|| / (||a|| + ||b||): one wrong entry among many large ones "
     "then looks small; compare entry by entry and report the largest, "
     "np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))"),
    (lambda a, b: float(np.max(np.abs(_arr(a) - _arr(b)))
                        / max(np.max(np.abs(_arr(a)) + np.abs(_arr(b))), EPS)),
     "divided the largest difference by the largest |a| + |b|, which may belong to another "
     "entry: divide entry by entry first, then take the maximum"),
]

#: pairs (a, b) rel_error is checked on, and what each one is about.
REL_CASES: tuple[tuple[Any, Any, str], ...] = (
    (1.0, 1.001, "two numbers"),
    (1e-3, 1.001e-3, "two small numbers"),
    (np.array([1.0, -2.0, 3.0, 0.5]), np.array([1.0, -2.5, 3.0, 0.6]), "two arrays"),
    (np.array([[2.0, 0.0], [4.0, 1.0]]), np.array([[1.0, 0.0], [4.0, 1.0]]),
     "arrays with an entry that is 0 in both"),
    (np.array([1.0, -1.0, 0.25]), np.array([-1.0, -1.0, 0.25]), "entries of opposite sign"),
    (np.zeros(3), np.zeros(3), "two arrays of zeros"),
    (np.array([0.0, 2.0]), np.array([3e-9, 2.0]), "entries below the floor 1e-8"),
)


def _outputs(fn: Callable[[Any, Any], Any]) -> list[Any] | None:
    """The learner's rel_error on every pair of REL_CASES (None if it raises on one)."""
    try:
        with np.errstate(all="ignore"):
            return [fn(np.array(a, copy=True), np.array(b, copy=True)) for a, b, _ in REL_CASES]
    except Exception:
        return None


_REL = {"rtol": 1e-9, "atol": 1e-15}  # two rel_error values that are the same formula's


def _rel_text(a: Any, b: Any) -> str:
    return f"rel_error({describe(a, 80)}, {describe(b, 80)})"


@register_check(
    exercise=EXERCISE,
    id="rel_error",
    points=2,
    requires=("rel_error",),
    hint="np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)), as a float",
)
def rel_error(ns: dict[str, Any]) -> Feedback:
    """rel_error(a, b) = max |a - b| / max(|a| + |b|, 1e-8)"""
    fn = ns["rel_error"]
    for a, b, what in REL_CASES:
        a_in, b_in = np.array(a, copy=True), np.array(b, copy=True)
        with np.errstate(all="ignore"):
            got = fn(a_in, b_in)
        if not (np.array_equal(a_in, a) and np.array_equal(b_in, b)):
            return Feedback.fail("rel_error changed its arguments in place",
                                 why=["input modified in place: compute new arrays "
                                      "(np.abs(a - b)) instead of writing into a or b"])
        want = reference_rel_error(a, b)
        name = f"{_rel_text(a, b)} ({what})"
        if np.ndim(got) == 0 and got is not None:
            try:
                value = float(got)
            except (TypeError, ValueError):
                value = None
            if value is not None and same(value, want, **_REL):
                continue
            if value is not None and np.isnan(value):
                return Feedback.fail(f"{name} is NaN", expected=want, got=value, why=[
                    "no floor in the denominator: where a and b are both 0 you divide 0 by 0 "
                    "(NaN); divide by np.maximum(np.abs(a) + np.abs(b), 1e-8)"])
        learner = _outputs(fn)  # a wrong formula is named when it matches on every pair
        fb = match(got, want, () if learner is None else (
            ([wrong(a2, b2) for a2, b2, _ in REL_CASES], meaning)
            for wrong, meaning in WRONG_REL_ERROR), evidence=learner, name=name, **_REL)
        if fb.passed:  # an array of shape () that compare accepts: say it should be a float
            continue
        return fb
    return Feedback.ok(f"right on {len(REL_CASES)} pairs, zeros and signs included")


# -- recognised wrong answers: numerical_gradient ------------------------------------------------


def _forward_difference(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad, f0 = np.zeros_like(x), f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f() - f0) / h
        x[i] = old
    return grad


def _one_h(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return reference_numerical_gradient(f, x, h) * 2


def _minus_at_x(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old
        grad[i] = (plus - f()) / (2 * h)
    return grad


def _sign_flipped(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return -reference_numerical_gradient(f, x, h)


def _copy_estimate(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return reference_numerical_gradient(f, x.copy(), h)  # f reads x: it never sees the nudges


def _all_at_once(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    old = x.copy()
    x += h
    plus = f()
    x[...] = old - h
    minus = f()
    x[...] = old
    return np.full_like(x, (plus - minus) / (2 * h))


def _float32_array(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    # each estimate written into a float32 array: the float64 one rounded to float32
    return reference_numerical_gradient(f, x, h).astype(np.float32)


def _by_row(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.shape[0]):
        old = x[i].copy()
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def _times_h(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return reference_numerical_gradient(f, x, h) * (2 * h) * h / 2  # (fp - fm) / 2 * h


def _first_entry_only(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)  # `return grad` inside the loop: only the first entry is set
    first = next(np.ndindex(x.shape))
    grad[first] = reference_numerical_gradient(f, x, h)[first]
    return grad


def _ignores_h(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return reference_numerical_gradient(f, x, 1e-5)


def _left_at_minus(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        grad[i] = (plus - minus) / (2 * h)
    return grad


def _left_at_plus(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old - h
        minus = f()
        x[i] = old + h
        plus = f()
        grad[i] = (plus - minus) / (2 * h)
    return grad


def _restored_by_arithmetic(f: Callable[[], float], x: np.ndarray, h: float = 1e-5
                            ) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += h
        plus = f()
        x[i] -= 2 * h
        minus = f()
        x[i] += h
        grad[i] = (plus - minus) / (2 * h)
    return grad


_ALIAS = ("grad is x itself (grad = x): each estimate written into grad overwrites an entry "
          "of x, which f reads; start from a new array, grad = np.zeros_like(x)")

_NOT_RESTORED = ("x is not restored: after nudging x[i] you must write its old value back "
                 "(old = x[i] before, x[i] = old after); otherwise every later entry is "
                 "differentiated at a shifted point, and the caller's x is left changed")

#: wrong ways of computing the numerical gradient's values, as (function, the mistake).
WRONG_NUMERICAL: list[tuple[Callable[..., np.ndarray], str]] = [
    (_forward_difference,
     "this is the forward difference (f(x + h) - f(x)) / h, with an error of order h; "
     "use the central difference (f(x + h) - f(x - h)) / (2h), whose error is of order h²"),
    (_one_h, "divided by h instead of 2h: the two points x + h and x - h are 2h apart"),
    (_minus_at_x,
     "the second evaluation is at x, not at x - h: after x[i] = old + h set "
     "x[i] = old - h (this computes half of the forward difference)"),
    (_sign_flipped, "the sign is flipped: it is f(x + h) - f(x - h), in that order"),
    (_copy_estimate,
     "you nudged a copy of x: f reads the array x itself, so it never saw the change and "
     "every estimate is 0; write into x (x[i] = old + h) and restore it afterwards"),
    (_all_at_once,
     "nudged every entry of x at once (x + h): that measures the sum of all the partial "
     "derivatives, the same number in every entry; nudge one entry at a time"),
    (_float32_array,
     "the gradient array is float32 (e.g. np.zeros_like(x, dtype=np.float32) or "
     "np.zeros(x.shape, np.float32)): each estimate is rounded to about 7 digits, too coarse "
     "for a check that compares to 1e-7; make it like x, grad = np.zeros_like(x) (float64)"),
    (_by_row,
     "nudged a whole row x[i] at once: for an array of 2 or more dimensions, x[i] is a row; "
     "loop over every entry with np.ndindex(x.shape) (or np.nditer with multi_index)"),
    (_times_h,
     "(f_plus - f_minus) / 2 * h multiplies by h (Python reads it as ((f_plus - f_minus) / 2) "
     "* h): write / (2 * h), with the parentheses"),
    (_first_entry_only,
     "only the first entry was estimated, the others are 0: `return grad` is inside the loop; "
     "dedent it so it runs after every entry is done"),
    (_ignores_h,
     "ignored the h argument: the check asked for h = 1e-3 and got the estimate of "
     "h = 1e-5; use the h you are given"),
    (_left_at_minus, "every entry was left at old - h: " + _NOT_RESTORED),
    (_left_at_plus, "every entry was left at old + h: " + _NOT_RESTORED),
]

#: wrong ways of putting x back, as (function, the mistake); the values may still be right.
WRONG_RESTORE: list[tuple[Callable[..., np.ndarray], str]] = [
    (_left_at_minus,
     "x is not restored: each entry was left at old - h; write the old value back "
     "(old = x[i] before, x[i] = old after), the caller's x must come back unchanged"),
    (_left_at_plus,
     "x is not restored: each entry was left at old + h; write the old value back "
     "(old = x[i] before, x[i] = old after), the caller's x must come back unchanged"),
    (_restored_by_arithmetic,
     "x was restored by arithmetic (x[i] += h, x[i] -= 2h, x[i] += h): floating-point "
     "additions do not undo each other exactly, so some entries are off in the last bits; "
     "save old = x[i] first and write it back with x[i] = old"),
]


def _call_numerical(fn: Callable[..., Any], case: Case, h: float | None
                    ) -> tuple[Any, np.ndarray]:
    """The learner's estimate for ``case`` (with ``h`` if given) and x after the call."""
    x = case.x.copy()

    def f() -> float:
        return case.f(x)

    try:
        with naming(TypeError, "'function'",
                    "numerical_gradient did arithmetic with the function f itself",
                    "f_plus = f stores the function, not its value: call it, f_plus = f()",
                    [__file__]):
            got = fn(f, x) if h is None else fn(f, x, h)
    except TypeError as exc:
        text = str(exc)
        if "positional argument" in text and ("f()" in text or "<lambda>()" in text):
            raise CheckFailed(Feedback.fail(
                "numerical_gradient called f with an argument",
                got=short_exception(exc, [__file__]),
                why=["f takes no arguments: it reads x itself (the array you nudge in place), "
                     "so call f(), not f(x)"])) from None
        raise
    if got is x:
        raise CheckFailed(Feedback.fail(
            "numerical_gradient returned x itself", why=[_ALIAS]))
    return got, x


def _candidates(table: list[tuple[Callable[..., np.ndarray], str]], case: Case,
                h: float | None) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
    """Each estimator of ``table`` run on a copy of the case's x, one at a time: (its
    estimate, the x it left behind, its sentence)."""
    for wrong, meaning in table:
        x = case.x.copy()

        def f(x: np.ndarray = x) -> float:
            return case.f(x)

        if wrong is _by_row and case.x.ndim < 2:  # on a 1-D x, the loop over rows is right
            continue
        value = wrong(f, x) if h is None else wrong(f, x, h)
        yield value, x, meaning


def _default_h(fn: Callable[..., Any], case: Case, got: Any, fb: Feedback) -> Feedback:
    """``fb``, or the recognised mistake of a default h other than the contract's 1e-5."""
    try:
        default = inspect.signature(fn).parameters["h"].default
        h = float(default)
    except (KeyError, TypeError, ValueError):
        return fb
    if h == 1e-5:
        return fb
    at_h = next(_candidates([(reference_numerical_gradient, "")], case, h))[0]
    if not same(got, at_h, rtol=1e-7, atol=1e-10):
        return fb
    return blame(fb, f"your default is h = {h:g}: the contract's default is h = 1e-5 "
                 "(def numerical_gradient(f, x, h=1e-5)), with which the estimate is good "
                 "to about 1e-10 in float64")


@register_check(
    exercise=EXERCISE,
    id="numerical_gradient",
    points=3,
    requires=("numerical_gradient",),
    hint="for each index i (np.ndindex(x.shape)): old = x[i]; x[i] = old + h; fp = f(); "
    "x[i] = old - h; fm = f(); x[i] = old; grad[i] = (fp - fm) / (2 * h)",
)
def numerical_gradient(ns: dict[str, Any]) -> Feedback:
    """numerical_gradient matches 4 known gradients (and uses the h it is given)"""
    fn = ns["numerical_gradient"]
    runs = [(case, None) for case in CASES] + [(CASES[0], 1e-3)]
    for case, h in runs:
        got, _ = _call_numerical(fn, case, h)
        step = "the default h" if h is None else f"h = {h:g}"
        name = f"numerical_gradient for {case.name}, {step}"
        estimates = _candidates(WRONG_NUMERICAL, case, h)  # run only if got is wrong
        wrong = ((value, meaning) for value, _, meaning in estimates)
        if h is None:
            fb = match(got, case.grad(case.x), wrong, name=name, rtol=1e-6, atol=1e-9,
                       wrong_rtol=1e-7, wrong_atol=1e-10)
        else:  # with a large step, the exact central difference at that step
            want = next(_candidates([(reference_numerical_gradient, "")], case, h))[0]
            fb = match(got, want, wrong, name=name, rtol=1e-8, atol=1e-10, wrong_rtol=1e-7)
        if fb.passed:
            continue
        if h is None:
            fb = _default_h(fn, case, got, fb)
        fb.message += " (compared with the gradient known in closed form)" if h is None else (
            " (compared with the central difference at that h)")
        return fb
    return Feedback.ok(f"matches the exact gradient of {len(CASES)} functions "
                       f"(relative error < 1e-6) and follows its h argument")


@register_check(
    exercise=EXERCISE,
    id="restores_x",
    points=1,
    requires=("numerical_gradient",),
    hint="save old = x[i] before nudging and write it back with x[i] = old",
)
def restores_x(ns: dict[str, Any]) -> Feedback:
    """numerical_gradient leaves x exactly as it found it"""
    fn = ns["numerical_gradient"]
    for case in CASES:
        _, x = _call_numerical(fn, case, None)
        if np.array_equal(x, case.x):
            continue
        changed = int(np.sum(x != case.x))
        fb = Feedback.fail(
            f"numerical_gradient left x changed ({changed} of {x.size} entries) for {case.name}",
            expected=describe(case.x), got=describe(x),
            why=[_NOT_RESTORED])
        meaning = named(x, ((x_wrong, meaning) for _, x_wrong, meaning
                            in _candidates(WRONG_RESTORE, case, None)), rtol=0.0, atol=0.0)
        return fb if meaning is None else blame(fb, meaning)
    return Feedback.ok(f"x is bit-for-bit unchanged after {len(CASES)} calls")


# -- layers with planted bugs ---------------------------------------------------------------------


Corrupt = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], None]


class PlantedTanhLayer(Module):
    """y = tanh(x W^T + b), with an optional planted bug in backward.

    Shape:
        input (N, in) -> output (N, out); ``weight`` (out, in), ``bias`` (out,).

    Formula:
        dz = dy * (1 - y^2);  dx = dz W,  dW += dz^T x,  db += sum_n dz.
        ``corrupt(grads, cache)`` may change the entries of ``grads`` ("input", "weight",
        "bias") before they are used: that is the planted bug.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: int = 0,
                 corrupt: Corrupt | None = None) -> None:
        g = np.random.default_rng(rng)
        self.weight = Parameter(g.standard_normal((out_features, in_features)) * 0.7, "weight")
        self.bias = Parameter(g.standard_normal(out_features) * 0.3, "bias")
        self.corrupt = corrupt
        self.calls: list[str] = []  # "forward" and "backward", in order (the checks read it)
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.calls.append("forward")
        self._x = x
        self._y = np.tanh(x @ self.weight.data.T + self.bias.data)
        return self._y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        self.calls.append("backward")
        x, y = self._x, self._y
        dz = grad_output * (1 - y**2)
        grads = {"input": dz @ self.weight.data, "weight": dz.T @ x, "bias": dz.sum(axis=0)}
        if self.corrupt is not None:
            self.corrupt(grads, {"x": x, "y": y, "dy": grad_output, "dz": dz,
                                 "w": self.weight.data})
        self.weight.grad += grads["weight"]
        self.bias.grad += grads["bias"]
        return grads["input"]


def _weight_sign(g: dict[str, np.ndarray], c: dict[str, np.ndarray]) -> None:
    g["weight"] = -g["weight"]


def _bias_over_n(g: dict[str, np.ndarray], c: dict[str, np.ndarray]) -> None:
    g["bias"] = g["bias"] / len(c["x"])


def _input_wrong_derivative(g: dict[str, np.ndarray], c: dict[str, np.ndarray]) -> None:
    g["input"] = (c["dy"] * (1 - c["y"])) @ c["w"]


def _weight_transposed(g: dict[str, np.ndarray], c: dict[str, np.ndarray]) -> None:
    g["weight"] = g["weight"].T.copy()


@dataclass
class Planted:
    """A layer set-up with a planted bug in one tensor's gradient (``broken``; "" for none)."""

    what: str
    broken: str
    in_features: int
    out_features: int
    n: int
    corrupt: Corrupt | None


#: the layers ``gradient_errors`` is run on: a correct one first, then one bug each.
PLANTED: tuple[Planted, ...] = (
    Planted("a correct layer", "", 3, 2, 5, None),
    Planted("the weight gradient's sign flipped", "weight", 3, 2, 4, _weight_sign),
    Planted("the bias gradient divided by N", "bias", 4, 3, 5, _bias_over_n),
    Planted("the input gradient with tanh' = 1 - y instead of 1 - y²", "input", 3, 3, 4,
            _input_wrong_derivative),
    Planted("the weight gradient transposed (a square layer)", "weight", 3, 3, 5,
            _weight_transposed),
)


def _setup(p: Planted, seed: int) -> tuple[PlantedTanhLayer, np.ndarray, np.ndarray]:
    """The layer with stale gradients already in .grad, an input x and an upstream dy."""
    layer = PlantedTanhLayer(p.in_features, p.out_features, rng=seed, corrupt=p.corrupt)
    g = np.random.default_rng(seed + 1)
    old = g.standard_normal((2, p.in_features))
    layer(old)
    layer.backward(g.standard_normal((2, p.out_features)))  # stale gradients in .grad
    layer.calls.clear()
    x = g.standard_normal((p.n, p.in_features))
    dy = g.standard_normal((p.n, p.out_features))
    return layer, x, dy


# -- recognised wrong answers: gradient_errors ---------------------------------------------------


def _errors(layer: Module, x: np.ndarray, dy: np.ndarray, *, zero: bool = True,
            scalar: Callable[[np.ndarray, np.ndarray], float] | None = None,
            copy_params: bool = False, copy_input: bool = False, zero_last: bool = False,
            backward_last: bool = False) -> dict[str, float]:
    """gradient_errors, right by default; each keyword plants one learner's mistake."""
    x = x.copy()
    if scalar is None:
        def scalar(y: np.ndarray, g: np.ndarray) -> float:
            return float(np.sum(y * g))

    def f() -> float:
        return scalar(layer(x), dy)

    def analytic() -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if zero:
            layer.zero_grad()
        layer(x)
        dx = layer.backward(dy)
        if zero_last:
            layer.zero_grad()
        return dx, {name: p.grad.copy() for name, p in layer.named_parameters()}

    if not backward_last:
        dx, grads = analytic()
    numeric = {"input": reference_numerical_gradient(f, x.copy() if copy_input else x)}
    for name, p in layer.named_parameters():
        target = p.data.copy() if copy_params else p.data
        numeric[name] = reference_numerical_gradient(f, target)  # a copy: f never sees it
    if backward_last:
        if zero:
            layer.zero_grad()
        dx = layer.backward(dy)  # on the cache of the last, nudged forward pass
        grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    out = {"input": reference_rel_error(dx, numeric["input"])}
    out.update({name: reference_rel_error(grads[name], numeric[name]) for name in grads})
    return out


def reference_gradient_errors(layer: Module, x: np.ndarray, grad_output: np.ndarray
                              ) -> dict[str, float]:
    """The relative error of every gradient of ``layer`` against central differences.

    Shape:
        ``x`` (N, in), ``grad_output`` (N, out) -> {"input": float, <parameter>: float}.

    Formula:
        L = sum(layer(x) * grad_output); rel_error(backward's gradient, numerical dL/dv)
        for v = the input and each parameter, after ``zero_grad()``.
    """
    return _errors(layer, x, grad_output)


_ZEROED_LAST = ("zeroed the gradients after backward: every parameter's .grad is 0 when you "
                "copy it; call layer.zero_grad() first, then layer(x) and "
                "layer.backward(grad_output), then copy the gradients")

#: wrong ways of writing gradient_errors, as (function of layer, x, dy; the mistake).
WRONG_GRADIENT_ERRORS: list[tuple[Callable[..., dict[str, float]], str]] = [
    (lambda layer, x, dy: _errors(layer, x, dy, zero=False),
     "compared with .grad without zeroing it first: the layer came with gradients from an "
     "earlier backward pass, and backward adds (+=) to them; call layer.zero_grad() before "
     "layer.backward"),
    (lambda layer, x, dy: _errors(layer, x, dy, scalar=lambda y, g: float(np.sum(y))),
     "the numerical gradient is of sum(layer(x)), but backward was given grad_output: "
     "differentiate L = np.sum(layer(x) * grad_output), whose gradient is what backward "
     "computes"),
    (lambda layer, x, dy: _errors(layer, x, dy, scalar=lambda y, g: float(np.mean(y * g))),
     "used the mean of layer(x) * grad_output: the scalar whose gradient backward computes "
     "is the sum, L = np.sum(layer(x) * grad_output)"),
    (lambda layer, x, dy: _errors(layer, x, dy, copy_params=True),
     "the numerical gradient of every parameter is 0: f never saw your nudges, because the "
     "layer reads p.data itself; pass p.data to numerical_gradient (not a copy, "
     "p.data.copy(), nor p.grad)"),
    (lambda layer, x, dy: _errors(layer, x, dy, zero_last=True), _ZEROED_LAST),
    (lambda layer, x, dy: _errors(layer, x, dy, copy_input=True),
     "the input's numerical gradient is 0: you nudged a copy of x, which f never reads; "
     "pass numerical_gradient the same x that f = lambda: np.sum(layer(x) * grad_output) "
     "closes over (one copy at the start, x = x.copy(), is right: nudge that one)"),
    (lambda layer, x, dy: _errors(layer, x, dy, backward_last=True),
     "called backward after the numerical gradients: the layer's cache then holds the last, "
     "nudged forward pass; run layer(x) and layer.backward(grad_output) first, and copy the "
     "gradients before the numerical loops"),
    (lambda layer, x, dy: _errors(layer, x, dy, zero=False, backward_last=True),
     "called backward after the numerical gradients and without zero_grad: run "
     "layer.zero_grad(), layer(x) and layer.backward(grad_output) first"),
]


def _order(layer: PlantedTanhLayer) -> None:
    """Fail when the learner's gradient_errors ran backward before any forward pass."""
    calls = layer.calls
    if "backward" in calls and "forward" not in calls[:calls.index("backward")]:
        raise CheckFailed(Feedback.fail(
            "gradient_errors called backward before any forward pass", why=[
                "backward uses what the last forward pass cached (here an earlier input of "
                "another batch size): run layer(x) first, then layer.backward(grad_output)"]))


def _learner_errors(ns: dict[str, Any], p: Planted, seed: int
                    ) -> tuple[dict[str, float], PlantedTanhLayer, np.ndarray, np.ndarray]:
    layer, x, dy = _setup(p, seed)
    x_in, dy_in = x.copy(), dy.copy()
    try:
        with naming(TypeError, "'Parameter' object", "gradient_errors raised TypeError",
                    "passed the Parameter p to numerical_gradient, which indexes an array: "
                    "pass its array, numerical_gradient(f, p.data)", [__file__]):
            got = ns["gradient_errors"](layer, x_in, dy_in)
    except Exception as exc:
        _order(layer)  # backward before forward comes first: it may be what raised
        if isinstance(exc, CheckFailed):
            raise
        raised = f"gradient_errors raised {type(exc).__name__}"
        broken = _broken_helpers(ns["gradient_errors"], p, seed,
                                 reference_gradient_errors(*_setup(p, seed)))
        if broken:
            raise CheckFailed(Feedback.fail(
                raised, got=short_exception(exc, [__file__]),
                why=[_helpers_blamed(broken, "runs and gives the right errors")])) from None
        raise
    _order(layer)
    if not np.array_equal(x_in, x) or not np.array_equal(dy_in, dy):
        which = "x" if not np.array_equal(x_in, x) else "grad_output"
        raise CheckFailed(Feedback.fail(
            f"gradient_errors changed the caller's {which}",
            why=["input modified in place: nudge a copy of x (x = x.copy() first) and never "
                 f"write into {which}; if your numerical_gradient restores x exactly, check "
                 "that it does (part 2)"]))
    names = ["input", "weight", "bias"]
    if not isinstance(got, dict):
        raise CheckFailed(Feedback.fail(
            "gradient_errors must return a dict", expected=f"a dict with keys {names}",
            got=type(got).__name__,
            why=['return {"input": rel_error(dx, num_dx), "weight": ..., "bias": ...}']))
    if sorted(got) != sorted(names):
        raise CheckFailed(Feedback.fail(
            "gradient_errors returned the wrong keys", expected=str(names),
            got=str(sorted(got, key=str)),
            why=['one entry per tensor: "input" for the input, then each parameter under its '
                 'own name, from layer.named_parameters() ("weight", "bias")']))
    try:
        values = {k: float(v) for k, v in got.items()}
    except (TypeError, ValueError):
        raise CheckFailed(Feedback.fail(
            "gradient_errors must map each name to a number",
            got=describe(got), why=["each value is rel_error(...), a single float"])) from None
    return values, layer, x, dy


def _errors_text(errors: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:.2g}" for k, v in errors.items())


#: two sets of relative errors agree: each entry within 0.1%, or both below GOOD ("correct").
_ERRORS = {"rtol": 1e-3, "atol": 0.0, "tiny": GOOD}


#: the learner's helpers gradient_errors may call, with the right ones to try in their place.
_HELPERS: dict[str, Callable[..., Any]] = {
    "numerical_gradient": reference_numerical_gradient,
    "rel_error": reference_rel_error,
}


def _fixed_by(fn: Any, names: list[str], p: Planted, seed: int, want: dict[str, float]
              ) -> bool:
    """True when the learner's gradient_errors ``fn`` agrees with ``want`` once its
    helpers ``names`` are the right ones (run as a copy: the learner's namespace is
    untouched)."""
    patched = with_globals(fn, {n: _HELPERS[n] for n in names})
    layer, x, dy = _setup(p, seed)
    try:
        with np.errstate(all="ignore"):
            got = patched(layer, x, dy)
        return same({k: float(v) for k, v in got.items()}, want, **_ERRORS)
    except Exception:
        return False


def _broken_helpers(fn: Any, p: Planted, seed: int, want: dict[str, float]) -> list[str]:
    """The learner's own helpers (numerical_gradient, rel_error) that make gradient_errors
    wrong: those whose right version, put in their place, makes it agree; [] if none."""
    if not isinstance(fn, types.FunctionType):
        return []
    own = [n for n in _HELPERS if n in names_used(fn)]
    own = [n for n in own if fn.__globals__.get(n, _HELPERS[n]) is not _HELPERS[n]]
    if not own or not _fixed_by(fn, own, p, seed, want):
        return []
    alone = [n for n in own if _fixed_by(fn, [n], p, seed, want)]
    return alone or own


#: every layer set-up with its seed: the correct layer (the gradient_errors check), then the
#: planted bugs (the planted_bugs check).
_SEEDED: tuple[tuple[Planted, int], ...] = ((PLANTED[0], 60),) + tuple(
    (p, 70 + 10 * i) for i, p in enumerate(PLANTED[1:]))


def _on_every_layer(fn: Callable[..., Any]) -> list[dict[str, float]] | None:
    """The learner's gradient_errors on every layer of `_SEEDED` (None if it fails on one)."""
    out = []
    for p, seed in _SEEDED:
        try:
            with np.errstate(all="ignore"):
                got = fn(*_setup(p, seed))
            out.append({k: float(v) for k, v in got.items()})
        except Exception:
            return None
    return out


def _helpers_blamed(broken: list[str], result: str) -> str:
    names = " and ".join(broken)
    return (f"gradient_errors is right, but it calls your {names}, which "
            f"{'is' if len(broken) == 1 else 'are'} wrong (see {names}'s check): with a "
            f"correct {names} in place of yours, your gradient_errors {result}; fix that first")


def _judge_errors(ns: dict[str, Any], cases: tuple[tuple[Planted, int], ...]) -> Feedback:
    for p, seed in cases:
        got, layer, x, dy = _learner_errors(ns, p, seed)
        want = reference_gradient_errors(*_setup(p, seed))
        if same(got, want, **_ERRORS):
            continue
        fb = Feedback.fail(
            f"gradient_errors on a tanh layer with {p.what}: wrong relative errors",
            expected=_errors_text(want), got=_errors_text(got),
            why=["the errors should be tiny (< 1e-6) for every correct gradient and large "
                 "for a broken one"])
        broken = _broken_helpers(ns["gradient_errors"], p, seed, want)
        if broken:
            return blame(fb, _helpers_blamed(broken, "gives the right errors"))
        if "backward" in layer.calls and not any(np.any(q.grad) for q in layer.parameters()):
            return blame(fb, _ZEROED_LAST)
        # named by the errors on every layer, when it can be: errors of 1 on one layer fit
        # several mistakes (a relative error saturates at 1)
        evidence = _on_every_layer(ns["gradient_errors"])
        if evidence is None:
            meaning = named(got, ((wrong(*_setup(p, seed)), meaning)
                                  for wrong, meaning in WRONG_GRADIENT_ERRORS), **_ERRORS)
        else:
            meaning = named(evidence, (([wrong(*_setup(q, s)) for q, s in _SEEDED], meaning)
                                       for wrong, meaning in WRONG_GRADIENT_ERRORS), **_ERRORS)
        return fb if meaning is None else blame(fb, meaning)
    return Feedback.ok("")


@register_check(
    exercise=EXERCISE,
    id="gradient_errors",
    points=3,
    requires=("gradient_errors",),
    hint="zero_grad, forward, backward(grad_output) and copy the gradients; then "
    "f = lambda: np.sum(layer(x) * grad_output) and numerical_gradient(f, v) for v = x and "
    "each p.data",
)
def gradient_errors(ns: dict[str, Any]) -> Feedback:
    """gradient_errors passes a correct layer (every error < 1e-6)"""
    fb = _judge_errors(ns, _SEEDED[:1])
    if fb.passed:
        fb.message = "every gradient of a correct tanh layer agrees (errors < 1e-6)"
    return fb


@register_check(
    exercise=EXERCISE,
    id="planted_bugs",
    points=2,
    requires=("gradient_errors",),
    hint="a broken tensor has an error above 1e-2, the others stay below 1e-6",
)
def planted_bugs(ns: dict[str, Any]) -> Feedback:
    """gradient_errors points at the broken tensor of 4 layers with planted bugs"""
    fb = _judge_errors(ns, _SEEDED[1:])
    if fb.passed:
        fb.message = f"finds the planted bug in all {len(PLANTED) - 1} layers, and only there"
    return fb


@register_check(
    exercise=EXERCISE,
    id="suspect",
    points=1,
    requires=("suspect_tensor",),
    hint="run gradient_errors on SuspectLayer: the broken tensor's error is above 1e-2",
)
def suspect(ns: dict[str, Any]) -> Feedback:
    """suspect_tensor names the broken gradient of SuspectLayer"""
    got = ns["suspect_tensor"]
    if got == "bias":
        return Feedback.ok("the bias gradient is the broken one")
    names = ("input", "weight", "bias")
    if got not in names:
        return Feedback.fail("suspect_tensor must be one of the tensors' names",
                             expected=" or ".join(repr(n) for n in names), got=repr(got),
                             why=["use the keys of what gradient_errors returns"])
    return Feedback.fail(f"the gradient of {got!r} is right", got=repr(got), why=[
        f"gradient_errors(SuspectLayer(...), ...)[{got!r}] is below 1e-6: that gradient "
        "agrees with the numerical one; look for the entry above 1e-2"])
