"""Layers with explicit forward and backward passes.

Every layer follows one pattern: ``forward`` checks its input, caches what ``backward``
needs and returns the output; ``backward(grad_output)`` returns the gradient with respect
to the input and adds (``+=``) the gradients of its parameters into ``Parameter.grad``.
Neither pass modifies the arrays it is given. Layers keep the dtype they are given: a
float32 input gives a float32 output (layers with parameters need the parameters in the
same dtype: ``model.astype(np.float32)``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.module import Module, Parameter

__all__ = [
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
]


# -- shared helpers ------------------------------------------------------------------------
def _name(layer: Module) -> str:
    """How errors name a layer: its repr, e.g. ``LeakyReLU(negative_slope=0.01)``."""
    return f"{type(layer).__name__}({layer.extra_repr()})"


def _input(x: Any, where: Any) -> np.ndarray:
    """``x`` if it is a floating-point array (the fast, common case), else checked.

    ``where`` is a callable giving the layer's name, so the name is only built on error.
    """
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x
    return _checks.float_input(x, where())


@functools.lru_cache(maxsize=64)
def _constant(shape: tuple[int, ...], value: float, dtype: np.dtype) -> np.ndarray:
    """A cached, read-only array of ``shape`` filled with ``value`` (one per shape and dtype).

    Two uses, each faster than the obvious NumPy call: ``_constant((N,), 1, dtype) @ dy``
    sums ``dy`` over the batch in one BLAS call (several times faster than
    ``dy.sum(axis=0)`` for narrow layers), and ``np.maximum(x, _constant(x.shape[-1:], 0,
    x.dtype))`` is ReLU, about twice as fast in NumPy 2.4 as against the scalar 0, with the
    same result (NaN stays NaN).
    """
    array = np.full(shape, value, dtype)
    array.flags.writeable = False
    return array


def _float_dtype(dtype: Any, where: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, or a TypeError naming the layer unless it is floating."""
    result = np.dtype(dtype)
    if result.kind != "f":
        raise TypeError(
            f"{where}: dtype must be a floating dtype such as np.float32 or np.float64, "
            f"got {result}"
        )
    return result


def _dtype_error(
    x: np.ndarray, reference: np.ndarray, where: str, what: str = "parameters"
) -> TypeError:
    """Mixing dtypes is refused: float32 data in a float64 layer would silently upcast."""
    dtype = x.dtype.newbyteorder("=")  # float64 for big-endian '>f8' data too
    if dtype == reference.dtype:  # only the byte order differs
        return TypeError(
            f"{where} has {reference.dtype} {what} but got {dtype} input in non-native byte "
            f"order ({x.dtype.str!r}); convert the input with x.astype(np.{reference.dtype})"
        )
    return TypeError(
        f"{where} has {reference.dtype} {what} but got {dtype} input; convert the "
        f"input (x.astype(np.{reference.dtype})) or the model (model.astype(np.{dtype}))"
    )


def _grad_error(where: str, grad_output: Any, shape: tuple[int, ...]) -> Exception:
    """The error for a ``grad_output`` that is not an array of the output's shape."""
    if not isinstance(grad_output, np.ndarray):
        return TypeError(
            f"{where}.backward expected grad_output to be a numpy array of shape {shape}, "
            f"got {type(grad_output).__name__}"
        )
    return _checks.shape_error(
        f"{where}.backward", f"{shape} (the output's shape)", grad_output.shape, "grad_output"
    )


def _not_run(where: str) -> RuntimeError:
    return RuntimeError(f"{where}.backward called before forward")


# -- Linear --------------------------------------------------------------------------------
class Linear(Module):
    """A fully connected layer: y = x W^T + b.

    Shape:
        input (N, in_features) -> output (N, out_features);
        ``weight`` (out_features, in_features), ``bias`` (out_features,).

    Backward:
        dx = dy W,   dW += dy^T x,   db += sum_n dy[n].

    Initialisation is PyTorch's: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)),
    drawn from ``rng``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        where = f"Linear(in_features={in_features!r}, out_features={out_features!r})"
        self.in_features = _checks.positive_int(in_features, "in_features", where)
        self.out_features = _checks.positive_int(out_features, "out_features", where)
        rng = _checks.as_rng(rng, where)
        dtype = _float_dtype(dtype, where)
        bound = 1.0 / math.sqrt(self.in_features)
        w = rng.uniform(-bound, bound, size=(self.out_features, self.in_features))
        self.weight = Parameter(w.astype(dtype), "weight")
        if bias:
            b = rng.uniform(-bound, bound, size=(self.out_features,))
            self.bias: Parameter | None = Parameter(b.astype(dtype), "bias")
        else:
            self.bias = None
        self._x: np.ndarray | None = None

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )

    def _where(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, self._where)
        w = self.weight.data
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise _checks.shape_error(self._where(), f"(N, {self.in_features})", x.shape)
        if x.dtype != w.dtype:
            raise _dtype_error(x, w, self._where())
        self._x = x
        out = x @ w.T
        if self.bias is not None:
            out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._x
        if x is None:
            raise _not_run(self._where())
        shape = (x.shape[0], self.out_features)
        if getattr(grad_output, "shape", None) != shape:
            raise _grad_error(self._where(), grad_output, shape)
        self.weight.add_matmul(grad_output.T, x)  # weight.grad += grad_output.T @ x
        if self.bias is not None:
            # bias.grad += grad_output summed over the batch (as ones @ grad_output)
            self.bias.add_matmul(_constant((x.shape[0],), 1, x.dtype), grad_output)
        return grad_output @ self.weight.data

    def _clear_cache(self) -> None:
        self._x = None


# -- activations ---------------------------------------------------------------------------
class ReLU(Module):
    """Rectified linear unit, elementwise: y = max(x, 0).

    Shape:
        input (*) -> output (*), the same shape.

    Backward:
        dx = dy * [x > 0]   (the gradient at exactly 0 is taken as 0, like PyTorch).
    """

    def __init__(self) -> None:
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        self._x = x
        return np.maximum(x, _constant(x.shape[-1:], 0, x.dtype))  # max(x, 0), see _constant

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._x
        if x is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != x.shape:
            raise _grad_error(_name(self), grad_output, x.shape)
        return grad_output * (x > 0)

    def _clear_cache(self) -> None:
        self._x = None


class LeakyReLU(Module):
    """Leaky ReLU, elementwise: y = x if x > 0 else negative_slope * x.

    Shape:
        input (*) -> output (*), the same shape.

    Backward:
        dx = dy if x > 0 else negative_slope * dy.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = _checks._number(negative_slope, "negative_slope", "LeakyReLU")
        self._x: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        self._x = x
        return np.where(x > 0, x, x * self.negative_slope)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._x
        if x is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != x.shape:
            raise _grad_error(_name(self), grad_output, x.shape)
        return np.where(x > 0, grad_output, grad_output * self.negative_slope)

    def _clear_cache(self) -> None:
        self._x = None


class Sigmoid(Module):
    """Logistic sigmoid, elementwise: y = 1 / (1 + exp(-x)).

    Shape:
        input (*) -> output (*), the same shape.

    Backward:
        dx = dy * y * (1 - y), from the cached output.

    Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0 with e = exp(-|x|), so no
    exponential ever overflows: sigmoid(-1000) is 0 and sigmoid(1000) is 1, without warnings.
    """

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        e = np.exp(-np.abs(x))  # in (0, 1]
        s = 1 / (1 + e)  # sigmoid(|x|)
        e *= s  # sigmoid(-|x|) = e / (1 + e)
        out = np.where(x >= 0, s, e)
        self._out = out
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = self._out
        if out is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != out.shape:
            raise _grad_error(_name(self), grad_output, out.shape)
        return grad_output * (out * (1 - out))

    def _clear_cache(self) -> None:
        self._out = None


class Tanh(Module):
    """Hyperbolic tangent, elementwise: y = tanh(x).

    Shape:
        input (*) -> output (*), the same shape.

    Backward:
        dx = dy * (1 - y^2), from the cached output.
    """

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        self._out = np.tanh(x)
        return self._out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = self._out
        if out is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != out.shape:
            raise _grad_error(_name(self), grad_output, out.shape)
        return grad_output * (1 - out * out)

    def _clear_cache(self) -> None:
        self._out = None


# erfc(z) = exp(-z^2) * t * R(u) for z >= 0, with t = 4 / (4 + z) and u = (4 - z) / (4 + z) in
# (-1, 1]. R is a degree-22 polynomial (highest power first): our Chebyshev fit of
# erfc(z) exp(z^2) / t over all z >= 0, made with 40-digit arithmetic: with
# t = (u + 1) / 2, z = 4 / t - 4, f(u) = erfc(z) exp(z^2) / t and f(-1) = 1 / (4 sqrt(pi)),
# mpmath.chebyfit(f, [-1, 1], 23) reports a fit error of 1.4e-17. One polynomial for every
# z keeps the evaluation free of masks.
_ERFC_FIT = (
    3.130423070529455e-10, -6.617942512486173e-11, -3.880515697903128e-09,
    -2.0691219034054744e-10, 3.077901855639743e-08, 1.8994402187265254e-08,
    -2.1111037846283067e-07, -3.562393200959625e-07, 1.1732609498291667e-06,
    4.715370444493941e-06, -9.086395093590862e-07, -4.420327118929924e-05,
    -0.00011376321237622333, 7.023973429864022e-05, 0.0015280139205288011, 0.006592513332237486,
    0.019095378726752158, 0.04350273431022892, 0.08271289696952584, 0.13521345782829913,
    0.19330217556630902, 0.2441371822702206, 0.27399891525012277,
)  # fmt: skip


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt(2)) / 2, elementwise; absolute error ~3e-16 in float64.

    Shape:
        input (*) -> output (*), same dtype.

    NumPy has no erf, so erfc(z), z = |x| / sqrt(2), comes from ``_ERFC_FIT``; then
    Phi(x) = 1 - erfc(z) / 2 for x > 0 and erfc(z) / 2 otherwise (so tiny values of Phi far
    in the left tail keep their relative accuracy).
    """
    z = np.abs(x, out=np.empty_like(x))  # an array even for 0-d x, for the out= below
    z *= 1 / math.sqrt(2)
    denominator = z + 4
    u = 8 / denominator
    u -= 1  # (4 - z) / (4 + z), written so that z = inf gives -1
    acc = np.full_like(u, _ERFC_FIT[0])
    for c in _ERFC_FIT[1:]:
        acc *= u
        acc += c
    acc *= 2 / denominator  # t / 2 with t = 4 / (4 + z): half of erfc(z) / exp(-z^2)
    z *= z
    np.negative(z, out=z)
    acc *= np.exp(z, out=z)  # erfc(z) / 2
    return np.where(x > 0, 1 - acc, acc)


class GELU(Module):
    """Gaussian error linear unit, elementwise: y = x * Phi(x), Phi the standard normal CDF.

    Shape:
        input (*) -> output (*), the same shape.

    Formula:
        "none": Phi(x) = (1 + erf(x / sqrt(2))) / 2;
        "tanh": Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (PyTorch's approximation).

    Backward:
        dx = dy * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi) (exact form), or the
        derivative of the tanh form.
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        if self.approximate == "none":
            phi_cdf = _normal_cdf(x)
            self._cache = (x, phi_cdf)
            return x * phi_cdf
        inner = x * x
        inner *= 0.044715
        inner += 1
        inner *= math.sqrt(2 / math.pi) * x
        th = np.tanh(inner)
        self._cache = (x, th)
        out = th + 1
        out *= 0.5 * x
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise _not_run(_name(self))
        x, cached = self._cache
        if getattr(grad_output, "shape", None) != x.shape:
            raise _grad_error(_name(self), grad_output, x.shape)
        if self.approximate == "none":
            local = np.exp(-0.5 * x * x)
            local *= x * (1 / math.sqrt(2 * math.pi))
            local += cached
        else:
            th = cached
            d_inner = x * x
            d_inner *= 3 * 0.044715
            d_inner += 1
            d_inner *= math.sqrt(2 / math.pi) * 0.5 * x
            local = 1 - th * th
            local *= d_inner
            local += 0.5 * (1 + th)
        local *= grad_output
        return local

    def _clear_cache(self) -> None:
        self._cache = None


# -- regularisation and normalisation ------------------------------------------------------
class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability p and scale by 1/(1-p).

    Shape:
        input (*) -> output (*), the same shape.

    Formula:
        train: y = x * m / (1 - p), m ~ Bernoulli(1 - p) elementwise, drawn from ``rng``;
        eval: y = x (identity), so the expected value is the same in both modes.

    Backward:
        dx = dy * m / (1 - p) with the mask of the last forward (dy in eval).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        self.p = _checks.in_unit_interval(p, "p", "Dropout")
        self.rng = _checks.as_rng(rng, f"Dropout(p={p!r})")
        self._shape: tuple[int, ...] | None = None
        self._mask: np.ndarray | None = None  # None: the last forward was the identity

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        self._shape = x.shape
        if not self.training or self.p == 0:
            self._mask = None
            return x
        # Uniforms are drawn in float64 whatever x's dtype, so a seed gives the same mask.
        keep = self.rng.random(x.shape) >= self.p
        mask = keep.astype(x.dtype)
        mask *= 1 / (1 - self.p)
        self._mask = mask
        return x * mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != self._shape:
            raise _grad_error(_name(self), grad_output, self._shape)
        if self._mask is None:
            return grad_output
        return grad_output * self._mask

    def _clear_cache(self) -> None:
        self._shape = None
        self._mask = None


class BatchNorm1d(Module):
    """Batch normalisation over the batch dimension, one mean and variance per feature.

    Shape:
        input (N, num_features) -> output (N, num_features); ``weight``, ``bias``,
        ``running_mean``, ``running_var`` (num_features,).

    Formula:
        train: x_hat = (x - mean_n x) / sqrt(var_n x + eps) (biased variance), and
        running = (1 - momentum) * running + momentum * batch statistic (unbiased variance);
        eval: x_hat = (x - running_mean) / sqrt(running_var + eps);   y = weight * x_hat + bias.

    Backward (train; eval is the affine map):
        dx = weight / sqrt(var + eps) * (dy - mean_n dy - x_hat * mean_n(dy * x_hat)),
        dweight += sum_n dy * x_hat,   dbias += sum_n dy.

    With ``track_running_stats=False`` there are no running statistics and batch statistics
    are used in eval mode too, so every batch needs more than one sample (like PyTorch).
    """

    buffers = ("running_mean", "running_var")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        where = f"BatchNorm1d({num_features!r})"
        self.num_features = _checks.positive_int(num_features, "num_features", where)
        self.eps = _checks.positive(eps, "eps", where)
        self.momentum = _checks.non_negative(momentum, "momentum", where)
        if self.momentum > 1:
            raise ValueError(f"{where}: momentum must be in [0, 1], got {momentum!r}")
        dtype = _float_dtype(dtype, where)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype), "weight") if affine else None
        self.bias = Parameter(np.zeros(c, dtype), "bias") if affine else None
        if self.track_running_stats:
            self.running_mean: np.ndarray | None = np.zeros(c, dtype)
            self.running_var: np.ndarray | None = np.ones(c, dtype)
        else:
            self.buffers = ()  # nothing to save (PyTorch keeps no running stats either)
            self.running_mean = self.running_var = None
        self._cache: tuple[np.ndarray, np.ndarray, bool] | None = None

    def extra_repr(self) -> str:
        text = f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
        if not self.affine:
            text += ", affine=False"
        if not self.track_running_stats:
            text += ", track_running_stats=False"
        return text

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise _checks.shape_error(_name(self), f"(N, {self.num_features})", x.shape)
        state = self.weight.data if self.affine else self.running_mean
        if state is not None and x.dtype != state.dtype:
            what = "parameters" if self.affine else "running statistics"
            raise _dtype_error(x, state, _name(self), what)
        use_batch = self.training or self.running_mean is None
        if use_batch:
            n = x.shape[0]
            if n < 2:  # one sample normalises to 0: the output would be the bias (PyTorch raises)
                raise ValueError(
                    f"{_name(self)} needs more than one sample per feature in training mode, "
                    f"got input of shape {x.shape}; call .eval() to use the running statistics"
                    if self.running_mean is not None else
                    f"{_name(self)} needs more than one sample per feature, got input of shape "
                    f"{x.shape}; with track_running_stats=False it normalises with batch "
                    "statistics in eval mode too"
                )
            mean = x.mean(axis=0)
            xc = x - mean
            var = np.mean(xc * xc, axis=0)
            if self.training and self.running_mean is not None:
                m = self.momentum
                self.running_mean *= 1 - m
                self.running_mean += m * mean
                self.running_var *= 1 - m
                self.running_var += (m * n / (n - 1)) * var
        else:
            xc = x - self.running_mean
            var = self.running_var
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = xc
        xhat *= inv_std  # xc is a fresh array: normalise it in place
        self._cache = (xhat, inv_std, use_batch)
        if not self.affine:
            return xhat.copy()
        out = xhat * self.weight.data
        out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise _not_run(_name(self))
        xhat, inv_std, use_batch = self._cache
        if getattr(grad_output, "shape", None) != xhat.shape:
            raise _grad_error(_name(self), grad_output, xhat.shape)
        g_sum = grad_output.sum(axis=0)
        gx_sum = (grad_output * xhat).sum(axis=0)
        scale = inv_std
        if self.affine:
            self.weight.grad += gx_sum
            self.bias.grad += g_sum
            scale = inv_std * self.weight.data
        if not use_batch:
            return grad_output * scale
        n = xhat.shape[0]
        dx = xhat * (gx_sum / n)
        np.subtract(grad_output, dx, out=dx)
        dx -= g_sum / n
        dx *= scale
        return dx

    def _clear_cache(self) -> None:
        self._cache = None


class LayerNorm(Module):
    """Layer normalisation over the last dimension, one mean and variance per sample.

    Shape:
        input (*, D) -> output (*, D) with D = normalized_shape; ``weight``, ``bias`` (D,).

    Formula:
        x_hat = (x - mean_d x) / sqrt(var_d x + eps) (biased variance),  y = weight * x_hat + bias.

    Backward:
        dx_hat = dy * weight,
        dx = (dx_hat - mean_d dx_hat - x_hat * mean_d(dx_hat * x_hat)) / sqrt(var + eps),
        dweight += sum over samples of dy * x_hat,   dbias += sum over samples of dy.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        where = f"LayerNorm({normalized_shape!r})"
        shape = normalized_shape
        if isinstance(shape, (tuple, list)):
            if len(shape) != 1:
                raise ValueError(
                    f"{where}: only normalisation over the last dimension is supported; pass "
                    f"an int or a 1-tuple, got {normalized_shape!r}"
                )
            shape = shape[0]
        d = _checks.positive_int(shape, "normalized_shape", where)
        dtype = _float_dtype(dtype, where)
        self.normalized_shape = (d,)
        self.eps = _checks.positive(eps, "eps", where)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(d, dtype), "weight") if elementwise_affine else None
        self.bias = Parameter(np.zeros(d, dtype), "bias") if elementwise_affine else None
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}"
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        d = self.normalized_shape[0]
        if x.ndim < 1 or x.shape[-1] != d:
            raise _checks.shape_error(_name(self), f"(*, {d})", x.shape)
        if self.weight is not None and x.dtype != self.weight.data.dtype:
            raise _dtype_error(x, self.weight.data, _name(self))
        xc = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(xc * xc, axis=-1, keepdims=True)
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = xc
        xhat *= inv_std
        self._cache = (xhat, inv_std)
        if self.weight is None:
            return xhat.copy()
        out = xhat * self.weight.data
        out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise _not_run(_name(self))
        xhat, inv_std = self._cache
        if getattr(grad_output, "shape", None) != xhat.shape:
            raise _grad_error(_name(self), grad_output, xhat.shape)
        if self.weight is not None:
            batch_axes = tuple(range(xhat.ndim - 1))
            self.weight.grad += (grad_output * xhat).sum(axis=batch_axes)
            self.bias.grad += grad_output.sum(axis=batch_axes)
            dxhat = grad_output * self.weight.data
        else:
            dxhat = grad_output
        dx = xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True)
        np.subtract(dxhat, dx, out=dx)
        dx -= dxhat.mean(axis=-1, keepdims=True)
        dx *= inv_std
        return dx

    def _clear_cache(self) -> None:
        self._cache = None


# -- shape plumbing ------------------------------------------------------------------------
class Flatten(Module):
    """Flatten dimensions ``start_dim`` .. ``end_dim`` into one; backward reshapes back.

    Shape:
        input (N, d1, ..., dk) -> output (N, d1 * ... * dk) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Flatten: {name} must be an int, got {value!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)
        self._shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # (input, output)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        nd = x.ndim
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < nd:
            raise ValueError(
                f"{_name(self)} cannot flatten dimensions {self.start_dim}..{self.end_dim} of an "
                f"input with {nd} dimension(s), shape {x.shape}"
            )
        merged = math.prod(x.shape[start : end + 1])
        out = x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1 :])
        self._shapes = (x.shape, out.shape)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shapes is None:
            raise _not_run(_name(self))
        in_shape, out_shape = self._shapes
        if getattr(grad_output, "shape", None) != out_shape:
            raise _grad_error(_name(self), grad_output, out_shape)
        return grad_output.reshape(in_shape)

    def _clear_cache(self) -> None:
        self._shapes = None


class Identity(Module):
    """Returns its input unchanged (a placeholder layer).

    Shape:
        input (*) -> output (*), the same array.
    """

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _input(x, lambda: _name(self))
        self._shape = x.shape
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise _not_run(_name(self))
        if getattr(grad_output, "shape", None) != self._shape:
            raise _grad_error(_name(self), grad_output, self._shape)
        return grad_output

    def _clear_cache(self) -> None:
        self._shape = None
