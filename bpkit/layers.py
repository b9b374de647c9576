"""Layers with explicit forward and backward passes.

Every layer follows one pattern: ``forward`` checks its input (one call to
``bpkit._checks``), caches what ``backward`` needs and returns the output;
``backward(grad_output)`` takes back what forward cached (one checking call again), returns
the gradient with respect to the input and adds (``+=``) the gradients of its parameters
into ``Parameter.grad``. The rest of each method is its formula, as the notebooks write it.
Neither pass modifies the arrays it is given. Layers keep the dtype they are given: a
float32 input gives a float32 output (layers with parameters need the parameters in the
same dtype: ``model.astype(np.float32)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bpkit import _checks, _numerics
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
        dtype = _checks.float_dtype(dtype, where)
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

    def _where(self) -> str:  # errors leave out bias=...
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _checks.layer_input(self, x, self.in_features, ndim=2, like=self.weight.data)
        self._x = x
        out = x @ self.weight.data.T
        if self.bias is not None:
            out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = _checks.cached(self, self._x, grad_output, self.out_features)
        self.weight.grad += grad_output.T @ x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
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
        x = _checks.layer_input(self, x)
        self._x = x
        return np.maximum(x, 0)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = _checks.cached(self, self._x, grad_output)
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
        self.negative_slope = _checks.number(negative_slope, "negative_slope", "LeakyReLU")
        self._x: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _checks.layer_input(self, x)
        self._x = x
        return np.where(x > 0, x, x * self.negative_slope)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = _checks.cached(self, self._x, grad_output)
        return np.where(x > 0, grad_output, grad_output * self.negative_slope)

    def _clear_cache(self) -> None:
        self._x = None


class Sigmoid(Module):
    """Logistic sigmoid, elementwise: y = 1 / (1 + exp(-x)).

    Shape:
        input (*) -> output (*), the same shape.

    Backward:
        dx = dy * y * (1 - y), from the cached output.

    The sigmoid itself is ``bpkit._numerics.sigmoid``, written so that no exponential ever
    overflows: sigmoid(-1000) is 0 and sigmoid(1000) is 1, without warnings.
    """

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _checks.layer_input(self, x)
        self._out = _numerics.sigmoid(x)
        return self._out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = _checks.cached(self, self._out, grad_output)
        return grad_output * out * (1 - out)

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
        x = _checks.layer_input(self, x)
        self._out = np.tanh(x)
        return self._out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = _checks.cached(self, self._out, grad_output)
        return grad_output * (1 - out**2)

    def _clear_cache(self) -> None:
        self._out = None


class GELU(Module):
    """Gaussian error linear unit, elementwise: y = x * Phi(x), Phi the standard normal CDF.

    Shape:
        input (*) -> output (*), the same shape.

    Formula:
        "none": Phi(x) = (1 + erf(x / sqrt(2))) / 2;
        "tanh": Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (PyTorch's approximation).

    Backward:
        dx = dy * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi) (exact form), or the
        derivative of the tanh form: with u = sqrt(2/pi) (x + 0.044715 x^3),
        dx = dy * ((1 + tanh u) / 2 + x / 2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)).

    Phi comes from ``bpkit._numerics.normal_cdf`` (NumPy has no erf).
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _checks.layer_input(self, x)
        if self.approximate == "none":
            cdf = _numerics.normal_cdf(x)
            self._cache = (x, cdf)
            return x * cdf
        th = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
        self._cache = (x, th)
        return 0.5 * x * (1 + th)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x, cached = _checks.cached(self, self._cache, grad_output)
        if self.approximate == "none":
            cdf = cached
            return grad_output * (cdf + x * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi))
        th = cached
        d_inner = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2)
        return grad_output * (0.5 * (1 + th) + 0.5 * x * (1 - th**2) * d_inner)

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
        # (input, scaled mask) of the last forward; the mask is None when it was the identity
        self._cache: tuple[np.ndarray, np.ndarray | None] | None = None

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _checks.layer_input(self, x)
        if not self.training or self.p == 0:
            self._cache = (x, None)
            return x
        # Uniforms are drawn in float64 whatever x's dtype, so a seed gives the same mask.
        keep = self.rng.random(x.shape) >= self.p
        mask = keep.astype(x.dtype) / (1 - self.p)
        self._cache = (x, mask)
        return x * mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        _, mask = _checks.cached(self, self._cache, grad_output)
        if mask is None:
            return grad_output
        return grad_output * mask

    def _clear_cache(self) -> None:
        self._cache = None


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
        dtype = _checks.float_dtype(dtype, where)
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
        x = _checks.batchnorm_input(self, x)
        use_batch = self.training or self.running_mean is None
        if use_batch:
            mean, var = x.mean(axis=0), x.var(axis=0)
            if self.training and self.running_mean is not None:
                n, m = x.shape[0], self.momentum
                self.running_mean[...] = (1 - m) * self.running_mean + m * mean
                self.running_var[...] = (1 - m) * self.running_var + m * var * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = (x - mean) * inv_std
        self._cache = (xhat, inv_std, use_batch)
        if not self.affine:
            return xhat.copy()
        return self.weight.data * xhat + self.bias.data

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        xhat, inv_std, use_batch = _checks.cached(self, self._cache, grad_output)
        scale = inv_std
        if self.affine:
            self.weight.grad += (grad_output * xhat).sum(axis=0)
            self.bias.grad += grad_output.sum(axis=0)
            scale = self.weight.data * inv_std
        if not use_batch:
            return scale * grad_output
        dy = grad_output
        return scale * (dy - dy.mean(axis=0) - xhat * (dy * xhat).mean(axis=0))

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
        dtype = _checks.float_dtype(dtype, where)
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
        weight = self.weight.data if self.weight is not None else None
        x = _checks.layer_input(self, x, self.normalized_shape[0], like=weight)
        mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = (x - mean) * inv_std
        self._cache = (xhat, inv_std)
        if self.weight is None:
            return xhat.copy()
        return self.weight.data * xhat + self.bias.data

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        xhat, inv_std = _checks.cached(self, self._cache, grad_output)
        dxhat = grad_output
        if self.weight is not None:
            samples = tuple(range(xhat.ndim - 1))  # every axis but the last
            self.weight.grad += (grad_output * xhat).sum(axis=samples)
            self.bias.grad += grad_output.sum(axis=samples)
            dxhat = grad_output * self.weight.data
        mean_dxhat = dxhat.mean(axis=-1, keepdims=True)
        return inv_std * (dxhat - mean_dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))

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
        self._cache: tuple[np.ndarray, tuple[int, ...]] | None = None  # (output, input shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, start, end = _checks.flatten_input(self, x)  # start, end as indices >= 0
        merged = math.prod(x.shape[start : end + 1])
        out = x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1 :])
        self._cache = (out, x.shape)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        _, in_shape = _checks.cached(self, self._cache, grad_output)
        return grad_output.reshape(in_shape)

    def _clear_cache(self) -> None:
        self._cache = None


class Identity(Module):
    """Returns its input unchanged (a placeholder layer).

    Shape:
        input (*) -> output (*), the same array.
    """

    def __init__(self) -> None:
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = _checks.layer_input(self, x)
        return self._x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        _checks.cached(self, self._x, grad_output)
        return grad_output

    def _clear_cache(self) -> None:
        self._x = None
