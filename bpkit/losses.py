"""Loss functions: ``loss(pred, target)`` returns a Python float, ``loss.backward()`` dL/dpred.

A loss is the end of the chain rule, so its ``backward`` takes no argument: it returns the
gradient of the (mean or summed) loss with respect to the prediction, with the prediction's
shape and dtype, ready for ``model.backward``. Losses are plain classes, not modules: they
own no parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bpkit import _checks, _numerics

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
        pred, target = _checks.same_shape_target(self, pred, target)
        diff = pred - target
        self._diff = diff
        loss = float((diff**2).sum())  # NumPy sums pairwise: accurate in float32 too
        return loss / diff.size if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        diff = _checks.loss_cached(self, self._diff)
        return 2 * diff / diff.size if self.reduction == "mean" else 2 * diff


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
        x, t = _checks.same_shape_target(self, pred, target, probabilities=True)
        self._cache = (x, t)
        loss = float((np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).sum())
        return loss / x.size if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        x, t = _checks.loss_cached(self, self._cache)
        grad = _numerics.sigmoid(x) - t
        return grad / x.size if self.reduction == "mean" else grad


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
        logits, labels = _checks.class_target(self, pred, target)
        rows = np.arange(len(labels))
        shifted = logits - logits.max(axis=1, keepdims=True)  # every row's max is 0
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)  # in [1, C]: the log is safe
        self._cache = (exp, sum_exp, rows, labels)
        loss = float(np.log(sum_exp).sum() - shifted[rows, labels].sum())
        return loss / len(labels) if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        exp, sum_exp, rows, labels = _checks.loss_cached(self, self._cache)
        grad = exp / sum_exp  # softmax
        grad[rows, labels] -= 1
        if self.reduction == "mean":
            grad /= len(labels)
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
        scores, labels = _checks.class_target(self, pred, target)
        rows = np.arange(len(labels))
        margins = np.maximum(0, scores - scores[rows, labels][:, None] + self.margin)
        margins[rows, labels] = 0
        self._cache = (margins > 0, labels, scores.dtype)
        loss = float(margins.sum())
        return loss / len(labels) if self.reduction == "mean" else loss

    def backward(self) -> np.ndarray:
        positive, labels, dtype = _checks.loss_cached(self, self._cache)
        grad = positive.astype(dtype)
        grad[np.arange(len(labels)), labels] = -positive.sum(axis=1)
        return grad / len(labels) if self.reduction == "mean" else grad
