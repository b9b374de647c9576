"""Checks of exercise ``08_optimizers``: the update rules of SGD with momentum, RMSprop and Adam.

The learner writes three functions with one signature, ``rule(param, grad, state, lr,
**hyper) -> new param``: they return the updated parameter (leaving ``param`` and ``grad``
as they were) and keep their running averages in the dict ``state`` under PyTorch's names
(``momentum_buffer``; ``square_avg``; ``step``, ``exp_avg``, ``exp_avg_sq``), so that the
same numbers come out as from ``bp.optim.SGD``, ``RMSprop`` and ``Adam``.

Each rule is checked on two scenarios: one step from CS231n's published test case
(assignment 2, ``optim.py``: ``w = linspace(-0.4, 0.6)``, ``dw = linspace(-0.6, 0.4)``,
given running averages), against the published numbers, which bpkit's PyTorch-style
optimisers reproduce (CS231n's momentum keeps the velocity ``v = -lr * b`` instead of
PyTorch's buffer ``b``, so its state is translated); and six steps from an empty state with
non-default hyper-parameters and gradients of very different scales, against ``bp.optim``.
A wrong rule is run on the same scenarios as each recognised wrong answer in ``WRONG``; the
one it matches is named. A rule that is right on both scenarios must also keep the
contract's defaults (``DEFAULTS``) in its def line, since the scenarios pass most
hyper-parameters explicitly.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit import optim
from bpkit._diagnoses import Finding
from bpkit.grading.feedback import CheckFailed, Feedback, compare
from bpkit.grading.matching import blame, named
from bpkit.grading.registry import register_check
from bpkit.module import Parameter

__all__ = [
    "CS231N",
    "DEFAULTS",
    "FUNCTIONS",
    "STATE_KEYS",
    "WRONG",
    "WRONG_DTYPE",
    "Scenario",
    "lr_of",
    "reference_run",
    "scenarios",
]

EXERCISE = "08_optimizers"
Rule = Callable[..., Any]

#: check id -> the name of the learner's function it checks.
FUNCTIONS: dict[str, str] = {"sgd_momentum": "sgd_momentum", "rmsprop": "rmsprop",
                             "adam": "adam"}
#: function -> the keys it must keep in ``state`` (PyTorch's names), in order.
STATE_KEYS: dict[str, tuple[str, ...]] = {
    "sgd_momentum": ("momentum_buffer",),
    "rmsprop": ("square_avg",),
    "adam": ("step", "exp_avg", "exp_avg_sq"),
}

# -- CS231n's published test case (assignment 2, FullyConnectedNets / optim.py) ---------------

_N, _D = 4, 5
_W = np.linspace(-0.4, 0.6, num=_N * _D).reshape(_N, _D)
_DW = np.linspace(-0.6, 0.4, num=_N * _D).reshape(_N, _D)

#: function -> (lr, the state before the step in PyTorch's names, the published next_w, the
#: published state after the step in PyTorch's names). Momentum's velocity v (CS231n) is
#: -lr times PyTorch's buffer b, so v = linspace(0.6, 0.9) is the buffer -v / lr.
CS231N: dict[str, tuple[float, dict[str, Any], np.ndarray, dict[str, Any]]] = {
    "sgd_momentum": (
        1e-3,
        {"momentum_buffer": -np.linspace(0.6, 0.9, num=_N * _D).reshape(_N, _D) / 1e-3},
        np.array([
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]]),
        {"momentum_buffer": -np.array([  # the published velocity, divided by -lr
            [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
            [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
            [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
            [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]]) / 1e-3},
    ),
    "rmsprop": (
        1e-2,
        {"square_avg": np.linspace(0.6, 0.9, num=_N * _D).reshape(_N, _D)},
        np.array([
            [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
            [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
            [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
            [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]]),
        {"square_avg": np.array([
            [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
            [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
            [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
            [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])},
    ),
    "adam": (
        1e-2,
        {"step": 5, "exp_avg": np.linspace(0.6, 0.9, num=_N * _D).reshape(_N, _D),
         "exp_avg_sq": np.linspace(0.7, 0.5, num=_N * _D).reshape(_N, _D)},
        np.array([
            [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
            [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
            [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
            [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]]),
        {"step": 6,
         "exp_avg": np.array([
             [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
             [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
             [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
             [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]]),
         "exp_avg_sq": np.array([
             [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
             [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
             [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
             [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])},
    ),
}
_PUBLISHED_ATOL = 1e-8  # the published numbers are rounded to 8 decimals (error <= 5e-9)


@dataclass(frozen=True)
class Scenario:
    """Steps of one rule: a start, its state, the gradients and the hyper-parameters.

    Shape:
        ``param`` (n, d); ``grads`` (T, n, d), one gradient per step; ``state`` the dict the
        first call receives (copied for every run).
    """

    name: str
    param: np.ndarray
    grads: np.ndarray
    state: dict[str, Any]
    hyper: dict[str, Any]


def _hyper_from_zero(function: str) -> dict[str, Any]:
    return {
        "sgd_momentum": {"lr": 0.1, "momentum": 0.5},
        "rmsprop": {"lr": 0.05, "alpha": 0.9, "eps": 1e-3},
        "adam": {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-3},
    }[function]


def scenarios(function: str) -> list[Scenario]:
    """The two scenarios ``function`` is checked on: CS231n's step, then six from zero.

    Shape:
        CS231n: param (4, 5), one gradient; from zero: param (3, 4), six gradients whose
        columns have scales 1e-3, 1e-2, 1 and 10 (so that eps and the per-coordinate scaling
        show).
    """
    lr, state, _, _ = CS231N[function]
    rng = np.random.default_rng(8)
    scale = np.array([1e-3, 1e-2, 1.0, 10.0])
    return [
        Scenario("CS231n's test case (one step, default hyper-parameters)", _W.copy(),
                 _DW[None].copy(), copy.deepcopy(state), {"lr": lr}),
        Scenario("six steps from an empty state", rng.standard_normal((3, 4)),
                 rng.standard_normal((6, 3, 4)) * scale, {}, _hyper_from_zero(function)),
    ]


def lr_of(function: str) -> float:
    """The learning rate of CS231n's test case for ``function``."""
    return CS231N[function][0]


def _bp_optimizer(function: str, param: Parameter, hyper: dict[str, Any]) -> optim.Optimizer:
    if function == "sgd_momentum":
        return optim.SGD([param], lr=hyper["lr"], momentum=hyper.get("momentum", 0.9))
    if function == "rmsprop":
        return optim.RMSprop([param], **hyper)
    return optim.Adam([param], **hyper)


def reference_run(function: str, scenario: Scenario) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The parameters after each step and the final state, from ``bp.optim``.

    Shape:
        a list of T arrays of the param's shape, and a dict with ``STATE_KEYS[function]``.
    """
    p = Parameter(scenario.param.copy())
    opt = _bp_optimizer(function, p, scenario.hyper)
    if scenario.state:
        opt.state[0] = copy.deepcopy(scenario.state)
        if function == "rmsprop":
            opt.state[0]["step"] = 0
    params = []
    for g in scenario.grads:
        p.grad[...] = g
        opt.step()
        params.append(p.data.copy())
    state = {key: copy.deepcopy(opt.state[0][key]) for key in STATE_KEYS[function]}
    return params, state


@dataclass
class _Run:
    params: list[Any]
    state: dict[str, Any]
    modified: str = ""  # "param", "grad", "grad-aliased" when an input was changed in place


def _run(rule: Rule, scenario: Scenario) -> _Run:
    """Call ``rule`` once per gradient, on copies, watching the caller's arrays."""
    state = copy.deepcopy(scenario.state)
    param = scenario.param.copy()
    params, modified = [], ""
    seen_grads = []
    with np.errstate(all="ignore"):
        for g in scenario.grads:
            param_in, grad_in = param.copy(), g.copy()
            new = rule(param_in, grad_in, state, **scenario.hyper)
            if not modified and not np.array_equal(param_in, param, equal_nan=True):
                modified = "param"
            seen_grads.append((grad_in, g))
            for grad_arr, original in seen_grads:
                if not modified and not np.array_equal(grad_arr, original, equal_nan=True):
                    aliased = any(isinstance(v, np.ndarray) and np.shares_memory(v, grad_arr)
                                  for v in state.values())
                    modified = "grad-aliased" if aliased else "grad"
            params.append(new)
            if isinstance(new, np.ndarray) and new.shape == param.shape:
                param = np.array(new, dtype=np.float64)
            else:
                break
    return _Run(params, state, modified)


def _seen(runs: list[_Run], keys: tuple[str, ...]) -> list[Any]:
    """What a rule did on every scenario: the params it returned and its state ``keys``."""
    return [(run.params, [run.state.get(k) for k in keys]) for run in runs]


# -- the recognised wrong answers ----------------------------------------------------------------

_EPS_ADDED = ("ε is added to the parameter, after the division: put the denominator in "
              "parentheses, θ − {step}")

M_PARAM_IN_PLACE = ("changed the caller's param in place: return a new array "
                    "(new = param - lr * ...) and leave param as it was")
M_GRAD_IN_PLACE = ("changed the caller's grad in place: grad belongs to the caller (the model "
                   "keeps it in p.grad); compute new arrays from it")
M_ALIASED_BUFFER = ("the first momentum buffer is the caller's grad array itself "
                    "(state['momentum_buffer'] = grad): updating the buffer in place later "
                    "changes that gradient; store a copy, grad.copy()")


def _zeros_or(state: dict[str, Any], key: str, like: np.ndarray) -> Any:
    value = state.get(key)
    return np.zeros_like(like) if value is None else value


def _m_velocity(param, grad, state, lr, momentum=0.9):
    v = momentum * _zeros_or(state, "momentum_buffer", param) - lr * grad
    state["momentum_buffer"] = v
    return param + v


def _m_lr_inside(param, grad, state, lr, momentum=0.9):
    b = momentum * _zeros_or(state, "momentum_buffer", param) + lr * grad
    state["momentum_buffer"] = b
    return param - b


def _m_no_momentum(param, grad, state, lr, momentum=0.9):
    b = _zeros_or(state, "momentum_buffer", param) + grad
    state["momentum_buffer"] = b
    return param - lr * b


def _m_dampened(param, grad, state, lr, momentum=0.9):
    b = momentum * _zeros_or(state, "momentum_buffer", param) + (1 - momentum) * grad
    state["momentum_buffer"] = b
    return param - lr * b


def _m_grad_step(param, grad, state, lr, momentum=0.9):
    state["momentum_buffer"] = momentum * _zeros_or(state, "momentum_buffer", param) + grad
    return param - lr * grad


def _m_stale(param, grad, state, lr, momentum=0.9):
    old = _zeros_or(state, "momentum_buffer", param)
    state["momentum_buffer"] = momentum * old + grad
    return param - lr * old


def _m_uphill(param, grad, state, lr, momentum=0.9):
    b = momentum * _zeros_or(state, "momentum_buffer", param) + grad
    state["momentum_buffer"] = b
    return param + lr * b


def _m_nesterov(param, grad, state, lr, momentum=0.9):
    b = momentum * _zeros_or(state, "momentum_buffer", param) + grad
    state["momentum_buffer"] = b
    return param - lr * (grad + momentum * b)


def _m_in_place(param, grad, state, lr, momentum=0.9):
    b = momentum * _zeros_or(state, "momentum_buffer", param) + grad
    state["momentum_buffer"] = b
    param -= lr * b
    return param


def _m_aliased(param, grad, state, lr, momentum=0.9):
    if "momentum_buffer" not in state:
        state["momentum_buffer"] = grad
    else:
        b = state["momentum_buffer"]
        b *= momentum
        b += grad
    return param - lr * state["momentum_buffer"]


def _m_negated(param, grad, state, lr, momentum=0.9):
    b = momentum * state["momentum_buffer"] - grad if "momentum_buffer" in state else -grad
    state["momentum_buffer"] = b
    return param + lr * b


def _r_eps_inside(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad**2
    state["square_avg"] = v
    return param - lr * grad / np.sqrt(v + eps)


def _r_no_sqrt(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad**2
    state["square_avg"] = v
    return param - lr * grad / (v + eps)


def _r_swapped(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = (1 - alpha) * _zeros_or(state, "square_avg", param) + alpha * grad**2
    state["square_avg"] = v
    return param - lr * grad / (np.sqrt(v) + eps)


def _r_not_stored(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    old = state.setdefault("square_avg", np.zeros_like(param))
    v = alpha * old + (1 - alpha) * grad**2
    return param - lr * grad / (np.sqrt(v) + eps)


def _r_bias_corrected(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    t = state.get("t", 0) + 1
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad**2
    state["square_avg"], state["t"] = v, t
    return param - lr * grad / (np.sqrt(v / (1 - alpha**t)) + eps)


def _r_stale(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    old = _zeros_or(state, "square_avg", param)
    state["square_avg"] = alpha * old + (1 - alpha) * grad**2
    return param - lr * grad / (np.sqrt(old) + eps)


def _r_uphill(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad**2
    state["square_avg"] = v
    return param + lr * grad / (np.sqrt(v) + eps)


def _r_not_squared(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad
    state["square_avg"] = v
    return param - lr * grad / (np.sqrt(v) + eps)


def _r_first_is_square(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * state["square_avg"] + (1 - alpha) * grad**2 if "square_avg" in state \
        else grad**2
    state["square_avg"] = v
    return param - lr * grad / (np.sqrt(v) + eps)


def _r_eps_added(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * _zeros_or(state, "square_avg", param) + (1 - alpha) * grad**2
    state["square_avg"] = v
    return param - lr * grad / np.sqrt(v) + eps


def _adam_parts(param, grad, state, betas):
    beta1, beta2 = betas
    m = beta1 * _zeros_or(state, "exp_avg", param) + (1 - beta1) * grad
    v = beta2 * _zeros_or(state, "exp_avg_sq", param) + (1 - beta2) * grad**2
    return m, v


def _a_no_correction(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=state.get("step", 0) + 1, exp_avg=m, exp_avg_sq=v)
    return param - lr * m / (np.sqrt(v) + eps)


def _a_late_increment(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0)
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=t + 1, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_one_late(late_m: bool) -> Rule:
    """Adam whose m̂ (``late_m``) or v̂ alone is corrected with t − 1; the step is stored."""

    def rule(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        t = state.get("step", 0) + 1
        m, v = _adam_parts(param, grad, state, betas)
        state.update(step=t, exp_avg=m, exp_avg_sq=v)
        tm, tv = (t - 1, t) if late_m else (t, t - 1)
        m_hat, v_hat = m / (1 - betas[0] ** tm), v / (1 - betas[1] ** tv)
        return param - lr * m_hat / (np.sqrt(v_hat) + eps)

    return rule


def _a_stores_late(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0)  # t = step + 1, then t = t - 1: used and stored
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_frozen_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.setdefault("step", 1)
    m, v = _adam_parts(param, grad, state, betas)
    state.update(exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_eps_inside(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / np.sqrt(v_hat + eps)


def _a_swapped_betas(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m, v = _adam_parts(param, grad, state, (betas[1], betas[0]))
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[1] ** t), v / (1 - betas[0] ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_stores_hat(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m, v = _adam_parts(param, grad, state, betas)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    state.update(step=t, exp_avg=m_hat, exp_avg_sq=v_hat)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_no_sqrt(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param - lr * m_hat / (v_hat + eps)


def _a_unweighted(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    m = beta1 * _zeros_or(state, "exp_avg", param) + grad
    v = beta2 * _zeros_or(state, "exp_avg_sq", param) + grad**2
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def _a_uphill(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m, v = _adam_parts(param, grad, state, betas)
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return param + lr * m_hat / (np.sqrt(v_hat) + eps)


def _adam_variant(*, hat: Callable[[Any, float, int], Any] | None = None, raw: str = "",
                  first_raw: bool = False, eps_added: bool = False) -> Rule:
    """Adam with one slip: ``hat(avg, beta, t)`` the bias correction; ``raw`` ("m" or "v")
    the average the step uses uncorrected; ``first_raw`` m and v start at g and g²;
    ``eps_added`` ε added after the division. The step is counted and stored right."""

    def rule(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        t = state.get("step", 0) + 1
        if first_raw and "exp_avg" not in state:
            m, v = grad.copy(), grad**2
        else:
            m, v = _adam_parts(param, grad, state, betas)
        state.update(step=t, exp_avg=m, exp_avg_sq=v)
        correct = hat or (lambda avg, beta, t: avg / (1 - beta**t))
        m_hat, v_hat = correct(m, betas[0], t), correct(v, betas[1], t)
        m_hat, v_hat = (m if raw == "m" else m_hat), (v if raw == "v" else v_hat)
        if eps_added:
            return param - lr * m_hat / np.sqrt(v_hat) + eps
        return param - lr * m_hat / (np.sqrt(v_hat) + eps)

    return rule


#: check id -> the recognised wrong answers, as (a rule with the learner's signature, what the
#: mistake is). The first one a learner's rule behaves like, on every scenario, is named.
WRONG: dict[str, list[tuple[Rule, str]]] = {
    "sgd_momentum": [
        (_m_velocity, "stored CS231n's velocity v = μv − ηg in momentum_buffer and stepped "
                      "θ + v: bpkit and PyTorch keep the buffer b = μb + g and step θ − ηb "
                      "(the same path while η is constant, but a different buffer, and a "
                      "different path once a schedule changes η)"),
        (_m_lr_inside, "multiplied the gradient by η inside the buffer (b = μb + ηg): the "
                       "buffer is b = μb + g, and η appears only in the step θ − ηb"),
        (_m_no_momentum, "the old buffer is not multiplied by the momentum: b = μ·b + g "
                         "(without μ the buffer sums every gradient ever seen)"),
        (_m_dampened, "averaged the gradients, b = μb + (1 − μ)g: momentum sums them, "
                      "b = μb + g, so that steady steps grow to η/(1 − μ)"),
        (_m_grad_step, "the step uses the gradient g instead of the buffer: θ − η·b"),
        (_m_stale, "stepped with the previous buffer: first update b = μb + g, then step "
                   "θ − η·b with the new b"),
        (_m_uphill, "the step goes uphill: it must be θ − η·b, with a minus sign"),
        (_m_nesterov, "that is Nesterov's step θ − η(g + μb); plain momentum steps θ − η·b"),
        (_m_negated, "stored −b (b = μb − g, stepped θ + ηb): the same first step, but not "
                     "PyTorch's buffer, so bp.optim (and CS231n's state) cannot continue from "
                     "it; keep b = μb + g and step θ − ηb"),
        (_m_in_place, M_PARAM_IN_PLACE),
        (_m_aliased, M_ALIASED_BUFFER),
    ],
    "rmsprop": [
        (_r_eps_inside, "ε is inside the square root: RMSprop (PyTorch's, and CS231n's) "
                        "divides by √v + ε"),
        (_r_no_sqrt, "divided by the running mean of g² itself: divide by its square root, "
                     "√v + ε"),
        (_r_swapped, "α and 1 − α are swapped: v = α·v + (1 − α)·g², so that the average "
                     "keeps most of its past (α = 0.99)"),
        (_r_not_stored, "the new running average is not stored in state['square_avg']: "
                        "every step starts again from the old one"),
        (_r_bias_corrected, "RMSprop has no bias correction (that is Adam's): divide by "
                            "√v + ε with v itself"),
        (_r_stale, "divided by the previous step's √v: first update v with this g², then "
                   "divide by √v + ε"),
        (_r_uphill, "the step goes uphill: it must be θ − η·g/(√v + ε), with a minus sign"),
        (_r_not_squared, "the running average is of g, not of g²: v = α·v + (1 − α)·g² "
                         "(grad**2)"),
        (_r_first_is_square, "the first running average is g² itself: v starts at 0 "
                             "(np.zeros_like(param)), so the first v is (1 − α)·g²; only "
                             "momentum's buffer starts at the gradient"),
        (_r_eps_added, _EPS_ADDED.format(step="η·g/(√v + ε)")),
    ],
    "adam": [
        (_a_no_correction, "no bias correction: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ "
                           "before the step"),
        (_a_late_increment, "the bias correction used the step count before this step (t − 1, "
                            "or state['step'] read before incrementing it): the first step "
                            "has t = 1, so use t = state['step'] + 1 in 1 − β₁ᵗ and 1 − β₂ᵗ"),
        (_a_one_late(True), "m̂'s bias correction used t − 1 (v̂'s is right): both use this "
                            "step's t, m̂ = m / (1 − β₁ᵗ)"),
        (_a_one_late(False), "v̂'s bias correction used t − 1 (m̂'s is right): both use this "
                             "step's t, v̂ = v / (1 − β₂ᵗ)"),
        (_a_stores_late, "used and stored t − 1: state['step'] never advances, and from a "
                         "fresh state the first correction divides by 1 − β⁰ = 0; t = "
                         "state['step'] + 1 is this step's count, store it and use it"),
        (_a_frozen_step, "state['step'] is never incremented: t must count the steps "
                         "(1, 2, 3, ...)"),
        (_a_eps_inside, "ε is inside the square root: Adam divides by √v̂ + ε"),
        (_a_swapped_betas, "β₁ and β₂ are swapped: β₁ = 0.9 averages the gradients (m), "
                           "β₂ = 0.999 their squares (v)"),
        (_a_stores_hat, "stored the bias-corrected m̂ and v̂ in state: keep the raw "
                        "averages m and v there (the correction is recomputed each step)"),
        (_a_no_sqrt, "divided by v̂ instead of its square root √v̂"),
        (_a_unweighted, "the new gradient is not weighted: m = β₁m + (1 − β₁)g and "
                        "v = β₂v + (1 − β₂)g²"),
        (_a_uphill, "the step goes uphill: it must be θ − η·m̂/(√v̂ + ε), with a minus sign"),
        (_adam_variant(raw="m"), "the step uses the raw m: divide by √v̂ + ε the "
                                 "bias-corrected m̂ = m / (1 − β₁ᵗ)"),
        (_adam_variant(raw="v"), "the step divides by the raw √v: use the bias-corrected "
                                 "v̂ = v / (1 − β₂ᵗ), √v̂ + ε"),
        (_adam_variant(hat=lambda avg, beta, t: avg / (1 - beta * t)),
         "the correction is 1 − β·t where 1 − βᵗ belongs: write beta1 ** t (a power)"),
        (_adam_variant(hat=lambda avg, beta, t: avg / 1 - beta**t),
         "m / 1 - beta1**t is (m / 1) − β₁ᵗ: put the denominator in parentheses, "
         "m / (1 - beta1**t)"),
        (_adam_variant(first_raw=True), "m and v start at g and g² (like momentum's "
                                        "buffer): Adam's averages start at 0 "
                                        "(np.zeros_like(param)), and the bias correction "
                                        "makes up for that start"),
        (_adam_variant(eps_added=True), _EPS_ADDED.format(step="η·m̂/(√v̂ + ε)")),
    ],
}


def _dtype_rmsprop(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    v = alpha * state.get("square_avg", np.zeros(param.shape)) + (1 - alpha) * grad**2
    state["square_avg"] = v
    return param - lr * grad / (np.sqrt(v) + eps)


def _dtype_adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m = betas[0] * state.get("exp_avg", 0.0) + (1 - betas[0]) * grad
    v = betas[1] * state.get("exp_avg_sq", 0.0) + (1 - betas[1]) * grad**2
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    m_hat = m / (1 - np.power(betas[0], t))  # np.power of numbers gives a float64 scalar
    v_hat = v / (1 - np.power(betas[1], t))
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


M_DTYPE_STATE = ("a buffer in state is float64 for a float32 parameter: np.zeros(param.shape) "
                 "makes float64; np.zeros_like(param) keeps the parameter's dtype")
M_DTYPE_PARAM = ("the returned parameter is float64 for a float32 input: in NumPy 2 a NumPy "
                 "float64 scalar (e.g. np.power(beta1, t)) or a float64 array in the formula "
                 "upcasts float32 arrays; use Python numbers such as beta1 ** t")

#: (function name, a rule with that mistake, the diagnosis) for the float32 check.
WRONG_DTYPE: list[tuple[str, Rule, str]] = [
    ("rmsprop", _dtype_rmsprop, M_DTYPE_STATE),
    ("adam", _dtype_adam, M_DTYPE_PARAM),
]


# -- the checks ----------------------------------------------------------------------------------


def _in_place(run: _Run, name: str) -> None:
    meaning = {"param": M_PARAM_IN_PLACE, "grad": M_GRAD_IN_PLACE,
               "grad-aliased": M_ALIASED_BUFFER}.get(run.modified)
    if meaning:
        raise CheckFailed(Feedback.fail(f"{name} changed an array it was given", why=[meaning]))


def _describe_call(name: str, scenario: Scenario) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in scenario.hyper.items())
    return f"{name}(param, grad, state, {args})"


def _check_rule(ns: dict[str, Any], check_id: str) -> Feedback:
    """Run the learner's rule on every scenario; compare; name a recognised mistake."""
    name = FUNCTIONS[check_id]
    rule = ns[name]
    keys = STATE_KEYS[name]
    all_scenarios = scenarios(name)
    runs = [_run(rule, s) for s in all_scenarios]
    for run in runs:
        _in_place(run, name)
    missing = [key for key in keys if key not in runs[-1].state]
    if missing and all(isinstance(p, np.ndarray) for p in runs[-1].params):
        return Feedback.fail(
            f"{name}: state has no {missing[0]!r} after a step from an empty state",
            why=[f"state has no {missing[0]!r}: keep your running values under PyTorch's "
                 f"names, {', '.join(repr(k) for k in keys)}, so that the next step (and "
                 f"bp.optim) can use them"])
    failure: Feedback | None = None
    failed_at = -1
    for k, (scenario, run) in enumerate(zip(all_scenarios, runs, strict=True)):
        want_params, want_state = reference_run(name, scenario)
        where = f"{_describe_call(name, scenario)} on {scenario.name}"
        fb = _compare_run(run, want_params, want_state, keys, where, name, scenario)
        if k == 0 and fb.passed:  # the published numbers themselves
            _, _, published_w, published_state = CS231N[name]
            fb = compare(run.params[0], published_w, rtol=0, atol=_PUBLISHED_ATOL,
                         name=f"{where}: the new param against CS231n's published numbers")
            for key, value in published_state.items():
                if fb.passed and isinstance(value, np.ndarray):
                    atol = _PUBLISHED_ATOL / (lr_of(name) if key == "momentum_buffer" else 1)
                    fb = compare(run.state[key], value, rtol=0, atol=atol,
                                 name=f"{where}: state[{key!r}] against CS231n's numbers")
        if not fb.passed:
            failure, failed_at = fb, k
            break
    if failure is None:
        return _defaults(rule, name) or Feedback.ok(
            "matches CS231n's published numbers and bp.optim over six steps")
    if not any(f.kind == "missing_state" for f in failure.findings):
        meaning = named(_seen(runs, keys), (
            (_seen([_run(wrong, s) for s in all_scenarios], keys), meaning)
            for wrong, meaning in WRONG[check_id]), rtol=1e-7, atol=1e-10)
        if meaning:
            return blame(failure, meaning)
    if failed_at == 0:
        later = all_scenarios[1:]
        if all(_compare_run(r, *reference_run(name, s), keys, "", name, s).passed
               for r, s in zip(runs[1:], later, strict=True)):
            failure.why.insert(0, "right when every hyper-parameter is given, wrong with the "
                                  "defaults: check the default values in the def line (PyTorch's)")
    return failure


#: function -> its hyper-parameters' defaults in the contract (PyTorch's; momentum's is CS231n's).
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd_momentum": {"momentum": 0.9},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8},
}


def _defaults(rule: Rule, name: str) -> Feedback | None:
    """A failure when a default in the learner's def line differs from the contract's (the
    scenarios give most hyper-parameters explicitly, so a changed default can pass them)."""
    try:
        params = inspect.signature(rule).parameters
    except (TypeError, ValueError):
        return None
    for key, want in DEFAULTS[name].items():
        got = params[key].default if key in params else want
        if got is not inspect.Parameter.empty and not _same_default(got, want):
            return Feedback.fail(
                f"{name}: the default {key} is {got!r}", expected=repr(want), got=repr(got),
                why=[f"the default of {key} in the def line is {got!r}: the contract's "
                     f"(PyTorch's) is {key}={want!r}; keep the def line given"])
    return None


def _same_default(got: Any, want: Any) -> bool:
    try:
        return bool(np.all(np.asarray(got, dtype=np.float64) == np.asarray(want)))
    except (TypeError, ValueError):
        return False


def _compare_run(run: _Run, want_params: list[np.ndarray], want_state: dict[str, Any],
                 keys: tuple[str, ...], where: str, name: str, scenario: Scenario) -> Feedback:
    for t, (got, want) in enumerate(zip(run.params, want_params, strict=False)):
        fb = compare(got, want, name=f"{where}: the param returned by step {t + 1}",
                     rtol=1e-7, atol=1e-10)
        if not fb.passed:
            return fb
    if len(run.params) < len(want_params):  # the returned value could not be stepped again
        last = run.params[-1]
        return Feedback.fail(
            f"{where}: step {len(run.params)} returned {type(last).__name__}, not an array",
            expected=f"a NumPy array of shape {scenario.param.shape}",
            got=type(last).__name__,
            why=["return the new parameter as a NumPy array of param's shape, so that the "
                 "next step can start from it"])
    for key in keys:
        if key not in run.state:
            text = (f"state has no {key!r}: keep it under PyTorch's name, "
                    f"{', '.join(repr(k) for k in keys)}, so that the next step (and "
                    "bp.optim) can use it")
            return Feedback(False, f"{where}: state has no {key!r} after the call", why=[text],
                            findings=[Finding("missing_state", None, text)])
        got, want = run.state[key], want_state[key]
        if key == "step":
            if not isinstance(got, (int, np.integer)) or int(got) != want:
                why = ("state['step'] counts the steps taken so far, as an int: start from "
                       "state.get('step', 0), not 0.0" if isinstance(got, float) and got == want
                       else "state['step'] counts the steps taken so far")
                return Feedback.fail(f"{where}: state['step'] is {got!r}", expected=str(want),
                                     got=repr(got), why=[why])
            continue
        fb = compare(got, want, name=f"{where}: state[{key!r}]", rtol=1e-7, atol=1e-10)
        if not fb.passed:
            return fb
    return Feedback.ok()


@register_check(
    exercise=EXERCISE,
    id="sgd_momentum",
    points=3,
    requires=("sgd_momentum",),
    hint="b = grad.copy() on the first step, else b = momentum * b + grad; store it in "
    "state['momentum_buffer']; return param - lr * b",
)
def sgd_momentum(ns: dict[str, Any]) -> Feedback:
    """sgd_momentum matches CS231n's numbers and bp.optim.SGD(momentum=...)"""
    return _check_rule(ns, "sgd_momentum")


@register_check(
    exercise=EXERCISE,
    id="rmsprop",
    points=3,
    requires=("rmsprop",),
    hint="v = alpha * v + (1 - alpha) * grad**2 (v starts at zeros_like(param)); store it "
    "in state['square_avg']; return param - lr * grad / (np.sqrt(v) + eps)",
)
def rmsprop(ns: dict[str, Any]) -> Feedback:
    """rmsprop matches CS231n's numbers and bp.optim.RMSprop"""
    return _check_rule(ns, "rmsprop")


@register_check(
    exercise=EXERCISE,
    id="adam",
    points=4,
    requires=("adam",),
    hint="t = state['step'] + 1 first; m and v as running means of grad and grad**2; "
    "m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t); "
    "return param - lr * m_hat / (np.sqrt(v_hat) + eps)",
)
def adam(ns: dict[str, Any]) -> Feedback:
    """adam matches CS231n's numbers and bp.optim.Adam"""
    return _check_rule(ns, "adam")


@register_check(
    exercise=EXERCISE,
    id="float32",
    points=1,
    requires=("sgd_momentum", "rmsprop", "adam"),
    hint="make buffers with np.zeros_like(param) (or grad.copy()): they keep the dtype",
)
def float32(ns: dict[str, Any]) -> Feedback:
    """float32 in gives float32 out: the new param and every buffer in state"""
    rng = np.random.default_rng(32)
    for name in ("sgd_momentum", "rmsprop", "adam"):
        rule = ns[name]
        param = rng.standard_normal((3, 2)).astype(np.float32)
        state: dict[str, Any] = {}
        with np.errstate(all="ignore"):
            for _ in range(3):
                grad = rng.standard_normal((3, 2)).astype(np.float32)
                lr = {"sgd_momentum": 0.1}.get(name, 1e-2)
                new = rule(param.copy(), grad, state, lr)
                if not isinstance(new, np.ndarray):
                    return Feedback.fail(f"{name} returned {type(new).__name__}, not an array",
                                         why=["return the new parameter as a NumPy array"])
                for key in STATE_KEYS[name]:
                    value = state.get(key)
                    if isinstance(value, np.ndarray) and value.dtype != np.float32:
                        return Feedback.fail(
                            f"{name}: state[{key!r}] is {value.dtype} for a float32 param",
                            expected="float32", got=str(value.dtype), why=[M_DTYPE_STATE])
                if new.dtype != np.float32:
                    return Feedback.fail(f"{name} returned {new.dtype} for a float32 param",
                                         expected="float32", got=str(new.dtype),
                                         why=[M_DTYPE_PARAM])
                param = new
    return Feedback.ok("all three keep float32 (parameter and state)")
