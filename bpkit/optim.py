"""Optimisers that update ``Parameter.data`` from ``Parameter.grad``, and learning-rate schedules.

Each optimiser holds one flat list of parameters (no parameter groups), keeps its
hyper-parameters in attributes with PyTorch's names (``opt.lr``, ``opt.momentum``,
``opt.betas``, ...) and its per-parameter buffers in ``opt.state[i]`` (``i`` is the
parameter's position in ``opt.params``), with PyTorch's buffer names
(``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ...). The updates are PyTorch's, so the
same gradients give the same numbers as ``torch.optim``.

A schedule changes ``optimizer.lr`` once per ``scheduler.step()``::

    opt = bp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = bp.optim.StepLR(opt, step_size=10, gamma=0.5)
    for epoch in range(30):
        ...                       # opt.step() for every batch
        sched.step()              # once per epoch
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.module import Module, Parameter

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "RMSprop",
    "StepLR",
]


def _check_params(params: Any, where: str) -> list[Parameter]:
    """``params`` as a list of distinct Parameters, or an error saying what is wrong."""
    if isinstance(params, Module):
        raise TypeError(
            f"{where} expected an iterable of Parameters, got the module "
            f"{type(params).__name__} itself; pass model.parameters()"
        )
    if isinstance(params, Parameter):
        raise TypeError(f"{where} expected an iterable of Parameters, got a single Parameter; "
                        "wrap it in a list")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{where} expected an iterable of Parameters, got {type(params).__name__}"
        ) from None
    if not params:
        raise ValueError(f"{where} got an empty parameter list: nothing to optimise")
    seen: dict[int, int] = {}
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(
                f"{where}: params[{i}] is a {type(p).__name__}, expected a Parameter "
                "(bpkit optimisers take one flat list such as model.parameters())"
            )
        if id(p) in seen:
            raise ValueError(
                f"{where}: params[{i}] is the same Parameter as params[{seen[id(p)]}]; "
                "each parameter may appear only once"
            )
        seen[id(p)] = i
    return params


def _flag(value: Any, name: str, where: str) -> bool:
    """``value`` as a bool, or a TypeError unless it is one."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def _plain(value: Any) -> Any:
    """A value read back from ``np.savez`` (0-d or 1-d array) as a Python number/tuple."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(value.tolist())
    return value


class Optimizer:
    """Base class: a flat list of parameters, hyper-parameters and per-parameter state.

    ``defaults`` maps each hyper-parameter's name to its constructor value; the current
    values live in attributes of the same names (``opt.lr`` is what schedules change).
    Subclasses implement ``_check_hyper`` (validation) and ``step`` (the update), and name
    the buffers they keep: ``_first_step_keys`` are created together on a parameter's first
    step, ``_optional_keys`` only with some options.
    """

    _first_step_keys: tuple[str, ...] = ()
    _optional_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], defaults: dict[str, Any]) -> None:
        where = type(self).__name__
        self.params: list[Parameter] = _check_params(params, where)
        _checks.positive(defaults["lr"], "lr", where)
        self.defaults: dict[str, Any] = self._check_hyper(dict(defaults))
        self._set_hyper(self.defaults)
        self.state: dict[int, dict[str, Any]] = {}

    # -- hyper-parameters ------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate used by the next ``step`` (schedules set it).

        Constructors require lr > 0; setting it later only requires lr >= 0, so that a
        schedule may anneal it to 0.
        """
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _checks.non_negative(value, "lr", type(self).__name__)

    def _check_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """Validated copies of the hyper-parameters (each subclass checks its own)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _check_hyper")

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        for name, value in hyper.items():
            setattr(self, name, value)

    # -- the update ------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (in place; gradients are always arrays)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every ``p.data`` in place from ``p.grad``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step")

    def _param_state(self, i: int) -> dict[str, Any]:
        """The state of parameter ``i``, its buffers converted to the parameter's dtype.

        A parameter's dtype changes when the model is converted (``model.astype``) after
        some steps; its buffers follow so that nothing is silently upcast.
        """
        state = self.state.setdefault(i, {})
        dtype = self.params[i].data.dtype
        for name, value in state.items():
            if isinstance(value, np.ndarray) and value.dtype != dtype:
                state[name] = value.astype(dtype)
        return state

    def astype(self, dtype: Any) -> Optimizer:
        """Convert every state buffer to ``dtype`` now; returns ``self``."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.astype needs a floating dtype, got {dtype}")
        for state in self.state.values():
            for name, value in state.items():
                if isinstance(value, np.ndarray):
                    state[name] = value.astype(dtype, copy=False)
        return self

    # -- saving ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and copies of the state as a flat dict of numbers and arrays.

        Keys: ``"optimizer"`` (the class name), each hyper-parameter's name, and
        ``"state.<i>.<buffer>"`` for parameter ``i``. ``np.savez(path, **opt.state_dict())``
        stores it without pickle.
        """
        out: dict[str, Any] = {"optimizer": type(self).__name__}
        for name in self.defaults:
            out[name] = getattr(self, name)
        for i in sorted(self.state):
            for name, value in self.state[i].items():
                out[f"state.{i}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict``.

        Everything is checked (optimiser type, keys, buffer shapes) before anything is
        changed, so on error the optimiser is left as it was. Buffers take the dtype of
        their parameter.
        """
        where = f"{type(self).__name__}.load_state_dict"
        kind = str(_plain(state_dict.get("optimizer", "")))
        if kind != type(self).__name__:
            raise ValueError(f"{where}: the state was saved from {kind or 'an unknown object'!r}, "
                             f"not from {type(self).__name__}")
        missing = [name for name in self.defaults if name not in state_dict]
        if missing:
            raise KeyError(f"{where}: missing hyper-parameters {missing}")
        hyper = self._check_hyper({name: _plain(state_dict[name]) for name in self.defaults})
        new_state: dict[int, dict[str, Any]] = {}
        for key, value in state_dict.items():
            if key == "optimizer" or key in self.defaults:
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
                raise KeyError(f"{where}: unexpected key {key!r}")
            i, name = int(parts[1]), parts[2]
            if i >= len(self.params):
                raise ValueError(f"{where}: {key!r} refers to parameter {i}, but the optimiser "
                                 f"has {len(self.params)} parameters")
            if name not in self._first_step_keys + self._optional_keys:
                raise KeyError(f"{where}: unexpected key {key!r}; {type(self).__name__} keeps "
                               f"{list(self._first_step_keys + self._optional_keys)}")
            if name == "step":
                step = _plain(value)
                if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
                    raise ValueError(f"{where}: {key!r} must be a non-negative integer, "
                                     f"got {step!r}")
                new_state.setdefault(i, {})[name] = int(step)
                continue
            array = np.asarray(value)
            param = self.params[i]
            if array.shape != param.data.shape:
                raise ValueError(f"{where}: {key!r} has shape {array.shape}, but parameter {i} "
                                 f"has shape {param.data.shape}")
            if not np.issubdtype(array.dtype, np.floating):
                raise TypeError(f"{where}: {key!r} has dtype {array.dtype}, expected floats")
            new_state.setdefault(i, {})[name] = array.astype(param.data.dtype, copy=True)
        for i, state in new_state.items():
            absent = [name for name in self._first_step_keys if name not in state]
            if absent:
                raise KeyError(f"{where}: the state of parameter {i} lacks {absent}")
        self._set_hyper(hyper)
        self.state = new_state

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.defaults)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    Shape:
        every buffer has its parameter's shape and dtype.

    Update (PyTorch's), with g = grad + weight_decay * p:
        b = g on the first step, else b = momentum * b + (1 - dampening) * g;
        d = g + momentum * b if nesterov else b   (d = g when momentum == 0);
        p = p - lr * d.
    """

    _first_step_keys = ()
    _optional_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        w = "SGD"
        out = {
            "lr": _checks.non_negative(hyper["lr"], "lr", w),
            "momentum": _checks.non_negative(hyper["momentum"], "momentum", w),
            "dampening": _checks.non_negative(hyper["dampening"], "dampening", w),
            "weight_decay": _checks.non_negative(hyper["weight_decay"], "weight_decay", w),
            "nesterov": _flag(hyper["nesterov"], "nesterov", w),
        }
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={hyper['momentum']!r}, dampening={hyper['dampening']!r}"
            )
        return out

    def step(self) -> None:
        """Apply one SGD update to every parameter, in place."""
        lr, momentum, weight_decay = self.lr, self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad + weight_decay * p.data if weight_decay != 0 else p.grad
            d = g
            if momentum != 0:
                state = self._param_state(i)
                b = state.get("momentum_buffer")
                b = g.copy() if b is None else momentum * b + (1 - self.dampening) * g
                state["momentum_buffer"] = b
                d = g + momentum * b if self.nesterov else b
            p.data -= lr * d


class RMSprop(Optimizer):
    """Divide each step by a running root-mean-square of recent gradients (Hinton's RMSprop).

    Shape:
        every buffer has its parameter's shape and dtype.

    Update (PyTorch's), with g = grad + weight_decay * p:
        v = alpha * v + (1 - alpha) * g^2;
        centered: a = alpha * a + (1 - alpha) * g, s = sqrt(v - a^2) + eps, else s = sqrt(v) + eps;
        momentum > 0: b = momentum * b + g / s, p = p - lr * b; else p = p - lr * g / s.
    """

    _first_step_keys = ("step", "square_avg")
    _optional_keys = ("grad_avg", "momentum_buffer")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def _check_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        w = "RMSprop"
        return {
            "lr": _checks.non_negative(hyper["lr"], "lr", w),
            "alpha": _checks.in_unit_interval(hyper["alpha"], "alpha", w),
            "eps": _checks.non_negative(hyper["eps"], "eps", w),
            "weight_decay": _checks.non_negative(hyper["weight_decay"], "weight_decay", w),
            "momentum": _checks.non_negative(hyper["momentum"], "momentum", w),
            "centered": _flag(hyper["centered"], "centered", w),
        }

    def step(self) -> None:
        """Apply one RMSprop update to every parameter, in place."""
        alpha = self.alpha
        for i, p in enumerate(self.params):
            state = self._param_state(i)
            if "square_avg" not in state:
                state["step"] = 0
                state["square_avg"] = np.zeros_like(p.data)
            state["step"] += 1
            g = p.grad + self.weight_decay * p.data if self.weight_decay != 0 else p.grad
            v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g**2
            if self.centered:
                a = state["grad_avg"] = alpha * state.get("grad_avg", 0) + (1 - alpha) * g
                # rounding must not give sqrt(-tiny)
                s = np.sqrt(np.maximum(v - a**2, 0)) + self.eps
            else:
                s = np.sqrt(v) + self.eps
            if self.momentum > 0:
                b = self.momentum * state.get("momentum_buffer", 0) + g / s
                state["momentum_buffer"] = b
                p.data -= self.lr * b
            else:
                p.data -= self.lr * g / s


def _adam_update(p: Parameter, state: dict[str, Any], lr: float, betas: tuple[float, float],
                 eps: float, weight_decay: float, amsgrad: bool, decoupled: bool) -> None:
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step for one parameter."""
    beta1, beta2 = betas
    if "exp_avg" not in state:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(p.data)
        state["exp_avg_sq"] = np.zeros_like(p.data)
    if amsgrad and "max_exp_avg_sq" not in state:
        state["max_exp_avg_sq"] = np.zeros_like(p.data)
    state["step"] += 1
    t = state["step"]
    g = p.grad
    if weight_decay != 0 and decoupled:
        p.data *= 1 - lr * weight_decay
    elif weight_decay != 0:
        g = p.grad + weight_decay * p.data
    m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
    v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g**2
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    p.data -= lr / bias_correction1 * m / (np.sqrt(v) / math.sqrt(bias_correction2) + eps)


def _check_adam(hyper: dict[str, Any], where: str) -> dict[str, Any]:
    betas = hyper["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    return {
        "lr": _checks.non_negative(hyper["lr"], "lr", where),
        "betas": (_checks.in_unit_interval(betas[0], "betas[0]", where),
                  _checks.in_unit_interval(betas[1], "betas[1]", where)),
        "eps": _checks.non_negative(hyper["eps"], "eps", where),
        "weight_decay": _checks.non_negative(hyper["weight_decay"], "weight_decay", where),
        "amsgrad": _flag(hyper["amsgrad"], "amsgrad", where),
    }


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by a running RMS, with bias correction.

    Shape:
        every buffer has its parameter's shape and dtype.

    Update (PyTorch's) at step t, with g = grad + weight_decay * p (L2 added to the gradient):
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2;
        (amsgrad: v_max = max(v_max, v), used in place of v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """

    _first_step_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_keys = ("max_exp_avg_sq",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad})

    def _check_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return _check_adam(hyper, "Adam")

    def step(self) -> None:
        """Apply one Adam update to every parameter, in place."""
        for i, p in enumerate(self.params):
            _adam_update(p, self._param_state(i), self.lr, self.betas, self.eps,
                         self.weight_decay, self.amsgrad, decoupled=False)


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter): decay the weights, not the gradient.

    Shape:
        every buffer has its parameter's shape and dtype.

    Update (PyTorch's) at step t:
        p = p * (1 - lr * weight_decay), then Adam's update with g = grad (no L2 term).
    """

    _first_step_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_keys = ("max_exp_avg_sq",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad})

    def _check_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return _check_adam(hyper, "AdamW")

    def step(self) -> None:
        """Apply one AdamW update to every parameter, in place."""
        for i, p in enumerate(self.params):
            _adam_update(p, self._param_state(i), self.lr, self.betas, self.eps,
                         self.weight_decay, self.amsgrad, decoupled=True)


# -- learning-rate schedules --------------------------------------------------------------
class LRScheduler:
    """Base class: sets ``optimizer.lr = lr_at(epoch)`` on every ``step()``.

    Creating a schedule counts as epoch 0 (``last_epoch == 0``, lr = ``base_lr``, the
    optimiser's lr at that moment), like PyTorch. Each ``step()`` moves one epoch on. The
    lr is computed from the closed form, so a value written into ``optimizer.lr`` by hand
    is replaced at the next ``step()``.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} expected a bpkit Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr: float = optimizer.lr
        self.last_epoch: int = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        """The learning rate this schedule gives at ``epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement lr_at")

    def step(self) -> None:
        """Move one epoch on and set the optimiser's lr for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The lr set by the last ``step`` (a one-element list, as in PyTorch)."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, Any]:
        """``base_lr`` and ``last_epoch`` (enough to resume the schedule)."""
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from ``state_dict`` and set the optimiser's lr accordingly."""
        where = f"{type(self).__name__}.load_state_dict"
        missing = [name for name in ("base_lr", "last_epoch") if name not in state_dict]
        if missing:
            raise KeyError(f"{where}: missing {missing}")
        base_lr = _checks.non_negative(_plain(state_dict["base_lr"]), "base_lr", where)
        last_epoch = _plain(state_dict["last_epoch"])
        if (isinstance(last_epoch, bool) or not isinstance(last_epoch, (int, np.integer))
                or last_epoch < 0):
            raise ValueError(f"{where}: last_epoch must be a non-negative integer, "
                             f"got {last_epoch!r}")
        self.base_lr, self.last_epoch = base_lr, int(last_epoch)
        self.optimizer.lr = self.lr_at(last_epoch)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    Formula:
        lr(epoch) = base_lr * gamma ** (epoch // step_size).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _checks.positive_int(step_size, "step_size", "StepLR")
        self.gamma = _checks.positive(gamma, "gamma", "StepLR")
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        """base_lr * gamma ** (epoch // step_size)."""
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch.

    Formula:
        lr(epoch) = base_lr * gamma ** epoch.
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = _checks.positive(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        """base_lr * gamma ** epoch."""
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from ``base_lr`` to ``eta_min`` along half a cosine over ``T_max`` epochs.

    Formula (SGDR without restarts; past ``T_max`` the cosine carries on, rising back to
    ``base_lr`` at ``2 * T_max``, as PyTorch's does):
        lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.

    PyTorch computes the same curve recursively from the previous lr; the two agree to
    about 1e-15 (rounding), and this closed form is the one used here.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _checks.positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _checks.non_negative(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        """eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""
        cosine = 1 + math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * cosine / 2
