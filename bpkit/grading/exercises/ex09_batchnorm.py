"""Checks of exercise ``09_batchnorm``: a learner's ``BatchNorm1d``, forward and backward.

The learner's class subclasses ``bpkit.Module`` and keeps PyTorch's ``BatchNorm1d``
conventions: ``weight`` (γ) and ``bias`` (β) are ``bpkit.Parameter`` of shape (D,);
``running_mean`` (zeros) and ``running_var`` (ones) are arrays of shape (D,); ``eps=1e-5``
and ``momentum=0.1``. In training mode, ``forward`` normalises each feature with the batch's
mean and **biased** variance and updates ``running = (1 - momentum) * running + momentum *
batch statistic`` with the **unbiased** variance; in eval mode it normalises with the running
statistics and updates nothing. ``backward(dy)`` adds dγ and dβ into ``.grad`` and returns dx.

Every value is compared with ``bp.BatchNorm1d`` given the same γ, β and running statistics;
the input features have very different scales (one with a variance near ``eps``, so where
``eps`` goes shows). A wrong value is compared with the recognised wrong answers in
``WRONG`` (formulas computed from the same inputs) and the one it equals is named.

One slip costs its part: dx is checked with the parameters' ``.grad`` set aside (their
update is backward_params'), a check that relies on the forward says first when the forward
is wrong, and the gradient check refers to the first failing backward check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.gradcheck import check_module
from bpkit.grading.exercises._learner import layer_class
from bpkit.grading.feedback import (
    CheckFailed,
    Feedback,
    compare,
    gradcheck_feedback,
    short_exception,
)
from bpkit.grading.matching import blame, earlier, evaluated, first_cause, match, named, same
from bpkit.grading.registry import register_check
from bpkit.layers import BatchNorm1d as BpkitBatchNorm1d
from bpkit.module import Module, Parameter

__all__ = ["CASES", "WRONG", "Case", "make_case"]

EXERCISE = "09_batchnorm"

#: (N, D) of the batches the layer is checked on; (4, 4) is square on purpose.
CASES = ((8, 3), (4, 4), (16, 5))
#: per-feature scales of the inputs: the first feature's variance (about 1e-5) is near eps.
_SCALES = np.array([0.003, 0.5, 3.0, 0.05, 1.5])


@dataclass
class Case:
    """The inputs of one comparison: a batch, γ, β, the running statistics, an upstream dy.

    Shape:
        ``x``, ``dy`` (N, D); ``gamma``, ``beta``, ``running_mean``, ``running_var`` (D,).
    """

    x: np.ndarray
    dy: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float = 1e-5

    @property
    def n(self) -> int:
        """The batch size N."""
        return self.x.shape[0]

    @property
    def mean(self) -> np.ndarray:
        """The batch mean of each feature, shape (D,)."""
        return self.x.mean(axis=0)

    @property
    def var(self) -> np.ndarray:
        """The biased batch variance of each feature, shape (D,)."""
        return self.x.var(axis=0)

    def xhat(self, train: bool = True) -> np.ndarray:
        """x normalised with the batch statistics (train) or the running ones (eval)."""
        if train:
            return (self.x - self.mean) / np.sqrt(self.var + self.eps)
        return (self.x - self.running_mean) / np.sqrt(self.running_var + self.eps)

    def inv_std(self, train: bool = True) -> np.ndarray:
        """1 / sqrt(var + eps) of the statistics used, shape (D,)."""
        var = self.var if train else self.running_var
        return 1.0 / np.sqrt(var + self.eps)


def make_case(n: int, d: int, seed: int) -> Case:
    """A seeded case: features of scales ``_SCALES``, γ near 1, β near 0, running stats.

    Shape:
        ``x``, ``dy`` (n, d); the rest (d,).
    """
    rng = np.random.default_rng(seed)
    scales = np.resize(_SCALES, d)
    x = rng.normal(2.0, 1.0, (n, d)) * scales
    return Case(
        x=x,
        dy=rng.standard_normal((n, d)),
        gamma=rng.normal(1.0, 0.5, d),
        beta=rng.normal(0.0, 1.0, d),
        running_mean=rng.normal(0.0, 1.0, d) * scales,
        running_var=rng.uniform(0.5, 2.0, d) * scales**2,
    )


# -- the recognised wrong answers, as formulas of a Case -------------------------------------------

Formula = Callable[[Case], Any]


def _affine(c: Case, xhat: np.ndarray) -> np.ndarray:
    return c.gamma * xhat + c.beta


def _train_input_grad(c: Case, xhat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    g = c.dy * c.gamma
    return inv_std * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))


_WRONG_FORWARD: list[tuple[Formula, str]] = [
    (lambda c: _affine(c, (c.x - c.mean) / np.sqrt(c.x.var(axis=0, ddof=1) + c.eps)),
     "normalised with the unbiased variance (divided by N − 1): BatchNorm1d normalises with "
     "the biased variance, x.var(axis=0), which divides by N"),
    (lambda c: _affine(c, (c.x - c.mean) / (np.sqrt(c.var) + c.eps)),
     "ε is outside the square root: x̂ = (x − μ) / √(σ² + ε)"),
    (lambda c: _affine(c, (c.x - c.mean) / np.sqrt(c.var)),
     "forgot ε: x̂ = (x − μ) / √(σ² + ε); without it a feature of (nearly) constant value "
     "divides by (nearly) zero"),
    (lambda c: _affine(c, (c.x - c.x.mean(axis=1, keepdims=True))
                       / np.sqrt(c.x.var(axis=1, keepdims=True) + c.eps)),
     "normalised each sample (axis=1, that is layer normalisation) instead of each feature "
     "over the batch (axis=0)"),
    (lambda c: c.beta * c.xhat() + c.gamma,
     "γ and β are swapped: y = γ·x̂ + β, with γ = self.weight and β = self.bias"),
    (lambda c: c.xhat(),
     "returned x̂ without the learned affine map: y = γ·x̂ + β (self.weight.data, "
     "self.bias.data)"),
    (lambda c: _affine(c, (c.x - c.mean) / np.sqrt(c.x.std(axis=0) + c.eps)),
     "used the standard deviation where the variance belongs: x̂ = (x − μ) / √(σ² + ε)"),
    (lambda c: _affine(c, c.x / np.sqrt(c.var + c.eps)),
     "forgot to subtract the batch mean: x̂ = (x − μ) / √(σ² + ε)"),
    (lambda c: _affine(c, (c.x - 0.0) / np.sqrt(1.0 + c.eps)),
     "training mode normalised with running_mean and running_var: in training, normalise "
     "with the batch's own mean and variance (the running ones are for eval mode)"),
    (lambda c: _affine(c, (c.x - (0.9 * c.running_mean + 0.1 * c.mean)) / np.sqrt(
        0.9 * c.running_var + 0.1 * c.x.var(axis=0, ddof=1) + c.eps)),
     "normalised with the running statistics just updated from this batch: in training, "
     "x̂ uses the batch's own mean and (biased) variance; the running ones are for eval mode"),
    (lambda c: _affine(c, (c.x - c.x.mean()) / np.sqrt(c.var + c.eps)),
     "the mean is over every entry of x (x.mean() without axis=0): each feature needs its "
     "own batch mean, x.mean(axis=0)"),
    (lambda c: _affine(c, (c.x - c.mean) / np.sqrt(c.x.var() + c.eps)),
     "the variance is over every entry of x (x.var() without axis=0): each feature needs "
     "its own batch variance, x.var(axis=0)"),
    (lambda c: _affine(c, (c.x - c.x.mean()) / np.sqrt(c.x.var() + c.eps)),
     "the mean and the variance are over every entry of x (no axis=0): each feature needs "
     "its own, x.mean(axis=0) and x.var(axis=0)"),
]


def _running(batches: list[np.ndarray], momentum: float, update: Callable[..., Any]
             ) -> list[np.ndarray]:
    """running_mean and running_var after each batch, stacked, from ``update``."""
    d = batches[0].shape[1]
    rm, rv = np.zeros(d), np.ones(d)
    out = []
    for x in batches:
        rm, rv = update(rm, rv, x, momentum)
        out.append(np.concatenate([rm, rv]))
    return out


def _ema(rm, rv, mean, var, m):
    return (1 - m) * rm + m * mean, (1 - m) * rv + m * var


_WRONG_RUNNING: list[tuple[Callable[..., Any], str]] = [
    (lambda rm, rv, x, m: _ema(rm, rv, x.mean(0), x.var(0), m),
     "the running variance must be updated with the unbiased batch variance "
     "(x.var(axis=0, ddof=1), i.e. σ²·N/(N − 1)), PyTorch's convention; the biased one is "
     "only for normalising"),
    (lambda rm, rv, x, m: (m * rm + (1 - m) * x.mean(0), m * rv + (1 - m) * x.var(0, ddof=1)),
     "momentum is applied the wrong way round: running = (1 − momentum)·running + "
     "momentum·batch, so that with momentum = 0.1 a batch moves it by a tenth"),
    (lambda rm, rv, x, m: (m * rm + (1 - m) * x.mean(0), (1 - m) * rv + m * x.var(0, ddof=1)),
     "the running mean's momentum is the wrong way round (the variance's is right): "
     "running_mean = (1 − momentum)·running_mean + momentum·mean, as for running_var"),
    (lambda rm, rv, x, m: (rm, rv),
     "the running statistics never change in training mode: update running_mean and "
     "running_var in every training-mode forward"),
    (lambda rm, rv, x, m: (x.mean(0), x.var(0, ddof=1)),
     "the running statistics are replaced by the batch's: they are a moving average, "
     "(1 − momentum)·running + momentum·batch"),
    (lambda rm, rv, x, m: _ema(rm, rv, x.mean(0), x.std(0, ddof=1), m),
     "running_var is updated with the standard deviation: it averages the (unbiased) "
     "variance"),
    (lambda rm, rv, x, m: _ema(rm, rv, x.mean(0), x.var(0, ddof=1), 0.1),
     "used 0.1 instead of self.momentum: a layer built with momentum=0.3 must use 0.3"),
    (lambda rm, rv, x, m: _ema(rm, rv, x.mean(0), x.var(0) * (len(x) - 1) / len(x), m),
     "running_var was updated with σ²·(N − 1)/N, the correction upside down: the unbiased "
     "variance is σ²·N/(N − 1), x.var(axis=0, ddof=1)"),
]
M_ONE_STAT = ("running_mean or running_var holds the same number for every feature: the "
              "batch statistics that update them are per feature, over axis=0 "
              "(x.mean(axis=0), x.var(axis=0, ddof=1))")

_WRONG_EVAL: list[tuple[Formula, str]] = [
    (lambda c: _affine(c, c.xhat(train=True)),
     "eval mode used the batch's statistics: in eval mode normalise with running_mean and "
     "running_var"),
    (lambda c: _affine(c, (c.x - c.running_mean) / np.sqrt(c.running_var)),
     "eval mode forgot ε: x̂ = (x − running_mean) / √(running_var + ε)"),
    (lambda c: _affine(c, (c.x - c.running_mean) / (c.running_var + c.eps)),
     "eval mode divided by running_var + ε itself, not by its square root: running_var is "
     "a variance, x̂ = (x − running_mean) / √(running_var + ε)"),
    (lambda c: _affine(c, (c.x - c.running_mean) / (np.sqrt(c.running_var) + c.eps)),
     "eval mode put ε outside the square root: x̂ = (x − running_mean) / √(running_var + ε)"),
    (lambda c: _affine(c, (c.x - c.mean) / np.sqrt(c.running_var + c.eps)),
     "eval mode subtracted the batch's mean but divided by the running variance: in eval "
     "mode both come from the running statistics, running_mean and running_var"),
]

M_EVAL_UPDATES = ("eval mode updated the running statistics: in eval mode they are read, "
                  "never changed (only training-mode forward passes update them)")

_WRONG_BACKWARD_INPUT: list[tuple[Formula, str]] = [
    (lambda c: c.gamma * c.inv_std() * c.dy,
     "treated the batch mean and variance as constants (dx = γ·dy/σ): in training mode every "
     "x moves μ and σ², so dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂))"),
    (lambda c: c.gamma * c.inv_std() * (c.dy - c.xhat() * (c.dy * c.xhat()).mean(axis=0)),
     "the −mean(dy) term is missing: it is the path through the batch mean μ"),
    (lambda c: c.gamma * c.inv_std() * (c.dy - c.dy.mean(axis=0)),
     "the −x̂·mean(dy·x̂) term is missing: it is the path through the batch variance σ²"),
    (lambda c: c.inv_std() * (c.dy - c.dy.mean(axis=0)
                              - c.xhat() * (c.dy * c.xhat()).mean(axis=0)),
     "forgot to multiply by γ (self.weight.data): the gradient reaching x̂ is γ·dy"),
    (lambda c: c.gamma * c.inv_std() * (
        c.dy - c.dy.mean(axis=0) - (c.x - c.mean) * (c.dy * (c.x - c.mean)).mean(axis=0)),
     "used x − μ where x̂ belongs in the projection term: dx = γ/σ·(dy − mean(dy) − "
     "x̂·mean(dy·x̂))"),
    (lambda c: c.gamma * c.inv_std() * (c.dy - c.dy.sum(axis=0)
                                        - c.xhat() * (c.dy * c.xhat()).sum(axis=0)),
     "used sums where the batch means belong: dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), "
     "both over axis 0 (.mean(axis=0), a sum divided by N)"),
    (lambda c: c.gamma * c.inv_std() ** 2 * (c.dy - c.dy.mean(axis=0)
                                             - c.xhat() * (c.dy * c.xhat()).mean(axis=0)),
     "scaled by 1/(σ² + ε) instead of 1/√(σ² + ε)"),
    (lambda c: c.inv_std() * (c.gamma * c.dy - (c.gamma * c.dy).mean(axis=0)
                              - c.xhat() * (c.dy * c.xhat()).mean(axis=0)),
     "the x̂·mean(dy·x̂) term lacks γ (it used grad_output where g = γ·grad_output belongs): "
     "dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), γ on every term"),
    (lambda c: c.inv_std() * (
        c.gamma * c.dy - (c.gamma * c.dy).mean(axis=1, keepdims=True)
        - c.xhat() * (c.gamma * c.dy * c.xhat()).mean(axis=1, keepdims=True)),
     "took the means of dx over the features (axis=1): they are over the batch, per "
     "feature, .mean(axis=0)"),
]

M_EVAL_BACKWARD = ("in eval mode the running statistics are constants, so the layer is an "
                   "affine map: dx = γ·dy/√(running_var + ε), without the batch terms")
#: the eval-mode backward_input mistake: the training formula with the running statistics.
_WRONG_EVAL_BACKWARD: list[tuple[Formula, str]] = [
    (lambda c: _train_input_grad(c, c.xhat(False), c.inv_std(False)), M_EVAL_BACKWARD),
    (lambda c: c.inv_std(False) * c.dy,
     "in eval mode dx lacks the factor γ (self.weight.data): dx = γ·dy/√(running_var + ε)"),
]

_WRONG_PARAMS: list[tuple[Formula, str]] = [
    (lambda c: ((c.dy * c.x).sum(axis=0), c.dy.sum(axis=0)),
     "dγ used the input x where x̂ belongs: dγ = Σₙ dyₙ·x̂ₙ"),
    (lambda c: ((c.dy * c.xhat()).mean(axis=0), c.dy.mean(axis=0)),
     "averaged over the batch: dγ = Σₙ dyₙ·x̂ₙ and dβ = Σₙ dyₙ are sums (the loss's "
     "backward already holds the 1/N of its mean)"),
    (lambda c: ((c.dy * _affine(c, c.xhat())).sum(axis=0), c.dy.sum(axis=0)),
     "dγ used the output y = γ·x̂ + β where x̂ belongs: dγ = Σₙ dyₙ·x̂ₙ"),
    (lambda c: (c.dy.sum(axis=0), (c.dy * c.xhat()).sum(axis=0)),
     "dγ and dβ are swapped: weight.grad gets Σ dy·x̂, bias.grad gets Σ dy"),
    (lambda c: ((c.dy * c.xhat()).sum(axis=0), np.full(c.x.shape[1], c.dy.sum())),
     "bias.grad got grad_output.sum(), one number summed over every entry: dβ is per "
     "feature, grad_output.sum(axis=0)"),
]

M_OVERWRITE = ("overwrote weight.grad / bias.grad instead of accumulating: use += so that "
               "gradients from several backward calls add up (zero_grad clears them)")
M_NOT_SUMMED = ("the parameter gradients were not summed over the batch: dy·x̂ has shape "
                "(N, D), weight.grad and bias.grad have shape (D,); use .sum(axis=0)")
M_PARAM_AXIS = ("the parameter gradients were summed over the features (axis=1), one value "
                "per example: sum over the batch, .sum(axis=0), one value per feature")
M_GRAD_OUTPUT = ("backward changed grad_output in place: it belongs to the layer above; "
                 "compute new arrays from it")
M_INPUT = ("forward changed the input x in place (e.g. x -= mean): compute into a new "
           "array instead")

#: check id -> the recognised wrong answers, as (formula or update rule, what the mistake is).
#: forward_train / forward_eval / backward_input: formula(case) -> the wrong output;
#: running_stats: update(rm, rv, x, momentum) -> the wrong (rm, rv); backward_params:
#: formula(case) -> the wrong (dγ, dβ). The structural mistakes (``M_*``) are found by
#: watching the arrays and are listed here with ``None``.
WRONG: dict[str, list[tuple[Callable[..., Any] | None, str]]] = {
    "forward_train": [*_WRONG_FORWARD, (None, M_INPUT)],
    "running_stats": [*_WRONG_RUNNING, (None, M_ONE_STAT)],
    "forward_eval": [*_WRONG_EVAL, (None, M_EVAL_UPDATES)],
    "backward_input": [*_WRONG_BACKWARD_INPUT, *_WRONG_EVAL_BACKWARD, (None, M_GRAD_OUTPUT)],
    "backward_params": [*_WRONG_PARAMS, (None, M_OVERWRITE), (None, M_NOT_SUMMED),
                        (None, M_PARAM_AXIS)],
}


# -- running the learner's layer -----------------------------------------------------------------


def _layer_class(ns: dict[str, Any]) -> type:
    return layer_class(ns, "BatchNorm1d", BpkitBatchNorm1d)


def _build(ns: dict[str, Any], d: int, **kwargs: Any) -> Module:
    """The learner's layer for D = ``d`` features, its attributes checked."""
    layer = _layer_class(ns)(d, **kwargs)
    for name in ("weight", "bias"):
        p = getattr(layer, name, None)
        if not isinstance(p, Parameter) or p.data.shape != (d,):
            raise CheckFailed(Feedback.fail(
                f"BatchNorm1d({d}) has no Parameter `{name}` of shape ({d},)",
                why=[f"__init__ must keep self.{name} = bp.Parameter(...) (as given)"]))
    for name in ("running_mean", "running_var"):
        a = getattr(layer, name, None)
        if not isinstance(a, np.ndarray) or a.shape != (d,):
            raise CheckFailed(Feedback.fail(
                f"BatchNorm1d({d}) has no array `{name}` of shape ({d},)",
                why=[f"__init__ must keep self.{name} (as given)"]))
    return layer


def _load(layer: Module, c: Case, running: bool = False) -> Module:
    layer.weight.data = c.gamma.copy()
    layer.bias.data = c.beta.copy()
    layer.weight.grad = np.zeros_like(c.gamma)
    layer.bias.grad = np.zeros_like(c.beta)
    if running:
        layer.running_mean = c.running_mean.copy()
        layer.running_var = c.running_var.copy()
    return layer


def _reference(c: Case, train: bool) -> BpkitBatchNorm1d:
    ref = BpkitBatchNorm1d(c.x.shape[1])
    ref.weight.data[...] = c.gamma
    ref.bias.data[...] = c.beta
    ref.running_mean[...] = c.running_mean
    ref.running_var[...] = c.running_var
    return ref.train(train)


_X_WRITTEN = Feedback.fail("forward changed the input x in place", why=[M_INPUT])
_DY_WRITTEN = Feedback.fail("backward changed grad_output in place", why=[M_GRAD_OUTPUT])


def _forward(layer: Module, x: np.ndarray, *, strict: bool = False) -> Any:
    """``layer(x)`` on a copy of ``x``; only a ``strict`` run (forward_train's, the check
    that owns the mistake) fails when forward writes into it, so one slip costs one check."""
    x_in = x.copy()
    with np.errstate(all="ignore"):
        out = layer(x_in)
    if strict and not np.array_equal(x_in, x):
        raise CheckFailed(_X_WRITTEN)
    return out


def _written(layer: Module, c: Case) -> tuple[str, Feedback] | None:
    """(the check that reports it, its failure) when ``layer``'s forward or backward writes
    into its input, else None: for a later check that goes wrong because of it."""
    x_in, dy_in = c.x.copy(), c.dy.copy()
    with np.errstate(all="ignore"):
        layer(x_in)
        if not np.array_equal(x_in, c.x):
            return "forward_train", _X_WRITTEN
        layer.backward(dy_in)
    return None if np.array_equal(dy_in, c.dy) else ("backward_input", _DY_WRITTEN)


def _backward(layer: Module, c: Case, *, strict: bool = False, aside: bool = False) -> Any:
    """``layer.backward`` on a copy of ``c.dy``; with ``aside`` the parameters' ``.grad`` are
    set aside (a Python 0.0 takes any ``+=``; backward_params judges them), so a slip in dγ
    or dβ cannot stop dx from being checked."""
    dy = c.dy.copy()
    if aside:
        layer.weight.grad = layer.bias.grad = 0.0
    try:
        with np.errstate(all="ignore"):
            dx = layer.backward(dy)
    except ValueError as exc:
        text = str(exc).replace(" ", "")
        n, d = c.x.shape
        why = (M_NOT_SUMMED if f"({n},{d})" in text else M_PARAM_AXIS if f"({n},)" in text
               else None)
        if "broadcast" in text and f"({d},)" in text and why is not None:
            raise CheckFailed(Feedback.fail(
                f"backward raised a shape error for x of shape ({n}, {d})",
                got=short_exception(exc, [__file__]), why=[why])) from None
        raise
    if strict and not np.array_equal(dy, c.dy):
        raise CheckFailed(_DY_WRITTEN)
    return dx


def _forward_first(layer: Module, c: Case, train: bool, message: str) -> Feedback | None:
    """None when ``layer``'s forward on ``c`` is right; else a failure that names the forward
    check and its cause (``message`` is the dependent check's own)."""
    mode = "training" if train else "eval"
    forward = match(_forward(layer, c.x), _reference(c, train)(c.x),
                    evaluated(_WRONG_FORWARD if train else _WRONG_EVAL, c),
                    name=f"forward(x) in {mode} mode", wrong_atol=1e-9)
    if forward.passed:
        return None
    return earlier(forward, f"forward_{'train' if train else 'eval'}",
                   f"your {mode}-mode forward is wrong", message)


_WRONG_TOL = {"rtol": 1e-6, "atol": 1e-9}  # a learner's value equals a wrong formula's


# -- the checks ----------------------------------------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="forward_train",
    points=2,
    requires=("BatchNorm1d",),
    hint="mean = x.mean(axis=0), var = x.var(axis=0) (biased); "
    "x_hat = (x - mean) / np.sqrt(var + self.eps); y = weight * x_hat + bias",
)
def forward_train(ns: dict[str, Any]) -> Feedback:
    """training-mode forward: batch statistics, biased variance, γ x̂ + β"""
    for i, (n, d) in enumerate(CASES):
        c = make_case(n, d, seed=90 + i)
        c.running_mean, c.running_var = np.zeros(d), np.ones(d)  # a fresh layer's
        layer = _load(_build(ns, d), c)
        y = _forward(layer, c.x, strict=True)
        fb = match(y, _reference(c, train=True)(c.x), evaluated(_WRONG_FORWARD, c),
                   name=f"forward(x) in training mode for x of shape {c.x.shape}",
                   wrong_atol=1e-9)
        if not fb.passed:
            return fb
    return Feedback.ok(f"matches bp.BatchNorm1d on {len(CASES)} shapes")


@register_check(
    exercise=EXERCISE,
    id="running_stats",
    points=2,
    requires=("BatchNorm1d",),
    hint="running = (1 - self.momentum) * running + self.momentum * batch statistic, with "
    "the unbiased variance x.var(axis=0, ddof=1) for running_var",
)
def running_stats(ns: dict[str, Any]) -> Feedback:
    """training-mode forward updates running_mean and running_var (momentum, unbiased)"""
    rng = np.random.default_rng(91)
    batches = [rng.normal(1.0 + k, 1.0 + k, (5, 3)) * _SCALES[1:4] for k in range(3)]
    got: list[np.ndarray] = []
    want: list[np.ndarray] = []
    for momentum in (None, 0.3):
        layer = _build(ns, 3) if momentum is None else _build(ns, 3, momentum=momentum)
        ref = BpkitBatchNorm1d(3, momentum=0.1 if momentum is None else momentum)
        for x in batches:
            _forward(layer, x)
            ref(x)
            got.append(np.concatenate([np.ravel(layer.running_mean),
                                       np.ravel(layer.running_var)]))
            want.append(np.concatenate([ref.running_mean, ref.running_var]))
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        momentum = 0.1 if k < 3 else 0.3
        what = (f"[running_mean, running_var] after {k % 3 + 1} training-mode forward "
                f"call(s) of a layer with momentum={momentum}")
        fb = match(g, w, (
            ((_running(batches, 0.1, update) + _running(batches, 0.3, update))[k], meaning)
            for update, meaning in _WRONG_RUNNING), name=what, wrong_atol=1e-9)
        if not fb.passed:
            if any(f.kind == "mistake" for f in fb.findings) or g.shape != w.shape:
                return fb
            one = any(same(h, np.full_like(h, h[0]), **_WRONG_TOL) for h in np.split(g, 2))
            return blame(fb, M_ONE_STAT) if one else fb
    return Feedback.ok("matches bp.BatchNorm1d over three batches, with momentum 0.1 and 0.3")


@register_check(
    exercise=EXERCISE,
    id="forward_eval",
    points=2,
    requires=("BatchNorm1d",),
    hint="in eval mode (self.training is False): x_hat = (x - running_mean) / "
    "np.sqrt(running_var + eps), and leave the running statistics alone",
)
def forward_eval(ns: dict[str, Any]) -> Feedback:
    """eval-mode forward uses (and does not change) the running statistics"""
    for i, (n, d) in enumerate(CASES):
        c = make_case(n, d, seed=92 + i)
        layer = _load(_build(ns, d), c, running=True)
        layer.eval()
        y = _forward(layer, c.x)
        fb = match(y, _reference(c, train=False)(c.x), evaluated(_WRONG_EVAL, c),
                   name=f"forward(x) in eval mode for x of shape {c.x.shape}", wrong_atol=1e-9)
        if not fb.passed:
            return fb
        for name in ("running_mean", "running_var"):
            if not np.array_equal(getattr(layer, name), getattr(c, name)):
                return Feedback.fail(f"{name} changed during an eval-mode forward",
                                     why=[M_EVAL_UPDATES])
    return Feedback.ok(f"matches bp.BatchNorm1d in eval mode on {len(CASES)} shapes")


@register_check(
    exercise=EXERCISE,
    id="backward_input",
    points=2,
    requires=("BatchNorm1d",),
    hint="training mode: dx = γ/√(σ² + ε) · (dy − mean(dy) − x̂·mean(dy·x̂)), means over "
    "axis 0; eval mode: dx = γ·dy/√(running_var + ε)",
)
def backward_input(ns: dict[str, Any]) -> Feedback:
    """backward returns dx, in training mode and in eval mode"""
    for train in (True, False):
        for i, (n, d) in enumerate(CASES):
            c = make_case(n, d, seed=94 + i)
            layer = _load(_build(ns, d), c, running=True).train(train)
            mode = "training" if train else "eval"
            wrong_forward = _forward_first(layer, c, train, f"backward(dy) in {mode} mode "
                                           "works on what your forward cached, which is wrong")
            if wrong_forward is not None:
                return wrong_forward
            dx = _backward(layer, c, strict=True, aside=True)
            ref = _reference(c, train)
            ref(c.x)
            wrong = _WRONG_BACKWARD_INPUT if train else _WRONG_EVAL_BACKWARD
            fb = match(dx, ref.backward(c.dy), evaluated(wrong, c), batch_size=n,
                       name=f"backward(dy) in {mode} mode for x of shape {c.x.shape}",
                       wrong_atol=1e-9)
            if not fb.passed:
                return fb
    return Feedback.ok(f"matches bp.BatchNorm1d on {len(CASES)} shapes, in both modes")


@register_check(
    exercise=EXERCISE,
    id="backward_params",
    points=2,
    requires=("BatchNorm1d",),
    hint="self.weight.grad += (grad_output * x_hat).sum(axis=0); "
    "self.bias.grad += grad_output.sum(axis=0)",
)
def backward_params(ns: dict[str, Any]) -> Feedback:
    """backward adds dγ = Σ dy·x̂ and dβ = Σ dy into weight.grad and bias.grad"""
    for i, (n, d) in enumerate(CASES):
        c = make_case(n, d, seed=97 + i)
        layer = _load(_build(ns, d), c, running=True)
        wrong_forward = _forward_first(layer, c, True, "dγ = Σ dy·x̂ uses the x̂ your forward "
                                       "cached, which is wrong")
        if wrong_forward is not None:
            return wrong_forward
        want = ((c.dy * c.xhat()).sum(axis=0), c.dy.sum(axis=0))
        for calls in (1, 2):
            _forward(layer, c.x)
            _backward(layer, c)
            got = (layer.weight.grad, layer.bias.grad)
            for name, g, w in zip(("weight", "bias"), got, want, strict=True):
                fb = compare(g, calls * w, batch_size=n,
                             name=f"{name}.grad after {calls} backward call(s) "
                                  f"(x of shape {c.x.shape})")
                if fb.passed:
                    continue
                if calls == 2 and same(g, w, **_WRONG_TOL):
                    return blame(fb, M_OVERWRITE)
                meaning = named(tuple(np.array(a) for a in got), evaluated(_WRONG_PARAMS, c),
                                **_WRONG_TOL)
                return fb if meaning is None else blame(fb, meaning)
    return Feedback.ok(f"matches bp.BatchNorm1d on {len(CASES)} shapes, accumulated with +=")


@register_check(
    exercise=EXERCISE,
    id="gradcheck",
    points=2,
    requires=("BatchNorm1d",),
    hint="bp.check_module(layer, x) compares your backward with numerical gradients, in the "
    "mode the layer is in; read its diagnoses",
)
def gradcheck(ns: dict[str, Any]) -> Feedback:
    """bp.check_module passes in training mode (2 shapes) and in eval mode"""
    for i, ((n, d), train) in enumerate((((6, 3), True), ((3, 4), True), ((5, 2), False))):
        c = make_case(n, d, seed=100 + i)
        layer = _load(_build(ns, d), c, running=True).train(train)
        mode = "training" if train else "eval"
        what = f"BatchNorm1d({d}) in {mode} mode on x of shape {c.x.shape}"
        # "not attempted" while forward is still the stub; a wrong forward is named first
        wrong_forward = _forward_first(layer, c, train, f"{what}: the gradient check "
                                       "differentiates your forward, which is wrong")
        if wrong_forward is not None:
            return wrong_forward
        _load(layer, c, running=True)
        try:
            with np.errstate(all="ignore"):
                report = check_module(layer, c.x, rng=i)
        except ValueError:
            raised = Feedback.fail(f"{what}: backward raised an error")
            fb = first_cause(ns, _BACKWARD_PARTS, raised)
            if fb is raised:  # no backward check explains it: the error is the card
                raise
            return fb
        fb = gradcheck_feedback(report, what=what)
        if not fb.passed:
            written = _written(_load(_build(ns, d), c, running=True).train(train), c)
            if written is not None:
                owner, cause = written
                return earlier(cause, owner, "your layer writes into an input it was given",
                               fb.message)
            return first_cause(ns, _BACKWARD_PARTS, fb)
    return Feedback.ok("bp.check_module passes on 2 shapes in training mode and 1 in eval mode")


#: the backward checks the gradient check relies on, in order: (id, check, what it is then).
_BACKWARD_PARTS: tuple[tuple[str, Callable[[dict[str, Any]], Feedback], str], ...] = (
    ("backward_input", backward_input, "your dx is wrong"),
    ("backward_params", backward_params, "your dγ or dβ is wrong"),
)

