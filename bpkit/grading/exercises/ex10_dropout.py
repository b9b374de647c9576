"""Checks of exercise ``10_dropout``: inverted dropout, train vs eval, with a seeded mask.

The learner's ``Dropout`` subclasses ``bpkit.Module`` and keeps PyTorch's contract:
``Dropout(p=0.5, *, rng=None)``, ``p`` the probability of **dropping** a unit; in training
mode ``forward(x)`` returns x * m / (1 - p) with the mask drawn as

    keep = self.rng.random(x.shape) >= self.p        # the documented convention

(one float64 uniform per entry from the layer's own Generator, so a seed gives the same
mask as ``bp.Dropout``); in eval mode ``forward(x)`` is the identity and draws nothing;
``backward(dy)`` returns dy * m / (1 - p) with the mask of the last forward (dy after an
eval forward). Wrong answers are recognised from the statistics of the output, from the
exact seeded mask and from the gradient; the tables ``WRONG_EVAL``, ``WRONG_TRAIN``,
``WRONG_MASK`` and ``WRONG_BACKWARD`` list them with what each one means.

One slip costs its part: backward is judged with the mask the learner's own forward used
(a mask drawn another way costs seeded_mask only), and backward and the gradient check,
which rely on the training forward, say first when a forward check fails (its cause, once);
the gradient check refers to a failing backward check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bpkit.gradcheck import check_module
from bpkit.grading.exercises._learner import layer_class
from bpkit.grading.feedback import CheckFailed, Feedback, compare, gradcheck_feedback
from bpkit.grading.matching import blame, evaluated, first_cause, match, named, same
from bpkit.grading.registry import register_check
from bpkit.layers import Dropout as BpkitDropout
from bpkit.module import Module

__all__ = ["WRONG_BACKWARD", "WRONG_EVAL", "WRONG_MASK", "WRONG_TRAIN", "reference_keep"]

EXERCISE = "10_dropout"
PS = (0.2, 0.5, 0.8)


def reference_keep(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """The documented mask: True where a unit is kept.

    Shape:
        ``shape`` -> a boolean array of that shape.

    Formula:
        keep = rng.random(shape) >= p (each unit kept with probability 1 - p).
    """
    return rng.random(shape) >= p


# -- the learner's class ------------------------------------------------------------------------


def _layer_class(ns: dict[str, Any]) -> type:
    return layer_class(ns, "Dropout", BpkitDropout)


def _make(ns: dict[str, Any], p: float, seed: int | np.random.Generator) -> Module:
    layer = _layer_class(ns)(p, rng=seed)
    if not isinstance(getattr(layer, "rng", None), np.random.Generator):
        raise CheckFailed(Feedback.fail(
            f"Dropout({p}, rng=...) has no Generator `rng`",
            why=["__init__ must keep self.rng = np.random.default_rng(rng) (as given): the "
                 "mask is drawn from it"]))
    return layer


def _forward(layer: Module, x: np.ndarray, what: str) -> Any:
    x_in = x.copy()
    y = layer(x_in)
    if not np.array_equal(x_in, x):
        raise CheckFailed(Feedback.fail(
            f"{what}: forward changed the input x in place",
            why=["input modified in place: x *= mask overwrote the caller's array (the layer "
                 "below may still need it); compute x * mask, a new array"]))
    return y


def _state(rng: np.random.Generator) -> Any:
    return rng.bit_generator.state


_EXACT = {"rtol": 1e-12, "atol": 1e-14}  # the same mask and scaling, up to rounding
_WRONG_EXACT = {"wrong_rtol": 1e-12, "wrong_atol": 1e-14}


Variant = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

# -- eval -----------------------------------------------------------------------------------------

#: wrong eval-mode outputs, as (function of x, p and the layer's rng, what the mistake is).
WRONG_EVAL: list[tuple[Variant, str]] = [
    (lambda x, p, rng: x * reference_keep(rng, x.shape, p) / (1 - p),
     "dropped units in eval mode: forward must look at self.training (bp.Module's train() "
     "and eval() set it); in eval mode dropout is the identity, y = x"),
    (lambda x, p, rng: x * (1 - p),
     "multiplied by 1 - p in eval mode: that is the original, non-inverted dropout; inverted "
     "dropout scales by 1/(1 - p) in training, so eval returns x unchanged"),
    (lambda x, p, rng: x / (1 - p),
     "scaled by 1/(1 - p) in eval mode: the scaling belongs to training only; in eval, y = x"),
    (lambda x, p, rng: x * reference_keep(rng, x.shape, p),
     "dropped units (without scaling) in eval mode: check self.training; in eval, y = x"),
]


@register_check(
    exercise=EXERCISE,
    id="eval",
    points=2,
    requires=("Dropout",),
    hint="if not self.training: return x (and draw nothing from self.rng)",
)
def eval_mode(ns: dict[str, Any]) -> Feedback:
    """eval mode is the identity and draws no random numbers"""
    for i, p in enumerate(PS):
        layer = _make(ns, p, seed=100 + i)
        layer.eval()
        x = np.random.default_rng(i).standard_normal((6, 5))
        before = _state(layer.rng)
        y = _forward(layer, x, f"Dropout({p}) in eval mode")
        fb = match(y, x, ((wrong(x, p, np.random.default_rng(100 + i)), meaning)
                          for wrong, meaning in WRONG_EVAL),
                   name=f"Dropout({p}) in eval mode, forward(x)", **_WRONG_EXACT)
        if not fb.passed:
            return fb
        if _state(layer.rng) != before:
            return Feedback.fail(
                f"Dropout({p}) drew random numbers in eval mode",
                why=["the eval pass used the generator although it returns x: that shifts "
                     "every later training mask, so a seed no longer gives the same masks; "
                     "return x before drawing"])
    return Feedback.ok(f"the identity for p in {PS}, without touching the generator")


# -- train: statistics ---------------------------------------------------------------------------


def _train_output(ns: dict[str, Any], p: float, x: np.ndarray, seed: int) -> Any:
    layer = _make(ns, p, seed)
    layer.train()
    return _forward(layer, x, f"Dropout({p}) in training mode")


#: wrong training outputs on x = ones, recognised by their statistics (sentence per mistake).
WRONG_TRAIN: dict[str, str] = {
    "kept_p": "kept a fraction p of the units and dropped 1 - p: p is the probability to DROP "
              "a unit (PyTorch's convention), so keep where rng.random(x.shape) >= p",
    "no_scale": "forgot to scale the kept units by 1/(1 - p): the kept values stay 1, so the "
                "mean falls to 1 - p and eval mode (y = x) no longer matches it on average",
    "times_keep": "multiplied the kept units by 1 - p instead of dividing by it: "
                  "E[y] = (1 - p)² x instead of x",
    "over_p": "divided by p, the drop probability: divide by the keep probability 1 - p",
    "identity": "training mode returned x unchanged: nothing was dropped; are the modes "
                "swapped (if self.training: return x)?",
    "shared": "every example in the batch got the same mask: draw one uniform number per "
              "entry, rng.random(x.shape), not per feature",
    "per_example": "all the features of an example were kept or dropped together (one number "
                   "per example): draw one uniform number per entry, rng.random(x.shape)",
    "no_drop": "scaled every unit by 1/(1 - p) but dropped none: the mask is missing from "
               "the output, y = x * keep / (1 - p)",
    "precedence": "x * keep / 1 - p is (x * keep) - p: Python divides before it subtracts; "
                  "write x * keep / (1 - p), with the brackets",
    "dtype": "a float32 input gave a float64 output: the mask is float64 and x * mask "
             "upcasts; build it with keep.astype(x.dtype) (or multiply x by the boolean "
             "mask and divide by 1 - p, a Python float)",
}


def _train_diagnosis(y: np.ndarray, x: np.ndarray, p: float) -> str:
    """Which entry of WRONG_TRAIN fits the output on x = ones (or "" if none)."""
    zero = float(np.mean(y == 0))
    kept = np.unique(y[y != 0])
    if np.array_equal(y, x):
        return WRONG_TRAIN["identity"]
    if zero == 0 and same(y, x / (1 - p), rtol=1e-9):
        return WRONG_TRAIN["no_drop"]
    if kept.size == 2 and same(kept, np.array([-p, 1 - p]), rtol=1e-9):
        return WRONG_TRAIN["precedence"]
    if abs(zero - (1 - p)) < 0.03 and abs(zero - p) > 0.03:
        return WRONG_TRAIN["kept_p"]
    if kept.size == 1:
        key = named(kept[0], [(value, key) for key, value in (
            ("no_scale", 1.0), ("times_keep", 1 - p), ("over_p", 1 / p))
            if not same(value, 1 / (1 - p), rtol=1e-5)], rtol=1e-9)
        if key:
            return WRONG_TRAIN[key]
    if y.ndim == 2 and len(y) > 1 and np.all(y == y[0]):
        return WRONG_TRAIN["shared"]
    if y.ndim == 2 and y.shape[1] > 1 and np.all(y == y[:, :1]):
        return WRONG_TRAIN["per_example"]
    return ""


@register_check(
    exercise=EXERCISE,
    id="train_statistics",
    points=2,
    requires=("Dropout",),
    hint="keep = self.rng.random(x.shape) >= self.p; y = x * keep / (1 - self.p): about a "
    "fraction p of zeros, kept values 1/(1-p), mean 1 on x = ones",
)
def train_statistics(ns: dict[str, Any]) -> Feedback:
    """training mode drops a fraction p and keeps the mean (x = ones, 10 000 entries)"""
    x = np.ones((200, 50))
    for i, p in enumerate(PS):
        y = _train_output(ns, p, x, seed=200 + i)
        what = f"Dropout({p}) in training mode on x = np.ones((200, 50))"
        fb = compare(y, x, name=what)  # only for "None", "not an array", "wrong shape"
        if y is None or not isinstance(y, np.ndarray) or y.shape != x.shape:
            return fb
        zero, kept = float(np.mean(y == 0)), np.unique(y[y != 0])
        ok = (abs(zero - p) < 0.03 and kept.size == 1
              and same(kept[0], 1 / (1 - p), rtol=1e-9))
        if ok and _train_diagnosis(y, x, p) == "":
            continue
        got = (f"{zero:.1%} zeros, kept values {np.round(kept[:4], 4).tolist()}"
               f"{' ...' if kept.size > 4 else ''}, mean {float(y.mean()):.3f}")
        why = _train_diagnosis(y, x, p)
        return Feedback.fail(
            f"{what}: wrong statistics",
            expected=f"about {p:.0%} zeros, kept values {1 / (1 - p):.4g} = 1/(1 - p), mean 1",
            got=got, why=[why] if why else ["the output must be x * keep / (1 - p)"])
    for shape in ((7,), (3, 4, 5)):
        x = np.ones(shape)
        y = _train_output(ns, 0.5, x, seed=210)
        if np.shape(y) != x.shape:
            return Feedback.fail(f"Dropout(0.5) changed the shape of x {shape}",
                                 expected=str(shape), got=str(np.shape(y)),
                                 why=["draw the mask with x's full shape: rng.random(x.shape)"])
    x32 = np.ones((20, 10), dtype=np.float32)
    y32 = _train_output(ns, 0.5, x32, seed=220)
    if getattr(y32, "dtype", None) != np.float32:
        return Feedback.fail("Dropout(0.5) on a float32 input", expected="float32 output",
                             got=f"dtype {getattr(y32, 'dtype', type(y32).__name__)}",
                             why=[WRONG_TRAIN["dtype"]])
    return Feedback.ok(f"p in {PS}: the right fraction of zeros, kept values 1/(1 - p); any "
                       "shape; float32 stays float32")


# -- train: the seeded mask ----------------------------------------------------------------------


def _two_draws(draw: Callable[[np.random.Generator, tuple[int, ...], float], np.ndarray],
               x: np.ndarray, p: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [x * draw(rng, x.shape, p) / (1 - p) for _ in range(2)]


#: wrong ways of drawing the mask (each statistically fine), as (draw, the mistake).
WRONG_MASK: list[tuple[Callable[[np.random.Generator, tuple[int, ...], float], np.ndarray],
                       str]] = [
    (lambda rng, shape, p: rng.random(shape) < 1 - p,
     "kept the units with u < 1 - p (rng.binomial(1, 1 - p) draws the same way): "
     "statistically right, but not the documented draw; this "
     "exercise (like bp.Dropout) keeps keep = self.rng.random(x.shape) >= self.p, so that a "
     "seed gives the same mask everywhere"),
    (lambda rng, shape, p: rng.random(shape, dtype=np.float32) >= p,
     "drew float32 uniforms: draw float64 ones, self.rng.random(x.shape), so that a seed "
     "gives the same mask whatever the dtype"),
]
_SAME_EVERY_CALL = (
    "the same mask on every call: the generator is created again inside forward (e.g. "
    "np.random.default_rng(seed)); draw from self.rng, created once in __init__, so that "
    "each call gets a new mask")
_GLOBAL = (
    "the mask does not come from the layer's generator (np.random.rand/np.random.random use "
    "NumPy's global state, so a seed does not fix the masks); draw from self.rng")
M_RETURNED_MASK = (
    "forward returned the scaled mask itself, keep / (1 - p), not x times it: on x = ones "
    "the two agree, on other inputs they do not; return x * mask")


@register_check(
    exercise=EXERCISE,
    id="seeded_mask",
    points=2,
    requires=("Dropout",),
    hint="keep = self.rng.random(x.shape) >= self.p, drawn once per training forward",
)
def seeded_mask(ns: dict[str, Any]) -> Feedback:
    """the seeded masks are the documented ones: rng.random(x.shape) >= p"""
    x = np.random.default_rng(5).standard_normal((8, 6)) + 2.0  # no zeros in x
    for i, p in enumerate((0.3, 0.6)):
        seed = 300 + i
        for how in ("an int seed", "a Generator"):
            layer = _make(ns, p, seed if how == "an int seed" else np.random.default_rng(seed))
            layer.train()
            got = [_forward(layer, x, f"Dropout({p})") for _ in range(2)]
            want = _two_draws(reference_keep, x, p, seed)
            for k in range(2):
                call = "first" if k == 0 else "second"
                fb = compare(got[k], want[k], name=f"the {call} training forward of "
                             f"Dropout({p}, rng=<{how}, {seed}>)", **_EXACT)
                if fb.passed:
                    continue
                if not all(isinstance(g, np.ndarray) and g.shape == x.shape for g in got):
                    return fb  # None or a wrong shape: compare's words say what came back
                meaning = named(got[k], [*((_two_draws(draw, x, p, seed)[k], meaning)
                                           for draw, meaning in WRONG_MASK),
                                         (want[k] / x, M_RETURNED_MASK)], **_EXACT)
                if meaning:
                    return blame(fb, meaning)
                cause = first_cause(ns, (("train_statistics", train_statistics,
                                          "your training forward is wrong"),), fb)
                if cause is not fb:  # the statistics are wrong: the mask cannot be right
                    return cause
                if same(got[1], got[0], **_EXACT):
                    return blame(fb, _SAME_EVERY_CALL)
                twin = _make(ns, p, seed)
                twin.train()
                again = _forward(twin, x, f"Dropout({p})")
                if not same(again, got[0], **_EXACT) or \
                        _state(layer.rng) == _state(np.random.default_rng(seed)):
                    return blame(fb, _GLOBAL)
                return fb
    return Feedback.ok("the same masks as rng.random(x.shape) >= p, call after call, from an "
                       "int seed or a Generator")


# -- backward ------------------------------------------------------------------------------------

Grad = Callable[[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray],
                np.ndarray]

#: wrong training-mode gradients, as (function of dy, keep, p, x, y, the next mask; meaning).
WRONG_BACKWARD: list[tuple[Grad, str]] = [
    (lambda dy, keep, p, x, y, nxt: dy * keep,
     "forgot the 1/(1 - p) in backward: y = x m / (1 - p), so dx = dy m / (1 - p)"),
    (lambda dy, keep, p, x, y, nxt: dy,
     "returned grad_output unchanged in training mode: a dropped unit did not affect the "
     "loss, so its gradient is 0; multiply by the forward pass's mask / (1 - p)"),
    (lambda dy, keep, p, x, y, nxt: dy * y,
     "multiplied by the forward output y where the mask is needed: dx = dy m / (1 - p)"),
    (lambda dy, keep, p, x, y, nxt: dy * nxt / (1 - p),
     "drew a new mask in backward: the gradient must use the mask of the forward pass (keep "
     "it, e.g. in self._mask)"),
    (lambda dy, keep, p, x, y, nxt: dy * keep * (1 - p),
     "multiplied by 1 - p in backward instead of dividing: dx = dy m / (1 - p)"),
    (lambda dy, keep, p, x, y, nxt: dy * keep / (1 - p) ** 2,
     "divided by 1 - p twice in backward: the stored mask already holds the 1/(1 - p) "
     "(keep / (1 - p)); multiply grad_output by it once"),
    (lambda dy, keep, p, x, y, nxt: dy * keep / p,
     "divided by p in backward, the drop probability: divide by the keep probability "
     "1 - p, dx = dy m / (1 - p)"),
]
_STALE = ("eval-mode backward used the mask of an earlier training pass: after an eval "
          "forward the layer is the identity, so backward returns grad_output; reset the "
          "stored mask (self._mask = None) in forward's eval branch")


@register_check(
    exercise=EXERCISE,
    id="backward",
    points=3,
    requires=("Dropout",),
    hint="store the scaled mask in forward (self._mask = keep / (1 - p), None in eval); "
    "backward returns grad_output * self._mask (or grad_output when it is None)",
)
def backward(ns: dict[str, Any]) -> Feedback:
    """backward uses the forward pass's mask, scaled; the identity after an eval pass"""
    for i, p in enumerate((0.25, 0.5, 0.7)):
        seed = 400 + i
        g = np.random.default_rng(seed + 50)
        x = g.standard_normal((6, 5)) + 3.0
        dy = g.standard_normal((6, 5))
        layer = _make(ns, p, seed)
        layer.train()
        y = _forward(layer, x, f"Dropout({p})")
        dy_in = dy.copy()
        dx = layer.backward(dy_in)
        if not np.array_equal(dy_in, dy):
            return Feedback.fail("backward changed grad_output in place", why=[
                "input modified in place: grad_output belongs to the layer above; return "
                "grad_output * mask, a new array"])
        wrong_forward = _forward_first(ns, y, x, p, f"Dropout({p}).backward(dy) is checked "
                                       "with the mask of your forward, which is wrong")
        if wrong_forward is not None:
            return wrong_forward
        keep = np.asarray(y) != 0  # the mask your forward used (x has no zeros)
        rng = np.random.default_rng(seed)
        reference_keep(rng, x.shape, p)
        nxt = reference_keep(rng, x.shape, p)
        fb = match(dx, dy * keep / (1 - p), evaluated(
            WRONG_BACKWARD, dy, keep, p, x, np.asarray(y, dtype=np.float64), nxt),
            name=f"Dropout({p}).backward(dy) in training mode", **_EXACT)
        if not fb.passed:
            if any(f.kind == "mistake" for f in fb.findings):
                return fb
            # e.g. a forward that ignores the mask it stored: backward's is then not its own
            return first_cause(ns, _FORWARD_PARTS, fb)
        layer.eval()
        _forward(layer, x, f"Dropout({p}) in eval mode")
        dx = layer.backward(dy.copy())
        fb = match(dx, dy, [(dy * keep / (1 - p), _STALE)],
                   name=f"Dropout({p}).backward(dy) after an eval-mode forward", **_WRONG_EXACT)
        if not fb.passed:
            return fb
    return Feedback.ok("the forward mask / (1 - p) in training, the identity after eval")


# -- the gradient checker ------------------------------------------------------------------------


class _FixedMask(Module):
    """The learner's layer with its generator reset before every forward: a fixed mask.

    Shape:
        the wrapped layer's.
    """

    def __init__(self, layer: Module, seed: int) -> None:
        self.layer = layer
        self.seed = seed

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return self.layer.backward(grad_output)


@register_check(
    exercise=EXERCISE,
    id="gradcheck",
    points=1,
    requires=("Dropout",),
    hint="bp.check_module compares backward with numerical gradients (mask held fixed)",
)
def gradcheck(ns: dict[str, Any]) -> Feedback:
    """bp.check_module passes in training mode, with the mask held fixed"""
    for i, (p, shape) in enumerate(((0.5, (4, 3)), (0.2, (2, 3, 2)))):
        layer = _make(ns, p, seed=500 + i)
        layer.train()
        x = np.random.default_rng(i).standard_normal(shape)
        y = _FixedMask(layer, 500 + i)(x.copy())
        if not isinstance(y, np.ndarray) or y.shape != x.shape:  # else check_module's error
            return compare(y, x * reference_keep(np.random.default_rng(500 + i), shape, p)
                           / (1 - p), name=f"Dropout({p}) forward(x) in training mode "
                           f"for x of shape {shape}")  # would name _FixedMask
        report = check_module(_FixedMask(layer, 500 + i), x, rng=i)
        fb = gradcheck_feedback(report, what=f"Dropout({p}) on x of shape {shape}")
        if not fb.passed:
            wrong_forward = _forward_first(ns, y, x, p, f"{fb.message}: the gradient check "
                                           "differentiates your forward, which is wrong")
            if wrong_forward is not None:
                return wrong_forward
            return first_cause(ns, (_FORWARD_PARTS[0], ("backward", backward,
                                                        "your backward is wrong")), fb)
    return Feedback.ok("bp.check_module passes on 2 shapes")


def _forward_first(ns: dict[str, Any], y: Any, x: np.ndarray, p: float, message: str
                   ) -> Feedback | None:
    """None when the training output ``y`` is x * keep / (1 - p) for some 0/1 mask keep;
    else a failure with ``message`` naming the forward check that fails (its cause, once),
    for a check (backward, gradcheck) that relies on the forward."""
    if isinstance(y, np.ndarray) and y.shape == x.shape:
        y64 = np.asarray(y, dtype=np.float64)
        if np.all((y64 == 0) | np.isclose(y64, x / (1 - p), rtol=1e-6, atol=0)):
            return None
    own = Feedback.fail(message, why=["your training forward's output is not x * keep / "
                                      "(1 - p) for a 0/1 mask keep"])
    return first_cause(ns, _FORWARD_PARTS, own)


#: the checks of the training forward that backward and gradcheck rely on, in order.
_FORWARD_PARTS: tuple[tuple[str, Callable[[dict[str, Any]], Feedback], str], ...] = (
    ("train_statistics", train_statistics, "your training forward is wrong"),
    ("seeded_mask", seeded_mask, "your training forward is wrong"),
)
