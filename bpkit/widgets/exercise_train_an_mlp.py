"""SpiralLoop: train *your* ``make_model`` with *your* ``train_epoch`` on a spiral (exercise 07).

The widget builds the model with your ``make_model(rng)``, makes a ``CrossEntropyLoss`` and
the optimizer chosen in the dropdown, and each click of *Train* runs your
``train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng)`` for a few epochs. The left
panel is the decision boundary with the training points (filled) and held-out points
(hollow); the right one the loss of every epoch, with chance level ln 3 dashed. Changing the
optimizer, the learning rate or the batch size starts a fresh run, so too large and too
small learning rates can be compared.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.data import make_spiral, train_test_split
from bpkit.widgets._answers import error_html, returned_number, short_error, what
from bpkit.widgets._app import WidgetApp

__all__ = ["OPTIMIZERS", "SpiralLoop", "SpiralLoopState"]

#: the optimizers of the dropdown (classes of bpkit.optim of those names).
OPTIMIZERS = ("Adam", "SGD")


@dataclass
class SpiralLoopState:
    """The run so far.

    Shape:
        ``losses``: one float per epoch run (what your ``train_epoch`` returned);
        accuracies are of the current weights (NaN when your code raised).
    """

    optimizer: str
    lr: float
    batch_size: int
    epoch: int = 0
    losses: list[float] = field(default_factory=list)
    train_accuracy: float = float("nan")
    heldout_accuracy: float = float("nan")
    error: str = ""


class SpiralLoop(WidgetApp):
    """Train an MLP from your ``make_model`` with your ``train_epoch`` on a 3-arm spiral.

    Controls: ``optimizer`` (Dropdown "Adam"/"SGD"), ``lr`` (FloatLogSlider), ``batch_size``
    (Dropdown), ``epochs`` (IntSlider: epochs per click), ``train_button``, ``reset_button``.
    ``state`` is a :class:`SpiralLoopState`, ``model`` the network. An exception from your
    code, or a loss that is not finite, stops the run and is shown under the figure.

    Shape:
        ``make_model(rng)`` -> a Module mapping (N, 2) to logits (N, 3);
        ``train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng)`` -> a float.
    """

    def __init__(self, make_model: Callable[..., Any], train_epoch: Callable[..., Any], *,
                 optimizer: str = "Adam", lr: float = 0.01, batch_size: int = 32,
                 epochs: int = 10, rng: int = 0) -> None:
        import ipywidgets as widgets

        if not callable(make_model) or not callable(train_epoch):
            raise TypeError("SpiralLoop expected two functions, make_model and train_epoch")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"SpiralLoop: optimizer must be one of {list(OPTIMIZERS)}, "
                             f"got {optimizer!r}")
        self.make_model = make_model
        self.train_epoch = train_epoch
        self.seed = int(rng)
        X, y = make_spiral(300, 3, noise=0.2, rng=self.seed)
        self.X, self.X_held, self.y, self.y_held = train_test_split(
            X, y, test_size=0.25, rng=self.seed, stratify=True)
        self.optimizer_name = widgets.Dropdown(options=list(OPTIMIZERS), value=optimizer,
                                               description="optimizer")
        self.lr = widgets.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.5,
                                         description="lr", continuous_update=False)
        self.batch_size = widgets.Dropdown(options=[8, 16, 32, 64, 225], value=batch_size,
                                           description="batch size")
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=100, description="epochs/click",
                                        continuous_update=False)
        self.train_button = widgets.Button(description="Train", icon="play")
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        self.train_button.on_click(lambda _b: self.train())
        self.reset_button.on_click(lambda _b: self.reset())
        self._start()
        controls = [self.optimizer_name, self.lr, self.batch_size, self.epochs,
                    self.train_button, self.reset_button]
        super().__init__(controls, figsize=(10.0, 4.0), rows=[controls[:3], controls[3:]])

    # -- training ---------------------------------------------------------------------------
    def _start(self) -> None:
        from bpkit import CrossEntropyLoss, optim

        name = str(self.optimizer_name.value)
        self.state = SpiralLoopState(optimizer=name, lr=float(self.lr.value),
                                     batch_size=int(self.batch_size.value))
        self.rng = np.random.default_rng(self.seed)
        self.loss_fn = CrossEntropyLoss()
        try:
            self.model = self.make_model(self.rng)
            if not hasattr(self.model, "parameters") or not callable(self.model):
                raise TypeError(f"make_model returned {what(self.model)}; expected a Module "
                                "such as bp.Sequential(...)")
            opt_class = optim.Adam if name == "Adam" else optim.SGD
            self.optimizer = opt_class(self.model.parameters(), lr=self.state.lr)
        except Exception as exc:  # the learner's make_model
            self.model = None
            self.state.error = short_error(exc)

    def reset(self) -> None:
        """Start a fresh run: a new model from the same seed."""
        self._start()
        self.refresh()

    def train(self, epochs: int | None = None) -> None:
        """Run ``epochs`` (default: the slider's) more epochs of your ``train_epoch``."""
        n = int(self.epochs.value if epochs is None else epochs)
        s = self.state
        if self.model is not None and not s.error:
            with np.errstate(all="ignore"):
                for _ in range(n):
                    try:
                        loss = returned_number(
                            self.train_epoch(self.model, self.loss_fn, self.optimizer,
                                             self.X.copy(), self.y.copy(), s.batch_size,
                                             self.rng),
                            "train_epoch", "one float, the mean loss per point of the epoch")
                    except Exception as exc:  # the learner's train_epoch
                        s.error = short_error(exc)
                        break
                    s.losses.append(loss)
                    s.epoch += 1
                    if not math.isfinite(loss):
                        s.error = (f"the loss is {loss} in epoch {s.epoch}: the learning rate "
                                   "is too high")
                        break
        self.refresh()

    # -- WidgetApp ----------------------------------------------------------------------------
    def _on_change(self, change: dict) -> None:
        if change.get("owner") in (self.optimizer_name, self.lr, self.batch_size):
            self._start()
        self.refresh()

    def _accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        from bpkit.train import predict

        with np.errstate(all="ignore"):
            return float(np.mean(predict(self.model, X) == y))

    def update(self) -> None:
        """The accuracies of the current weights and the text under the figure."""
        s = self.state
        s.train_accuracy = s.heldout_accuracy = float("nan")
        if self.model is not None and not s.error:
            try:
                s.train_accuracy = self._accuracy(self.X, self.y)
                s.heldout_accuracy = self._accuracy(self.X_held, self.y_held)
            except Exception as exc:
                s.error = short_error(exc)
        if s.error:
            self.message.value = error_html("Stopped", s.error)
            return
        last = f", loss {s.losses[-1]:.4f}" if s.losses else ""
        self.message.value = html.escape(
            f"{s.optimizer}, lr = {s.lr:g}, batch size {s.batch_size}: epoch {s.epoch}{last}, "
            f"training accuracy {s.train_accuracy:.1%}, held-out {s.heldout_accuracy:.1%}"
        )

    def draw(self, figure: Any) -> None:
        """Left: the decision boundary. Right: the loss per epoch and ln 3."""
        from bpkit.plot import plot_decision_boundary

        s = self.state
        left, right = figure.subplots(1, 2)
        if self.model is not None and not s.error:
            plot_decision_boundary(self.model, self.X, self.y, ax=left, X_test=self.X_held,
                                   y_test=self.y_held, resolution=60)
            left.set_title(f"epoch {s.epoch}: train {s.train_accuracy:.0%}, "
                           f"held-out {s.heldout_accuracy:.0%}")
        else:
            left.scatter(self.X[:, 0], self.X[:, 1], c=self.y, s=12, cmap="viridis")
            left.set_title("stopped: no boundary")
        finite = [v for v in s.losses if math.isfinite(v)]
        if finite:
            right.plot(np.arange(1, len(finite) + 1), finite, color="C0", marker=".",
                       gid="loss")
        right.axhline(math.log(3), color="0.5", ls="--", lw=1, label="ln 3 (chance)",
                      gid="chance")
        right.set_xlim(0, max(len(s.losses), 10))
        right.set_xlabel("epoch")
        right.set_ylabel("mean training loss")
        right.set_title(f"{s.optimizer}, lr = {s.lr:g}")
        right.legend(fontsize="small")
