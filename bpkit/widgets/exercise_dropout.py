"""DropoutLab: *your* Dropout on a grid of ones, one mask and the average of many (exercise 10).

Move the drop probability ``p``, switch between training and eval mode, change the seed
and the number of forward passes averaged. The left panel is your layer's output for one
forward pass of ``x = ones((8, 16))`` (dropped units dark, kept ones at 1/(1 - p)); the
right panel is the average output of every unit over the passes, which inverted dropout
keeps near 1, the eval-mode value.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.widgets._answers import error_html, returned_array, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["DropoutLab", "DropoutState", "average_output"]

SHAPE = (8, 16)  # the grid of units shown


def average_output(layer: Any, passes: int, shape: tuple[int, ...] = SHAPE
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The first output and the mean output of ``passes`` forward passes on ones.

    Shape:
        returns two arrays of ``shape``.
    """
    first = returned_array(layer(np.ones(shape)), "forward")
    total = first.copy()
    for _ in range(passes - 1):  # a fresh x each pass: a forward that writes into x can't compound
        total += returned_array(layer(np.ones(shape)), "forward")
    return first, total / passes


def _changes_input(layer: Any) -> bool:
    """Whether one forward pass of ``layer`` wrote into its input array."""
    x = np.ones(SHAPE)
    layer(x)
    return not np.array_equal(x, np.ones(SHAPE))


@dataclass
class DropoutState:
    """What the lab shows for the current controls.

    Shape:
        ``first`` and ``mean`` (8, 16); ``zero_fraction`` and ``overall_mean`` floats;
        ``error`` the text of an exception from your class ("" if none).
    """

    p: float
    mode: str
    seed: int
    passes: int
    first: np.ndarray | None = None
    mean: np.ndarray | None = None
    zero_fraction: float = float("nan")
    overall_mean: float = float("nan")
    error: str = ""
    input_changed: bool = False  # your forward wrote into the x it was given


class DropoutLab(WidgetApp):
    """Your ``Dropout`` class in training and eval mode, one mask and the average of many.

    Controls: ``p`` (FloatSlider 0-0.9), ``mode`` (ToggleButtons "train"/"eval"), ``seed``
    (IntSlider) and ``passes`` (IntSlider: forward passes averaged). ``state`` is a
    :class:`DropoutState`. An exception from your class is shown instead of raised.

    Shape:
        ``dropout_class(p, rng=seed)`` builds a layer mapping (8, 16) to (8, 16).
    """

    def __init__(self, dropout_class: type, *, p: float = 0.5, mode: str = "train",
                 seed: int = 0, passes: int = 50) -> None:
        import ipywidgets as widgets

        if not isinstance(dropout_class, type):
            raise TypeError(f"DropoutLab expected a layer class, got "
                            f"{type(dropout_class).__name__}")
        if not 0 <= p <= 0.9:
            raise ValueError(f"DropoutLab: p must be in [0, 0.9], got {p}")
        if mode not in ("train", "eval"):
            raise ValueError(f"DropoutLab: mode must be 'train' or 'eval', got {mode!r}")
        self.dropout_class = dropout_class
        self.p = widgets.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="p",
                                     continuous_update=False)
        self.mode = widgets.ToggleButtons(options=["train", "eval"], value=mode,
                                          description="mode")
        self.seed = widgets.IntSlider(value=seed, min=0, max=50, description="seed",
                                      continuous_update=False)
        self.passes = widgets.IntSlider(value=passes, min=1, max=500, description="passes",
                                        continuous_update=False)
        super().__init__([self.p, self.mode, self.seed, self.passes], figsize=(10.0, 3.6),
                         rows=[[self.p, self.mode], [self.seed, self.passes]])

    def update(self) -> None:
        """Run your layer on ones: one pass, then the average of ``passes`` passes."""
        s = DropoutState(p=round(float(self.p.value), 4), mode=str(self.mode.value),
                         seed=int(self.seed.value), passes=int(self.passes.value))
        try:
            layer = self.dropout_class(s.p, rng=s.seed)
            layer.train(s.mode == "train")
            with np.errstate(all="ignore"):
                s.first, s.mean = average_output(layer, s.passes)
                probe = self.dropout_class(s.p, rng=s.seed)
                probe.train(s.mode == "train")
                s.input_changed = _changes_input(probe)
        except Exception as exc:  # the learner's class
            s.error = short_error(exc)
        if s.first is not None and s.first.shape == SHAPE:
            s.zero_fraction = float(np.mean(s.first == 0))
            s.overall_mean = float(np.mean(s.mean))
        elif not s.error:
            s.error = f"the output has shape {np.shape(s.first)}, not {SHAPE}"
        self.state = s
        if s.error:
            self.message.value = error_html("Your layer", s.error)
        else:
            self.message.value = html.escape(
                f"{s.mode} mode, p = {s.p:g}: {s.zero_fraction:.0%} of the units dropped in "
                f"this pass; the mean over {s.passes} passes is {s.overall_mean:.3f} "
                f"(eval mode gives exactly 1)")
            if s.input_changed:
                self.message.value += html.escape(
                    ";  ✘ your forward changed the input x it was given (compute a new array)")

    def draw(self, figure: Any) -> None:
        """Left: one output. Right: every unit's mean output over the passes."""
        s = self.state
        left, right = figure.subplots(1, 2)
        if s.error:
            left.set_title("your layer failed: see below")
            right.set_title("")
            return
        top = max(1.0 / (1.0 - s.p), 1.0)
        left.imshow(s.first, cmap="viridis", vmin=0.0, vmax=top, gid="first")
        left.set_title(f"one {s.mode} pass: {s.zero_fraction:.0%} dropped")
        left.set_xticks([])
        left.set_yticks([])
        means = s.mean.ravel()
        finite = means[np.isfinite(means)]
        right.plot(np.arange(means.size), means, ".", color="C0", gid="means")
        right.axhline(1.0, color="C3", ls="--", lw=1, label="eval value (1)")
        if np.isfinite(s.overall_mean):
            right.axhline(s.overall_mean, color="C0", lw=1, label="average of all units")
        top = float(finite.max()) * 1.05 if finite.size else 2.0
        right.set_ylim(0.0, max(2.0, top))
        right.set_xlabel("unit")
        right.set_ylabel(f"mean over {s.passes} passes")
        right.set_title("each unit's average output")
        right.legend(fontsize="small", loc="upper right")
