"""Checks of exercise ``05_softmax_cross_entropy``: a stable softmax and a cross-entropy loss.

The learner writes ``softmax(z)`` (rows of logits (N, C) -> probabilities) and a class
``SoftmaxCrossEntropy`` whose ``forward(logits, labels)`` returns the mean cross-entropy as
a float and whose ``backward()`` returns dL/dlogits = (softmax(z) - onehot(y)) / N. Each is
checked on ordinary logits (a square batch among them, where a slip of ``keepdims`` gives
wrong numbers rather than a shape error), then on logits that overflow a naive ``exp``
(around 1000, rows far apart, rows spanning 810, float32 near 100) and on a very wrong,
very sure prediction whose loss is 1000. The backward pass is also checked with
``bpkit.check_loss``. Wrong answers are compared with the common mistakes in ``WRONG``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bpkit.gradcheck import check_loss
from bpkit.grading.feedback import CheckFailed, Feedback, gradcheck_feedback
from bpkit.grading.matching import blame, earlier, evaluated, match, named, same
from bpkit.grading.registry import register_check
from bpkit.losses import CrossEntropyLoss
from bpkit.losses import log_softmax as bp_log_softmax
from bpkit.losses import softmax as bp_softmax

__all__ = ["CASES", "GRADCHECK_CASES", "LOSS_CASES", "STABLE_CASES", "WRONG", "batch"]

EXERCISE = "05_softmax_cross_entropy"

#: (N, C) of the ordinary batches; the square one shows a missing keepdims in the values.
CASES = ((4, 3), (3, 3), (1, 5), (6, 2))
#: batches the gradient checker runs on.
GRADCHECK_CASES = ((4, 3), (2, 5), (5, 2))

#: (what, logits) that overflow or underflow a naive softmax, in the order checked.
STABLE_CASES: list[tuple[str, np.ndarray]] = [
    ("logits near 1000", np.array([[1000.0, 999.0, 998.0], [1002.0, 1000.0, 1001.0]])),
    ("a batch whose rows lie far apart",
     np.array([[2.0, 1.0, 0.0], [-1000.0, -1001.0, -1002.0]])),
    # the first row overflows e^(z - min), the second also e^(z - mean) (its mean is -719)
    ("rows spanning 810", np.array([[10.0, -800.0] + [0.0] * 8, [10.0] + [-800.0] * 9])),
    ("float32 logits near 100", np.array([[100.0, 99.0, 98.0]], dtype=np.float32)),
]
#: (what, logits, labels) for the loss: large logits and a very wrong, very sure prediction.
LOSS_CASES: list[tuple[str, np.ndarray, np.ndarray]] = [
    ("logits near 1000", STABLE_CASES[0][1], np.array([0, 2])),
    ("a very wrong, very sure prediction (z = (0, -1000), true class 1)",
     np.array([[0.0, -1000.0]]), np.array([1])),
    ("float32 logits near 100", STABLE_CASES[3][1], np.array([0])),
]


def batch(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits (n, c), standard normal times 2, and integer labels (n,) in [0, c).

    Shape:
        returns logits (n, c) float64 and labels (n,) int64.
    """
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * 2.0, rng.integers(0, c, size=n)


# -- the wrong answers ----------------------------------------------------------------------------

Softmax = Callable[[np.ndarray], np.ndarray]
LossValue = Callable[[np.ndarray, np.ndarray], Any]


def _exp_rows(z: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    e = np.exp(z - shift)
    return e / e.sum(axis=1, keepdims=True)


def _rows(z: np.ndarray) -> np.ndarray:
    return np.arange(z.shape[0])


def _onehot(labels: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[labels]


_KEEPDIMS = ("forgot keepdims=True: a row statistic such as z.max(axis=1) or e.sum(axis=1) "
             "has shape (N,), which NumPy lines up with the last axis (the classes), not with "
             "the rows; write z.max(axis=1, keepdims=True), shape (N, 1)")

_AXIS0 = ("subtracted the maximum of each column, z.max(axis=0): that shifts each class by a "
          "different amount and changes the probabilities; subtract each row's maximum, "
          "z.max(axis=1, keepdims=True), which leaves softmax unchanged")

_UNNORMALISED = ("not normalised: e = np.exp(z - m) still has to be divided by its row sum, "
                 "e / e.sum(axis=1, keepdims=True)")

_AXIS0_SUM = ("a statistic over axis 0 (one per class, shape (C,)) met one per row (shape (N,)): "
              "the sums and maxima of softmax and log-sum-exp run over the classes of each row, "
              "axis=1")

_UNSHIFTED_SUM = ("divided the shifted e^(z - m) by the sum of the unshifted e^z: shift numerator "
                  "and denominator alike, e = np.exp(z - m); e / e.sum(axis=1, keepdims=True)")


def _unshifted_sum(z: np.ndarray) -> np.ndarray:
    return np.exp(z - z.max(axis=1, keepdims=True)) / np.exp(z).sum(axis=1, keepdims=True)


_WRONG_SOFTMAX: list[tuple[Softmax, str]] = [
    (lambda z: np.exp(z) / np.exp(z).sum(),
     "normalised over the whole batch: each row (one sample) must sum to 1, so divide by "
     "e.sum(axis=1, keepdims=True)"),
    (lambda z: np.exp(z) / np.exp(z).sum(axis=0, keepdims=True),
     "normalised each column: softmax runs over the classes of one sample, axis=1"),
    (lambda z: np.exp(z) / np.exp(z).sum(axis=1), _KEEPDIMS),
    (lambda z: _exp_rows(z, z.max(axis=1)), _KEEPDIMS),
    (lambda z: _exp_rows(z, z.max(axis=0, keepdims=True)), _AXIS0),
    (np.exp, "not normalised: divide each row of e^z by its sum"),
    (lambda z: np.exp(z - z.max(axis=1, keepdims=True)), _UNNORMALISED),
    (_unshifted_sum, _UNSHIFTED_SUM),
    (lambda z: z / z.sum(axis=1, keepdims=True),
     "normalised the logits themselves: softmax exponentiates first, e^z / Σ e^z"),
    (lambda z: _exp_rows(-z, (-z).max(axis=1, keepdims=True)),
     "the sign of the exponent: softmax uses e^(z_i), not e^(-z_i)"),
    (lambda z: bp_log_softmax(z), "returned log-probabilities: softmax is e^z / Σ e^z"),
]

_WRONG_STABLE: list[tuple[Softmax, str]] = [
    (lambda z: _exp_rows(z, z.max()),
     "subtracted the maximum of the whole batch (z.max()), not of each row: a row far below "
     "it underflows to 0 / 0 = nan; use z.max(axis=1, keepdims=True)"),
    (lambda z: _exp_rows(z, 0.0),
     "no maximum subtracted: e^1000 overflows to inf and inf / inf is nan (in float32 "
     "already above 88.7); subtract each row's maximum first, which leaves softmax unchanged"),
    (lambda z: np.exp(z - z.max(axis=1, keepdims=True)), _UNNORMALISED),
    (_unshifted_sum, _UNSHIFTED_SUM),
    (lambda z: _exp_rows(z, z.mean(axis=1, keepdims=True)),
     "subtracted the row mean: the exponents above the mean stay positive, and e^(z - mean) "
     "overflows when the maximum lies more than about 709 above the mean; subtract the row "
     "maximum, so every exponent is <= 0"),
    (lambda z: _exp_rows(z, z.min(axis=1, keepdims=True)),
     "subtracted the row minimum: then the exponents are >= 0 and e^(z - min) still "
     "overflows when a row spans more than about 710; subtract the maximum, so every "
     "exponent is <= 0"),
]


def _ce(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return -bp_log_softmax(z)[_rows(z), labels]


def _column_max(z: np.ndarray, labels: np.ndarray) -> float:
    shifted = z - z.max(axis=0, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[_rows(z), labels]))


def _drop_max(z: np.ndarray, labels: np.ndarray) -> float:
    m = z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z - m).sum(axis=1)) - z[_rows(z), labels]))


_PREDICTED = ("the loss is -log p of the largest logit (the predicted class), not of the true "
              "label: subtract shifted[np.arange(N), labels], the true class's shifted logit, "
              "from log Σ e^(z_j - m) (leaving it out, or labels = argmax, gives this)")

_WRONG_LOSS: list[tuple[LossValue, str]] = [
    (lambda z, y: _ce(z, y).sum(),
     "summed over the batch instead of taking the mean: divide by N"),
    (lambda z, y: _ce(z, y).sum() / z.size,
     "averaged over all N·C entries of the logits: the mean is over the N samples only"),
    (lambda z, y: -_ce(z, y).mean(),
     "the sign is flipped: the loss is -log p_true, which is >= 0"),
    (lambda z, y: -bp_log_softmax(z)[:, y].mean(),
     "p[:, labels] picks an (N, N) block (every row at every label): take one entry per row "
     "with p[np.arange(N), labels]"),
    (lambda z, y: -bp_log_softmax(z)[:, y].sum() / z.shape[0],
     "p[:, labels] picks an (N, N) block (every row at every label): take one entry per row "
     "with p[np.arange(N), labels]"),
    (lambda z, y: _ce(z, z.argmax(axis=1)).mean(), _PREDICTED),
    (lambda z, y: -bp_log_softmax(z).mean(),
     "averaged -log p over every class: cross-entropy takes only the true class's -log p"),
    (lambda z, y: -bp_log_softmax(z).sum() / z.shape[0],
     "summed -log p over every class: cross-entropy takes only the true class's -log p"),
    (lambda z, y: (_ce(z, y) / np.log(10.0)).mean(),
     "used log10: cross-entropy uses the natural logarithm, np.log"),
    (_column_max, _AXIS0.replace("z.max", "logits.max").replace("softmax", "the loss")),
    (_drop_max,
     "log-sum-exp lost its m: log Σ e^(z_j) = m + log Σ e^(z_j - m); either add m back or "
     "subtract the shifted true logit z_true - m"),
]


def _naive_lse(z: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[_rows(z), labels]))


def _log_of_stable_softmax(z: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(-np.log(_exp_rows(z, z.max(axis=1, keepdims=True))[_rows(z), labels])))


def _log_of_naive_softmax(z: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(-np.log(_exp_rows(z, 0.0)[_rows(z), labels])))


# The log of a stable softmax is checked before that of a naive one: on the very sure mistake
# both give log 0, and only the first gets through the logits near 1000.
_WRONG_LOSS_STABLE: list[tuple[LossValue, str]] = [
    (_naive_lse,
     "e^1000 overflowed to inf: compute log Σ e^(z_j) as m + log Σ e^(z_j - m) with m the "
     "row maximum (log-sum-exp)"),
    (_log_of_stable_softmax,
     "took the log of a probability that underflowed to 0 (log 0 = -inf): compute "
     "log p_true = (z_true - m) - log Σ e^(z_j - m) directly, without forming p"),
    (_log_of_naive_softmax,
     "the softmax overflowed (inf / inf = nan) before the log: subtract each row's maximum, "
     "and compute log p with log-sum-exp"),
    (lambda z, y: _ce(z.astype(np.float64), z.argmax(axis=1)).mean(), _PREDICTED),
]


def _backward_block(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    g = bp_softmax(z)
    g[:, labels] -= 1.0
    return g / z.shape[0]


def _whole_rows(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    g = bp_softmax(z)
    g[labels] -= 1.0
    return g / z.shape[0]


_WRONG_BACKWARD: list[tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], str]] = [
    (lambda z, y: bp_softmax(z) - _onehot(y, z.shape[1]),
     "forgot the 1/N of the mean: dL/dz = (p - y) / N"),
    (lambda z, y: (_onehot(y, z.shape[1]) - bp_softmax(z)) / z.shape[0],
     "the sign is flipped: dL/dz = (p - y) / N, predicted minus true"),
    (lambda z, y: bp_softmax(z) / z.shape[0],
     "forgot to subtract 1 at the true class: dL/dz = (p - y) / N with y one-hot"),
    (_backward_block,
     "p[:, labels] -= 1 subtracts 1 in every row at every label's column: use "
     "p[np.arange(N), labels] -= 1, one entry per row"),
    (lambda z, y: (bp_softmax(z) - _onehot(y, z.shape[1])) / z.shape[1],
     "divided by the number of classes C: the mean is over the N samples, so divide by N"),
    (lambda z, y: (bp_softmax(z) - _onehot(z.argmax(axis=1), z.shape[1])) / z.shape[0],
     "used the predicted class (argmax) instead of the true label"),
    (lambda z, y: bp_softmax(z) * (1.0 - bp_softmax(z)) / z.shape[0],
     "used the diagonal of the softmax Jacobian, p(1 - p): with cross-entropy the chain rule "
     "through the whole Jacobian collapses to p - y"),
    (lambda z, y: -_onehot(y, z.shape[1]) / bp_softmax(z) / z.shape[0],
     "stopped at dℓ/dp = -y / p: the gradient with respect to the logits goes on through the "
     "softmax Jacobian and comes out as p - y"),
    (lambda z, y: (z - z.max(axis=1, keepdims=True) - _onehot(y, z.shape[1])) / z.shape[0],
     "backward used the shifted logits z - m as p: cache the probabilities, softmax(logits), "
     "in forward"),
    (lambda z, y: (z - _onehot(y, z.shape[1])) / z.shape[0],
     "backward used the logits as p: cache the probabilities, softmax(logits), in forward"),
    (lambda z, y: (np.exp(z - z.max(axis=1, keepdims=True)) - _onehot(y, z.shape[1]))
     / z.shape[0],
     "backward used e^(z - m), not divided by its row sum, as p: cache the probabilities, "
     "softmax(logits), in forward"),
    (lambda z, y: (bp_softmax(z) - 1.0) / z.shape[0],
     "subtracted 1 from every entry: subtract it only at each row's true class, "
     "grad[np.arange(N), labels] -= 1"),
    (_whole_rows,
     "grad[labels] -= 1 subtracts 1 from whole rows (the rows numbered by the labels): index "
     "one entry per row, grad[np.arange(N), labels] -= 1"),
    (lambda z, y: (bp_softmax(z) + _onehot(y, z.shape[1])) / z.shape[0],
     "added 1 at the true class: dL/dz = (p - y) / N subtracts it"),
]

#: part id -> the recognised wrong answers, as (function, what the mistake is) pairs.
#: softmax parts take z; loss parts take (z, labels) and return the loss; backward parts
#: take (z, labels) and return dL/dz.
WRONG: dict[str, list[tuple[Any, str]]] = {
    "softmax": _WRONG_SOFTMAX,
    "softmax_stable": _WRONG_STABLE,
    "loss": _WRONG_LOSS,
    "loss_stable": _WRONG_LOSS_STABLE,
    "backward": _WRONG_BACKWARD,
}


# -- running the learner's code -------------------------------------------------------------------


def _softmax(ns: dict[str, Any]) -> Callable[[np.ndarray], Any]:
    fn = ns["softmax"]
    if fn is bp_softmax:
        raise CheckFailed(Feedback.fail(
            "`softmax` is bpkit's own (bp.softmax), not yours",
            why=["write your own def softmax(z): ... with NumPy"],
        ))
    return fn


def _loss(ns: dict[str, Any]) -> Any:
    cls = ns["SoftmaxCrossEntropy"]
    if isinstance(cls, type) and issubclass(cls, CrossEntropyLoss):
        raise CheckFailed(Feedback.fail(
            "`SoftmaxCrossEntropy` is bpkit's own loss (bp.CrossEntropyLoss), not yours",
            why=["write forward and backward of the class given; do not import, assign or "
                 "subclass bp.CrossEntropyLoss"],
        ))
    if not isinstance(cls, type):
        raise CheckFailed(Feedback.fail(
            "`SoftmaxCrossEntropy` must be a class",
            got=type(cls).__name__,
            why=["keep the class statement given: class SoftmaxCrossEntropy:"],
        ))
    return cls()


def _explain(exc: ValueError, where: str, z: np.ndarray) -> Feedback | None:
    """A broadcasting error in the learner's code, said in words (None if not one)."""
    msg = str(exc).replace(" ", "")
    n, c = z.shape
    if "broadcast" in msg and f"({n},)" in msg and f"({c},)" in msg and f"({n},{c})" not in msg:
        return Feedback.fail(
            f"{where} raised a shape error for logits of shape ({n}, {c})",
            got=f"ValueError: {exc}",
            why=[_AXIS0_SUM],
        )
    if "broadcast" in msg and f"({n},)" in msg:
        return Feedback.fail(
            f"{where} raised a shape error for logits of shape ({n}, {c})",
            got=f"ValueError: {exc}",
            why=[_KEEPDIMS],
        )
    return None


def _call(fn: Callable[..., Any], args: tuple[Any, ...], where: str, z: np.ndarray) -> Any:
    """``fn(*args)`` with floating-point warnings off and shape errors explained."""
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    except ValueError as exc:
        explained = _explain(exc, where, z)
        if explained is None:
            raise
        raise CheckFailed(explained) from None


def _unchanged(before: np.ndarray, after: np.ndarray, where: str, what: str) -> None:
    if not np.array_equal(before, after):
        raise CheckFailed(Feedback.fail(
            f"{where} changed the caller's {what} in place",
            why=[f"input modified in place: a line such as z -= z.max(axis=1, keepdims=True) "
                 f"writes into the caller's {what}; write shifted = z - z.max(...) to get a "
                 "new array"],
        ))


def _run_softmax(ns: dict[str, Any], z: np.ndarray) -> Any:
    fn = _softmax(ns)
    z_in = z.copy()
    got = _call(fn, (z_in,), "softmax(z)", z)
    _unchanged(z, z_in, "softmax(z)", "logits z")
    return got


def _run_forward(ns: dict[str, Any], z: np.ndarray, labels: np.ndarray, *,
                 strict: bool = False) -> tuple[Any, Any]:
    """A new loss of the learner's and its forward on copies of ``z`` and ``labels``.

    Only a ``strict`` run (the loss check's) fails when forward writes into its inputs: the
    other checks get copies, so that one slip costs one check.
    """
    loss = _loss(ns)
    z_in, y_in = z.copy(), labels.copy()
    value = _call(loss, (z_in, y_in), "forward(logits, labels)", z)
    if strict:
        _unchanged(z, z_in, "forward(logits, labels)", "logits")
        _unchanged(labels, y_in, "forward(logits, labels)", "labels")
    return loss, value


def _value_feedback(value: Any, expected: float, what: str, n: int) -> Feedback | None:
    """A loss that is not one number, said in words (None when it is one)."""
    if isinstance(value, np.ndarray) and value.shape == (n,) and n > 1:
        return Feedback.fail(
            f"{what} is an array of shape {value.shape}",
            expected=f"one number, {expected:.6g}",
            got=f"an array of shape {value.shape}",
            why=["returned one loss per sample: forward returns their mean, a single number "
                 "(float(losses.mean()))"],
        )
    return None


# -- softmax --------------------------------------------------------------------------------------


@register_check(exercise=EXERCISE, id="softmax", points=2, requires=("softmax",),
                hint="e = np.exp(z - z.max(axis=1, keepdims=True)); return e / e.sum(axis=1, "
                "keepdims=True)")
def softmax(ns: dict[str, Any]) -> Feedback:
    """softmax(z): each row of e^z divided by its sum, on 4 batches"""
    for i, (n, c) in enumerate(CASES):
        z, _ = batch(n, c, seed=10 + i)
        got = _run_softmax(ns, z)
        fb = match(got, bp_softmax(z), evaluated(_WRONG_SOFTMAX, z),
                   name=f"softmax(z) for z of shape {z.shape}", wrong_atol=1e-9)
        if not fb.passed:
            return fb
    return Feedback.ok(f"right on {len(CASES)} batches; every row sums to 1")


@register_check(exercise=EXERCISE, id="softmax_stable", points=2, requires=("softmax",),
                hint="subtract each row's maximum before np.exp: every exponent is then <= 0")
def softmax_stable(ns: dict[str, Any]) -> Feedback:
    """softmax(z) stays finite and right for logits that overflow a naive exp"""
    for what, z in STABLE_CASES:
        got = _run_softmax(ns, z)
        rtol = 1e-5 if z.dtype == np.float32 else 1e-6
        fb = match(got, bp_softmax(z), evaluated(_WRONG_STABLE, z),
                   name=f"softmax(z) for {what}", rtol=rtol, wrong_atol=1e-9)
        if not fb.passed:
            fb.message += f": z = {z.tolist()}"
            return fb
    return Feedback.ok(f"finite and right on {len(STABLE_CASES)} batches of extreme logits")


# -- the loss -------------------------------------------------------------------------------------


@register_check(exercise=EXERCISE, id="loss", points=2, requires=("SoftmaxCrossEntropy",),
                hint="mean over the N rows of -log p[n, labels[n]]: use p[np.arange(N), labels]")
def loss(ns: dict[str, Any]) -> Feedback:
    """forward(z, labels) returns the mean cross-entropy, on 4 batches"""
    for i, (n, c) in enumerate(CASES):
        z, labels = batch(n, c, seed=20 + i)
        _, value = _run_forward(ns, z, labels, strict=True)
        expected = float(_ce(z, labels).mean())
        what = f"the loss for logits of shape {z.shape}"
        shaped = _value_feedback(value, expected, what, n)
        if shaped is not None:
            return shaped
        fb = match(value, expected, evaluated(_WRONG_LOSS, z, labels), name=what,
                   batch_size=n, wrong_atol=1e-9)
        if not fb.passed:
            return fb
    return Feedback.ok(f"right on {len(CASES)} batches")


@register_check(exercise=EXERCISE, id="loss_stable", points=2, requires=("SoftmaxCrossEntropy",),
                hint="log-sum-exp: loss_n = m + log Σ_j exp(z_nj - m) - z_n,true, with m the "
                "row maximum")
def loss_stable(ns: dict[str, Any]) -> Feedback:
    """forward stays finite and right for huge logits and a very sure, wrong prediction"""
    for what, z, labels in LOSS_CASES:
        _, value = _run_forward(ns, z, labels)
        expected = float(_ce(z.astype(np.float64), labels).mean())
        rtol = 1e-5 if z.dtype == np.float32 else 1e-6
        fb = match(value, expected, evaluated(_WRONG_LOSS_STABLE, z, labels),
                   name=f"the loss for {what}", rtol=rtol, wrong_atol=1e-9)
        if fb.passed:
            continue
        fb.message += f": z = {z.tolist()}, labels = {labels.tolist()}"
        try:
            v = float(value)
        except (TypeError, ValueError):
            return fb
        if expected > 100 and np.isfinite(v) and 0 < v < 100:
            return blame(fb, f"the loss is capped near {v:.4g} = -log ε: clipping the "
                         "probability (log(p + ε) or np.clip) hides log 0 but gives a wrong "
                         "loss and no gradient; log-sum-exp gives the true value, 1000")
        return fb
    return Feedback.ok(f"finite and right on {len(LOSS_CASES)} extreme batches "
                       "(a loss of 1000 for the very sure mistake)")


# -- backward -------------------------------------------------------------------------------------


def _through_softmax(ns: dict[str, Any], z: np.ndarray, labels: np.ndarray, got: Any,
                     fb: Feedback) -> Feedback:
    """``fb``, a wrong backward, or a failure that refers to the softmax check when the
    learner's backward is right but for the probabilities of their wrong softmax."""
    try:
        p = _run_softmax(ns, z)
        mine = (np.asarray(p, dtype=np.float64) - _onehot(labels, z.shape[1])) / z.shape[0]
    except Exception:  # noqa: BLE001 - the softmax check reports its own errors
        return fb
    if same(p, bp_softmax(z)) or not same(got, mine, rtol=1e-6, atol=1e-9):
        return fb
    cause = match(p, bp_softmax(z), evaluated(_WRONG_SOFTMAX, z),
                  name=f"softmax(z) for z of shape {z.shape}", wrong_atol=1e-9)
    return earlier(cause, "softmax", "backward's p comes from your softmax, which is wrong",
                   fb.message)


def _named_backward(fb: Feedback, got: Any, z: np.ndarray, labels: np.ndarray) -> Feedback:
    """``fb``, a failed gradient check, with the recognised wrong backward ``got`` equals as
    its reason when the checker itself found no pattern (a sign or a factor it names)."""
    if any(f.kind != "some_entries" for f in fb.findings):
        return fb
    meaning = named(got, evaluated(_WRONG_BACKWARD, z, labels), atol=1e-9)
    return fb if meaning is None else blame(fb, meaning)


@register_check(exercise=EXERCISE, id="backward", points=3, requires=("SoftmaxCrossEntropy",),
                hint="grad = p.copy(); grad[np.arange(N), labels] -= 1; return grad / N")
def backward(ns: dict[str, Any]) -> Feedback:
    """backward() returns (softmax(z) - onehot(y)) / N, on 4 batches"""
    for i, (n, c) in enumerate(CASES):
        z, labels = batch(n, c, seed=30 + i)
        loss_fn, _ = _run_forward(ns, z, labels)
        got = _call(loss_fn.backward, (), "backward()", z)
        expected = (bp_softmax(z) - _onehot(labels, c)) / n
        what = f"backward() for logits of shape {z.shape}"
        fb = match(got, expected, evaluated(_WRONG_BACKWARD, z, labels), name=what,
                   batch_size=n, wrong_atol=1e-9)
        if not fb.passed:
            return _through_softmax(ns, z, labels, got, fb)
        first = np.array(got, dtype=np.float64, copy=True)
        again = _call(loss_fn.backward, (), "backward()", z)
        if not same(again, first, rtol=1e-12, atol=1e-9):
            return Feedback.fail(
                "backward() gave a different answer the second time, after the same forward",
                why=["backward changed what forward cached (e.g. p[rows, labels] -= 1 on the "
                     "cached probabilities): work on a copy, grad = p.copy(), so backward can "
                     "run again (the gradient checker does)"],
            )
    return Feedback.ok(f"(p - y) / N on {len(CASES)} batches")


@register_check(exercise=EXERCISE, id="gradcheck", points=2, requires=("SoftmaxCrossEntropy",),
                hint="bp.check_loss(SoftmaxCrossEntropy(), z, labels) compares backward with "
                "central differences of forward; read its diagnoses")
def gradcheck(ns: dict[str, Any]) -> Feedback:
    """bp.check_loss passes on 3 batches"""
    for i, (n, c) in enumerate(GRADCHECK_CASES):
        z, labels = batch(n, c, seed=40 + i)
        what = f"SoftmaxCrossEntropy on logits of shape {z.shape}"
        _, value = _run_forward(ns, z, labels)
        forward = _value_feedback(value, float(_ce(z, labels).mean()), "the loss", n) or match(
            value, float(_ce(z, labels).mean()), evaluated(_WRONG_LOSS, z, labels),
            name=f"the loss for logits of shape {z.shape}", batch_size=n, wrong_atol=1e-9)
        if not forward.passed:
            return earlier(forward, "loss", "your forward (the loss value) is wrong",
                           f"{what}: the gradient check differentiates your forward, which is "
                           "wrong")
        loss_fn = _loss(ns)
        try:
            with np.errstate(all="ignore"):
                report = check_loss(loss_fn, z, labels, rng=i)
        except ValueError as exc:
            explained = _explain(exc, "the gradient check", z)
            if explained is None:
                raise
            return explained
        fb = gradcheck_feedback(report, what=what)
        if not fb.passed:
            try:
                loss_fn, _ = _run_forward(ns, z, labels, strict=True)
                got = _call(loss_fn.backward, (), "backward()", z)
            except CheckFailed as exc:  # forward writes into the logits it is given
                return earlier(exc.feedback, "loss", "your forward writes into its logits",
                               fb.message)
            return _through_softmax(ns, z, labels, got, _named_backward(fb, got, z, labels))
    return Feedback.ok(f"bp.check_loss passes on {len(GRADCHECK_CASES)} batches")
