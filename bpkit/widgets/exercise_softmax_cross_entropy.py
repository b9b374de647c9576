"""SoftmaxLossExplorer: your softmax, loss and gradient for three logits (exercise 05).

Move three logits and pick the true class: the left panel shows the probabilities of
*your* ``softmax`` as bars (bpkit's as black ticks), the right panel the gradient
dL/dz that *your* ``backward`` returns (bpkit's as ticks), and the titles give your loss
against bpkit's. The *shift* slider adds the same number, up to 1000, to every logit:
softmax, the loss and the gradient must not change, and a naive ``exp`` overflows long
before 1000.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.losses import CrossEntropyLoss, softmax
from bpkit.widgets._answers import error_html, returned_array, returned_number, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["SoftmaxLossExplorer", "SoftmaxLossState", "run_learner"]

CLASSES = 3
TOL = 1e-6  # yours agrees with bpkit when every difference is below TOL * (1 + |bpkit's|)


def run_learner(softmax_fn: Any, loss_class: type, z: np.ndarray, label: int
                ) -> tuple[np.ndarray, float, np.ndarray]:
    """Your softmax of one row of logits, your loss and your gradient for the true ``label``.

    Floating-point warnings are silenced (an overflow shows as inf or nan in the result);
    exceptions propagate.

    Shape:
        ``z`` (C,) -> probabilities (C,), a float loss, gradient (C,).
    """
    logits = np.asarray(z, dtype=np.float64).reshape(1, -1)
    labels = np.array([int(label)])
    with np.errstate(all="ignore"):
        p = _row(softmax_fn(logits.copy()), "your softmax", logits.shape)
        loss_fn = loss_class()
        value = returned_number(loss_fn(logits.copy(), labels.copy()), "your loss",
                                "one float, the mean over the batch")
        grad = _row(loss_fn.backward(), "your backward", logits.shape)
    return p, value, grad


def _row(value: Any, who: str, shape: tuple[int, ...]) -> np.ndarray:
    """An (N, C) result as the (C,) row shown, or an error naming what came instead."""
    expected = f"one array of shape {shape}"
    return returned_array(value, who, expected, shape, given="logits").reshape(-1)


@dataclass
class SoftmaxLossState:
    """The logits as shown, and your results against bpkit's.

    Shape:
        ``z``, ``p``, ``p_ref``, ``grad`` and ``grad_ref``: (3,) (NaN where your code raised);
        ``loss`` and ``loss_ref`` floats; ``label`` the true class.
    """

    z: np.ndarray
    label: int
    p: np.ndarray
    p_ref: np.ndarray
    loss: float
    loss_ref: float
    grad: np.ndarray
    grad_ref: np.ndarray
    agree: bool
    finite: bool
    error: str


class SoftmaxLossExplorer(WidgetApp):
    """Three logits through your softmax and your cross-entropy, forward and backward.

    ``softmax_fn(z)`` maps logits (N, C) to probabilities; ``loss_class()`` builds a loss
    with ``loss(logits, labels) -> float`` and ``backward() -> (N, C)``. Controls: ``z0``,
    ``z1``, ``z2`` (FloatSliders, -10..10), ``shift`` (FloatSlider, 0..1000, added to every
    logit) and ``label`` (Dropdown: the true class). ``state`` is a
    :class:`SoftmaxLossState`. Exceptions from your code are shown, not raised.

    Shape:
        one sample: logits (1, 3), labels (1,).
    """

    def __init__(self, softmax_fn: Any, loss_class: type, *,
                 logits: tuple[float, float, float] = (2.0, 1.0, 0.0), label: int = 0,
                 shift: float = 0.0) -> None:
        import ipywidgets as widgets

        if not callable(softmax_fn):
            raise TypeError(f"SoftmaxLossExplorer expected a softmax function, got "
                            f"{type(softmax_fn).__name__}")
        if not isinstance(loss_class, type):
            raise TypeError(f"SoftmaxLossExplorer expected a loss class, got "
                            f"{type(loss_class).__name__}")
        if len(logits) != CLASSES:
            raise ValueError(f"SoftmaxLossExplorer expected {CLASSES} logits, got {len(logits)}")
        if label not in range(CLASSES):
            raise ValueError(f"SoftmaxLossExplorer expected label in 0..{CLASSES - 1}, "
                             f"got {label}")
        self.softmax_fn = softmax_fn
        self.loss_class = loss_class
        self.z0, self.z1, self.z2 = (
            widgets.FloatSlider(value=float(v), min=-10.0, max=10.0, step=0.25,
                                description=f"z{i}", continuous_update=False)
            for i, v in enumerate(logits)
        )
        self.shift = widgets.FloatSlider(value=float(shift), min=0.0, max=1000.0, step=10.0,
                                         description="shift", continuous_update=False)
        self.label = widgets.Dropdown(options=list(range(CLASSES)), value=label,
                                      description="true class")
        controls = [self.z0, self.z1, self.z2, self.shift, self.label]
        super().__init__(controls, rows=[controls[:3], controls[3:]], figsize=(10.0, 3.6))

    def update(self) -> None:
        """Your softmax, loss and gradient at the current logits, and bpkit's."""
        z = np.array([self.z0.value, self.z1.value, self.z2.value]) + float(self.shift.value)
        label = int(self.label.value)
        reference = CrossEntropyLoss()
        loss_ref = reference(z[None, :], np.array([label]))
        grad_ref = reference.backward()[0]
        p_ref = softmax(z[None, :])[0]
        nan = np.full(CLASSES, np.nan)
        state = SoftmaxLossState(z, label, nan, p_ref, float("nan"), loss_ref, nan.copy(),
                                 grad_ref, False, False, "")
        try:
            p, value, grad = run_learner(self.softmax_fn, self.loss_class, z, label)
        except Exception as exc:  # the learner's code: shown, not raised
            state.error = short_error(exc)
        else:
            state.p, state.loss, state.grad = p, value, grad
            state.finite = bool(np.all(np.isfinite(p)) and np.isfinite(value)
                                and np.all(np.isfinite(grad)))
            yours = np.concatenate([p, [value], grad])
            ref = np.concatenate([p_ref, [loss_ref], grad_ref])
            state.agree = state.finite and bool(
                np.all(np.abs(yours - ref) <= TOL * (1 + np.abs(ref))))
        self.state = state
        self._message()

    def _message(self) -> None:
        s = self.state
        if s.error:
            self.message.value = error_html("Your code", s.error)
        elif s.agree:
            self.message.value = html.escape(
                f"✔ your softmax, loss ({s.loss:.4f}) and gradient match bpkit's")
        elif not s.finite:
            self.message.value = html.escape(
                "✘ your results contain inf or nan: an exp overflowed or a log saw 0")
        else:
            self.message.value = html.escape(
                f"✘ your loss {s.loss:.4f} or your probabilities / gradient differ from "
                f"bpkit's (loss {s.loss_ref:.4f})")

    def draw(self, figure: Any) -> None:
        """Left: probabilities, yours (bars) and bpkit's (ticks). Right: the gradient."""
        s = self.state
        left, right = figure.subplots(1, 2)
        classes = np.arange(CLASSES)
        colors = ["C2" if k == s.label else "C0" for k in classes]
        for ax, yours, ref, title in (
            (left, s.p, s.p_ref, f"softmax: your loss {s.loss:.4g} (bpkit {s.loss_ref:.4g})"),
            (right, s.grad, s.grad_ref, "dL/dz from your backward"),
        ):
            shown = np.where(np.isfinite(yours), yours, 0.0)
            ax.bar(classes, shown, color=colors, gid="yours")
            ax.plot(classes, ref, "k_", ms=30, mew=2, gid="bpkit")
            ax.set_xticks(classes, [f"class {k}" + (" (true)" if k == s.label else "")
                                    for k in classes])
            ax.axhline(0, color="0.6", lw=0.6)
            ax.set_title(title, fontsize="medium")
        left.set_ylim(0, 1.05)
        right.set_ylim(-1.05, 1.05)
        shift = f" + {s.z[0] - self.z0.value:g}" if self.shift.value else ""
        left.set_xlabel(f"z = ({self.z0.value:g}, {self.z1.value:g}, {self.z2.value:g}){shift}")
