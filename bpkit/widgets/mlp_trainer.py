"""MLPTrainer: train a small MLP on moons or spiral and watch its decision boundary and loss.

Pick a data set, the hidden width and depth, the learning rate, the number of training
steps and a seed; the app builds ``Sequential(Linear, ReLU, ..., Linear)``, trains it with
full-batch Adam and shows the decision boundary (training points filled, test points hollow)
next to the loss at every step, with chance level ln C dashed.

**When it retrains**: whenever a control changes. The sliders report only when released
(``continuous_update=False``), so dragging costs one retrain, about a second or two for the
largest settings. The **Train** button trains again from the next seed (it adds 1 to the
``seed`` control), to show how much a run depends on its initialisation. The data and the
train/test split are fixed; the seed sets only the initial weights. Full-batch Adam is
deterministic, so the same settings always give the same result.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit._checks import as_rng
from bpkit.data import make_moons, make_spiral, train_test_split
from bpkit.layers import Linear, ReLU
from bpkit.losses import CrossEntropyLoss
from bpkit.module import Module, Sequential, preserved
from bpkit.optim import Adam
from bpkit.train import evaluate
from bpkit.widgets._app import WidgetApp

__all__ = [
    "DATASETS",
    "MLPTrainer",
    "MLPTrainerState",
    "make_mlp",
    "moons",
    "spiral",
    "train_full_batch",
]

WIDTH_MIN, WIDTH_MAX = 1, 32  # hidden width; wider gains nothing on these sets, and costs time
DEPTH_MIN, DEPTH_MAX = 0, 4  # hidden layers; 0 is a linear classifier
LOG10_LR_MIN, LOG10_LR_MAX = -4.0, 0.0  # learning-rate slider range (log10)
STEPS_MIN, STEPS_MAX, STEPS_STEP = 10, 500, 10  # full-batch Adam steps
SEED_MAX = 10**6
TEST_SIZE = 0.25  # fraction of each data set held out for testing (stratified)
SPLIT_SEED = 0  # the split is fixed: only the initial weights change with the seed

Dataset = Callable[[], tuple[np.ndarray, np.ndarray]]


def moons() -> tuple[np.ndarray, np.ndarray]:
    """The trainer's moons: 200 points, noise 0.2, seed 0 (two classes).

    Shape:
        X (200, 2) float64, y (200,) int64 in {0, 1}.
    """
    return make_moons(200, noise=0.2, rng=0)


def spiral() -> tuple[np.ndarray, np.ndarray]:
    """The trainer's spiral: 300 points in three arms, angle noise 0.2, seed 0.

    Shape:
        X (300, 2) float64, y (300,) int64 in {0, 1, 2}.
    """
    return make_spiral(300, 3, noise=0.2, rng=0)


#: The trainer's data sets: label -> a function returning (X, y).
DATASETS: dict[str, Dataset] = {"moons": moons, "spiral": spiral}


def make_mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    *,
    rng: np.random.Generator | int | None = None,
) -> Sequential:
    """An MLP with ``depth`` hidden layers of ``width`` ReLU units each.

    Shape:
        input (N, in_features) -> logits (N, out_features).

    depth = 0 gives ``Sequential(Linear(in_features, out_features))`` (a linear model);
    otherwise ``Linear(in, width), ReLU(), ... , Linear(width, out)`` with ``depth`` ReLUs.
    Parameters: (in + 1) w + (depth - 1)(w + 1) w + (w + 1) out for depth >= 1.
    """
    where = "make_mlp"
    for name, value, low in (("in_features", in_features, 1), ("width", width, 1),
                             ("depth", depth, 0), ("out_features", out_features, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{where} expected {name} to be an integer >= {low}, got {value!r}")
    gen = as_rng(rng, where)
    layers: list[Module] = []
    n_in = int(in_features)
    for _ in range(int(depth)):
        layers += [Linear(n_in, int(width), rng=gen), ReLU()]
        n_in = int(width)
    layers.append(Linear(n_in, int(out_features), rng=gen))
    return Sequential(*layers)


def train_full_batch(
    model: Module, X: np.ndarray, y: np.ndarray, lr: float, steps: int
) -> np.ndarray:
    """Train ``model`` in place with full-batch Adam on cross-entropy; returns the losses.

    Shape:
        X (N, D), y (N,) class indices -> losses (T,): the training loss before each step,
        so losses[0] is the loss at initialisation. T = ``steps``, or fewer when the loss
        stops being finite (the parameters are then put back to the last finite ones).

    Each step: logits = model(X), L = CE(logits, y), zero_grad, backward, Adam step.
    """
    where = "train_full_batch"
    lr = float(lr)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{where} expected a finite learning rate lr > 0, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{where} expected steps to be an integer >= 1, got {steps!r}")
    loss_fn = CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=lr)
    before_step = preserved(model, parameters=True)
    losses: list[float] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(int(steps)):
            loss = loss_fn(model(X), y)
            if not math.isfinite(loss):
                break
            losses.append(loss)
            before_step.save()
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
        else:
            return np.array(losses)
    before_step.restore()  # the loss blew up: undo the last step
    return np.array(losses)


@dataclass
class MLPTrainerState:
    """What the trainer shows: the settings, the trained model, its losses and accuracies.

    Shape:
        ``losses`` (T,): training loss before each step (T = ``steps`` unless ``diverged``);
        ``X_train`` (N, 2), ``y_train`` (N,), ``X_test`` (M, 2), ``y_test`` (M,).

    ``final_loss`` is the training loss after the last step; ``train_accuracy``,
    ``test_accuracy`` and ``test_loss`` are measured with the trained model.
    """

    dataset: str
    width: int
    depth: int
    lr: float
    steps: int
    seed: int
    n_classes: int
    architecture: str
    n_parameters: int
    model: Sequential
    losses: np.ndarray
    final_loss: float
    test_loss: float
    train_accuracy: float
    test_accuracy: float
    diverged: bool
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _first(losses: np.ndarray) -> float:
    """The initial loss, or NaN when not even the first loss was finite."""
    return float(losses[0]) if len(losses) else float("nan")


def _plain_number(value: float, _position: int) -> str:
    """A log-axis tick label in plain text such as 0.01 (mathtext is slow to lay out)."""
    return f"{value:g}"


def _check_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        low <= value <= high
    ):
        raise ValueError(f"MLPTrainer expected {name} to be an integer in [{low}, {high}], "
                         f"got {value!r}")
    return int(value)


class MLPTrainer(WidgetApp):
    """Hidden width, depth, learning rate, steps and seed in; a trained MLP's boundary out.

    Controls: ``dataset`` (a Dropdown whose value makes (X, y)), ``width`` and ``depth``
    (IntSliders, 1-32 and 0-4 hidden layers), ``lr`` (a FloatLogSlider, 1e-4 to 1),
    ``steps`` (an IntSlider, 10-500 full-batch Adam steps), ``seed`` (a BoundedIntText, the
    initial weights) and ``train_button`` (trains again from seed + 1). Any change retrains.
    ``state`` is an :class:`MLPTrainerState`. Left panel: the decision boundary
    (``bp.plot.plot_decision_boundary``); right panel: the loss per step on a log axis.

    Shape:
        each data set: X (N, 2), y (N,) class indices; 25% of it (stratified) is the test set.
    """

    def __init__(
        self,
        dataset: str = "moons",
        *,
        width: int = 16,
        depth: int = 2,
        lr: float = 0.01,
        steps: int = 300,
        seed: int = 0,
        datasets: Mapping[str, Dataset] | None = None,
    ) -> None:
        import ipywidgets as widgets

        datasets = dict(DATASETS if datasets is None else datasets)
        if not datasets:
            raise ValueError("MLPTrainer expected at least one data set, got none")
        for label, make in datasets.items():
            if not callable(make):
                raise TypeError(f"MLPTrainer expected datasets[{label!r}] to be a function "
                                f"returning (X, y), got {type(make).__name__}")
        if dataset not in datasets:
            raise ValueError(f"MLPTrainer expected dataset to be one of {list(datasets)}, "
                             f"got {dataset!r}")
        width = _check_int(width, "width", WIDTH_MIN, WIDTH_MAX)
        depth = _check_int(depth, "depth", DEPTH_MIN, DEPTH_MAX)
        steps = _check_int(steps, "steps", STEPS_MIN, STEPS_MAX)
        seed = _check_int(seed, "seed", 0, SEED_MAX)
        lr_min, lr_max = 10.0**LOG10_LR_MIN, 10.0**LOG10_LR_MAX
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (
            lr_min <= lr <= lr_max
        ):
            raise ValueError(f"MLPTrainer expected lr in [{lr_min:g}, {lr_max:g}], got {lr!r}")
        self._splits: dict[str, tuple[np.ndarray, ...]] = {}

        self.dataset = widgets.Dropdown(options=datasets, value=datasets[dataset],
                                        description="data")
        self.width = widgets.IntSlider(value=width, min=WIDTH_MIN, max=WIDTH_MAX,
                                       description="width", continuous_update=False)
        self.depth = widgets.IntSlider(value=depth, min=DEPTH_MIN, max=DEPTH_MAX,
                                       description="depth", continuous_update=False)
        self.lr = widgets.FloatLogSlider(value=float(lr), base=10, min=LOG10_LR_MIN,
                                         max=LOG10_LR_MAX, step=0.05, description="lr",
                                         readout_format=".3g", continuous_update=False)
        self.steps = widgets.IntSlider(value=steps, min=STEPS_MIN, max=STEPS_MAX,
                                       step=STEPS_STEP, description="steps",
                                       continuous_update=False)
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=SEED_MAX, description="seed",
                                           layout=widgets.Layout(width="160px"))
        self.train_button = widgets.Button(description="Train (next seed)",
                                           tooltip="train again from seed + 1")
        self.train_button.on_click(self._next_seed)
        super().__init__(
            [self.dataset, self.width, self.depth, self.lr, self.steps, self.seed],
            figsize=(10.0, 4.2),
            rows=[[self.dataset, self.seed, self.train_button],
                  [self.width, self.depth], [self.lr, self.steps]],
        )

    def _next_seed(self, _button: Any = None) -> None:
        """The Train button: move to the next seed (the change retrains)."""
        self.seed.value = (int(self.seed.value) + 1) % (SEED_MAX + 1)

    def _split(self, label: str) -> tuple[np.ndarray, ...]:
        """The fixed train/test split of a data set (made once, then reused)."""
        if label not in self._splits:
            X, y = (np.asarray(a) for a in self.dataset.value())
            if X.ndim != 2 or X.shape[1] != 2 or X.dtype.kind != "f" or not np.all(
                np.isfinite(X)
            ) or y.shape != (len(X),) or y.dtype.kind not in "iu" or len(X) < 8:
                raise ValueError(
                    f"MLPTrainer: data set {label!r} must give finite float X of shape (N, 2) "
                    f"and integer labels y of shape (N,), N >= 8; got X {X.dtype} {X.shape}, "
                    f"y {y.dtype} {y.shape}"
                )
            self._splits[label] = tuple(
                train_test_split(X, y, TEST_SIZE, rng=SPLIT_SEED, stratify=True)
            )
        return self._splits[label]

    def update(self) -> None:
        """Build the MLP for the current settings and train it from the current seed."""
        label = str(self.dataset.label)
        X_train, X_test, y_train, y_test = self._split(label)
        n_classes = int(max(y_train.max(), y_test.max())) + 1
        width, depth = int(self.width.value), int(self.depth.value)
        lr, steps, seed = float(self.lr.value), int(self.steps.value), int(self.seed.value)
        model = make_mlp(X_train.shape[1], width, depth, n_classes, rng=seed)
        losses = train_full_batch(model, X_train, y_train, lr, steps)
        loss_fn = CrossEntropyLoss()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            final = evaluate(model, loss_fn, X_train, y_train)
            test = evaluate(model, loss_fn, X_test, y_test)
        sizes = [X_train.shape[1]] + [width] * depth + [n_classes]
        self.state = MLPTrainerState(
            dataset=label, width=width, depth=depth, lr=lr, steps=steps, seed=seed,
            n_classes=n_classes,
            architecture=" → ".join(str(s) for s in sizes),
            n_parameters=sum(p.data.size for p in model.parameters()),
            model=model, losses=losses,
            final_loss=final["loss"], test_loss=test["loss"],
            train_accuracy=final["accuracy"], test_accuracy=test["accuracy"],
            diverged=len(losses) < steps,
            X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        )
        s = self.state
        text = (f"{s.dataset}: {s.architecture} ({s.n_parameters} parameters"
                f"{'; depth 0 is a linear model, width unused' if depth == 0 else ''}), "
                f"lr = {s.lr:.3g}, seed {s.seed}. Loss {_first(s.losses):.4f} → "
                f"{s.final_loss:.4f} after {len(s.losses)} steps (chance: ln {n_classes} = "
                f"{math.log(n_classes):.4f}); train accuracy {s.train_accuracy:.1%}, "
                f"test {s.test_accuracy:.1%}.")
        if s.diverged:
            text += " The loss stopped being finite: training stopped early (lower lr)."
        self.message.value = html.escape(text)

    def draw(self, figure: Any) -> None:
        """Left: the decision boundary. Right: the training loss per step, log scale."""
        from matplotlib import ticker

        from bpkit.plot import PALETTE, plot_decision_boundary

        s = self.state
        figure.set_layout_engine("none")  # fixed margins: faster redraws than constrained
        margins = {"left": 0.06, "right": 0.985, "bottom": 0.12, "top": 0.86, "wspace": 0.22}
        left, right = figure.subplots(1, 2, width_ratios=[1.1, 1.0], gridspec_kw=margins)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            plot_decision_boundary(s.model, s.X_train, s.y_train, ax=left, X_test=s.X_test,
                                   y_test=s.y_test, resolution=100)
        left.set_xlabel("x₁")  # plain text: mathtext is slow to lay out on every redraw
        left.set_ylabel("x₂")
        left.set_title(f"{s.dataset}, {s.architecture}\ntrain accuracy "
                       f"{s.train_accuracy:.1%}, test {s.test_accuracy:.1%}", fontsize=10)
        steps = np.arange(len(s.losses))
        right.semilogy(steps, np.maximum(s.losses, 1e-12), color=PALETTE[0], gid="losses",
                       label="training loss")
        right.axhline(math.log(s.n_classes), color="0.5", ls="--", lw=1,
                      label=f"chance: ln {s.n_classes}")
        right.yaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
        right.yaxis.set_minor_locator(ticker.NullLocator())
        right.set_xlim(0, s.steps)
        right.set_xlabel("step (full-batch Adam)")
        right.set_ylabel("cross-entropy loss")
        right.set_title(f"Training loss, lr = {s.lr:.3g}: {_first(s.losses):.3f} → "
                        f"{s.final_loss:.4f}", fontsize=10)
        right.grid(True, which="major", alpha=0.3)
        right.legend(loc="best", fontsize="small")
