"""Input checks shared by the engine: each error names the object at fault.

Every layer and loss checks its input with one call to this module (``layer_input`` in
``forward``, ``cached`` in ``backward``, ``loss_cached`` in a loss's ``backward``, the
``*_target`` checks in a loss's ``forward``), so that the methods themselves read as their
formulas. Each check tries the common, valid case first and only builds an error message
when something is wrong.
"""

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
    v = number(value, name, where)
    if not v > 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return v


def non_negative(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless it is finite and >= 0."""
    v = number(value, name, where)
    if not v >= 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return v


def in_unit_interval(value: Any, name: str, where: str) -> float:
    """``value`` as a float, or a ValueError unless 0 <= value < 1."""
    v = number(value, name, where)
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


def number(value: Any, name: str, where: str) -> float:
    """``value`` as a float: a TypeError unless it is a real number, a ValueError unless finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return v


def float_dtype(dtype: Any, where: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, or a TypeError naming ``where`` unless it is floating."""
    result = np.dtype(dtype)
    if result.kind != "f":
        raise TypeError(
            f"{where}: dtype must be a floating dtype such as np.float32 or np.float64, "
            f"got {result}"
        )
    return result


# -- layers ------------------------------------------------------------------------------
def layer_input(
    layer: Any,
    x: Any,
    features: int | None = None,
    ndim: int | None = None,
    like: np.ndarray | None = None,
    holds: str = "parameters",
) -> np.ndarray:
    """``x`` checked for ``layer.forward``: a floating-point array that fits the layer.

    Shape:
        with ``features``: (*, features), or (N, features) when ``ndim`` is 2.

    ``like`` is an array of the layer (its weight, or its running statistics: ``holds``
    says which) whose dtype the input must have: float32 data in a float64 layer would be
    silently upcast. Errors name the layer by ``layer._where()``.
    """
    if (isinstance(x, np.ndarray) and x.dtype.kind == "f"
            and (features is None or (x.ndim >= 1 and x.shape[-1] == features
                                      and (ndim is None or x.ndim == ndim)))
            and (like is None or x.dtype == like.dtype)):
        return x
    where = layer._where()
    x = float_input(x, where)
    if features is not None and (x.ndim < 1 or x.shape[-1] != features
                                 or (ndim is not None and x.ndim != ndim)):
        expected = f"(N, {features})" if ndim == 2 else f"(*, {features})"
        raise shape_error(where, expected, x.shape)
    if like is not None and x.dtype != like.dtype:
        raise _dtype_error(x, like, where, holds)
    return x


def batchnorm_input(layer: Any, x: Any) -> np.ndarray:
    """``layer_input`` for a ``BatchNorm1d``, which also needs two samples for batch statistics.

    One sample normalises to 0, so the output would be the bias whatever the input
    (PyTorch raises too).
    """
    state = layer.weight.data if layer.affine else layer.running_mean
    x = layer_input(layer, x, layer.num_features, 2, state,
                    "parameters" if layer.affine else "running statistics")
    if x.shape[0] < 2 and (layer.training or layer.running_mean is None):
        raise ValueError(
            f"{layer._where()} needs more than one sample per feature in training mode, got "
            f"input of shape {x.shape}; call .eval() to use the running statistics"
            if layer.running_mean is not None else
            f"{layer._where()} needs more than one sample per feature, got input of shape "
            f"{x.shape}; with track_running_stats=False it normalises with batch statistics "
            "in eval mode too"
        )
    return x


def flatten_input(layer: Any, x: Any) -> tuple[np.ndarray, int, int]:
    """``x`` checked for ``Flatten.forward``, and its ``start_dim``, ``end_dim`` as indices >= 0."""
    x = layer_input(layer, x)
    nd = x.ndim
    start = layer.start_dim + nd if layer.start_dim < 0 else layer.start_dim
    end = layer.end_dim + nd if layer.end_dim < 0 else layer.end_dim
    if not 0 <= start <= end < nd:
        raise ValueError(
            f"{layer._where()} cannot flatten dimensions {layer.start_dim}..{layer.end_dim} of "
            f"an input with {nd} dimension(s), shape {x.shape}"
        )
    return x, start, end


def cached(layer: Any, cache: Any, grad_output: Any, features: int | None = None) -> Any:
    """``cache`` (what ``layer.forward`` kept) once ``grad_output`` is known to fit it.

    Shape:
        ``grad_output`` must have the output's shape: the shape of the cached array (of the
        cache's first element when it is a tuple), with the last dimension ``features`` if
        given (a ``Linear`` caches its input (N, in) and outputs (N, out)).

    A RuntimeError if forward has not run (``cache`` is None).
    """
    if cache is None:
        raise RuntimeError(f"{layer._where()}.backward called before forward")
    shape = (cache[0] if type(cache) is tuple else cache).shape
    if features is not None:
        shape = shape[:-1] + (features,)
    if getattr(grad_output, "shape", None) == shape:
        return cache
    where = f"{layer._where()}.backward"
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(f"{where} expected grad_output to be a numpy array of shape {shape}, "
                        f"got {type(grad_output).__name__}")
    raise shape_error(where, f"{shape} (the output's shape)", grad_output.shape, "grad_output")


def _dtype_error(x: np.ndarray, reference: np.ndarray, where: str, holds: str) -> TypeError:
    """Mixing dtypes is refused: float32 data in a float64 layer would silently upcast."""
    dtype = x.dtype.newbyteorder("=")  # float64 for big-endian '>f8' data too
    if dtype == reference.dtype:  # only the byte order differs
        return TypeError(
            f"{where} has {reference.dtype} {holds} but got {dtype} input in non-native byte "
            f"order ({x.dtype.str!r}); convert the input with x.astype(np.{reference.dtype})"
        )
    return TypeError(
        f"{where} has {reference.dtype} {holds} but got {dtype} input; convert the "
        f"input (x.astype(np.{reference.dtype})) or the model (model.astype(np.{dtype}))"
    )


# -- losses ------------------------------------------------------------------------------
def _predictions(loss: Any, pred: Any) -> np.ndarray:
    if isinstance(pred, np.ndarray) and pred.dtype.kind == "f" and pred.size:
        return pred
    pred = float_input(pred, type(loss).__name__, "predictions")
    if pred.size == 0:
        raise ValueError(f"{type(loss).__name__} got an empty prediction, shape {pred.shape}")
    return pred


def same_shape_target(
    loss: Any, pred: Any, target: Any, probabilities: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``target`` for an elementwise loss: the target as numbers of ``pred``'s
    shape and dtype (in [0, 1] with ``probabilities``).

    Shape:
        pred (*), target (*) of the same shape.
    """
    pred = _predictions(loss, pred)
    name = type(loss).__name__
    target = np.asarray(target)
    if target.dtype.kind not in "biuf":
        raise TypeError(f"{name} expected a numeric target, got dtype {target.dtype}")
    if target.shape != pred.shape:
        raise ValueError(f"{name} expected target of the same shape as the predictions "
                         f"{pred.shape}, got {target.shape}")
    target = target.astype(pred.dtype, copy=False)
    if probabilities and (target.min() < 0 or target.max() > 1):
        raise ValueError(f"{name} expected targets in [0, 1] (labels 0/1 or probabilities), "
                         f"got values from {target.min()} to {target.max()}")
    return pred, target


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def class_target(loss: Any, pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` as class scores and ``target`` as integer labels with 0 <= label < C.

    Shape:
        pred (N, C), target (N,).
    """
    labels = np.asarray(target)
    kind = labels.dtype.kind
    if (isinstance(pred, np.ndarray) and pred.dtype.kind == "f" and pred.ndim == 2
            and pred.size and kind in "iu" and labels.shape == pred.shape[:1]
            and labels.dtype.isnative):
        # One pass checks both ends: seen as unsigned, negative labels become huge (and
        # argmax costs a fraction of max).
        unsigned = labels if kind == "u" else labels.view(_UNSIGNED[labels.itemsize])
        if unsigned[unsigned.argmax()] < pred.shape[1]:
            return pred, labels
    pred = _predictions(loss, pred)
    name = type(loss).__name__
    if pred.ndim != 2:
        raise shape_error(name, "(N, C) of class scores", pred.shape, "predictions")
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{name} expected integer class indices (N,), got dtype {labels.dtype}; pass "
            "labels such as np.array([0, 2, 1]) (use y.astype(np.int64) if they are stored "
            "as floats; one-hot or probability targets are not supported)"
        )
    n, c = pred.shape
    if labels.shape != (n,):
        raise ValueError(f"{name} expected class indices of shape ({n},) for predictions of "
                         f"shape {pred.shape}, got {labels.shape}")
    if not labels.dtype.isnative:  # e.g. '>i8' read from a file: the view below needs native
        labels = labels.astype(labels.dtype.newbyteorder("="))
    unsigned = labels if labels.dtype.kind == "u" else labels.view(_UNSIGNED[labels.itemsize])
    if unsigned[unsigned.argmax()] >= c:
        bad = int(np.flatnonzero((labels < 0) | (labels >= c))[0])
        raise ValueError(f"{name}: class index {int(labels[bad])} at position {bad} is out of "
                         f"range; with {c} classes the labels must be in [0, {c - 1}]")
    return pred, labels


def loss_cached(loss: Any, cache: Any) -> Any:
    """``cache`` (what ``loss.forward`` kept), or a RuntimeError if forward has not run."""
    if cache is None:
        raise RuntimeError(f"{type(loss).__name__}.backward called before forward")
    return cache


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
