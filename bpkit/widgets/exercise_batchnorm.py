"""BatchNormTrainer: a deep sigmoid network trained with *your* BatchNorm1d (exercise 09).

Two copies of the same deep network (``depth`` blocks Linear(64, 64) → [BatchNorm1d] →
Sigmoid, Xavier initialisation, a Linear(64, 10) head) are trained side by side on 600
standardised digits, with SGD and momentum: one with your ``BatchNorm1d`` before every
sigmoid, one without. Press *Train* for more epochs. The left panel shows both losses; the
right one the std of every sigmoid's input, in training mode (batch statistics) and in eval
mode (your running statistics): with a right layer the two agree after some training.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.module import preserved
from bpkit.widgets._answers import error_html, short_error
from bpkit.widgets._app import WidgetApp

__all__ = ["BatchNormTrainer", "BatchNormTrainerState", "build_network", "digits"]

WIDTH, CLASSES, SAMPLES = 64, 10, 600


def digits() -> tuple[np.ndarray, np.ndarray]:
    """600 standardised digits: X (600, 64), y (600,)."""
    from bpkit.data import load_digits

    X, y = load_digits()
    X, y = X[:SAMPLES], y[:SAMPLES]
    return (X - X.mean(0)) / (X.std(0) + 1e-8), y


def build_network(depth: int, norm_class: type | None, rng: int) -> Any:
    """``depth`` blocks Linear(64, 64) → [norm_class(64)] → Sigmoid, then Linear(64, 10).

    Shape:
        input (N, 64) -> logits (N, 10). Weights Xavier-normal from the seed ``rng`` (the
        same with and without normalisation), biases 0.
    """
    from bpkit import Linear, Sequential, Sigmoid, init

    gen = np.random.default_rng(rng)
    layers: list[Any] = []
    for _ in range(int(depth)):
        layers.append(Linear(WIDTH, WIDTH, rng=gen))
        if norm_class is not None:
            layers.append(norm_class(WIDTH))
        layers.append(Sigmoid())
    layers.append(Linear(WIDTH, CLASSES, rng=gen))
    for layer in layers:
        if isinstance(layer, Linear):
            init.xavier_normal(layer.weight, rng=gen)
            init.zeros(layer.bias)
    return Sequential(*layers)


@dataclass
class BatchNormTrainerState:
    """Training so far, with and without your layer.

    Shape:
        ``loss_bn``, ``loss_plain``: one mean training loss per epoch; ``std_train``,
        ``std_eval``: (depth,) the std of each sigmoid's input on the whole set, in training
        and in eval mode; ``accuracy_eval``: eval-mode accuracy of the network with your layer.
    """

    depth: int
    epoch: int = 0
    loss_bn: list[float] = field(default_factory=list)
    loss_plain: list[float] = field(default_factory=list)
    std_train: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std_eval: np.ndarray = field(default_factory=lambda: np.zeros(0))
    accuracy_eval: float = float("nan")
    accuracy_plain: float = float("nan")
    error: str = ""


def _sigmoid_inputs(model: Any, X: np.ndarray, train: bool) -> np.ndarray:
    """The std of the input of every Sigmoid, in the given mode (running stats untouched).

    The model is back in its modes afterwards, with its running statistics (the layers'
    ``buffers``) as they were, even when a layer raises.
    """
    from bpkit import Linear, Sigmoid

    stds, h = [], X
    with preserved(model):  # a training-mode look must not count as a training step
        model.train(train)
        for layer in model.layers if hasattr(model, "layers") else model.children():
            if isinstance(layer, Sigmoid):
                stds.append(float(np.std(h)))
            h = layer(h)
            if not isinstance(layer, (Linear, Sigmoid)) and (
                    not isinstance(h, np.ndarray) or h.shape != (len(X), WIDTH)):
                got = f"shape {h.shape}" if isinstance(h, np.ndarray) else (
                    "None (is `return` missing?)" if h is None else f"a {type(h).__name__}")
                raise TypeError(f"{type(layer).__name__}.forward returned {got}; expected an "
                                f"array of shape {(len(X), WIDTH)}")
    return np.array(stds)


class BatchNormTrainer(WidgetApp):
    """Train a deep sigmoid network with and without your ``BatchNorm1d``, a few epochs per click.

    Controls: ``depth`` (IntSlider 2-12; changing it starts afresh), ``epochs`` (IntSlider:
    epochs per click), ``train_button``, ``reset_button``. ``state`` is a
    :class:`BatchNormTrainerState`. An exception from your layer stops training and is shown.

    Shape:
        ``norm_class(64)`` must build a layer mapping (N, 64) -> (N, 64) with ``backward``,
        ``train()``/``eval()``, ``running_mean`` and ``running_var``.
    """

    def __init__(self, norm_class: type, *, depth: int = 10, epochs: int = 2, lr: float = 0.1,
                 rng: int = 0) -> None:
        import ipywidgets as widgets

        if not isinstance(norm_class, type):
            raise TypeError(f"BatchNormTrainer expected a layer class, got "
                            f"{type(norm_class).__name__}")
        self.norm_class = norm_class
        self.lr = float(lr)
        self.seed = int(rng)
        self.X, self.y = digits()
        self.depth = widgets.IntSlider(value=depth, min=2, max=12, description="depth",
                                       continuous_update=False)
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=10,
                                        description="epochs/click", continuous_update=False)
        self.train_button = widgets.Button(description="Train", icon="play")
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        self.train_button.on_click(lambda _b: self.train())
        self.reset_button.on_click(lambda _b: self.reset())
        self._start()
        super().__init__([self.depth, self.epochs, self.train_button, self.reset_button],
                         figsize=(10.0, 3.8))

    def _start(self) -> None:
        from bpkit import CrossEntropyLoss, optim

        depth = int(self.depth.value)
        self.state = BatchNormTrainerState(depth=depth)
        self.loss_fn = CrossEntropyLoss()
        self.plain = build_network(depth, None, self.seed)
        self.plain_opt = optim.SGD(self.plain.parameters(), lr=self.lr, momentum=0.9)
        self.batch_rng = np.random.default_rng(self.seed)
        try:
            self.model = build_network(depth, self.norm_class, self.seed)
        except Exception as exc:  # the learner's constructor
            self.model = None
            self.state.error = short_error(exc)
            return
        self.opt = optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.9)

    def reset(self) -> None:
        """Start again from the same initial weights."""
        self._start()
        self.refresh()

    def _epoch(self) -> tuple[float, float]:
        order = self.batch_rng.permutation(len(self.X))
        totals = [0.0, 0.0]
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            for k, (model, opt) in enumerate(((self.model, self.opt),
                                              (self.plain, self.plain_opt))):
                loss = self.loss_fn(model(self.X[idx]), self.y[idx])
                opt.zero_grad()
                model.backward(self.loss_fn.backward())
                opt.step()
                totals[k] += float(loss) * len(idx)
        return totals[0] / len(self.X), totals[1] / len(self.X)

    def train(self, epochs: int | None = None) -> None:
        """Run ``epochs`` (default: the slider's) more epochs of both networks and redraw."""
        n = int(self.epochs.value if epochs is None else epochs)
        if self.model is not None and not self.state.error:
            try:
                with np.errstate(all="ignore"):
                    for _ in range(n):
                        with_bn, plain = self._epoch()
                        self.state.loss_bn.append(with_bn)
                        self.state.loss_plain.append(plain)
                        self.state.epoch += 1
            except Exception as exc:  # the learner's forward/backward
                self.state.error = short_error(exc)
        self.refresh()

    def _on_change(self, change: dict) -> None:
        if change.get("owner") is self.depth:
            self._start()
        self.refresh()

    def update(self) -> None:
        """The per-layer stds and eval-mode accuracies of the current networks."""
        s = self.state
        if self.model is not None and not s.error:
            try:
                with np.errstate(all="ignore"):
                    std_train = _sigmoid_inputs(self.model, self.X, train=True)
                    std_eval = _sigmoid_inputs(self.model, self.X, train=False)
                    with preserved(self.model):
                        self.model.eval()
                        s.accuracy_eval = float(np.mean(self.model(self.X).argmax(1) == self.y))
                s.std_train, s.std_eval = std_train, std_eval
            except Exception as exc:
                s.error = short_error(exc)
                s.std_train, s.std_eval = np.zeros(0), np.zeros(0)
        s.accuracy_plain = float(np.mean(self.plain(self.X).argmax(1) == self.y))
        if s.error:
            self.message.value = error_html("Your layer", s.error)
        else:
            self.message.value = html.escape(
                f"epoch {s.epoch}: accuracy (eval mode) with your BatchNorm1d "
                f"{s.accuracy_eval:.1%}, without {s.accuracy_plain:.1%}")

    def draw(self, figure: Any) -> None:
        """Left: training loss per epoch. Right: std of each sigmoid's input."""
        s = self.state
        left, right = figure.subplots(1, 2)
        epochs = np.arange(1, s.epoch + 1)
        if s.loss_bn:
            left.plot(epochs, s.loss_bn, "o-", color="C0", gid="loss-bn",
                      label="with your BatchNorm1d")
            left.plot(epochs, s.loss_plain, "o-", color="C1", gid="loss-plain",
                      label="without")
            left.legend(fontsize="small")
        left.axhline(np.log(CLASSES), color="0.5", ls="--", lw=1)
        left.set_xlim(0, max(s.epoch, 5) + 0.5)
        left.set_xlabel("epoch")
        left.set_ylabel("training loss")
        left.set_title(f"{s.depth}-layer sigmoid network on digits")
        layers = np.arange(1, len(s.std_train) + 1)
        if len(s.std_train):
            right.plot(layers, s.std_train, "o-", color="C0", gid="std-train",
                       label="training mode (batch statistics)")
            right.plot(layers, s.std_eval, "s--", color="C2", gid="std-eval",
                       label="eval mode (running statistics)")
            right.legend(fontsize="small")
        right.axhline(1.0, color="0.5", ls=":", lw=1)
        right.set_ylim(0, 2)
        right.set_xlabel("layer")
        right.set_ylabel("std of the sigmoid's input")
        right.set_title("After your BatchNorm1d" if not s.error else "your layer failed")
