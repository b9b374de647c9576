"""LinearLayerTrainer: train an MLP built from *your* Linear layer and watch it (exercise 03).

The network is ``Sequential(Linear(2, H), ReLU(), Linear(H, H), ReLU(), Linear(H, C))`` with
your ``Linear`` class in every linear slot, trained full-batch on a toy set with
``bpkit.CrossEntropyLoss`` and ``bpkit.optim.Adam``. Press *Train* to run more epochs: the
decision boundary on the left and the loss curve on the right move as your ``forward`` and
``backward`` do their work.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.data import make_moons, make_spiral
from bpkit.widgets._answers import error_html, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["DATASETS", "LinearLayerTrainer", "TrainerState", "build_mlp", "train_epochs"]

def _moons(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_moons(200, noise=0.15, rng=seed)


def _spiral(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_spiral(240, 3, noise=0.2, rng=seed)


#: name -> the function making that toy set from a seed (X (N, 2), y (N,) class indices).
DATASETS: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "moons": _moons,
    "spiral": _spiral,
}


def build_mlp(layer_class: type, n_in: int, hidden: int, n_out: int,
              rng: np.random.Generator) -> Any:
    """An MLP with ``layer_class`` in every linear slot and ReLU between.

    Shape:
        input (N, n_in) -> logits (N, n_out); hidden layers of width ``hidden``.
        ``layer_class(in_features, out_features, rng=rng)`` builds each linear layer.
    """
    from bpkit import ReLU, Sequential

    return Sequential(
        layer_class(n_in, hidden, rng=rng), ReLU(),
        layer_class(hidden, hidden, rng=rng), ReLU(),
        layer_class(hidden, n_out, rng=rng),
    )


def train_epochs(model: Any, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray,
                 epochs: int) -> list[float]:
    """``epochs`` full-batch steps of gradient descent; returns the loss before each step.

    Shape:
        X (N, features), y (N,) class indices; returns a list of ``epochs`` floats.
    """
    losses = []
    for _ in range(epochs):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        losses.append(float(loss))
    return losses


@dataclass
class TrainerState:
    """The training so far: epochs run, the loss of each, and the accuracy now.

    Shape:
        ``losses`` one float per epoch run; ``accuracy`` the training accuracy of the
        current parameters (NaN if your layer raised or the loss is not finite).
    """

    dataset: str
    epoch: int
    losses: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    error: str = ""


class LinearLayerTrainer(WidgetApp):
    """Train an MLP made of your ``Linear`` layers on a toy set, a few epochs per click.

    Controls: ``dataset`` (Dropdown: "moons" or "spiral"; changing it starts afresh),
    ``epochs`` (IntSlider: epochs per click), ``train_button`` and ``reset_button``.
    ``state`` is a :class:`TrainerState`; ``model`` is the network. The left panel is the
    decision boundary (``bpkit.plot.plot_decision_boundary``), the right the loss per epoch.
    An exception from your layer (or a NaN loss) stops training and is shown in the panel.

    Shape:
        ``layer_class(in_features, out_features, rng=Generator)`` must build a layer with
        forward (N, in) -> (N, out) and backward (N, out) -> (N, in).
    """

    def __init__(self, layer_class: type, *, dataset: str = "moons", hidden: int = 16,
                 lr: float = 0.01, epochs: int = 20, rng: int = 0) -> None:
        import ipywidgets as widgets

        if not isinstance(layer_class, type):
            raise TypeError(f"LinearLayerTrainer expected a layer class, got "
                            f"{type(layer_class).__name__}")
        if dataset not in DATASETS:
            raise ValueError(f"LinearLayerTrainer: dataset must be one of {sorted(DATASETS)}, "
                             f"got {dataset!r}")
        self.layer_class = layer_class
        self.hidden = int(hidden)
        self.lr = float(lr)
        self.seed = int(rng)
        self.dataset = widgets.Dropdown(options=sorted(DATASETS), value=dataset,
                                        description="data")
        self.epochs = widgets.IntSlider(value=epochs, min=5, max=300, step=5,
                                        description="epochs/click", continuous_update=False)
        self.train_button = widgets.Button(description="Train", icon="play")
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        self.train_button.on_click(lambda _b: self.train())
        self.reset_button.on_click(lambda _b: self.reset())
        self._start(dataset)
        super().__init__([self.dataset, self.epochs, self.train_button, self.reset_button],
                         figsize=(10.0, 4.0))

    # -- training ---------------------------------------------------------------------------
    def _start(self, name: str) -> None:
        from bpkit import CrossEntropyLoss, optim

        self.X, self.y = DATASETS[name](self.seed)
        classes = int(self.y.max()) + 1
        self.state = TrainerState(dataset=name, epoch=0)
        try:
            self.model = build_mlp(self.layer_class, 2, self.hidden, classes,
                                   np.random.default_rng(self.seed))
        except Exception as exc:  # the learner's constructor
            self.model = None
            self.state.error = short_error(exc)
            return
        self.loss_fn = CrossEntropyLoss()
        self.optimizer = optim.Adam(self.model.parameters(), lr=self.lr)

    def reset(self) -> None:
        """Start again from the initial parameters (same seed)."""
        self._start(str(self.dataset.value))
        self.refresh()

    def train(self, epochs: int | None = None) -> None:
        """Run ``epochs`` (default: the slider's value) more epochs and redraw."""
        n = int(self.epochs.value if epochs is None else epochs)
        if self.model is not None and not self.state.error:
            try:
                with np.errstate(all="ignore"):
                    losses = train_epochs(self.model, self.loss_fn, self.optimizer,
                                          self.X, self.y, n)
            except Exception as exc:  # the learner's forward/backward
                self.state.error = short_error(exc)
            else:
                self.state.losses += losses
                self.state.epoch += n
                if not np.all(np.isfinite(losses)):
                    self.state.error = "the loss is not finite (NaN or inf): check backward"
        self.refresh()

    # -- WidgetApp ----------------------------------------------------------------------------
    def _on_change(self, change: dict) -> None:
        if change.get("owner") is self.dataset:
            self._start(str(self.dataset.value))
        self.refresh()

    def update(self) -> None:
        """The accuracy of the current parameters and the text under the figure."""
        s = self.state
        s.dataset = str(self.dataset.value)
        s.accuracy = float("nan")
        if self.model is not None and not s.error:
            try:
                logits = self.model(self.X)
            except Exception as exc:
                s.error = short_error(exc)
            else:
                want = (len(self.X), int(self.y.max()) + 1)
                if not isinstance(logits, np.ndarray) or logits.shape != want:
                    got = (f"shape {logits.shape}" if isinstance(logits, np.ndarray)
                           else f"a {type(logits).__name__}")
                    s.error = (f"the network built from your layer returned {got} for input "
                               f"{self.X.shape}; expected an array of shape {want}: check "
                               "what forward returns")
                elif np.all(np.isfinite(logits)):
                    s.accuracy = float(np.mean(logits.argmax(axis=1) == self.y))
        if s.error:
            self.message.value = error_html("Your layer", s.error)
        else:
            last = f", loss {s.losses[-1]:.4f}" if s.losses else ""
            self.message.value = html.escape(
                f"epoch {s.epoch}{last}, training accuracy {s.accuracy:.1%}"
            )

    def draw(self, figure: Any) -> None:
        """Left: the decision boundary of the current model. Right: loss per epoch."""
        from bpkit.plot import plot_decision_boundary

        s = self.state
        left, right = figure.subplots(1, 2)
        if self.model is not None and not s.error:
            plot_decision_boundary(self.model, self.X, self.y, ax=left, resolution=60)
            left.set_title(f"Epoch {s.epoch}: training accuracy {s.accuracy:.1%}")
        else:
            left.scatter(self.X[:, 0], self.X[:, 1], c=self.y, s=12, cmap="coolwarm")
            reason = ("the loss is not finite" if s.error.startswith("the loss")
                      else "your layer failed")
            left.set_title(f"{reason}: no boundary")
            left.set_xlabel("$x_1$")
            left.set_ylabel("$x_2$")
        if s.losses:
            right.plot(np.arange(1, len(s.losses) + 1), s.losses, color="C0", gid="loss")
        right.set_xlim(0, max(len(s.losses), 10))
        right.set_xlabel("epoch")
        right.set_ylabel("cross-entropy loss")
        right.set_title("Training loss")
