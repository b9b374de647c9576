"""Small input checks shared by the engine: each error names the object at fault."""

from __future__ import annotations

from typing import Any

import numpy as np


def float_input(x: Any, where: str, what: str = "input") -> np.ndarray:
    """Return ``x`` as a floating-point ndarray, or raise naming ``where``.

    Integer, boolean and object arrays are refused (not silently converted): a learner who
    passes integer pixels or labels by mistake should hear about it.
    """
    if not isinstance(x, np.ndarray):
        if isinstance(x, np.floating):  # a NumPy scalar such as np.float32(2): keep its dtype
            x = np.asarray(x)
        elif isinstance(x, (list, tuple, float)):
            x = np.asarray(x, dtype=np.float64)
        else:
            raise TypeError(
                f"{where} expected {what} to be a floating-point numpy array, "
                f"got {type(x).__name__}"
            )
    if x.dtype.kind != "f":
        raise TypeError(
            f"{where} expected {what} with a floating dtype (float32 or float64), got dtype "
            f"{x.dtype}; convert with .astype(np.float64)"
        )
    return x


def as_rng(rng: Any, where: str) -> np.random.Generator:
    """``rng`` as a Generator: as is, an int as a seed, ``None`` a fresh unseeded one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def shape_error(where: str, expected: str, got: tuple[int, ...], what: str = "input") -> ValueError:
    """A ValueError of the form ``<where> expected input of shape <expected>, got <got>``."""
    return ValueError(f"{where} expected {what} of shape {expected}, got {tuple(got)}")


def positive(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless it is finite and > 0."""
    v = _number(value, name, where)
    if not v > 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return v


def non_negative(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless it is finite and >= 0."""
    v = _number(value, name, where)
    if not v >= 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return v


def in_unit_interval(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless 0 <= value < 1."""
    v = _number(value, name, where)
    if not 0 <= v < 1:
        raise ValueError(f"{where}: {name} must be in [0, 1), got {value!r}")
    return v


def positive_int(value: Any, name: str, where: str) -> int:
    """``value`` as an int, or a ValueError unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def reduction(value: Any, where: str) -> str:
    """Validate a loss's ``reduction`` argument."""
    if value not in ("mean", "sum"):
        raise ValueError(f"{where}: reduction must be 'mean' or 'sum', got {value!r}")
    return value


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return v


# -- data checks shared by data, train and plot ------------------------------------------------


def paired(X: Any, y: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` as arrays with the same number of rows, or a ValueError naming ``where``.

    Shape:
        X (N, ...), y (N, ...) -> the same arrays (``np.asarray``, nothing copied).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where} expected arrays with a sample axis, got shapes {X.shape} "
                         f"and {y.shape}")
    if len(X) != len(y):
        raise ValueError(
            f"{where}: X and y must have the same number of rows, got X {X.shape} and "
            f"y {y.shape}"
        )
    return X, y


def class_labels(y: Any, where: str, what: str) -> np.ndarray:
    """``y`` as integer class labels >= 0, or an error naming ``where`` and ``what``.

    Shape:
        labels (N,), a column (N, 1) or scores (N, C) (argmax) -> (N,) int64; booleans
        count as 0/1, floats must hold whole numbers.
    """
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] > 1:
        a = a.argmax(axis=1)
    a = a.reshape(-1)
    if a.dtype.kind == "b":
        a = a.astype(np.int64)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{where} expected {what} to hold integer class labels, got {a[:5]}")
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{where} expected {what} to hold integer class labels, got {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{where} expected {what} >= 0, got {int(a.min())}")
    return a.astype(np.int64)
