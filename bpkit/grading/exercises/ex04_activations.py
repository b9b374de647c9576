"""Checks of exercise ``04_activations``: the learner's ReLU, Sigmoid and Tanh layers.

Each layer is a ``bpkit.Module`` of the learner's: ``forward(x)`` returns f(x) elementwise
and keeps what backward needs; ``backward(grad_output)`` returns grad_output * f'(x) as a
new array. Forward and backward are checked on three shapes, with ReLU inputs that include
exact zeros (the kink, where the gradient is taken as 0) and an upstream gradient of mixed
signs that is not all ones (so a forgotten upstream factor shows). A wrong answer is
compared with the mistakes learners commonly make (table ``WRONG``) and named. A separate
part checks the in-place trap: backward must leave the upstream gradient, and what forward
cached, as they were. Forward and backward are also run on a float32 input: the
exercise asks the layers to keep their input's dtype, as bpkit's layers and PyTorch do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bpkit.grading.exercises._learner import layer_class, naming
from bpkit.grading.feedback import CheckFailed, Feedback, describe
from bpkit.grading.matching import earlier, evaluated, match, same
from bpkit.grading.registry import register_check
from bpkit.layers import ReLU as BpkitReLU
from bpkit.layers import Sigmoid as BpkitSigmoid
from bpkit.layers import Tanh as BpkitTanh
from bpkit.module import Module

__all__ = ["LAYERS", "SHAPES", "WRONG", "derivative", "function", "inputs"]

EXERCISE = "04_activations"

#: the learner's class names, in the order of the parts.
LAYERS = ("ReLU", "Sigmoid", "Tanh")
#: shapes every part is checked on (activations act elementwise on any shape).
SHAPES = ((4, 5), (7,), (2, 3, 4))

_BPKIT = {"ReLU": BpkitReLU, "Sigmoid": BpkitSigmoid, "Tanh": BpkitTanh}

Forward = Callable[[np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


_FUNCTIONS: dict[str, Forward] = {"ReLU": _relu, "Sigmoid": _sigmoid, "Tanh": np.tanh}
_DERIVATIVES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "ReLU": lambda x, y: (x > 0).astype(np.float64),
    "Sigmoid": lambda x, y: y * (1.0 - y),
    "Tanh": lambda x, y: 1.0 - y * y,
}


def function(name: str, x: np.ndarray) -> np.ndarray:
    """The reference f(x) of layer ``name`` ("ReLU", "Sigmoid" or "Tanh").

    Shape:
        ``x`` any shape -> the same shape.
    """
    return _FUNCTIONS[name](x)


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    """The reference f'(x) of layer ``name``; ReLU'(0) is 0, as in bpkit and PyTorch.

    Shape:
        ``x`` any shape -> the same shape.

    Formula:
        ReLU' = [x > 0],  sigmoid' = s (1 - s) with s = sigmoid(x),  tanh' = 1 - tanh(x)^2.
    """
    return _DERIVATIVES[name](x, function(name, x))


def inputs(name: str, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An input x and an upstream gradient dy of ``shape`` for checking layer ``name``.

    ReLU inputs hold some exact zeros (the kink); dy is standard normal with no entry near
    0 (so every entry of a wrong derivative shows), of mixed signs and never all ones.

    Shape:
        returns x and dy, both of ``shape``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4.0, 4.0, size=shape)
    if name == "ReLU":
        x.reshape(-1)[::4] = 0.0
    dy = rng.standard_normal(shape)
    dy = np.where(np.abs(dy) < 0.2, np.sign(dy + 1e-12) * 0.7, dy)
    return x, dy


# -- the wrong answers ----------------------------------------------------------------------------

_NO_UPSTREAM = ("forgot to multiply by the upstream gradient: backward returns "
                "grad_output * f'(x), not f'(x) alone")
_SIGN = ("the sign is flipped: dx = grad_output * f'(x), no minus (the chain rule multiplies; "
         "the minus of gradient descent belongs to the optimizer)")

_WRONG_RELU_FORWARD: list[tuple[Forward, str]] = [
    (np.abs, "|x| is not ReLU: a negative input gives 0, not -x"),
    (lambda x: np.minimum(x, 0.0),
     "kept the negative part: ReLU keeps the positive part, max(x, 0)"),
    (lambda x: (x > 0).astype(np.float64),
     "returned the 0/1 mask (ReLU's derivative), not the value max(x, 0)"),
    (lambda x: x, "returned x unchanged: negative entries must become 0"),
]

_WRONG_SIGMOID_FORWARD: list[tuple[Forward, str]] = [
    (lambda x: 1.0 / (1.0 + np.exp(x)),
     "the sign of the exponent: σ(x) = 1 / (1 + e^(-x)); 1 / (1 + e^x) is σ(-x)"),
    (lambda x: 1.0 + np.exp(-x),
     "forgot the reciprocal: σ(x) = 1 / (1 + e^(-x)), not 1 + e^(-x)"),
    (np.tanh, "that is tanh: the sigmoid is σ(x) = 1 / (1 + e^(-x)), with values in (0, 1)"),
    (np.exp, "returned e^x: σ(x) = 1 / (1 + e^(-x))"),
]

_WRONG_TANH_FORWARD: list[tuple[Forward, str]] = [
    (_sigmoid, "that is the sigmoid: tanh(x) = 2σ(2x) - 1, with values in (-1, 1)"),
    (lambda x: 2.0 * _sigmoid(x) - 1.0,
     "2σ(x) - 1 is tanh(x/2): the identity is tanh(x) = 2σ(2x) - 1"),
    (np.sinh, "the denominator is missing: tanh(x) = sinh(x) / cosh(x)"),
    (lambda x: 1.0 - np.tanh(x) ** 2,
     "returned the derivative 1 - tanh(x)² instead of tanh(x) itself"),
]

_WRONG_RELU_BACKWARD: list[tuple[Backward, str]] = [
    (lambda x, y, dy: (x > 0).astype(np.float64), _NO_UPSTREAM),
    (lambda x, y, dy: (x >= 0).astype(np.float64), _NO_UPSTREAM),
    (lambda x, y, dy: dy * (x >= 0),
     "the gradient at x = 0 must be 0 (the convention of bpkit and PyTorch): the mask is "
     "x > 0, not x >= 0"),
    (lambda x, y, dy: dy,
     "passed grad_output through unchanged: where x < 0 ReLU is flat, so the gradient there "
     "is 0; multiply by the mask (x > 0)"),
    (lambda x, y, dy: dy * y,
     "multiplied by the output max(x, 0) instead of the derivative: ReLU'(x) is 1 where "
     "x > 0, not x"),
    (lambda x, y, dy: dy * (x < 0),
     "the mask is inverted: the gradient passes where x > 0 and is blocked where x < 0"),
    (lambda x, y, dy: dy * (dy > 0),
     "masked by the sign of grad_output instead of the sign of the input: the mask is "
     "(x > 0), from the x that forward saw"),
    (lambda x, y, dy: -dy * (x > 0), _SIGN),
    (lambda x, y, dy: dy * x,
     "multiplied by the input x instead of ReLU's derivative: ReLU'(x) is 1 where x > 0 and "
     "0 elsewhere, the mask (x > 0)"),
]

_WRONG_SIGMOID_BACKWARD: list[tuple[Backward, str]] = [
    (lambda x, y, dy: dy * x * (1.0 - x),
     "used the sigmoid's input x where its output s = σ(x) is needed: σ'(x) = s(1 - s), "
     "with s the value forward returned"),
    (lambda x, y, dy: y * (1.0 - y), _NO_UPSTREAM),
    (lambda x, y, dy: dy * y, "the factor (1 - s) is missing: σ'(x) = s(1 - s)"),
    (lambda x, y, dy: dy * (1.0 - y), "the factor s is missing: σ'(x) = s(1 - s)"),
    (lambda x, y, dy: dy * _sigmoid(y) * (1.0 - _sigmoid(y)),
     "applied the sigmoid a second time: the cached output is already s = σ(x), so the "
     "derivative is s(1 - s), not σ(s)(1 - σ(s))"),
    (lambda x, y, dy: dy * (1.0 - y * y),
     "used tanh's derivative 1 - t²: the sigmoid's is s(1 - s)"),
    (lambda x, y, dy: -dy * y * (1.0 - y), _SIGN),
    (lambda x, y, dy: dy * y - y,
     "parentheses missing: grad_output * s * 1 - s is (grad_output · s) - s; write "
     "grad_output * s * (1 - s)"),
]

_WRONG_TANH_BACKWARD: list[tuple[Backward, str]] = [
    (lambda x, y, dy: dy * (1.0 - x * x),
     "used tanh's input x where its output t = tanh(x) is needed: tanh'(x) = 1 - t², with t "
     "the value forward returned"),
    (lambda x, y, dy: 1.0 - y * y, _NO_UPSTREAM),
    (lambda x, y, dy: dy * (1.0 - y), "the square is missing: tanh'(x) = 1 - t²"),
    (lambda x, y, dy: dy * y * y, 'the "1 -" is missing: tanh\'(x) = 1 - t²'),
    (lambda x, y, dy: dy * (1.0 - np.tanh(y) ** 2),
     "applied tanh a second time: the cached output is already t = tanh(x), so the "
     "derivative is 1 - t², not 1 - tanh(t)²"),
    (lambda x, y, dy: dy * y,
     "used the forward value t = tanh(x) where the derivative 1 - t² is needed"),
    (lambda x, y, dy: dy * y * (1.0 - y),
     "used the sigmoid's derivative s(1 - s): tanh's is 1 - t²"),
    (lambda x, y, dy: dy * (y * y - 1.0), _SIGN),
    (lambda x, y, dy: dy * (1.0 - y) ** 2, "(1 - t)² is not 1 - t²: square t alone, 1 - t**2"),
    (lambda x, y, dy: dy - y * y,
     "parentheses missing: grad_output * 1 - t**2 is grad_output - t²; write "
     "grad_output * (1 - t**2)"),
]

#: part id -> the recognised wrong answers, as (function, what the mistake is) pairs. Forward
#: parts take x; backward parts take (x, y = f(x), dy) and return what the learner returned.
WRONG: dict[str, list[tuple[Any, str]]] = {
    "relu_forward": _WRONG_RELU_FORWARD,
    "relu_backward": _WRONG_RELU_BACKWARD,
    "sigmoid_forward": _WRONG_SIGMOID_FORWARD,
    "sigmoid_backward": _WRONG_SIGMOID_BACKWARD,
    "tanh_forward": _WRONG_TANH_FORWARD,
    "tanh_backward": _WRONG_TANH_BACKWARD,
}


# -- running the learner's layer ------------------------------------------------------------------


def _layer(ns: dict[str, Any], name: str) -> Module:
    """A fresh instance of the learner's class ``name``; bpkit's own layer is refused."""
    return layer_class(ns, name, _BPKIT[name])()


def _forward(layer: Module, name: str, x: np.ndarray, *, strict: bool = True) -> Any:
    """``layer(x)`` on a copy; fails the check if the copy was changed in place (unless not
    ``strict``: the backward parts leave that to the forward part)."""
    x_in = x.copy()
    with naming(ValueError, "truth value of an array",
                f"{name}.forward asked a yes-or-no question of a whole array",
                "Python's max(x, 0), or an `if x > 0:`, compares the whole array with 0 at "
                "once, which has no single answer: work entry by entry with NumPy, e.g. "
                "np.maximum(x, 0) or np.where(x > 0, x, 0)", [__file__]), \
            np.errstate(all="ignore"):
        out = layer(x_in)
    if strict and not np.array_equal(x_in, x):
        raise CheckFailed(Feedback.fail(
            f"{name}.forward changed its input x in place (x of shape {x.shape})",
            why=["input modified in place: a line such as x[x < 0] = 0 or x *= ... wrote into "
                 "the caller's array (and into what you cached); compute a new array, e.g. "
                 "np.maximum(x, 0)"],
        ))
    return out


def _backward(layer: Module, name: str, dy: np.ndarray) -> Any:
    """``layer.backward(dy)``; a matrix product or a forward cache still None fails the
    check with a sentence that names it."""
    cache = "self._x = x" if name == "ReLU" else "self._out = ..."
    with naming(ValueError, "matmul", f"{name}.backward used the matrix product @",
                "@ is the matrix product: an activation acts entry by entry, so backward "
                "multiplies entry by entry, grad_output * f'(x)", [__file__]), \
            naming(TypeError, "NoneType",
                   f"{name}.backward found None where forward's cached value belongs",
                   f"forward must keep what backward needs before it returns ({cache}): "
                   "backward read the cache while it was still None, as __init__ left it",
                   [__file__]), \
            np.errstate(all="ignore"):
        return layer.backward(dy)


def _refer(exc: CheckFailed, part: str, method: str, message: str) -> CheckFailed:
    """``exc``, a failure of ``method`` seen by another part, as one referring to ``part``."""
    return CheckFailed(earlier(exc.feedback, part, f"your {method} fails", message))


def _upcast(got: Any, what: str, where: str) -> Feedback | None:
    """A float32 result that came back in another dtype, said in words (None if float32)."""
    dtype = getattr(got, "dtype", None)
    if dtype is None or dtype == np.float32:
        return None
    return Feedback.fail(
        f"{what} turned a float32 input into {dtype}", expected="float32", got=str(dtype),
        why=[f"{where} converted float32 to {dtype} (e.g. np.asarray(x, dtype=float), "
             "x.astype(np.float64) or a mask made with .astype(np.float64)): keep the "
             "input's dtype, float32 in, float32 out, as bp.ReLU and PyTorch do; compute "
             "with x as it is and use a boolean mask, grad_output * (x > 0)"])


def _float32(name: str) -> tuple[np.ndarray, np.ndarray]:
    x, dy = inputs(name, SHAPES[0], seed=99)
    return x.astype(np.float32), dy.astype(np.float32)


def _check_forward(ns: dict[str, Any], name: str, part: str, seed: int) -> Feedback:
    for i, shape in enumerate(SHAPES):
        x, _ = inputs(name, shape, seed + i)
        layer = _layer(ns, name)
        out = _forward(layer, name, x)
        if name == "ReLU" and isinstance(out, np.ndarray) and out.ndim == x.ndim - 1 \
                and same(out, np.max(x, axis=0)):
            return Feedback.fail(
                f"{name}.forward(x) has the wrong shape for x of shape {x.shape}",
                expected=f"an array of shape {x.shape}",
                got=f"an array of shape {out.shape}",
                why=["np.max(x, 0) is a reduction: it takes the largest entry along axis 0. "
                     "The elementwise maximum of x and 0 is np.maximum(x, 0)"],
            )
        fb = match(out, function(name, x), evaluated(WRONG[part], x),
                   name=f"{name}.forward(x) for x of shape {shape}", wrong_atol=1e-9)
        if not fb.passed:
            return fb
    x32, _ = _float32(name)
    upcast = _upcast(_forward(_layer(ns, name), name, x32), f"{name}.forward(x)", "forward")
    if upcast is not None:
        return upcast
    return Feedback.ok(f"right on {len(SHAPES)} shapes, and x is left unchanged")


def _through_forward(name: str, x: np.ndarray, out: Any, dy: np.ndarray, got: Any,
                     fb: Feedback) -> Feedback:
    """``fb``, a wrong backward, or a failure that refers to the forward check when the
    learner's backward is right for the wrong output ``out`` their forward cached (Sigmoid
    and Tanh compute f' from f(x))."""
    if name == "ReLU" or same(out, function(name, x)):
        return fb
    try:
        mine = dy * _DERIVATIVES[name](x, np.asarray(out, dtype=np.float64))
    except (TypeError, ValueError):
        return fb
    if not same(got, mine, atol=1e-9):
        return fb
    part = f"{name.lower()}_forward"
    cause = match(out, function(name, x), evaluated(WRONG[part], x),
                  name=f"{name}.forward(x) for x of shape {x.shape}", wrong_atol=1e-9)
    return earlier(cause, part, f"{name}.backward is right for the output your forward "
                   "returns, and that is wrong", fb.message)


def _check_backward(ns: dict[str, Any], name: str, part: str, seed: int) -> Feedback:
    for i, shape in enumerate(SHAPES):
        x, dy = inputs(name, shape, seed + i)
        layer = _layer(ns, name)
        try:
            out = _forward(layer, name, x, strict=False)
        except CheckFailed as exc:
            raise _refer(exc, f"{name.lower()}_forward", f"{name}.forward",
                         f"{name}.forward failed, so backward could not be checked") from None
        got = _backward(layer, name, dy.copy())  # a copy: changing it is in_place's part
        if got is None:
            return Feedback.fail(
                f"{name}.backward returned None",
                expected=f"dx of shape {shape}",
                got="None",
                why=["forgot to return dx: backward must end with `return ...`, the gradient "
                     "the layer below needs"],
            )
        y = function(name, x)
        expected = dy * derivative(name, x)
        what = f"{name}.backward(grad_output) for x of shape {shape}"
        fb = match(got, expected, evaluated(WRONG[part], x, y, dy), name=what, wrong_atol=1e-9,
                   batch_size=shape[0] if len(shape) > 1 else None)
        if not fb.passed:
            return _through_forward(name, x, out, dy, got, fb)
    x32, dy32 = _float32(name)
    layer = _layer(ns, name)
    _forward(layer, name, x32, strict=False)
    upcast = _upcast(_backward(layer, name, dy32.copy()), f"{name}.backward(grad_output)",
                     "backward")
    if upcast is not None:
        return upcast
    kink = " (0 at the kink x = 0)" if name == "ReLU" else ""
    return Feedback.ok(f"grad_output * f'(x){kink}, right on {len(SHAPES)} shapes")


# -- the parts ------------------------------------------------------------------------------------


@register_check(exercise=EXERCISE, id="relu_forward", points=1, requires=("ReLU",),
                hint="np.maximum(x, 0) is elementwise (np.max(x, 0) is not); keep x for backward")
def relu_forward(ns: dict[str, Any]) -> Feedback:
    """ReLU.forward(x) = max(x, 0), elementwise"""
    return _check_forward(ns, "ReLU", "relu_forward", seed=10)


@register_check(exercise=EXERCISE, id="relu_backward", points=2, requires=("ReLU",),
                hint="dx = grad_output * (x > 0), with the x that forward saw")
def relu_backward(ns: dict[str, Any]) -> Feedback:
    """ReLU.backward(dy) = dy * [x > 0]"""
    return _check_backward(ns, "ReLU", "relu_backward", seed=20)


@register_check(exercise=EXERCISE, id="sigmoid_forward", points=1, requires=("Sigmoid",),
                hint="s = 1 / (1 + np.exp(-x)); keep s for backward")
def sigmoid_forward(ns: dict[str, Any]) -> Feedback:
    """Sigmoid.forward(x) = 1 / (1 + exp(-x))"""
    return _check_forward(ns, "Sigmoid", "sigmoid_forward", seed=30)


@register_check(exercise=EXERCISE, id="sigmoid_backward", points=2, requires=("Sigmoid",),
                hint="dx = grad_output * s * (1 - s), with s the output forward kept")
def sigmoid_backward(ns: dict[str, Any]) -> Feedback:
    """Sigmoid.backward(dy) = dy * s(1 - s), s = σ(x)"""
    return _check_backward(ns, "Sigmoid", "sigmoid_backward", seed=40)


@register_check(exercise=EXERCISE, id="tanh_forward", points=1, requires=("Tanh",),
                hint="t = np.tanh(x); keep t for backward")
def tanh_forward(ns: dict[str, Any]) -> Feedback:
    """Tanh.forward(x) = tanh(x)"""
    return _check_forward(ns, "Tanh", "tanh_forward", seed=50)


@register_check(exercise=EXERCISE, id="tanh_backward", points=2, requires=("Tanh",),
                hint="dx = grad_output * (1 - t**2), with t the output forward kept")
def tanh_backward(ns: dict[str, Any]) -> Feedback:
    """Tanh.backward(dy) = dy * (1 - t²), t = tanh(x)"""
    return _check_backward(ns, "Tanh", "tanh_backward", seed=60)


def _shares(a: Any, b: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and np.shares_memory(a, b)


@register_check(exercise=EXERCISE, id="in_place", points=2, requires=LAYERS,
                hint="compute dx as a new array (dx = grad_output * mask); never write into "
                "grad_output or into what forward cached")
def in_place(ns: dict[str, Any]) -> Feedback:
    """backward leaves grad_output and the forward cache unchanged (all three layers)"""
    for k, name in enumerate(LAYERS):
        x, dy = inputs(name, SHAPES[0], seed=70 + k)
        layer = _layer(ns, name)
        lname = name.lower()
        message = f"{name}.backward could not be checked for writes into its inputs"
        try:
            _forward(layer, name, x, strict=False)
        except CheckFailed as exc:
            raise _refer(exc, f"{lname}_forward", f"{name}.forward", message) from None
        dy_in = dy.copy()
        try:
            first = _backward(layer, name, dy_in)
        except CheckFailed as exc:
            raise _refer(exc, f"{lname}_backward", f"{name}.backward", message) from None
        if not np.array_equal(dy_in, dy):
            if _shares(first, dy_in):
                why = ("returned grad_output itself after writing into it: dx = grad_output "
                       "does not copy (dx is a second name for the same array), so "
                       "dx[...] = 0, dx *= ... or out=grad_output wrote into grad_output. "
                       "Make a new array: dx = grad_output * mask")
            else:
                why = ("modified grad_output in place (e.g. grad_output *= ... or "
                       "grad_output[...] = 0): compute dx as a new array instead")
            return Feedback.fail(
                f"{name}.backward changed grad_output in place",
                expected="grad_output unchanged",
                got=f"{int(np.sum(dy_in != dy))} of its {dy.size} entries changed",
                why=[why, "grad_output belongs to the layer above: where the same gradient "
                     "also flows elsewhere (a branch, a residual connection, a second call) "
                     "it is now wrong there"],
            )
        try:
            first = np.array(first, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            return Feedback.fail(
                f"{name}.backward returned a {type(first).__name__}, not an array",
                expected=f"dx, an array of shape {dy.shape}", got=describe(first),
                why=["this part calls backward twice and compares the two arrays: return "
                     "only dx (see the backward part)"])
        second = _backward(layer, name, dy.copy())
        if not same(second, first, rtol=1e-12, atol=0.0):
            return Feedback.fail(
                f"{name}.backward gave a different answer the second time, for the same "
                "forward and grad_output",
                why=["backward changed what forward cached (e.g. self._out *= 1 - self._out "
                     "or mask *= grad_output): keep the cache as forward left it and put "
                     "results in new arrays, so backward can run again (the gradient checker "
                     "and a layer used twice both do that)"],
            )
    return Feedback.ok("grad_output and the cached values are left alone by all three layers")
