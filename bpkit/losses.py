"""Loss functions: ``loss(pred, target)`` returns a Python float, ``loss.backward()`` dL/dpred.

A loss is the end of the chain rule, so its ``backward`` takes no argument: it returns the
gradient of the (mean or summed) loss with respect to the prediction, with the prediction's
shape and dtype, ready for ``model.backward``. Losses are plain classes, not modules: they
own no parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.layers import _constant

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HingeLoss",
    "Loss",
    "MSELoss",
    "log_softmax",
    "softmax",
]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, computed stably (the maximum is subtracted first).

    Shape:
        input (*) -> output (*); entries along ``axis`` are positive and sum to 1.

    Formula:
        softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x).
    """
    x = _checks.float_input(x, "softmax")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Logarithm of the softmax along ``axis``, without overflow or log(0).

    Shape:
        input (*) -> output (*).

    Formula:
        log_softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m),  m = max_j x_j.
    """
    x = _checks.float_input(x, "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def _row_max(x: np.ndarray) -> np.ndarray:
    """The maximum of each row of a 2-D array, shape (N, 1).

    ``x.max(axis=1)`` runs a reduction per row inside NumPy, which costs several times more
    than one ``np.maximum`` per column when there are only 2 or 3 columns (toy data sets).
    """
    if x.shape[1] > 3:
        return x.max(axis=1, keepdims=True)
    out = x[:, :1].copy()
    for j in range(1, x.shape[1]):
        np.maximum(out, x[:, j:j + 1], out=out)
    return out


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class Loss:
    """Base class of the losses: ``__call__`` runs ``forward``; ``backward`` gives dL/dpred.

    ``reduction="mean"`` averages over the samples (over all elements for elementwise losses),
    ``"sum"`` adds them up, as in PyTorch.
    """

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _checks.reduction(reduction, type(self).__name__)

    def __call__(self, pred: np.ndarray, target: Any) -> float:
        return self.forward(pred, target)

    def forward(self, pred: np.ndarray, target: Any) -> float:
        """Return the loss as a Python float and cache what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self) -> np.ndarray:
        """Return dL/dpred for the last ``forward`` (same shape and dtype as ``pred``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def extra_repr(self) -> str:
        """The constructor arguments shown by ``repr``."""
        return f"reduction={self.reduction!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- helpers for subclasses ------------------------------------------------------------
    def _pred(self, pred: Any) -> np.ndarray:
        if isinstance(pred, np.ndarray) and pred.dtype.kind == "f" and pred.size:
            return pred
        pred = _checks.float_input(pred, type(self).__name__, "predictions")
        if pred.size == 0:
            raise ValueError(f"{type(self).__name__} got an empty prediction, shape {pred.shape}")
        return pred

    def _same_shape_target(self, pred: np.ndarray, target: Any) -> np.ndarray:
        """``target`` as an array of ``pred``'s shape and dtype (numbers only)."""
        target = np.asarray(target)
        if target.dtype.kind not in "biuf":
            raise TypeError(
                f"{type(self).__name__} expected a numeric target, got dtype {target.dtype}"
            )
        if target.shape != pred.shape:
            raise ValueError(
                f"{type(self).__name__} expected target of the same shape as the predictions "
                f"{pred.shape}, got {target.shape}"
            )
        return target.astype(pred.dtype, copy=False)

    def _class_target(self, pred: np.ndarray, target: Any) -> np.ndarray:
        """Check scores (N, C) and integer labels (N,) with 0 <= label < C; return labels."""
        name = type(self).__name__
        if pred.ndim != 2:
            raise _checks.shape_error(name, "(N, C) of class scores", pred.shape, "predictions")
        labels = np.asarray(target)
        if labels.dtype.kind not in "iu":
            raise TypeError(
                f"{name} expected integer class indices (N,), got dtype {labels.dtype}; pass "
                "labels such as np.array([0, 2, 1]) (use y.astype(np.int64) if they are stored "
                "as floats; one-hot or probability targets are not supported)"
            )
        n, c = pred.shape
        if labels.shape != (n,):
            raise ValueError(
                f"{name} expected class indices of shape ({n},) for predictions of shape "
                f"{pred.shape}, got {labels.shape}"
            )
        if not labels.dtype.isnative:  # e.g. '>i8' read from a file: the view below needs native
            labels = labels.astype(labels.dtype.newbyteorder("="))
        # One reduction checks both ends: seen as unsigned, negative labels become huge.
        unsigned = labels if labels.dtype.kind == "u" else labels.view(_UNSIGNED[labels.itemsize])
        if unsigned.max() >= c:
            bad = int(np.flatnonzero((labels < 0) | (labels >= c))[0])
            raise ValueError(
                f"{name}: class index {int(labels[bad])} at position {bad} is out of range; "
                f"with {c} classes the labels must be in [0, {c - 1}]"
            )
        return labels

    def _not_run(self) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}.backward called before forward")


class MSELoss(Loss):
    """Mean squared error between predictions and targets of the same shape.

    Shape:
        pred (*), target (*) of the same shape -> a float.

    Formula:
        L = sum (pred - target)^2, divided by the number of elements for "mean";
        dL/dpred = 2 (pred - target) (/ number of elements).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._diff: np.ndarray | None = None

    def forward(self, pred: np.ndarray, target: Any) -> float:
        pred = self._pred(pred)
        diff = pred - self._same_shape_target(pred, target)
        self._diff = diff
        # A BLAS dot adds up in the array's own precision: exact enough in float64, but in
        # float32 it drifts (4e-5 relative over 1e6 terms); NumPy's pairwise sum does not.
        loss = float(np.vdot(diff, diff) if diff.dtype == np.float64 else np.square(diff).sum())
        return loss / diff.size if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        diff = self._diff
        if diff is None:
            raise self._not_run()
        return diff * (2 / diff.size if self.reduction == "mean" else 2)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits (a sigmoid and the log-loss in one stable step).

    Shape:
        pred (*) logits, target (*) of the same shape with values in [0, 1] -> a float.

    Formula:
        l = max(x, 0) - x t + log(1 + exp(-|x|))   (= -t log s(x) - (1 - t) log(1 - s(x))),
        L = mean or sum of l;   dL/dx = sigmoid(x) - t (/ number of elements).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, pred: np.ndarray, target: Any) -> float:
        x = self._pred(pred)
        t = self._same_shape_target(x, target)
        if t.min() < 0 or t.max() > 1:
            raise ValueError(
                f"{type(self).__name__} expected targets in [0, 1] (labels 0/1 or "
                f"probabilities), got values from {t.min()} to {t.max()}"
            )
        e = np.exp(-np.abs(x))  # never overflows
        per_element = np.maximum(x, 0)
        per_element -= x * t
        per_element += np.log1p(e)
        self._cache = (x, t)
        loss = float(per_element.sum())
        return loss / x.size if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise self._not_run()
        x, t = self._cache
        e = np.exp(-np.abs(x))
        s = 1 / (1 + e)  # sigmoid(|x|)
        e *= s  # sigmoid(-|x|)
        grad = np.where(x >= 0, s, e)
        grad -= t
        if self.reduction == "mean":
            grad *= 1 / x.size
        return grad


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits and integer class labels (PyTorch's CrossEntropyLoss).

    Shape:
        pred (N, C) logits, target (N,) integer class indices in [0, C) -> a float.

    Formula:
        l_n = -log softmax(x_n)[y_n] = log sum_j exp(x_nj) - x_n,y_n   (computed stably),
        L = mean or sum over n;   dL/dx = softmax(x) - onehot(y) (/ N).

    Labels must have an integer dtype: float arrays are refused, even if they hold whole
    numbers, because float labels are usually a sign of passing the wrong array.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def forward(self, pred: np.ndarray, target: Any) -> float:
        logits = self._pred(pred)
        labels = self._class_target(logits, target)
        shifted = logits - _row_max(logits)  # every row's max is 0
        rows = np.arange(logits.shape[0])
        shifted_true = shifted[rows, labels]
        exp = np.exp(shifted, out=shifted)  # shifted is a fresh array: reuse its memory
        # row sums, in [1, C] (each row holds exp(0) = 1): log is safe
        sum_exp = exp @ _constant((exp.shape[1],), 1, exp.dtype)
        self._cache = (exp, sum_exp[:, None], rows, labels)
        loss = float(np.log(sum_exp).sum() - shifted_true.sum())
        return loss / logits.shape[0] if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise self._not_run()
        exp, sum_exp, rows, labels = self._cache
        grad = exp / sum_exp  # softmax
        grad[rows, labels] -= 1
        if self.reduction == "mean":
            grad *= 1 / labels.shape[0]
        return grad


class HingeLoss(Loss):
    """Multiclass SVM (hinge) loss on class scores and integer labels, as in CS231n.

    Shape:
        pred (N, C) scores, target (N,) integer class indices in [0, C) -> a float.

    Formula:
        l_n = sum_{j != y_n} max(0, s_nj - s_n,y_n + margin),   L = mean or sum over n;
        dL/ds_nj = [margin_nj > 0] for j != y_n,  dL/ds_n,y_n = -(number of positive margins)
        (/ N). PyTorch's MultiMarginLoss is the same loss divided by C.
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = _checks.non_negative(margin, "margin", "HingeLoss")
        self._cache: tuple[np.ndarray, np.ndarray, np.dtype] | None = None

    def extra_repr(self) -> str:
        return f"margin={self.margin}, {super().extra_repr()}"

    def forward(self, pred: np.ndarray, target: Any) -> float:
        scores = self._pred(pred)
        labels = self._class_target(scores, target)
        rows = np.arange(scores.shape[0])
        margins = scores - scores[rows, labels][:, None]
        margins += self.margin
        np.maximum(margins, 0, out=margins)
        margins[rows, labels] = 0
        self._cache = (margins > 0, labels, scores.dtype)
        loss = float(margins.sum())
        return loss / scores.shape[0] if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise self._not_run()
        positive, labels, dtype = self._cache
        grad = positive.astype(dtype)
        grad[np.arange(labels.shape[0]), labels] = -positive.sum(axis=1)
        if self.reduction == "mean":
            grad *= 1 / labels.shape[0]
        return grad
