"""DigitBrowser: page through test images with a classifier's prediction and probabilities.

Each page shows one 8x8 image with its true label, next to the bar chart of the model's
class probabilities (the softmax of its logits): the predicted class's bar is coloured
(blue when right, red when wrong) and the true class is marked with a triangle. A slider
picks the image, **Prev** / **Next** step through them (wrapping around at the ends), and
**only mistakes** restricts the browsing to the images the model gets wrong.

The probabilities of every image are computed once, when the app is built, with the model
in eval mode (each module's train/eval mode is restored afterwards), so browsing is instant.
Build a new app after training the model further.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.module import Module
from bpkit.train import predict_proba
from bpkit.widgets._app import WidgetApp

__all__ = ["DigitBrowser", "DigitBrowserState"]

_GREY, _BLUE, _RED = "#bbbbbb", "#1f77b4", "#d62728"


@dataclass(frozen=True)
class DigitBrowserState:
    """What the browser shows: one test image, its labels and the model's probabilities.

    Shape:
        ``probabilities`` (C,) summing to 1; ``index`` is the row of the test set shown
        (None when "only mistakes" is on and there are none); ``position`` is its place
        among the ``n_shown`` images being browsed (all of them, or only the mistakes).
    """

    index: int | None
    true_label: int | None
    predicted_label: int | None
    probabilities: np.ndarray | None
    position: int
    n_shown: int
    mistakes_only: bool
    n_mistakes: int

    @property
    def correct(self) -> bool | None:
        """Whether the prediction equals the true label (None when nothing is shown)."""
        if self.index is None:
            return None
        return self.predicted_label == self.true_label


def _model_inputs(X: np.ndarray, transform: Any, inputs: Any, n: int) -> np.ndarray:
    """The array fed to the model: ``inputs``, ``transform(X)`` or X itself."""
    where = "DigitBrowser"
    if transform is not None and inputs is not None:
        raise ValueError(f"{where}: pass either transform or inputs, not both")
    if inputs is not None:
        out = np.asarray(inputs)
    elif transform is None:
        out = X
    elif hasattr(transform, "transform"):
        out = np.asarray(transform.transform(X))
    elif callable(transform):
        out = np.asarray(transform(X))
    else:
        raise TypeError(
            f"{where}: transform must be a callable or have a .transform method (e.g. a "
            f"fitted bp.Standardizer), got {type(transform).__name__}"
        )
    if out.ndim == 0 or len(out) != n:
        raise ValueError(
            f"{where} expected one model input per image ({n} rows), got shape {out.shape}"
        )
    return out


class DigitBrowser(WidgetApp):
    """Browse test images with a classifier's predicted class and class probabilities.

    ``X_test`` holds the images as they should be *displayed* (e.g. the raw 0..16 pixel
    values of ``bp.load_digits``); the model sees ``transform(X_test)`` (a callable, or an
    object with a ``.transform`` method such as a fitted ``bp.Standardizer``), or ``inputs``
    when given, or ``X_test`` itself when neither is.

    Controls: ``index`` (IntSlider: the position among the browsed images), ``prev_button``
    and ``next_button`` (step by one, wrapping around) and ``only_mistakes`` (Checkbox).
    ``state`` is a :class:`DigitBrowserState`; ``probabilities`` (N, C) and ``predictions``
    (N,) hold the model's output for the whole test set, ``mistakes`` the indices it gets
    wrong.

    Shape:
        X_test (N, H*W) or (N, H, W) with (H, W) = ``shape``; y_test (N,) integer labels;
        the model maps the inputs to logits (N, C).

    Formula:
        p_c = exp(z_c - max z) / sum_k exp(z_k - max z), predicted class argmax_c p_c.
    """

    def __init__(
        self,
        model: Module,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        transform: Callable[[np.ndarray], np.ndarray] | Any = None,
        inputs: np.ndarray | None = None,
        shape: tuple[int, int] = (8, 8),
        index: int = 0,
        only_mistakes: bool = False,
    ) -> None:
        import ipywidgets as widgets

        where = "DigitBrowser"
        if not isinstance(model, Module):
            raise TypeError(f"{where} expected a bpkit Module as model, got {type(model).__name__}")
        images = np.asarray(X_test, dtype=np.float64)
        size = int(np.prod(shape))
        if images.ndim < 2 or len(images) == 0 or images[0].size != size:
            raise ValueError(
                f"{where} expected X_test of shape (N, {size}) or (N, {shape[0]}, {shape[1]}) "
                f"with N >= 1, got {images.shape}"
            )
        labels = np.asarray(y_test)
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise ValueError(
                f"{where} expected y_test of integer labels with shape ({len(images)},), got "
                f"dtype {labels.dtype} and shape {labels.shape}"
            )
        probs = predict_proba(model, _model_inputs(images, transform, inputs, len(images)))
        if probs.ndim != 2 or probs.shape[1] < 2:
            raise ValueError(
                f"{where} expected the model to output logits of shape (N, C) with C >= 2, "
                f"got {probs.shape}"
            )
        if labels.min() < 0 or labels.max() >= probs.shape[1]:
            raise ValueError(
                f"{where}: y_test holds labels from {int(labels.min())} to "
                f"{int(labels.max())}, outside the model's {probs.shape[1]} classes"
            )
        self.model = model
        self.images = images.reshape(len(images), *shape)
        self.labels = labels.astype(np.int64)
        self.probabilities = probs
        self.predictions = probs.argmax(axis=1).astype(np.int64)
        self.mistakes = np.flatnonzero(self.predictions != self.labels)
        self.n_classes = probs.shape[1]
        self.n_not_finite = int(np.sum(~np.all(np.isfinite(probs), axis=1)))
        self._syncing = False

        n = len(images)
        self.only_mistakes = widgets.Checkbox(value=False, description="only mistakes")
        self.index = widgets.IntSlider(value=0, min=0, max=n - 1, step=1, description="image")
        self.prev_button = widgets.Button(description="Prev", icon="step-backward")
        self.next_button = widgets.Button(description="Next", icon="step-forward")
        self.prev_button.on_click(lambda _b: self.step(-1))
        self.next_button.on_click(lambda _b: self.step(+1))
        controls = [self.index, self.prev_button, self.next_button, self.only_mistakes]
        super().__init__(controls, figsize=(8.0, 3.2), auto_refresh=False)
        if not 0 <= index < n:
            raise ValueError(f"{where}: index must be in 0..{n - 1}, got {index!r}")
        self._syncing = True
        self.index.value = int(index)
        self._syncing = False
        if only_mistakes:
            self.only_mistakes.value = True  # goes through _on_change, which refreshes
        else:
            self.refresh()

    # -- browsing ---------------------------------------------------------------------------
    def shown(self) -> np.ndarray:
        """The test-set indices being browsed: all of them, or only the mistakes.

        Shape:
            (n_shown,) int64, increasing.
        """
        if self.only_mistakes.value:
            return self.mistakes
        return np.arange(len(self.labels), dtype=np.int64)

    def step(self, delta: int) -> None:
        """Move ``delta`` images forward (or back), wrapping around at the ends."""
        n = len(self.shown())
        if n:
            self.index.value = (self.index.value + int(delta)) % n

    def _on_change(self, change: dict) -> None:
        if self._syncing:
            return
        if change.get("owner") is self.only_mistakes:
            self._keep_image(change)
        self.refresh()

    def _keep_image(self, change: dict) -> None:
        """On toggling "only mistakes", stay on the same image or go to the next mistake."""
        previous = self.mistakes if change["old"] else np.arange(len(self.labels))
        current = int(previous[self.index.value]) if len(previous) else 0
        shown = self.shown()
        position = int(np.searchsorted(shown, current)) if len(shown) else 0
        self._syncing = True
        try:
            if len(shown):
                self.index.value = min(self.index.value, len(shown) - 1)
                self.index.max = len(shown) - 1
                self.index.value = position % len(shown)
            else:
                self.index.value = 0
                self.index.max = 0
        finally:
            self._syncing = False

    # -- WidgetApp ------------------------------------------------------------------------
    def _not_finite_note(self) -> str:
        """A sentence on NaN/inf model outputs (a diverged model), or ''."""
        if not self.n_not_finite:
            return ""
        return (f". The model outputs NaN or inf for {self.n_not_finite} of "
                f"{len(self.labels)} test images (did training diverge?): their predictions "
                "mean nothing")

    def update(self) -> None:
        shown = self.shown()
        mistakes_only = bool(self.only_mistakes.value)
        if len(shown) == 0:
            self.state = DigitBrowserState(None, None, None, None, 0, 0, mistakes_only,
                                           len(self.mistakes))
            self.message.value = html.escape(
                "The model makes no mistakes on these images" + self._not_finite_note() + "."
            )
            return
        position = min(int(self.index.value), len(shown) - 1)
        i = int(shown[position])
        self.state = DigitBrowserState(
            index=i,
            true_label=int(self.labels[i]),
            predicted_label=int(self.predictions[i]),
            probabilities=self.probabilities[i].copy(),
            position=position,
            n_shown=len(shown),
            mistakes_only=mistakes_only,
            n_mistakes=len(self.mistakes),
        )
        what = "mistake" if mistakes_only else "image"
        self.message.value = html.escape(
            f"{what} {position + 1} of {len(shown)} (test index {i}); the model gets "
            f"{len(self.mistakes)} of {len(self.labels)} test images wrong"
            + self._not_finite_note()
        )

    def draw(self, figure: Any) -> None:
        ax_img, ax_bar = figure.subplots(1, 2, width_ratios=[1, 2])
        s = self.state
        if s.index is None:
            for ax in (ax_img, ax_bar):
                ax.set_axis_off()
            ax_bar.text(0.5, 0.5, "no mistakes to show", ha="center", va="center",
                        transform=ax_bar.transAxes)
            return
        wrong = not s.correct
        ax_img.imshow(self.images[s.index], cmap="gray_r", interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title(f"test image {s.index}: true {s.true_label}")
        colors = [_GREY] * self.n_classes
        colors[s.predicted_label] = _RED if wrong else _BLUE
        bars = ax_bar.bar(np.arange(self.n_classes), s.probabilities, color=colors)
        bars[s.predicted_label].set_gid("predicted")
        ax_bar.plot([s.true_label], [1.06], marker="v", color="k", linestyle="none",
                    gid="true", label=f"true class ({s.true_label})")
        ax_bar.set_ylim(0, 1.12)
        ax_bar.set_xticks(np.arange(self.n_classes))
        ax_bar.set_xlabel("class")
        ax_bar.set_ylabel("probability (softmax)")
        verdict = "wrong" if wrong else "right"
        ax_bar.set_title(f"predicted {s.predicted_label} "
                         f"(p = {s.probabilities[s.predicted_label]:.2f}), {verdict}",
                         color=_RED if wrong else "k")
        ax_bar.legend(loc="upper left", fontsize=8, frameon=False)
