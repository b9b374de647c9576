"""DigitsPipeline: run *your* digits pipeline with fewer images or without standardising (ex. 11).

The widget trains a model from your ``make_model`` with your ``train`` on the first
``n_train`` training images, standardised with your ``standardize`` (or left raw when the box
is unticked), and scores it with your ``predict`` on the test images. The left panel is the
loss of every epoch, the right the test confusion matrix. It trains only when *Train* is
pressed (a run takes a few seconds), so moving the controls is free.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.widgets._answers import ERROR_COLOUR, error_html, returned_array, short_error, what
from bpkit.widgets._app import WidgetApp

__all__ = ["DigitsPipeline", "DigitsPipelineState"]


@dataclass
class DigitsPipelineState:
    """The last run: its settings, its losses and its accuracies.

    Shape:
        ``losses`` one float per epoch; ``confusion`` (10, 10) counts of (true, predicted)
        test images, or None before the first run.
    """

    n_train: int
    standardized: bool
    trained: bool = False
    losses: list[float] = field(default_factory=list)
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    confusion: np.ndarray | None = None
    error: str = ""


def _images(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """What ``standardize`` returned, or an error naming a None or a wrong shape."""
    return returned_array(value, "standardize", f"an array of shape {shape}", shape,
                          given="images")


def _losses(result: Any) -> list[float]:
    """The per-epoch losses ``train`` returned (a list, an array or bp.fit's History)."""
    losses = getattr(result, "loss", result)
    if losses is None or isinstance(losses, (str, dict)) or np.ndim(losses) != 1:
        raise TypeError(f"train returned {what(result)}; expected the per-epoch losses (a "
                        "list of floats, or bp.fit's History)")
    return [float(v) for v in losses]


def _labels(value: Any, n: int) -> np.ndarray:
    """What ``predict`` returned, or an error naming a None or a wrong shape."""
    if value is None or isinstance(value, tuple):
        raise TypeError(f"predict returned {what(value)}; expected {n} class indices")
    labels = np.asarray(value)
    if labels.shape != (n,):
        hint = " (take the argmax of the logits)" if labels.ndim == 2 else ""
        raise ValueError(f"predict returned shape {labels.shape} for {n} images; expected "
                         f"({n},) class indices{hint}")
    return labels


class DigitsPipeline(WidgetApp):
    """Train your digits model on a chosen number of images, standardised or raw.

    Controls: ``n_train`` (IntSlider: training images used), ``standardize_box`` (Checkbox),
    ``train_button``. ``state`` is a :class:`DigitsPipelineState`. An exception from your
    code is shown under the figure instead of raised.

    Shape:
        X_train (N, 64), y_train (N,), X_test (M, 64), y_test (M,); ``standardize(X_train,
        X)`` -> (len(X), 64); ``make_model(rng)`` -> a Module (n, 64) -> (n, 10);
        ``train(model, X, y, rng)`` -> per-epoch losses; ``predict(model, X)`` -> (n,).
    """

    def __init__(self, standardize: Callable[..., Any], make_model: Callable[..., Any],
                 train: Callable[..., Any], predict: Callable[..., Any],
                 X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                 y_test: np.ndarray, *, n_train: int | None = None, rng: int = 0) -> None:
        import ipywidgets as widgets

        for name, fn in (("standardize", standardize), ("make_model", make_model),
                         ("train", train), ("predict", predict)):
            if not callable(fn):
                raise TypeError(f"DigitsPipeline: {name} must be a function, got "
                                f"{type(fn).__name__}")
        self.standardize, self.make_model = standardize, make_model
        self.train_fn, self.predict = train, predict
        # copies: your arrays stay yours, and what your code does to the ones it is given
        # (each call gets its own copy) cannot change the next run
        self.X_train, self.y_train = np.array(X_train), np.array(y_train)
        self.X_test, self.y_test = np.array(X_test), np.array(y_test)
        if len(self.X_train) != len(self.y_train) or len(self.X_test) != len(self.y_test):
            raise ValueError("DigitsPipeline: X and y must have the same number of rows")
        self.seed = int(rng)
        full = len(self.X_train)
        self.n_train = widgets.IntSlider(value=full if n_train is None else int(n_train),
                                         min=min(50, full), max=full, step=1,
                                         description="images", continuous_update=False)
        self.standardize_box = widgets.Checkbox(value=True, description="standardise")
        self.train_button = widgets.Button(description="Train", icon="play")
        self.train_button.on_click(lambda _b: self.train())
        self.state = DigitsPipelineState(n_train=self.n_train.value, standardized=True)
        super().__init__([self.n_train, self.standardize_box, self.train_button],
                         figsize=(10.0, 4.0))

    def train(self) -> None:
        """Run the whole pipeline with the current settings and redraw."""
        n, std = int(self.n_train.value), bool(self.standardize_box.value)
        s = DigitsPipelineState(n_train=n, standardized=std)
        self.state = s
        X, y = self.X_train[:n], self.y_train[:n]
        try:
            with np.errstate(all="ignore"):
                if std:
                    Z = _images(self.standardize(X.copy(), X.copy()), X.shape)
                    Z_test = _images(self.standardize(X.copy(), self.X_test.copy()),
                                     self.X_test.shape)
                else:
                    Z, Z_test = X.astype(np.float64), self.X_test.astype(np.float64)
                rng = np.random.default_rng(self.seed)
                model = self.make_model(rng)
                if not hasattr(model, "parameters") or not callable(model):
                    raise TypeError(f"make_model returned {what(model)}; expected a Module "
                                    "such as bp.Sequential(...)")
                result = self.train_fn(model, Z.copy(), y.copy(), rng)
                s.losses = _losses(result)
                s.train_accuracy = float(np.mean(_labels(self.predict(model, Z.copy()), len(y))
                                                 == y))
                pred = _labels(self.predict(model, Z_test.copy()), len(Z_test)).astype(int)
        except Exception as exc:  # the learner's code, or a diverged bp.fit
            s.error = short_error(exc)
        else:
            s.trained = True
            s.test_accuracy = float(np.mean(pred == self.y_test))
            confusion = np.zeros((10, 10), dtype=int)
            np.add.at(confusion, (self.y_test.astype(int), np.clip(pred, 0, 9)), 1)
            s.confusion = confusion
        self.refresh()

    # -- WidgetApp ----------------------------------------------------------------------------
    def _on_change(self, change: dict) -> None:
        self.refresh()  # settings only take effect on Train

    def update(self) -> None:
        """The text under the figure."""
        s = self.state
        pending = (int(self.n_train.value), bool(self.standardize_box.value))
        if s.error:
            self.message.value = error_html("Your code failed", s.error)
        elif not s.trained:
            self.message.value = "Press Train to run your pipeline (a few seconds)."
        else:
            how = "standardised" if s.standardized else "raw pixels"
            changed = " (settings changed: press Train)" if pending != (
                s.n_train, s.standardized) else ""
            self.message.value = html.escape(
                f"{s.n_train} training images, {how}: training accuracy "
                f"{s.train_accuracy:.1%}, test accuracy {s.test_accuracy:.1%}{changed}")

    def draw(self, figure: Any) -> None:
        """Left: loss per epoch. Right: the test confusion matrix."""
        s = self.state
        left, right = figure.subplots(1, 2)
        finite = [v for v in s.losses if math.isfinite(v)]
        if finite:
            left.plot(np.arange(1, len(finite) + 1), finite, marker=".", gid="loss")
        left.axhline(math.log(10), color="0.5", ls="--", lw=1, label="ln 10 (chance)")
        left.set_xlabel("epoch")
        left.set_ylabel("training loss")
        left.set_title("Your training" if s.trained else "not trained yet")
        left.legend(fontsize="small")
        matrix = s.confusion if s.confusion is not None else np.zeros((10, 10), dtype=int)
        right.imshow(matrix, cmap="Blues", gid="confusion")
        for i, j in zip(*np.nonzero(matrix), strict=True):
            if i != j:
                right.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                           color=ERROR_COLOUR)
        right.set_xticks(range(10))
        right.set_yticks(range(10))
        right.set_xlabel("predicted")
        right.set_ylabel("true")
        title = f"test accuracy {s.test_accuracy:.1%}" if s.trained else "test confusion matrix"
        right.set_title(title)
