"""RegularizationExplorer: weight decay and dropout against training and validation curves.

A fixed MLP (64 → 64 → 64 → 10, ReLU, a ``Dropout`` after each hidden layer) is trained on a
small fixed subset of the digits (100 training and 500 validation images, standardised with
the training statistics) by mini-batch SGD with momentum. Choose the weight decay (tick
**weight decay** to turn it on, then pick its strength on a log slider), the dropout rate
and the number of epochs; the app retrains and draws the training and validation loss and
accuracy after every epoch, marking the epoch of lowest validation loss (where early
stopping with ``restore_best=True`` would end up).

**When it retrains**: whenever a control changes (sliders report only when released,
``continuous_update=False``); about a second per run. Everything is seeded (initial weights,
dropout masks, batch order), so the same settings always draw the same curves.

The training curves are measured in eval mode on the whole training set after each epoch
(no dropout, no penalty term), so they compare directly with the validation curves.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit._checks import as_rng
from bpkit.data import Standardizer, batches, load_digits, train_test_split
from bpkit.layers import Dropout, Linear, ReLU
from bpkit.losses import CrossEntropyLoss
from bpkit.module import Sequential
from bpkit.optim import SGD
from bpkit.train import accuracy
from bpkit.widgets._app import WidgetApp

__all__ = [
    "RegularizationExplorer",
    "RegularizationState",
    "digits_subset",
    "make_dropout_mlp",
    "train_curves",
    "weight_norm",
]

N_TRAIN, N_VAL = 100, 500  # a small training set overfits; a large validation set is stable
HIDDEN = 64
LR, MOMENTUM, BATCH_SIZE = 0.02, 0.9, 50
LOG10_WD_MIN, LOG10_WD_MAX = -4.0, -1.0  # weight-decay slider range (log10)
P_MAX = 0.7
EPOCHS_MIN, EPOCHS_MAX, EPOCHS_STEP = 10, 150, 10
SEED = 0  # initial weights, dropout masks and batch order


def digits_subset(n_train: int = N_TRAIN, n_val: int = N_VAL
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed stratified subset of the digits, standardised: ``X_train, y_train, X_val, y_val``.

    Shape:
        X_train (n_train, 64), y_train (n_train,), X_val (n_val, 64), y_val (n_val,);
        float64 features with the training set's mean 0 and std 1 per pixel (constant
        pixels only centred), int64 labels in {0, ..., 9}.
    """
    X, y = load_digits()
    if not (10 <= n_train and 1 <= n_val and n_train + n_val <= len(X)):
        raise ValueError(f"digits_subset expected 10 <= n_train and 1 <= n_val with n_train + "
                         f"n_val <= {len(X)}, got n_train={n_train!r}, n_val={n_val!r}")
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, len(X) - n_train, rng=SEED,
                                                        stratify=True)
    scaler = Standardizer().fit(X_train)
    return (scaler.transform(X_train), y_train,
            scaler.transform(X_rest[:n_val]), y_rest[:n_val])


def make_dropout_mlp(p: float = 0.0, *, hidden: int = HIDDEN,
                     rng: np.random.Generator | int | None = None) -> Sequential:
    """The explorer's MLP: two hidden ReLU layers, each followed by ``Dropout(p)``.

    Shape:
        input (N, 64) -> logits (N, 10).

    ``Linear(64, h), ReLU, Dropout(p), Linear(h, h), ReLU, Dropout(p), Linear(h, 10)``; the
    weights and the dropout masks are drawn from ``rng`` (p = 0 makes Dropout the identity).
    """
    gen = as_rng(rng, "make_dropout_mlp")
    return Sequential(
        Linear(64, hidden, rng=gen), ReLU(), Dropout(p, rng=gen),
        Linear(hidden, hidden, rng=gen), ReLU(), Dropout(p, rng=gen),
        Linear(hidden, 10, rng=gen),
    )


def weight_norm(model: Sequential) -> float:
    """The Euclidean norm of all ``Linear`` weights together (biases excluded).

    Formula:
        ||W|| = sqrt(sum over layers l of sum_ij W_l[i, j]^2).
    """
    return float(np.sqrt(sum(float(np.sum(m.weight.data ** 2)) for m in model
                             if isinstance(m, Linear))))


def train_curves(
    model: Sequential,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    weight_decay: float = 0.0,
    epochs: int = 100,
    lr: float = LR,
    momentum: float = MOMENTUM,
    batch_size: int = BATCH_SIZE,
    rng: np.random.Generator | int | None = SEED,
) -> dict[str, np.ndarray]:
    """Train ``model`` in place with SGD(momentum, weight_decay); return per-epoch curves.

    Shape:
        X_train (N, D), y_train (N,), X_val (M, D), y_val (M,) -> a dict of arrays of shape
        (epochs,): "train_loss", "train_accuracy", "val_loss", "val_accuracy".

    Each epoch: shuffled mini-batches in train mode (dropout on), then both sets are
    evaluated in eval mode (dropout off). The losses are the plain cross-entropy, without
    the weight-decay penalty. The model is left in eval mode.
    """
    gen = as_rng(rng, "train_curves")
    loss_fn = CrossEntropyLoss()
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    X_both = np.concatenate([X_train, X_val])
    n = len(X_train)
    curves: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [],
                                      "val_loss": [], "val_accuracy": []}
    for _ in range(int(epochs)):
        model.train()
        for Xb, yb in batches(X_train, y_train, batch_size, rng=gen):
            loss_fn(model(Xb), yb)
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
        model.eval()
        logits = model(X_both)
        for name, out, target in (("train", logits[:n], y_train), ("val", logits[n:], y_val)):
            curves[f"{name}_loss"].append(loss_fn(out, target))
            curves[f"{name}_accuracy"].append(accuracy(out, target))
    return {name: np.array(values) for name, values in curves.items()}


@dataclass
class RegularizationState:
    """What the explorer shows: the settings, the per-epoch curves and their summary.

    Shape:
        ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy`` (epochs,).

    ``gap`` = final val_loss - final train_loss (the generalisation gap in loss);
    ``accuracy_gap`` = final train accuracy - final val accuracy; ``best_epoch`` (from 1)
    has the lowest validation loss; ``weight_norm`` is that of the trained weights.
    """

    weight_decay: float
    p: float
    epochs: int
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    gap: float
    accuracy_gap: float
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    weight_norm: float
    model: Sequential


class RegularizationExplorer(WidgetApp):
    """Weight decay, dropout rate and epochs in; training and validation curves out.

    Controls: ``use_decay`` (a Checkbox; off means weight_decay = 0), ``weight_decay`` (a
    FloatLogSlider, 1e-4 to 1e-1, used when ``use_decay`` is ticked), ``p`` (a FloatSlider,
    the dropout rate 0-0.7) and ``epochs`` (an IntSlider, 10-150). Any change retrains.
    ``state`` is a :class:`RegularizationState`. Left panel: the losses (log scale); right
    panel: the accuracies; a dotted line marks the epoch of lowest validation loss.

    Shape:
        the data: 100 training and 500 validation digits, X (N, 64), y (N,).
    """

    def __init__(self, *, weight_decay: float = 0.0, p: float = 0.0, epochs: int = 100) -> None:
        import ipywidgets as widgets

        lo, hi = 10.0**LOG10_WD_MIN, 10.0**LOG10_WD_MAX
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not (
            weight_decay == 0 or lo <= weight_decay <= hi
        ):
            raise ValueError(f"RegularizationExplorer expected weight_decay 0 or in "
                             f"[{lo:g}, {hi:g}], got {weight_decay!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= P_MAX:
            raise ValueError(f"RegularizationExplorer expected p in [0, {P_MAX}], got {p!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not (
            EPOCHS_MIN <= epochs <= EPOCHS_MAX
        ):
            raise ValueError(f"RegularizationExplorer expected epochs an integer in "
                             f"[{EPOCHS_MIN}, {EPOCHS_MAX}], got {epochs!r}")
        self.data = digits_subset()
        self.use_decay = widgets.Checkbox(value=weight_decay > 0, description="weight decay",
                                          indent=False)
        self.weight_decay = widgets.FloatLogSlider(
            value=float(weight_decay) if weight_decay > 0 else 1e-2, base=10,
            min=LOG10_WD_MIN, max=LOG10_WD_MAX, step=0.25, description="λ",
            readout_format=".1e", continuous_update=False)
        self.p = widgets.FloatSlider(value=float(p), min=0.0, max=P_MAX, step=0.05,
                                     description="dropout p", readout_format=".2f",
                                     continuous_update=False)
        self.epochs = widgets.IntSlider(value=int(epochs), min=EPOCHS_MIN, max=EPOCHS_MAX,
                                        step=EPOCHS_STEP, description="epochs",
                                        continuous_update=False)
        super().__init__(
            [self.use_decay, self.weight_decay, self.p, self.epochs],
            figsize=(10.0, 3.8),
            rows=[[self.use_decay, self.weight_decay], [self.p, self.epochs]],
        )

    def update(self) -> None:
        """Train the MLP from the fixed seed with the current settings."""
        wd = float(self.weight_decay.value) if self.use_decay.value else 0.0
        p, epochs = float(self.p.value), int(self.epochs.value)
        X_train, y_train, X_val, y_val = self.data
        model = make_dropout_mlp(p, rng=SEED)
        c = train_curves(model, X_train, y_train, X_val, y_val, weight_decay=wd, epochs=epochs)
        best = int(np.argmin(c["val_loss"]))
        self.state = RegularizationState(
            weight_decay=wd, p=p, epochs=epochs, **c,
            gap=float(c["val_loss"][-1] - c["train_loss"][-1]),
            accuracy_gap=float(c["train_accuracy"][-1] - c["val_accuracy"][-1]),
            best_epoch=best + 1, best_val_loss=float(c["val_loss"][best]),
            best_val_accuracy=float(c["val_accuracy"][best]),
            weight_norm=weight_norm(model), model=model,
        )
        s = self.state
        self.message.value = html.escape(
            f"λ = {s.weight_decay:.1e}, dropout p = {s.p:.2f}, {s.epochs} epochs: final train "
            f"loss {s.train_loss[-1]:.4f}, val loss {s.val_loss[-1]:.4f} (gap {s.gap:.4f}); "
            f"train accuracy {s.train_accuracy[-1]:.1%}, val {s.val_accuracy[-1]:.1%}. Lowest "
            f"val loss {s.best_val_loss:.4f} at epoch {s.best_epoch} (val accuracy "
            f"{s.best_val_accuracy:.1%}). Weight norm {s.weight_norm:.2f}."
        )

    def draw(self, figure: Any) -> None:
        """Left: train and validation loss (log scale). Right: train and validation accuracy."""
        from matplotlib import ticker

        from bpkit.plot import PALETTE

        s = self.state
        figure.set_layout_engine("none")
        margins = {"left": 0.07, "right": 0.985, "bottom": 0.13, "top": 0.86, "wspace": 0.25}
        left, right = figure.subplots(1, 2, gridspec_kw=margins)
        epochs = np.arange(1, s.epochs + 1)
        left.semilogy(epochs, np.maximum(s.train_loss, 1e-6), color=PALETTE[0], gid="train_loss",
                      label="training")
        left.semilogy(epochs, s.val_loss, color=PALETTE[1], gid="val_loss", label="validation")
        left.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        left.set_ylabel("cross-entropy loss")
        left.set_title(f"Loss: gap at the end {s.gap:.3f}", fontsize=10)
        right.plot(epochs, s.train_accuracy, color=PALETTE[0], gid="train_accuracy",
                   label="training")
        right.plot(epochs, s.val_accuracy, color=PALETTE[1], gid="val_accuracy",
                   label="validation")
        right.set_ylim(0.0, 1.02)
        right.set_ylabel("accuracy")
        right.set_title(f"Accuracy: train {s.train_accuracy[-1]:.1%}, val "
                        f"{s.val_accuracy[-1]:.1%}", fontsize=10)
        for ax in (left, right):
            ax.axvline(s.best_epoch, color="0.4", ls=":", lw=1, gid="best_epoch",
                       label=f"lowest val loss (epoch {s.best_epoch})")
            ax.set_xlabel("epoch")
            ax.set_xlim(1, s.epochs)
            ax.grid(True, alpha=0.3)
        right.legend(loc="lower right", fontsize="small")
        figure.suptitle(f"λ = {s.weight_decay:.1e}, dropout p = {s.p:.2f}", fontsize=11)
