"""The Playground's data sets, input features and settings, with their checks.

Everything the Playground's controls can be set to is listed here in explicit tables
(data sets, features, activations, optimisers, learning and regularisation rates), so a
setup read from JSON is checked against the same lists the controls offer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bpkit._checks import as_rng
from bpkit.data import make_blobs, make_checkerboard, make_circles, make_moons, make_sine, make_xor
from bpkit.layers import Identity, ReLU, Sigmoid, Tanh
from bpkit.module import Module, Parameter
from bpkit.optim import SGD, Adam, Optimizer

__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION_SETS",
    "DATASET_LABELS",
    "FEATURES",
    "FEATURE_LABELS",
    "LEARNING_RATES",
    "MAX_CLASSES",
    "MAX_LAYERS",
    "MAX_UNITS",
    "N_SAMPLES",
    "OPTIMIZERS",
    "REGRESSION_SETS",
    "REGULARIZATIONS",
    "REG_RATES",
    "SCALE",
    "check_custom",
    "check_settings",
    "choice",
    "int_in",
    "make_playground_data",
]

N_SAMPLES = 400  # points per built-in data set
SCALE = 2.5  # built-in sets fill about [-2.5, 2.5]^2
MAX_LAYERS, MAX_UNITS = 6, 16
MAX_CLASSES = 10  # class colours available
LEARNING_RATES = (1e-5, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REG_RATES = (0.0, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)

#: Input features: name -> function of the 2-D points X (N, 2) giving one column (N,).
FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "x1": lambda X: X[:, 0],
    "x2": lambda X: X[:, 1],
    "x1^2": lambda X: X[:, 0] ** 2,
    "x2^2": lambda X: X[:, 1] ** 2,
    "x1*x2": lambda X: X[:, 0] * X[:, 1],
    "sin x1": lambda X: np.sin(X[:, 0]),
    "sin x2": lambda X: np.sin(X[:, 1]),
}
FEATURE_LABELS = {"x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
                  "sin x1": "sin x₁", "sin x2": "sin x₂"}

#: Activations: config name -> (label, layer class).
ACTIVATIONS: dict[str, tuple[str, type[Module]]] = {
    "relu": ("ReLU", ReLU), "tanh": ("Tanh", Tanh), "sigmoid": ("Sigmoid", Sigmoid),
    "linear": ("Linear", Identity),
}


def _sgd(params: list[Parameter], lr: float) -> Optimizer:
    return SGD(params, lr=lr)


def _momentum(params: list[Parameter], lr: float) -> Optimizer:
    return SGD(params, lr=lr, momentum=0.9)


def _adam(params: list[Parameter], lr: float) -> Optimizer:
    return Adam(params, lr=lr)


#: Optimisers: config name -> (label, function making one from the parameters and lr).
OPTIMIZERS: dict[str, tuple[str, Callable[[list[Parameter], float], Optimizer]]] = {
    "sgd": ("SGD", _sgd), "momentum": ("SGD + momentum 0.9", _momentum), "adam": ("Adam", _adam),
}
REGULARIZATIONS = {"none": "None", "l1": "L1", "l2": "L2"}
CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral", "moons", "checkerboard")
REGRESSION_SETS = ("plane", "sine")
DATASET_LABELS = {"circle": "Circle", "xor": "Exclusive or", "gauss": "Gaussian",
                   "spiral": "Spiral", "moons": "Moons", "checkerboard": "Checkerboard",
                   "plane": "Plane (regression)", "sine": "Sine (regression)",
                   "custom": "Your data"}


def make_playground_data(
    name: str, noise: float = 0.0, n_samples: int = N_SAMPLES,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One of the Playground's data sets, filling about [-2.5, 2.5]^2.

    Shape:
        X (n_samples, 2) float64; y (n_samples,) int64 in {0, 1} for the classification
        sets, float64 for "plane" (y = (x1 + x2) / 5) and "sine" (y = sin(1.26 x1)).

    ``noise`` in [0, 0.5] (the noise slider / 100) scales each set's own noise: the circle's
    radius, the moons', XOR's and the spiral's coordinates, the blobs' spread, the
    regression targets (standard deviation ``noise``). The spiral is TensorFlow
    Playground's: two arms of 1.75 turns, radius r = 2.5 i / m, angle 3.5 pi i / m (+ pi).
    """
    where = "make_playground_data"
    if name not in CLASSIFICATION_SETS + REGRESSION_SETS:
        raise ValueError(f"{where} expected name to be one of "
                         f"{list(CLASSIFICATION_SETS + REGRESSION_SETS)}, got {name!r}")
    noise = float(noise)
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"{where} expected noise in [0, 0.5], got {noise!r}")
    gen = as_rng(rng, where)
    n = int(n_samples)
    if name == "circle":
        X, y = make_circles(n, noise=0.4 * noise, factor=0.5, rng=gen)
        return X * SCALE, y
    if name == "xor":
        X, y = make_xor(n, noise=0.5 * noise, rng=gen)
        return X * SCALE, y
    if name == "gauss":
        return make_blobs(n, centers=np.array([[1.2, 1.2], [-1.2, -1.2]]),
                          noise=0.35 + 1.3 * noise, rng=gen)
    if name == "spiral":  # TensorFlow Playground's: two arms of 1.75 turns each
        r = np.linspace(0.0, 1.0, n // 2 + n % 2)
        arms = [np.column_stack([r * np.sin(t), r * np.cos(t)])
                for t in (3.5 * np.pi * r, 3.5 * np.pi * r + np.pi)]
        X = np.concatenate([arms[0], arms[1][: n // 2]]) * SCALE
        y = np.repeat([0, 1], [len(r), n // 2])
        order = gen.permutation(n)
        return (X + 0.5 * noise * gen.standard_normal(X.shape))[order], y[order]
    if name == "moons":
        X, y = make_moons(n, noise=0.4 * noise, rng=gen)
        return (X - np.array([0.5, 0.25])) * 1.6, y
    if name == "checkerboard":
        X, y = make_checkerboard(n, n_tiles=4, noise=0.3 * noise, rng=gen)
        return X * SCALE, y
    if name == "plane":
        X = gen.uniform(-SCALE, SCALE, size=(n, 2))
        return X, (X[:, 0] + X[:, 1]) / (2 * SCALE) + noise * gen.standard_normal(n)
    x, y = make_sine(n, noise=noise, rng=gen)  # "sine": x in [-pi, pi]
    X = np.column_stack([x[:, 0] * SCALE / math.pi, gen.uniform(-SCALE, SCALE, size=n)])
    return X, y[:, 0]


def check_custom(X: Any, y: Any, task: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Check custom data; returns (X, y, task), X float64, y int64 or float64 of shape (N,).

    Shape:
        X (N, 2) float, N >= 4, finite; y (N,) or (N, 1): class indices 0..9 (at least two
        classes) for classification, finite reals for regression. ``task=None`` infers
        classification from integer y and regression from float y.
    """
    if X is None or y is None:
        raise ValueError("Playground expected both X and y for custom data, got "
                         f"{'X' if y is None else 'y'} only")
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] != 2:
        got = (f"{X.dtype} array of shape {X.shape}" if isinstance(X, np.ndarray)
               else type(X).__name__)
        raise ValueError(f"Playground expected X to be a float array of shape (N, 2), "
                         f"got {got}")
    if len(X) < 4 or not np.all(np.isfinite(X)):
        raise ValueError(f"Playground expected X to hold at least 4 finite points, got "
                         f"{len(X)} points{'' if np.all(np.isfinite(X)) else ' with NaN/inf'}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (len(X),) or y.dtype.kind not in "iuf":
        raise ValueError(f"Playground expected y to be a numeric array of shape ({len(X)},) "
                         f"matching X, got {y.dtype} array of shape {y.shape}")
    if task is None:
        task = "classification" if y.dtype.kind in "iu" else "regression"
    if task == "classification":
        if y.dtype.kind not in "iu":
            raise ValueError(f"Playground expected y to hold integer class indices for "
                             f"classification, got dtype {y.dtype} (pass task='regression' "
                             "for real targets)")
        if y.min() < 0 or y.max() >= MAX_CLASSES or len(np.unique(y)) < 2:
            raise ValueError(f"Playground expected y to hold class indices 0..{MAX_CLASSES - 1} "
                             f"with at least two classes, got values {np.unique(y)[:12]}")
        return X.astype(np.float64), y.astype(np.int64), task
    if task != "regression":
        raise ValueError(f"Playground expected task to be 'classification' or 'regression', "
                         f"got {task!r}")
    if not np.all(np.isfinite(y)):
        raise ValueError("Playground expected y to hold finite targets, got NaN or inf")
    return X.astype(np.float64), y.astype(np.float64), task


def choice(value: Any, allowed: Sequence[Any], name: str) -> Any:
    """``value`` if it is one of ``allowed``, else a ValueError naming ``name``."""
    if value not in allowed:
        raise ValueError(f"Playground expected {name} to be one of {list(allowed)}, "
                         f"got {value!r}")
    return value


def int_in(value: Any, low: int, high: int, name: str) -> int:
    """``value`` as an int if it is an integer in [low, high], else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        low <= value <= high
    ):
        raise ValueError(f"Playground expected {name} to be an integer in [{low}, {high}], "
                         f"got {value!r}")
    return int(value)


def check_settings(
    dataset: str = "circle", *, X: Any = None, y: Any = None, task: str | None = None,
    seed: int = 0, noise: int = 0, ratio: int = 50, batch_size: int = 10,
    features: Sequence[str] = ("x1", "x2"), hidden: Sequence[int] = (4, 2),
    activation: str = "tanh", lr: float = 0.03, optimizer: str = "sgd",
    regularization: str = "none", reg_rate: float = 0.0, epochs_per_frame: int = 1,
    show_test: bool = True,
) -> None:
    """Raise a ValueError naming the setting, as ``Playground(...)`` would, for bad settings."""
    if X is not None or y is not None:
        check_custom(X, y, task)
    else:
        choice(dataset, CLASSIFICATION_SETS + REGRESSION_SETS, "dataset")
        wanted = "regression" if dataset in REGRESSION_SETS else "classification"
        if task is not None and task != wanted:
            raise ValueError(f"Playground expected task {wanted!r} for the data set "
                             f"{dataset!r}, got {task!r}")
    if not isinstance(features, (list, tuple)) or not features:
        raise ValueError("Playground expected at least one feature, got none")
    for f in features:
        choice(f, list(FEATURES), "each feature")
    if not isinstance(hidden, (list, tuple)) or len(hidden) > MAX_LAYERS:
        raise ValueError(f"Playground expected a list of at most {MAX_LAYERS} hidden "
                         f"layer sizes, got {hidden!r}")
    for h in hidden:
        int_in(h, 1, MAX_UNITS, "each hidden layer's units")
    choice(activation, list(ACTIVATIONS), "activation")
    choice(lr, LEARNING_RATES, "lr")
    choice(optimizer, list(OPTIMIZERS), "optimizer")
    choice(regularization, list(REGULARIZATIONS), "regularization")
    choice(reg_rate, REG_RATES, "reg_rate")
    int_in(seed, 0, 10**6, "seed")
    int_in(noise, 0, 50, "noise")
    int_in(ratio, 10, 90, "ratio")
    int_in(batch_size, 1, 30, "batch_size")
    int_in(epochs_per_frame, 1, 50, "epochs_per_frame")
    if not isinstance(show_test, bool):
        raise ValueError(f"Playground expected show_test to be True or False, got "
                         f"{show_test!r}")
