"""Checks of exercise ``03_linear_layer``: ``forward`` and ``backward`` of a learner's Linear.

The learner's ``Linear`` subclasses ``bpkit.Module`` and keeps bpkit's contract: ``weight``
of shape (out, in) and ``bias`` of shape (out,), both ``bpkit.Parameter``;
``forward(x)`` returns x W^T + b; ``backward(dy)`` adds dW = dy^T x and db = sum_n dy[n]
into the parameters' ``.grad`` (``+=``) and returns dx = dy W. Each part is checked on a
square layer (where a transposed gradient has the right shape and shows in its values) and
on non-square ones (where it shows as a shape error, explained in words), and the whole
layer with ``bpkit.check_module`` on several shapes.

One slip costs the part it is in: while ``dx`` is checked, both parameters' ``.grad`` are
set aside (`_SetAside` takes any ``+=`` or ``=``), so a transposed dW or a bias summed over
the wrong axis cannot stop the ``return``; while dW is checked the bias's update is set
aside, and the other way round. An input written in place is reported by the check that
owns it (forward: x; backward_input: grad_output and x), and a later part that goes wrong
because of it refers to that check, as the gradient check refers to the first failing part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bpkit.gradcheck import check_module
from bpkit.grading.exercises._learner import layer_class, naming
from bpkit.grading.feedback import CheckFailed, Feedback, gradcheck_feedback, short_exception
from bpkit.grading.matching import earlier, evaluated, first_cause, match
from bpkit.grading.registry import register_check
from bpkit.layers import Linear as BpkitLinear
from bpkit.module import Module, Parameter

__all__ = ["CASES", "GRADCHECK_CASES", "WRONG_FORWARD", "WRONG_INPUT_GRAD"]

EXERCISE = "03_linear_layer"

#: (N, in_features, out_features) of the layers the parts are checked on: square first.
CASES = ((4, 3, 3), (5, 3, 2), (1, 4, 6), (7, 2, 5))
#: shapes checked with ``bpkit.check_module``.
GRADCHECK_CASES = ((3, 4, 2), (1, 3, 3), (6, 2, 5))


def _layer_class(ns: dict[str, Any]) -> type:
    """The learner's class, refused when it is bpkit's own Linear or not a Module."""
    return layer_class(ns, "Linear", BpkitLinear)


def _setup(
    ns: dict[str, Any], n: int, fin: int, fout: int, seed: int
) -> tuple[Module, np.ndarray, np.ndarray]:
    """A learner's layer with known weights, an input x (n, fin) and an upstream dy (n, fout)."""
    cls = _layer_class(ns)
    layer = cls(fin, fout)
    for name, shape in (("weight", (fout, fin)), ("bias", (fout,))):
        p = getattr(layer, name, None)
        if not isinstance(p, Parameter):
            raise CheckFailed(
                Feedback.fail(
                    f"Linear({fin}, {fout}) has no Parameter `{name}`",
                    why=[f"__init__ must keep self.{name} = bp.Parameter(...) (as given)"],
                )
            )
        if p.data.shape != shape:
            raise CheckFailed(
                Feedback.fail(
                    f"Linear({fin}, {fout}).{name} has shape {p.data.shape}",
                    expected=str(shape),
                    got=str(p.data.shape),
                    why=[
                        f"{name} must have shape {'(out, in)' if name == 'weight' else '(out,)'}, "
                        "like bp.Linear and PyTorch"
                    ],
                )
            )
    rng = np.random.default_rng(seed)
    layer.weight.data = rng.standard_normal((fout, fin))
    layer.weight.grad = np.zeros((fout, fin))
    layer.bias.data = rng.standard_normal(fout)
    layer.bias.grad = np.zeros(fout)
    x = rng.standard_normal((n, fin))
    dy = rng.standard_normal((n, fout))
    return layer, x, dy


def _shape(text: str) -> str:
    return text.replace(" ", "")


def _explain(exc: BaseException, where: str, n: int, fin: int, fout: int) -> Feedback | None:
    """A shape error in the learner's code, said in terms of the layer (None if not one)."""
    if not isinstance(exc, ValueError):
        return None
    msg = _shape(str(exc))
    got = short_exception(exc, [__file__])
    head = f"{where} raised a shape error for x of shape ({n}, {fin}) in Linear({fin}, {fout})"
    if "broadcast" in msg and where == "forward":
        if f"({fout},{n})" in msg:
            why = (f"W @ x.T has shape (out, N) = ({fout}, {n}), one column per example; here "
                   "each example is a row of x, so y = x @ W.T + b, shape (N, out)")
        elif f"({n},{fin})" in msg:
            why = ("* multiplies entry by entry: each output is a weighted sum of the inputs, "
                   "the matrix product x @ W.T (then + b)")
        else:
            why = ("two arrays of different shapes were combined: x is (N, in), weight "
                   "(out, in), bias (out,); y = x @ W.T + b is (N, out)")
        return Feedback.fail(head, got=got, why=[why])
    if "broadcast" in msg:
        if f"({fout},)" in msg and f"({n},{fout})" in msg:
            return Feedback.fail(
                head,
                got=got,
                why=[
                    f"the bias gradient was not summed over the batch: grad_output has shape "
                    f"(N, out) = ({n}, {fout}) but bias.grad has shape (out,) = ({fout},); add "
                    "grad_output.sum(axis=0)"
                ],
            )
        if f"({fout},)" in msg and f"({n},)" in msg and n != fout:
            return Feedback.fail(head, got=got, why=[
                f"the bias gradient was summed over axis=1 (the outputs): it came out of "
                f"shape (N,) = ({n},), but bias.grad has shape (out,) = ({fout},); sum over "
                "the batch, grad_output.sum(axis=0)"])
        if f"({fout},)" in msg and f"(1,{fout})" in msg and n != 1:
            return Feedback.fail(head, got=got, why=[
                f"the bias gradient kept the batch axis (keepdims=True): shape (1, out) = "
                f"(1, {fout}), but bias.grad has shape (out,) = ({fout},); use "
                "grad_output.sum(axis=0)"])
        if f"({fout},{n})" in msg and f"({n},{fin})" in msg:
            return Feedback.fail(head, got=got, why=[
                "* multiplies entry by entry: the weight gradient sums over the batch, the "
                f"matrix product grad_output.T @ x, shape (out, in) = ({fout}, {fin})"])
        if f"({n},{n})" in msg and n not in (fin, fout):
            return Feedback.fail(head, got=got, why=[
                f"a product came out of shape (N, N) = ({n}, {n}), one entry per pair of "
                "examples (grad_output @ x.T): the weight gradient sums over the batch, "
                f"grad_output.T @ x, shape (out, in) = ({fout}, {fin})"])
        if fin != fout and f"({fin},{fout})" in msg and f"({fout},{fin})" in msg:
            return Feedback.fail(
                head,
                got=got,
                why=[
                    f"the weight gradient is transposed: it came out of shape (in, out) = "
                    f"({fin}, {fout}), but weight.grad has shape (out, in) = ({fout}, {fin}); "
                    "use dW = grad_output.T @ x"
                ],
            )
        return Feedback.fail(
            head,
            got=got,
            why=[
                "two arrays of different shapes were combined: x is (N, in), weight (out, in), "
                "bias (out,), grad_output (N, out)"
            ],
        )
    if "doesnothaveenoughdimensions(has0" in msg:
        if where == "forward":
            why = ("one operand of the matrix product is not an array: compute with "
                   "self.weight.data, the array, not self.weight, the Parameter that holds it")
        else:
            why = ("one operand of the matrix product is not an array but None or a single "
                   "number: does forward keep its input for backward (self._x = x), and does "
                   "backward use that array and self.weight.data (not the Parameter "
                   "self.weight)?")
        return Feedback.fail(head, got=got, why=[why])
    if "matmul" in msg or "notaligned" in msg or "mismatch" in msg:
        if where == "forward":
            why = (
                f"x @ W needs the inner sizes to agree: x is (N, in) = ({n}, {fin}) and the "
                f"weight is (out, in) = ({fout}, {fin}), so the product is x @ W.T"
            )
        else:
            why = (
                f"a matrix product has mismatched shapes. With x (N, in) = ({n}, {fin}), "
                f"weight (out, in) = ({fout}, {fin}) and grad_output (N, out) = ({n}, "
                f"{fout}): dx = grad_output @ W is ({n}, {fin}) (not W.T), and dW = "
                f"grad_output.T @ x is ({fout}, {fin})"
            )
        return Feedback.fail(head, got=got, why=[why])
    return None


def _call(fn: Any, arg: np.ndarray, where: str, case: tuple[int, int, int]) -> Any:
    """``fn(arg)``, with a shape error in it turned into a failing check that explains it."""
    try:
        with naming((TypeError, AttributeError), "'Parameter'",
                    f"{where} used a Parameter where its array belongs",
                    "self.weight and self.bias are Parameters that hold the arrays: compute "
                    "with self.weight.data and self.bias.data, e.g. x @ self.weight.data.T + "
                    "self.bias.data", [__file__]):
            return fn(arg)
    except ValueError as exc:
        explained = _explain(exc, where, *case)
        if explained is None:
            raise
        raise CheckFailed(explained) from None


class _SetAside:
    """Stands in for what another check judges: a parameter's ``.grad`` (it takes any
    ``+=`` or ``=``, of any shape) or, while dx and db are checked after a dW formula
    raised, the input forward kept. Any arithmetic with it gives itself, NumPy's too
    (``__array_ufunc__ = None``), and it keeps nothing."""

    __array_ufunc__ = None

    def __iadd__(self, other: Any) -> _SetAside:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __iadd__
    __matmul__ = __rmatmul__ = __truediv__ = __rtruediv__ = __iadd__

    @property
    def T(self) -> _SetAside:  # noqa: N802 - NumPy's name
        return self


def _x_changed(x: np.ndarray, where: str) -> Feedback:
    return Feedback.fail(
        f"{where} changed the input x in place (x of shape {x.shape})",
        why=[
            "input modified in place: an operation such as x -= ... or x[...] = ... "
            "overwrote the caller's array; compute into a new array instead"
        ],
    )


_DY_CHANGED = Feedback.fail(
    "backward changed grad_output in place",
    why=[
        "input modified in place: grad_output belongs to the layer above; compute new arrays "
        "from it instead of writing into it"
    ],
)


def _run_forward(layer: Module, x: np.ndarray, case: tuple[int, int, int]) -> np.ndarray:
    x_in = x.copy()
    out = _call(layer, x_in, "forward", case)
    if not np.array_equal(x_in, x):
        raise CheckFailed(_x_changed(x, "forward"))
    return out


_WEIGHTS_CHANGED = Feedback.fail(
    "backward changed the layer's weight or bias",
    why=["backward changed self.weight.data or self.bias.data: backward only adds the "
         "gradients into .grad; the optimizer's step (w -= lr * grad) changes the weights, "
         "after backward"],
)


def _kept(layer: Module, x_in: np.ndarray) -> list[str]:
    """The attributes of ``layer`` that hold the input ``x_in`` forward was given."""
    return [k for k, v in vars(layer).items()
            if isinstance(v, np.ndarray) and v.shape == x_in.shape and np.array_equal(v, x_in)]


def _run_backward(
    layer: Module,
    x: np.ndarray,
    dy: np.ndarray,
    case: tuple[int, int, int],
    aside: tuple[str, ...] = (),
    *,
    x_aside: bool = False,
    keep: str | None = None,
) -> tuple[Any, tuple[str, Feedback] | None]:
    """Forward and backward on copies of ``x`` and ``dy``, the ``.grad`` of the parameters
    ``aside`` set aside (and, with ``x_aside``, the input forward kept: for dx and db, which
    do not need it, after a dW formula raised); returns dx and (the check that owns it, the
    failure) for an input or the weights written in place, or None. With ``keep``, an
    error raised after that parameter's ``.grad`` was updated is left to the part that owns
    the failing line (dx is then None)."""
    x_in = x.copy()
    try:
        _call(layer, x_in, "forward", case)
    except CheckFailed as exc:
        raise CheckFailed(earlier(exc.feedback, "forward", "your forward raises an error",
                                  "forward failed, so backward could not be checked")) from None
    changed = None if np.array_equal(x_in, x) else ("forward", _x_changed(x, "forward"))
    for name in aside:
        getattr(layer, name).grad = _SetAside()
    for name in _kept(layer, x_in) if x_aside else ():
        vars(layer)[name] = _SetAside()
    weights = [layer.weight.data.copy(), layer.bias.data.copy()]
    before = None if keep is None else np.array(getattr(layer, keep).grad, copy=True)
    dy_in = dy.copy()
    try:
        dx = _call(layer.backward, dy_in, "backward", case)
    except Exception:
        grad = None if keep is None else getattr(layer, keep).grad
        if grad is None or (isinstance(grad, np.ndarray) and np.array_equal(grad, before)):
            raise
        dx = None  # the line that raised comes after this part's: another part reports it
    if changed is None and not np.array_equal(x_in, x):
        changed = ("backward_input", _x_changed(x, "backward"))
    if changed is None and not np.array_equal(dy_in, dy):
        changed = ("backward_input", _DY_CHANGED)
    now = [layer.weight.data, layer.bias.data]
    if changed is None and not all(isinstance(a, np.ndarray) and np.array_equal(a, b)
                                   for a, b in zip(now, weights, strict=True)):
        changed = ("backward_input", _WEIGHTS_CHANGED)
    return dx, changed


# -- the recognised wrong answers ----------------------------------------------------------------

#: wrong forward outputs, as (function of x, W and b; what the mistake is).
WRONG_FORWARD: list[tuple[Callable[..., np.ndarray], str]] = [
    (lambda x, w, b: x @ w.T, "forgot to add the bias: y = x @ W.T + b"),
    (
        lambda x, w, b: x @ w + b,
        "used W where W.T is needed: the weight is (out, in), so y = x @ W.T + b",
    ),
    (lambda x, w, b: x @ w.T - b, "the bias is subtracted: y = x @ W.T + b"),
]

#: wrong input gradients, as (function of x, W and dy; what the mistake is).
WRONG_INPUT_GRAD: list[tuple[Callable[..., np.ndarray], str]] = [
    (
        lambda x, w, dy: dy @ w.T,
        "dx computed with W.T: dx = grad_output @ W (shape (N, out) @ (out, in) = (N, in))",
    ),
    (lambda x, w, dy: x, "returned the input x, not its gradient dx = grad_output @ W"),
    (
        lambda x, w, dy: w @ dy.T,
        "dx came out transposed, (in, N): W @ grad_output.T has one column per example, but "
        "dx has one row per example, grad_output @ W, shape (N, in)",
    ),
    (
        lambda x, w, dy: dy @ w / len(x),
        "divided by N inside the layer: the loss's gradient already holds the 1/N of the mean, "
        "so dx = grad_output @ W",
    ),
    (
        lambda x, w, dy: -(dy @ w),
        "the sign is flipped: dx = grad_output @ W, no minus (the chain rule multiplies; the "
        "minus of gradient descent belongs to the optimizer)",
    ),
]


# -- forward ------------------------------------------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="forward",
    points=2,
    requires=("Linear",),
    hint="y = x @ W.T + b, with W = self.weight.data of shape (out, in); keep x for backward",
)
def forward(ns: dict[str, Any]) -> Feedback:
    """forward(x) = x W^T + b on 4 shapes"""
    for i, case in enumerate(CASES):
        n, fin, fout = case
        layer, x, _ = _setup(ns, n, fin, fout, seed=10 + i)
        w, b = layer.weight.data, layer.bias.data
        out = _run_forward(layer, x, case)
        fb = match(
            out,
            x @ w.T + b,
            evaluated(WRONG_FORWARD, x, w, b),
            name=f"forward(x) for x of shape {x.shape}",
        )
        if not fb.passed:
            return fb
    return Feedback.ok(f"right on {len(CASES)} shapes")


# -- backward -----------------------------------------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="backward_input",
    points=2,
    requires=("Linear",),
    hint="dx = grad_output @ W, shape (N, in); return it",
)
def backward_input(ns: dict[str, Any]) -> Feedback:
    """backward(dy) returns dx = dy W"""
    for i, case in enumerate(CASES):
        n, fin, fout = case
        layer, x, dy = _setup(ns, n, fin, fout, seed=20 + i)
        w = layer.weight.data.copy()
        try:
            dx, changed = _run_backward(layer, x, dy, case, aside=("weight", "bias"))
        except Exception as exc:  # noqa: BLE001 - maybe a dW formula: try without x
            dx, changed = _without_x(exc, ns, case, seed=20 + i)
        if changed is not None:
            owner, fb = changed
            if owner == "backward_input":
                return fb
        if isinstance(dx, _SetAside):
            return Feedback.fail(
                "backward computed dx from a parameter's .grad",
                expected=f"dx of shape {x.shape}",
                why=["dx was computed from self.weight.grad (the gradient collected so far): "
                     "the weight's value is self.weight.data, dx = grad_output @ "
                     "self.weight.data"],
            )
        if dx is None:
            return Feedback.fail(
                "backward returned None",
                expected=f"dx of shape {x.shape}",
                got="None",
                why=[
                    "forgot to return dx: backward must end with `return grad_output @ W`, "
                    "the gradient the layer below needs"
                ],
            )
        fb = match(
            dx,
            dy @ w,
            evaluated(WRONG_INPUT_GRAD, x, w, dy),
            name=f"backward(dy) for x of shape {x.shape}",
            batch_size=n,
        )
        if not fb.passed:
            return fb if changed is None else _owned(changed, fb)
    return Feedback.ok(f"right on {len(CASES)} shapes")


def _without_x(exc: Exception, ns: dict[str, Any], case: tuple[int, int, int], seed: int,
               aside: tuple[str, ...] = ("weight", "bias"), keep: str | None = None
               ) -> tuple[Any, tuple[str, Feedback] | None]:
    """Backward again on a fresh layer whose kept input is set aside: dx and db do not need
    x, so a dW formula that raised (``exc``) does not stop them. ``exc`` is raised again
    when backward still fails, or returns a dx that was computed from x."""
    layer, x, dy = _setup(ns, *case, seed=seed)
    try:
        dx, changed = _run_backward(layer, x, dy, case, aside=aside, x_aside=True, keep=keep)
    except Exception:  # noqa: BLE001 - the first error is the one to report
        layer, x, dy = _setup(ns, *case, seed=seed)
        try:  # an optimizer step in backward uses the real .grad: run it as it is
            _, changed = _run_backward(layer, x, dy, case)
        except Exception:  # noqa: BLE001
            changed = None
        if changed is None or changed[1] is not _WEIGHTS_CHANGED:
            raise exc from None
        return None, changed
    if keep is None and not isinstance(dx, np.ndarray):
        raise exc
    return dx, changed


def _owned(changed: tuple[str, Feedback], fb: Feedback) -> Feedback:
    """``fb``, a part gone wrong after an input was written in place, refers to the check
    that reports the write (``changed``: that check and its failure)."""
    owner, cause = changed
    return earlier(cause, owner, "your code writes into an input it was given", fb.message)


def _two_calls(ns: dict[str, Any], name: str, case: tuple[int, int, int], seed: int,
               x_aside: bool = False) -> tuple[np.ndarray, Any, Any, tuple[str, Feedback] | None]:
    """x, ``name``.grad after one backward and after a second one, and an input written in
    place (see `_run_backward`); the other parameter's .grad is set aside, and an error
    raised after this part's line is left to the part that owns it."""
    other = ("bias",) if name == "weight" else ("weight",)
    layer, x, dy = _setup(ns, *case, seed=seed)
    _, changed = _run_backward(layer, x, dy, case, aside=other, x_aside=x_aside, keep=name)
    first = np.array(getattr(layer, name).grad, copy=True)
    _run_backward(layer, x, dy, case, aside=other, x_aside=x_aside, keep=name)
    return x, first, getattr(layer, name).grad, changed


def _accumulates(ns: dict[str, Any], name: str, expected: Any) -> Feedback:
    """Two backward passes without zero_grad add up: ``name``.grad doubles."""
    for i, case in enumerate(CASES):
        n, fin, fout = case
        layer, x, dy = _setup(ns, n, fin, fout, seed=30 + i)
        want = expected(x, dy)
        y = x @ layer.weight.data.T + layer.bias.data
        try:
            _, first, second, changed = _two_calls(ns, name, case, 30 + i)
        except Exception as exc:  # noqa: BLE001 - db does not need x: try without it
            if name != "bias":
                raise
            try:
                _, first, second, changed = _two_calls(ns, name, case, 30 + i, x_aside=True)
            except Exception:  # noqa: BLE001 - the first error is the one to report
                raise exc from None
        fb = match(
            first,
            want,
            [
                (
                    dy if name == "bias" else None,
                    f"the bias gradient was not summed over the batch: it has one row per example, "
                    f"shape (N, out) = ({n}, {fout}); use grad_output.sum(axis=0)",
                ),
                (
                    want / n,
                    f"divided by N = {n} inside the layer: the loss's gradient already "
                    "holds the 1/N of the mean; the layer must not average again",
                ),
                (
                    dy.T @ y if name == "weight" and fin == fout else None,
                    "the weight gradient was computed from the layer's output y: forward must "
                    "keep its input (self._x = x), and dW = grad_output.T @ x",
                ),
                (
                    np.full(fout, dy.sum()) if name == "bias" else None,
                    "summed over every axis: grad_output.sum() is one number, added to every "
                    "entry of bias.grad; sum over the batch only, grad_output.sum(axis=0)",
                ),
            ],
            name=f"{name}.grad after one backward (x of shape {x.shape})",
            batch_size=n,
        )
        if not fb.passed:
            return fb if changed is None else _owned(changed, fb)
        fb = match(
            second,
            2 * want,
            [
                (
                    want,
                    f"overwrote {name}.grad instead of accumulating: use self.{name}.grad += "
                    "..., not =, so that gradients from several backward calls (a layer used "
                    "twice, several batches) add up",
                ),
            ],
            name=f"{name}.grad after two backward calls",
            batch_size=n,
        )
        if not fb.passed:
            return fb
    return Feedback.ok(f"right on {len(CASES)} shapes, accumulated with +=")


@register_check(
    exercise=EXERCISE,
    id="weight_grad",
    points=2,
    requires=("Linear",),
    hint="self.weight.grad += grad_output.T @ x, shape (out, in) like the weight",
)
def weight_grad(ns: dict[str, Any]) -> Feedback:
    """backward adds dW = dy^T x into weight.grad"""
    return _accumulates(ns, "weight", lambda x, dy: dy.T @ x)


@register_check(
    exercise=EXERCISE,
    id="bias_grad",
    points=1,
    requires=("Linear",),
    hint="self.bias.grad += grad_output.sum(axis=0): every example adds its share",
)
def bias_grad(ns: dict[str, Any]) -> Feedback:
    """backward adds db = sum over the batch of dy into bias.grad"""
    return _accumulates(ns, "bias", lambda x, dy: dy.sum(axis=0))


# -- the gradient checker ------------------------------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="gradcheck",
    points=2,
    requires=("Linear",),
    hint="bp.check_module(layer, x) compares your backward with numerical gradients; read "
    "its diagnoses",
)
def gradcheck(ns: dict[str, Any]) -> Feedback:
    """bp.check_module passes on 3 shapes (input, weight and bias gradients)"""
    for i, case in enumerate(GRADCHECK_CASES):
        n, fin, fout = case
        layer, x, _ = _setup(ns, n, fin, fout, seed=40 + i)
        try:
            report = check_module(layer, x, rng=i)
        except ValueError as exc:
            explained = _explain(exc, "the gradient check", n, fin, fout)
            if explained is None:
                raise
            return _first_part(ns, explained)
        except NotImplementedError:  # the untouched stub: not attempted
            raise
        except Exception as exc:  # noqa: BLE001 - said once, by the part that raises it
            raised = Feedback.fail("the gradient check raised an error",
                                   got=short_exception(exc, [__file__]))
            fb = _first_part(ns, raised)
            if fb is raised:
                raise
            return fb
        what = f"Linear({fin}, {fout}) on x of shape {x.shape}"
        fb = gradcheck_feedback(report, what=what)
        if not fb.passed:
            return _first_part(ns, fb)
    return Feedback.ok(f"bp.check_module passes on {len(GRADCHECK_CASES)} shapes")


def _first_part(ns: dict[str, Any], fb: Feedback) -> Feedback:
    """``fb``, a failed gradient check, referring to the first part check that fails too
    (its cause, once), or as it is when every part passes."""
    return first_cause(ns, _PARTS, fb)


#: the part checks the gradient check relies on, in order: (id, check, what it is then).
_PARTS: tuple[tuple[str, Callable[[dict[str, Any]], Feedback], str], ...] = (
    ("forward", forward, "your forward is wrong"),
    ("backward_input", backward_input, "your dx is wrong"),
    ("weight_grad", weight_grad, "your weight gradient is wrong"),
    ("bias_grad", bias_grad, "your bias gradient is wrong"),
)
