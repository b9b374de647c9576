"""Weight initialisations (Xavier/Glorot, Kaiming/He, constants) filling parameters in place.

Each function takes a ``Parameter`` (or a floating-point ndarray), overwrites its values in
place and returns it: PyTorch's ``torch.nn.init.xavier_uniform_`` is ``xavier_uniform`` here.
The random ones draw from an explicit ``rng`` (a ``numpy.random.Generator`` or an int
seed), so the same seed gives the same weights. The dtype is kept::

    layer = bp.Linear(256, 128, rng=0)
    bp.init.kaiming_normal(layer.weight, nonlinearity="relu", rng=1)
    bp.init.zeros(layer.bias)

Fans follow PyTorch: for a weight of shape ``(out, in, *k)``, fan_in = in * prod(k) and
fan_out = out * prod(k) (for ``Linear.weight`` of shape ``(out_features, in_features)``,
fan_in = in_features).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from bpkit import _checks
from bpkit.module import Parameter

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "ones",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

T = TypeVar("T", Parameter, np.ndarray)

_NONLINEARITIES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def _array(tensor: Any, where: str) -> np.ndarray:
    """The array to fill: ``tensor.data`` for a Parameter, else a writeable float ndarray."""
    array = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where} expected a Parameter or a numpy array, "
                        f"got {type(tensor).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"{where} expected a floating-point array, got dtype {array.dtype}")
    if not array.flags.writeable:
        raise ValueError(f"{where} cannot fill a read-only array")
    return array


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale of the weights' std for a nonlinearity (PyTorch's table).

    Formula:
        linear, sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
        leaky_relu: sqrt(2 / (1 + negative_slope^2)) (``param`` is the slope, default 0.01);
        selu: 3/4.
    """
    return _gain(nonlinearity, param, "calculate_gain")


def _gain(nonlinearity: str, param: Any, where: str) -> float:
    if nonlinearity in ("linear", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _checks.number(param, "negative_slope", where)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"{where}: unknown nonlinearity {nonlinearity!r}; "
                     f"expected one of {', '.join(_NONLINEARITIES)}")


def calculate_fan_in_and_fan_out(tensor: Parameter | np.ndarray) -> tuple[int, int]:
    """The number of inputs and outputs each weight connects (PyTorch's convention).

    Shape:
        tensor (out, in, *k) with at least 2 dimensions -> (in * prod(k), out * prod(k)).
    """
    shape = tensor.shape if isinstance(tensor, (Parameter, np.ndarray)) else np.shape(tensor)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a weight with at least 2 dimensions (out, in), got "
            f"shape {tuple(shape)}; a bias (1-D) has no fans: use zeros, constant or uniform"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(tensor: Any, mode: str, where: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform(tensor: T, gain: float = 1.0, *, rng: np.random.Generator | int | None = None
                   ) -> T:
    """Fill with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Shape:
        tensor (out, in, *k); filled in place and returned.
    """
    array = _array(tensor, "xavier_uniform")
    gain = _checks.non_negative(gain, "gain", "xavier_uniform")
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    if array.size:
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        bound = math.sqrt(3.0) * std
        array[...] = _checks.as_rng(rng, "xavier_uniform").uniform(-bound, bound, size=array.shape)
    return tensor


def xavier_normal(tensor: T, gain: float = 1.0, *, rng: np.random.Generator | int | None = None
                  ) -> T:
    """Fill with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Shape:
        tensor (out, in, *k); filled in place and returned.
    """
    array = _array(tensor, "xavier_normal")
    gain = _checks.non_negative(gain, "gain", "xavier_normal")
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    if array.size:
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        array[...] = _checks.as_rng(rng, "xavier_normal").normal(0.0, std, size=array.shape)
    return tensor


def kaiming_uniform(
    tensor: T,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | int | None = None,
) -> T:
    """Fill with U(-b, b), b = gain * sqrt(3 / fan) (He et al., 2015).

    Shape:
        tensor (out, in, *k); filled in place and returned.

    Formula:
        gain = calculate_gain(nonlinearity, a) (``a`` is the leaky_relu slope);
        fan = fan_in (keeps the forward variance) or fan_out (the backward one), per ``mode``.
    """
    array = _array(tensor, "kaiming_uniform")
    fan = _fan(array, mode, "kaiming_uniform")
    gain = _gain(nonlinearity, a, "kaiming_uniform")
    if array.size:
        bound = math.sqrt(3.0) * gain / math.sqrt(fan)
        array[...] = _checks.as_rng(rng, "kaiming_uniform").uniform(-bound, bound, size=array.shape)
    return tensor


def kaiming_normal(
    tensor: T,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | int | None = None,
) -> T:
    """Fill with N(0, std^2), std = gain / sqrt(fan) (He et al., 2015).

    Shape:
        tensor (out, in, *k); filled in place and returned.

    Formula:
        gain = calculate_gain(nonlinearity, a) (``a`` is the leaky_relu slope);
        fan = fan_in (keeps the forward variance) or fan_out (the backward one), per ``mode``.
    """
    array = _array(tensor, "kaiming_normal")
    fan = _fan(array, mode, "kaiming_normal")
    gain = _gain(nonlinearity, a, "kaiming_normal")
    if array.size:
        std = gain / math.sqrt(fan)
        array[...] = _checks.as_rng(rng, "kaiming_normal").normal(0.0, std, size=array.shape)
    return tensor


def uniform(tensor: T, a: float = 0.0, b: float = 1.0, *,
            rng: np.random.Generator | int | None = None) -> T:
    """Fill with U(a, b).

    Shape:
        any; filled in place and returned.
    """
    array = _array(tensor, "uniform")
    lo = _checks.number(a, "a", "uniform")
    hi = _checks.number(b, "b", "uniform")
    if lo > hi:
        raise ValueError(f"uniform: needs a <= b, got a={a!r}, b={b!r}")
    array[...] = _checks.as_rng(rng, "uniform").uniform(lo, hi, size=array.shape)
    return tensor


def normal(tensor: T, mean: float = 0.0, std: float = 1.0, *,
           rng: np.random.Generator | int | None = None) -> T:
    """Fill with N(mean, std^2).

    Shape:
        any; filled in place and returned.
    """
    array = _array(tensor, "normal")
    mu = _checks.number(mean, "mean", "normal")
    sigma = _checks.non_negative(std, "std", "normal")
    array[...] = _checks.as_rng(rng, "normal").normal(mu, sigma, size=array.shape)
    return tensor


def constant(tensor: T, val: float) -> T:
    """Fill with the value ``val``.

    Shape:
        any; filled in place and returned.
    """
    _array(tensor, "constant")[...] = _checks.number(val, "val", "constant")
    return tensor


def zeros(tensor: T) -> T:
    """Fill with zeros.

    Shape:
        any; filled in place and returned.
    """
    _array(tensor, "zeros")[...] = 0
    return tensor


def ones(tensor: T) -> T:
    """Fill with ones.

    Shape:
        any; filled in place and returned.
    """
    _array(tensor, "ones")[...] = 1
    return tensor
