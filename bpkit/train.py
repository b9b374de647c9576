"""Training loop: ``fit``, ``evaluate``, ``predict``, a per-epoch ``History`` and callbacks.

``fit`` is the hand-written loop of the engine contract, plus what is tedious to rewrite
every time: shuffled mini-batches, per-epoch averages, validation, a progress bar, a clear
stop when the loss blows up, and hooks for callbacks::

    history = bp.fit(model, bp.CrossEntropyLoss(), bp.optim.Adam(model.parameters()),
                     X_train, y_train, epochs=20, batch_size=32,
                     validation_data=(X_val, y_val), rng=0)
    history.plot()
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit._checks import as_rng
from bpkit.data import batches
from bpkit.losses import BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss
from bpkit.module import Module, Parameter, preserved

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "LivePlot",
    "TrainingDiverged",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "fit",
    "predict",
    "predict_proba",
]

_CLASSIFICATION_LOSSES = (BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss)


class TrainingDiverged(FloatingPointError):
    """Raised by ``fit`` when the loss or the parameters become NaN or infinite.

    ``epoch`` and ``batch`` (both counted from 1) say where; ``history`` holds the epochs
    completed before. The model's parameters and buffers are those from before the step
    that failed (the optimiser's internal state, e.g. Adam's moments, may not be).
    """

    def __init__(self, message: str, epoch: int = 0, batch: int = 0,
                 history: History | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.history = history if history is not None else History()


class History:
    """Per-epoch record of a ``fit`` run: one entry per completed epoch in each list.

    Shape:
        ``epochs``, ``loss``, ``lr`` (E,); ``accuracy`` (E,) for classification, else empty;
        ``val_loss`` (E,) and ``val_accuracy`` (E,) with validation data, else empty.

    ``loss`` is the mean loss per sample over the epoch's batches (with the parameters as
    they were at each batch), ``val_loss`` the mean over the validation set after the epoch.
    ``lr`` is the learning rate used during the epoch.
    """

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.loss: list[float] = []
        self.accuracy: list[float] = []
        self.val_loss: list[float] = []
        self.val_accuracy: list[float] = []
        self.lr: list[float] = []

    def as_dict(self) -> dict[str, list[float]]:
        """The lists by name (copies), e.g. for ``json.dump``."""
        return {
            "epochs": list(self.epochs),
            "loss": list(self.loss),
            "accuracy": list(self.accuracy),
            "val_loss": list(self.val_loss),
            "val_accuracy": list(self.val_accuracy),
            "lr": list(self.lr),
        }

    def plot(self, ax: Any = None, metrics: Sequence[str] = ("loss", "accuracy")) -> Any:
        """Draw the curves with ``bpkit.plot.plot_history``; returns the figure."""
        from bpkit.plot import plot_history

        return plot_history(self, ax=ax, metrics=metrics)

    def __len__(self) -> int:
        return len(self.epochs)

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(no epochs)"
        last = [f"loss={self.loss[-1]:.4g}"]
        for name, values in (("accuracy", self.accuracy), ("val_loss", self.val_loss),
                             ("val_accuracy", self.val_accuracy)):
            if values:
                last.append(f"{name}={values[-1]:.4g}")
        return f"History(epochs={len(self.epochs)}, last: {', '.join(last)})"


class Callback:
    """Base class of ``fit`` callbacks: override the hooks you need (here they do nothing).

    Order of calls: ``on_train_begin``; per epoch ``on_epoch_begin``, then per batch
    ``on_before_step`` (gradients computed, parameters not yet updated) and
    ``on_after_step`` (just after ``optimizer.step()``), then ``on_epoch_end`` (after
    validation; return True to stop training); finally ``on_train_end`` (also after a
    stop requested by a callback, but not when ``fit`` raises).
    """

    def on_train_begin(self, history: History, model: Module) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, epoch: int, model: Module) -> None:
        """Called at the start of each epoch (counted from 1)."""

    def on_before_step(self, model: Module, optimizer: Any) -> None:
        """Called for every batch after ``backward``, before ``optimizer.step()``."""

    def on_after_step(self, model: Module, optimizer: Any) -> None:
        """Called for every batch right after ``optimizer.step()``."""

    def on_epoch_end(self, epoch: int, history: History, model: Module) -> bool:
        """Called after each epoch, once ``history`` holds it; return True to stop."""
        return False

    def on_train_end(self, history: History, model: Module) -> None:
        """Called once when training ends normally or is stopped by a callback."""


# -- metrics and inference -------------------------------------------------------------------
def accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals the target class.

    Shape:
        output (N, C) scores or logits with C >= 2 (predicted class: argmax), or (N,) /
        (N, 1) binary scores or logits (predicted positive when > 0), or (N,) integer
        predicted classes; target (N,) class indices, (N, C) one-hot rows, or (N,) / (N, 1)
        binary labels 0/1 (or -1/+1).

    For probabilities from a sigmoid, pass ``probs > 0.5`` (a boolean prediction).
    """
    out, t = np.asarray(output), np.asarray(target)
    n = len(out) if out.ndim else 0
    if n == 0 or t.ndim == 0 or len(t) != n:
        raise ValueError(
            f"accuracy expected output and target with the same number of samples (at "
            f"least 1), got shapes {out.shape} and {t.shape}"
        )
    if out.ndim == 2 and out.shape[1] > 1:
        pred = out.argmax(axis=1)
        if t.shape == out.shape:
            t = t.argmax(axis=1)
    elif out.ndim == 1 and out.dtype.kind in "iu":
        pred = out
    elif out.ndim == 1 and out.dtype.kind == "b":
        pred, t = out, t.reshape(n) > 0
    elif out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        pred, t = out.reshape(n) > 0, t.reshape(n) > 0
    else:
        raise ValueError(
            f"accuracy expected output of shape (N, C), (N, 1) or (N,), got {out.shape}"
        )
    if t.ndim != 1:
        raise ValueError(
            f"accuracy expected target class indices of shape ({n},) for output of shape "
            f"{out.shape}, got {t.shape}"
        )
    return float(np.count_nonzero(pred == t)) / n


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Shape:
        y_true, y_pred (N,) labels (or (N, C) scores: argmax) -> (C, C) int64;
        entry [i, j] counts samples of class i predicted as j (rows true, like scikit-learn).
    """
    where = "confusion_matrix"
    t = _checks.class_labels(y_true, where, "y_true")
    p = _checks.class_labels(y_pred, where, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"{where} expected y_true and y_pred of equal length, got {len(t)} "
                         f"and {len(p)}")
    top = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if n_classes is None:
        n_classes = max(top, 1)
    elif isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 1:
        raise ValueError(f"{where}: n_classes must be a positive integer, got {n_classes!r}")
    elif top > n_classes:
        raise ValueError(f"{where}: labels go up to {top - 1}, beyond n_classes={n_classes}")
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def _is_classification(loss_fn: Any, y: np.ndarray) -> bool:
    return isinstance(loss_fn, _CLASSIFICATION_LOSSES) or np.asarray(y).dtype.kind in "iu"


def _per_sample(loss_fn: Any) -> bool:
    """True when the loss is a mean over the batch (weight batch losses by their size)."""
    return getattr(loss_fn, "reduction", "mean") == "mean"


def _forward_all(model: Module, X: np.ndarray, batch_size: int | None) -> np.ndarray:
    """Model output for every row of X in eval mode (modes and state as they were after)."""
    with preserved(model):
        model.eval()
        if batch_size is None or batch_size >= len(X):
            return model(X)
        return np.concatenate(
            [model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
        )


def _check_module(model: Any, where: str) -> Module:
    if not isinstance(model, Module):
        raise TypeError(f"{where} expected a bpkit Module as model, got {type(model).__name__}")
    return model


def _check_batch_size(batch_size: Any, where: str) -> int | None:
    return None if batch_size is None else _checks.positive_int(batch_size, "batch_size", where)


def evaluate(
    model: Module, loss_fn: Any, X: np.ndarray, y: np.ndarray, batch_size: int | None = None
) -> dict[str, float]:
    """Loss (and accuracy, for classification) of ``model`` on ``(X, y)`` in eval mode.

    Shape:
        X (N, ...), y (N, ...) -> {"loss": float, "accuracy": float}; "accuracy" only when
        the loss is a classification loss (CrossEntropyLoss, BCEWithLogitsLoss, HingeLoss)
        or ``y`` holds integers.

    ``loss`` is the mean loss per sample (batch sums divided by N for ``reduction="sum"``).
    ``batch_size=None`` evaluates all rows at once. Afterwards every module's train/eval
    mode, every buffer and every random generator is as it was (``module.preserved``);
    parameters are not touched.
    """
    where = "evaluate"
    _check_module(model, where)
    X, y = _checks.paired(X, y, where)
    size = _check_batch_size(batch_size, where) or len(X)
    if len(X) == 0:
        raise ValueError(f"{where} needs at least one sample, got X of shape {X.shape}")
    classification = _is_classification(loss_fn, y)
    mean = _per_sample(loss_fn)
    total, correct = 0.0, 0.0
    with preserved(model):
        model.eval()
        for start in range(0, len(X), size):
            Xb, yb = X[start : start + size], y[start : start + size]
            out = model(Xb)
            total += float(loss_fn(out, yb)) * (len(Xb) if mean else 1)
            if classification:
                correct += accuracy(out, yb) * len(Xb)
    result = {"loss": total / len(X)}
    if classification:
        result["accuracy"] = correct / len(X)
    return result


def predict(model: Module, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Predictions in eval mode: class indices for multi-class outputs, else the values.

    Shape:
        X (N, ...) -> (N,) int64 argmax when the model outputs (N, C) with C >= 2;
        otherwise the output itself, e.g. (N, 1) for regression. (For a binary classifier
        with one logit, use ``predict_proba(model, X) > 0.5``.)
    """
    _check_module(model, "predict")
    out = _forward_all(model, X, _check_batch_size(batch_size, "predict"))
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1).astype(np.int64)
    return out


def predict_proba(model: Module, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities in eval mode: softmax of (N, C) logits, sigmoid of one logit.

    Shape:
        X (N, ...) -> (N, C) rows summing to 1 when the output is (N, C) with C >= 2;
        otherwise sigmoid(output) with the output's shape (probability of class 1).

    softmax(z)_c = exp(z_c - max z) / sum_k exp(z_k - max z); sigmoid(z) = 1 / (1 + e^-z).
    """
    _check_module(model, "predict_proba")
    out = _forward_all(model, X, _check_batch_size(batch_size, "predict_proba"))
    if out.ndim == 2 and out.shape[1] > 1:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    e = np.exp(-np.abs(out))  # never overflows
    return np.where(out >= 0, 1 / (1 + e), e / (1 + e))


# -- the loop --------------------------------------------------------------------------------
def _all_finite(params: list[Parameter]) -> bool:
    """True when every parameter entry is finite (one sum per array: NaN and inf propagate)."""
    total = 0.0
    for p in params:
        total += float(p.data.sum())
    # a finite sum settles it; otherwise look closer (a sum of huge finite values can overflow)
    return math.isfinite(total) or all(np.isfinite(p.data).all() for p in params)


def _diverged_message(what: str, epoch: int, epochs: int, batch: int, n_batches: int,
                      lr: float, Xb: np.ndarray, yb: np.ndarray) -> str:
    head = (f"fit stopped: {what} at epoch {epoch} of {epochs}, batch {batch} of {n_batches}. "
            "The parameters are kept as they were before this step.")
    for name, array in (("input batch", Xb), ("target batch", yb)):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return head + f" The {name} itself contains NaN or inf values: clean the data."
    return head + (f" The learning rate (lr={lr:g}) is probably too large: try a smaller one, "
                   f"e.g. lr={lr / 10:g}, or standardise the inputs.")


class _Diverged(Exception):
    """Internal: raised by ``_train_epoch``; ``fit`` turns it into ``TrainingDiverged``."""

    def __init__(self, what: str, batch: int, Xb: np.ndarray, yb: np.ndarray) -> None:
        super().__init__(what)
        self.what, self.batch, self.Xb, self.yb = what, batch, Xb, yb


class _Bar:
    """The tqdm progress bar (or nothing with ``progress=False``)."""

    def __init__(self, progress: bool, epochs: int, n_batches: int) -> None:
        self.bar = None
        self.epochs = epochs
        self.postfix: dict[str, str] = {}
        self.every = max(1, n_batches // 10)
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs * n_batches, unit="batch", desc=f"epoch 1/{epochs}")

    def batch_done(self, batch: int, running_loss: float) -> None:
        if self.bar is not None:
            if batch % self.every == 0:
                self.postfix["loss"] = f"{running_loss:.4f}"
                self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update()

    def epoch_done(self, epoch: int, history: History) -> None:
        if self.bar is not None:
            self.postfix["loss"] = f"{history.loss[-1]:.4f}"
            if history.val_loss:
                self.postfix["val_loss"] = f"{history.val_loss[-1]:.4f}"
            if history.val_accuracy:
                self.postfix["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.set_description(f"epoch {min(epoch + 1, self.epochs)}/{self.epochs}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(
    model: Module,
    loss_fn: Any,
    optimizer: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    rng: np.random.Generator | int | None = None,
    scheduler: Any = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> History:
    """Train ``model`` with mini-batch gradient descent; returns the per-epoch ``History``.

    Shape:
        X (N, ...), y (N, ...) as ``loss_fn`` expects them; ``validation_data`` a pair
        (X_val, y_val) of the same kinds.

    Each epoch: shuffle with ``rng``, then for every batch ``out = model(Xb)``,
    ``loss = loss_fn(out, yb)``, ``optimizer.zero_grad()``,
    ``model.backward(loss_fn.backward())``, ``optimizer.step()``. After the epoch: evaluate
    on ``validation_data`` (eval mode), call ``scheduler.step()`` once, record the epoch
    and call the callbacks (any returning True stops training). Accuracy is recorded for
    classification losses (CrossEntropyLoss, BCEWithLogitsLoss, HingeLoss) or integer ``y``.

    The model trains in train mode; each module's mode is restored at the end. A progress
    bar (``tqdm.auto``: a widget in Jupyter, text on stderr elsewhere) shows the epoch,
    the loss and the validation accuracy; ``progress=False`` turns it off.

    Raises ``TrainingDiverged`` when the loss or the updated parameters are NaN or
    infinite, naming the epoch and batch; the parameters and buffers are then put back to
    their values before that step. (numpy's overflow warnings are muted inside ``fit``,
    which makes this check itself.)
    """
    where = "fit"
    _check_module(model, where)
    X, y = _checks.paired(X, y, where)
    epochs = _checks.positive_int(epochs, "epochs", where)
    batch_size = _checks.positive_int(batch_size, "batch_size", where)
    if len(X) == 0:
        raise ValueError(f"{where} needs at least one training sample, got X of shape {X.shape}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"{where}: validation_data must be a pair (X_val, y_val)")
        validation_data = _checks.paired(*validation_data, f"{where} (validation_data)")
        if len(validation_data[0]) == 0:
            raise ValueError(f"{where}: validation_data needs at least one sample, got X_val "
                             f"of shape {validation_data[0].shape}")
    if isinstance(callbacks, Callback):
        raise TypeError(f"{where}: callbacks must be a list of Callbacks, got one "
                        f"{type(callbacks).__name__}; pass callbacks=[...]")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"{where}: callbacks[{i}] must be a Callback, got {type(cb).__name__}")
    rng = as_rng(rng, where)
    n_batches = math.ceil(len(X) / batch_size)
    history = History()
    modes = preserved(model, buffers=False, random=False)  # training changes the rest
    bar = _Bar(progress, epochs, n_batches)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            model.train()
            for cb in callbacks:
                cb.on_train_begin(history, model)
            for epoch in range(1, epochs + 1):
                for cb in callbacks:
                    cb.on_epoch_begin(epoch, model)
                lr = float(optimizer.lr)
                try:
                    loss, acc = _train_epoch(model, loss_fn, optimizer,
                                             batches(X, y, batch_size, rng=rng), callbacks, bar)
                except _Diverged as d:
                    message = _diverged_message(d.what, epoch, epochs, d.batch, n_batches, lr,
                                                d.Xb, d.yb)
                    raise TrainingDiverged(message, epoch, d.batch, history) from None
                history.epochs.append(epoch)
                history.loss.append(loss)
                history.lr.append(lr)
                if acc is not None:
                    history.accuracy.append(acc)
                if validation_data is not None:
                    scores = evaluate(model, loss_fn, *validation_data)
                    history.val_loss.append(scores["loss"])
                    if "accuracy" in scores:
                        history.val_accuracy.append(scores["accuracy"])
                if scheduler is not None:
                    scheduler.step()
                bar.epoch_done(epoch, history)
                stop = [bool(cb.on_epoch_end(epoch, history, model)) for cb in callbacks]
                if any(stop):
                    break
            for cb in callbacks:
                cb.on_train_end(history, model)
    finally:
        modes.restore()
        bar.close()
    return history


def _train_epoch(
    model: Module,
    loss_fn: Any,
    optimizer: Any,
    batch_iter: Iterator[tuple[np.ndarray, np.ndarray]],
    callbacks: list[Callback],
    bar: _Bar,
) -> tuple[float, float | None]:
    """One pass over the batches; returns (mean loss per sample, accuracy or None)."""
    weight_by_size = _per_sample(loss_fn)
    params = model.parameters()
    # the parameters and buffers before each step, to undo a step that diverges
    snapshot = preserved(model, parameters=True, modes=False, random=False)
    classification, total, correct, seen = None, 0.0, 0.0, 0
    for batch, (Xb, yb) in enumerate(batch_iter, start=1):
        if classification is None:
            classification = _is_classification(loss_fn, yb)
        snapshot.save()
        out = model(Xb)
        loss = float(loss_fn(out, yb))
        if not math.isfinite(loss):
            snapshot.restore()  # buffers such as running means may have changed in forward
            raise _Diverged(f"the loss is {loss}", batch, Xb, yb)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        for cb in callbacks:
            cb.on_before_step(model, optimizer)
        optimizer.step()
        if not _all_finite(params):
            snapshot.restore()
            raise _Diverged("the parameters became NaN or infinite in the optimizer step",
                            batch, Xb, yb)
        for cb in callbacks:
            cb.on_after_step(model, optimizer)
        total += loss * (len(Xb) if weight_by_size else 1)
        seen += len(Xb)
        if classification:
            correct += accuracy(out, yb) * len(Xb)
        bar.batch_done(batch, total / seen)
    return total / seen, (correct / seen if classification else None)


# -- callbacks -------------------------------------------------------------------------------
_MINIMISED = ("loss", "val_loss")
_MAXIMISED = ("accuracy", "val_accuracy")


class EarlyStopping(Callback):
    """Stop when a monitored metric has not improved for ``patience`` epochs.

    An epoch improves on the best so far when loss < best - min_delta (for "loss",
    "val_loss") or accuracy > best + min_delta (for "accuracy", "val_accuracy"). With
    ``restore_best`` the parameters and buffers of the best epoch are copied back into the
    model when training ends (whether or not it stopped early). After ``fit``:
    ``best_epoch``, ``best`` (its value) and ``stopped_epoch`` (None if it did not stop).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        where = f"EarlyStopping(monitor={monitor!r})"
        if monitor not in _MINIMISED + _MAXIMISED:
            raise ValueError(
                f"{where}: monitor must be one of {list(_MINIMISED + _MAXIMISED)}, got {monitor!r}"
            )
        self.monitor = monitor
        self.patience = _checks.positive_int(patience, "patience", where)
        self.min_delta = _checks.non_negative(min_delta, "min_delta", where)
        self.restore_best = bool(restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_state: dict[str, np.ndarray] | None = None

    def on_train_begin(self, history: History, model: Module) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, history: History, model: Module) -> bool:
        values = history.as_dict()[self.monitor]
        if not values:
            hint = ("pass validation_data to fit" if self.monitor.startswith("val_")
                    else "accuracy is only recorded for classification")
            raise ValueError(
                f"EarlyStopping(monitor={self.monitor!r}) found no {self.monitor!r} values in "
                f"the history: {hint}"
            )
        value = values[-1]
        if self.best is None:
            improved = True
        elif self.monitor in _MINIMISED:
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_state = model.state_dict()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, history: History, model: Module) -> None:
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best={self.restore_best})"
        )


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich display updates are possible)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class LivePlot(Callback):
    """Redraw the training curves after every ``every`` epochs, in place in a notebook.

    The curves are drawn by ``bpkit.plot.plot_history`` on ``self.figure`` (a matplotlib
    Figure made without pyplot, so a notebook shows it once). In Jupyter the rendered image
    is updated in one output area (an IPython display handle); elsewhere the figure is only
    kept up to date, to be saved or shown by you.
    """

    def __init__(self, every: int = 1, metrics: Sequence[str] = ("loss", "accuracy"),
                 figsize: tuple[float, float] = (9.0, 3.5)) -> None:
        self.every = _checks.positive_int(every, "every", "LivePlot")
        self.metrics = tuple(metrics)
        self.figsize = figsize
        self.figure: Any = None
        self.display_handle: Any = None

    def on_train_begin(self, history: History, model: Module) -> None:
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=self.figsize)
        self.display_handle = None

    def on_epoch_end(self, epoch: int, history: History, model: Module) -> bool:
        if epoch % self.every == 0:
            self.redraw(history)
        return False

    def on_train_end(self, history: History, model: Module) -> None:
        if history.epochs and history.epochs[-1] % self.every != 0:
            self.redraw(history)

    def redraw(self, history: History) -> None:
        """Draw ``history`` afresh and, in a notebook, update the displayed image."""
        from bpkit.plot import plot_history

        values = history.as_dict()
        shown = [m for m in self.metrics if values.get(m) or values.get(f"val_{m}")]
        self.figure.clear()
        axes = self.figure.subplots(1, len(shown), squeeze=False)[0]
        plot_history(history, ax=list(axes), metrics=shown)
        # fixed margins: tight_layout would cost a full extra draw on every redraw
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.3)
        if _in_notebook():
            from IPython.display import Image, display

            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=80)
            image = Image(data=buffer.getvalue(), format="png")
            if self.display_handle is None:
                self.display_handle = display(image, display_id=True)
            else:
                self.display_handle.update(image)
