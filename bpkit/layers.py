"""Layers with explicit forward and backward passes.

Every layer follows one pattern: ``forward`` checks its input, caches what ``backward``
needs and returns the output; ``backward(grad_output)`` returns the gradient with respect
to the input and adds (``+=``) the gradients of its parameters into ``Parameter.grad``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.module import Module, Parameter

__all__ = ["Linear"]


def _as_rng(rng: Any, where: str) -> np.random.Generator:
    """Accept a Generator or an int seed; ``None`` gives a fresh, unseeded generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {rng!r}")


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
        rng = _as_rng(rng, where)
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
        x = _checks.float_input(x, self._where())
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise _checks.shape_error(self._where(), f"(N, {self.in_features})", x.shape)
        self._x = x
        out = x @ self.weight.data.T
        if self.bias is not None:
            out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._x
        if x is None:
            raise RuntimeError(f"{self._where()}.backward called before forward")
        if grad_output.shape != (x.shape[0], self.out_features):
            raise _checks.shape_error(
                f"{self._where()}.backward",
                f"{(x.shape[0], self.out_features)} (the output's shape)",
                grad_output.shape,
                "grad_output",
            )
        self.weight.grad += grad_output.T @ x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data

    def _clear_cache(self) -> None:
        self._x = None
