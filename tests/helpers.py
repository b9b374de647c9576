"""Numerical-gradient helpers for the engine tests (independent of bpkit.gradcheck)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "upstream"]


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """d f() / d x by fourth-order central differences, perturbing ``x`` in place.

    Shape:
        x (*) -> gradient (*).

    Formula:
        (-f(x + 2h) + 8 f(x + h) - 8 f(x - h) + f(x - 2h)) / (12 h), entry by entry; the
        truncation error is O(h^4), so h = 1e-3 keeps both it and rounding near 1e-12.
        Functions with kinks must keep every input at least 2h away from them.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            x[idx] = old + step
            values.append(float(f()))
        x[idx] = old
        grad[idx] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-4) -> float:
    """Largest elementwise relative error |a - b| / (|a| + |b|).

    Entries smaller than ``floor`` times the largest entry are judged against that floor
    (a gradient entry that happens to be ~0 cannot have a meaningful relative error).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    size = np.abs(a) + np.abs(b)
    if a.size == 0 or size.max() == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(size, floor * size.max())))


def upstream(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random upstream gradient with entries of size 0.5 to 1.5 and random signs."""
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
