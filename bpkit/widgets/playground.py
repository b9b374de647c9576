"""Playground: TensorFlow Playground inside Jupyter, on bpkit's engine.

Pick a data set (six for classification, two for regression), its noise, the share of
training points, the batch size and a seed; switch input features on and off; add and
remove hidden layers and units; choose the activation, the learning rate, the optimiser and
L1/L2 regularisation. **Play** trains epoch after epoch and redraws as it goes; **Step**
trains one epoch; **Reset** starts again from fresh weights. You see the output over the
input plane (training points ringed in white, test points in black), a small heatmap for
every feature and every hidden unit, the train and test loss curves and the gradient norm
of every layer. The whole setup can be exported to a JSON string and imported back, and the
trained model saved with ``bp.save``. Your own points come from ``Playground(X=..., y=...)``,
from a CSV file (``Playground.from_csv(path)`` or the upload control; the rules are in
``_playground_csv.py``), and **Export code** writes a bpkit script and a PyTorch script that
train the same setup again and print its losses (``export_code``; ``_playground_export.py``).

**Decisions.** An epoch is one pass over the training points in shuffled mini-batches.
Binary classification uses one output logit and ``BCEWithLogitsLoss``; more classes (custom
data) use ``CrossEntropyLoss``; regression uses a linear output unit and ``MSELoss``. The
L1/L2 penalty applies to the weights (not the biases): its gradient, rate sign(w) for L1 and
rate w for L2 (penalty rate/2 ||w||^2), is added to the weight gradients before each
optimiser step. The curves show the data loss; the message also reports the penalty and
the training objective (data loss + penalty). Changing the data, the features, the network
or the seed starts training again; the learning rate, optimiser, batch size and
regularisation take effect from the next step, keeping the weights.

**Play** runs as an asyncio task on the kernel's event loop (a few epochs, a redraw, a
short sleep), so the kernel stays free: cells still run and **Pause** is heard at once.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bpkit.data import batches, train_test_split
from bpkit.layers import Linear
from bpkit.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from bpkit.module import Module, Sequential, preserved
from bpkit.saving import save as bp_save
from bpkit.widgets import _playground_render as render
from bpkit.widgets._playground_csv import (
    MAX_ROWS,
    PlaygroundCSV,
    parse_playground_csv,
    read_playground_csv,
)
from bpkit.widgets._playground_data import (
    ACTIVATIONS,
    CLASSIFICATION_SETS,
    DATASET_LABELS,
    FEATURE_LABELS,
    FEATURES,
    LEARNING_RATES,
    MAX_LAYERS,
    MAX_UNITS,
    OPTIMIZERS,
    REG_RATES,
    REGRESSION_SETS,
    REGULARIZATIONS,
    check_custom,
    check_settings,
    int_in,
    make_playground_data,
)
from bpkit.widgets._playground_diagram import NetworkDiagram, UpdateTrace, trace_update
from bpkit.widgets._playground_export import (
    ScriptSpec,
    data_copy_name,
    data_table,
    write_export,
)

__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION_SETS",
    "FEATURES",
    "LEARNING_RATES",
    "MAX_ROWS",
    "OPTIMIZERS",
    "REGRESSION_SETS",
    "REG_RATES",
    "Playground",
    "make_playground_data",
    "read_playground_csv",
]

DOMAIN = 3.0  # the heatmaps show [-3, 3]^2 for the built-in sets
GRID = 50  # the output is evaluated on GRID x GRID points; hidden units on every 2nd
OUTPUT_ZOOM, UNIT_ZOOM = 4, 2  # output image 200 px, unit and feature images 50 px
CURVE_SIZE = (200, 60)  # loss-curve image (width, height)
MIN_FRAME_S = 0.05  # play: at most 20 frames a second, so the browser keeps up
CONFIG_VERSION = 1
_CONFIG_KEYS = {"version", "dataset", "task", "seed", "noise", "ratio", "batch_size", "features",
                "hidden", "activation", "lr", "optimizer", "regularization", "reg_rate",
                "epochs_per_frame", "show_test"}


def _unit_image() -> Any:
    """An empty Image widget the size of a feature's or hidden unit's heatmap."""
    import ipywidgets as widgets

    side = f"{len(range(0, GRID, 2)) * UNIT_ZOOM}px"
    return widgets.Image(format="png", layout=widgets.Layout(width=side, height=side,
                                                             margin="1px"))


class Playground:
    """TensorFlow Playground in a notebook: train a small network on 2-D data and watch it.

    Controls (ipywidgets, attributes): ``dataset``, ``noise`` (percent), ``ratio`` (percent
    of training points), ``batch_size``, ``seed``, ``regenerate_button`` (next seed),
    ``feature_buttons`` (a dict of ToggleButtons), ``add_layer_button``,
    ``remove_layer_button``, ``units_plus``/``units_minus`` (a button pair per layer),
    ``activation``, ``lr``, ``optimizer``, ``regularization``, ``reg_rate``, ``task``,
    ``epochs_per_frame``, ``show_test``, ``play_button``, ``step_button``,
    ``reset_button``, ``config_text`` with ``export_button``/``import_button``,
    ``save_path`` with ``save_button``, ``upload`` (a CSV file of points) and ``code_path``
    with ``export_code_button``. Plain state: ``model``, ``hidden`` (units per
    layer), ``epoch``, ``history`` (lists per epoch, epoch 0 = before training), ``csv``
    (the ``PlaygroundCSV`` the data came from, or None),
    ``grad_norms``, ``playing``, ``redraws``. Images: ``output_image``, ``unit_images``
    (one list per hidden layer), ``feature_images``, ``curve_image``. The network
    diagram: ``diagram`` (a ``NetworkDiagram``: its image, the unit and link selector, the
    step-through controls) and ``last_update`` (each parameter's change in the last
    optimiser step, in ``model.parameters()`` order; None before the first);
    ``step_through()`` takes one update and shows it phase by phase.

    Shape:
        custom data X (N, 2) float, y (N,) class indices (classification) or real
        targets (regression), used in float64 like the network; the network maps
        (N, n_features) -> (N, 1) (one logit or a prediction) or (N, C) logits for
        C > 2 classes. ``grad_norms`` (n_layers + 1,): ||dL/dW|| of each Linear layer's
        weight (penalty included), averaged over the last epoch's mini-batches.
    """

    def __init__(
        self,
        dataset: str = "circle",
        *,
        X: np.ndarray | None = None,
        y: np.ndarray | None = None,
        task: str | None = None,
        seed: int = 0,
        noise: int = 0,
        ratio: int = 50,
        batch_size: int = 10,
        features: Sequence[str] = ("x1", "x2"),
        hidden: Sequence[int] = (4, 2),
        activation: str = "tanh",
        lr: float = 0.03,
        optimizer: str = "sgd",
        regularization: str = "none",
        reg_rate: float = 0.0,
        epochs_per_frame: int = 1,
        show_test: bool = True,
    ) -> None:
        import ipywidgets as widgets

        check_settings(dataset, X=X, y=y, task=task, seed=seed, noise=noise,
                               ratio=ratio, batch_size=batch_size, features=features,
                               hidden=hidden, activation=activation, lr=lr,
                               optimizer=optimizer, regularization=regularization,
                               reg_rate=reg_rate, epochs_per_frame=epochs_per_frame,
                               show_test=show_test)
        self._custom: tuple[np.ndarray, np.ndarray] | None = None
        if X is not None or y is not None:
            Xc, yc, task = check_custom(X, y, task)
            self._custom = (Xc, yc)
            dataset = "custom"
        else:
            task = "regression" if dataset in REGRESSION_SETS else "classification"
        features = list(features)
        hidden = [int(h) for h in hidden]

        # -- plain state --------------------------------------------------------------------
        self.hidden: list[int] = hidden
        self.epoch = 0
        self.history: dict[str, list[float]] = {}
        self.grad_norms: list[float] = []
        self.playing = False
        self.diverged = False
        self.redraws = 0
        self._generation = 0  # bumped by pause: a play loop of an older generation stops
        self._task: asyncio.Task | None = None
        self._quiet = False  # set while controls are changed in bulk (no rebuilds)

        # -- controls -----------------------------------------------------------------------
        small = widgets.Layout(width="auto")
        wide = {"description_width": "initial"}
        sets = (("custom",) if self._custom else ()) + CLASSIFICATION_SETS + REGRESSION_SETS
        self.dataset = widgets.Dropdown(options=[(DATASET_LABELS[s], s) for s in sets],
                                        value=dataset, description="data")
        self.task = widgets.Dropdown(options=[("Classification", "classification"),
                                              ("Regression", "regression")],
                                     value=task, description="problem", style=wide)
        self.noise = widgets.IntSlider(value=noise, min=0, max=50, step=5, description="noise",
                                       continuous_update=False)
        self.ratio = widgets.IntSlider(value=ratio, min=10, max=90, step=10,
                                       description="train %", continuous_update=False)
        self.batch_size = widgets.IntSlider(value=batch_size, min=1, max=30,
                                            description="batch", continuous_update=False)
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=10**6, description="seed",
                                           layout=widgets.Layout(width="150px"))
        self.regenerate_button = widgets.Button(description="Regenerate",
                                                tooltip="new data: the next seed")
        self.feature_buttons = {
            name: widgets.ToggleButton(value=name in features, description=FEATURE_LABELS[name],
                                       layout=widgets.Layout(width="64px"))
            for name in FEATURES
        }
        self.add_layer_button = widgets.Button(description="+ layer", layout=small)
        self.remove_layer_button = widgets.Button(description="− layer", layout=small)
        self.units_plus = [widgets.Button(description="+", layout=widgets.Layout(width="32px"))
                           for _ in range(MAX_LAYERS)]
        self.units_minus = [widgets.Button(description="−", layout=widgets.Layout(width="32px"))
                            for _ in range(MAX_LAYERS)]
        self.activation = widgets.Dropdown(
            options=[(label, key) for key, (label, _) in ACTIVATIONS.items()],
            value=activation, description="activation", style=wide)
        self.lr = widgets.Dropdown(options=[(f"{v:g}", v) for v in LEARNING_RATES], value=lr,
                                   description="learning rate", style=wide)
        self.optimizer = widgets.Dropdown(
            options=[(label, key) for key, (label, _) in OPTIMIZERS.items()], value=optimizer,
            description="optimiser", style=wide)
        self.regularization = widgets.Dropdown(
            options=[(label, key) for key, label in REGULARIZATIONS.items()],
            value=regularization, description="regularisation", style=wide)
        self.reg_rate = widgets.Dropdown(options=[(f"{v:g}", v) for v in REG_RATES],
                                         value=reg_rate, description="reg. rate", style=wide)
        self.epochs_per_frame = widgets.IntSlider(value=epochs_per_frame, min=1, max=50,
                                                  description="epochs/frame", style=wide)
        self.show_test = widgets.Checkbox(value=show_test, description="show test points",
                                          indent=False)
        self.play_button = widgets.Button(description="▶ Play", button_style="success")
        self.step_button = widgets.Button(description="Step", tooltip="train one epoch")
        self.reset_button = widgets.Button(description="Reset", tooltip="fresh weights")
        self.epoch_label = widgets.HTML()
        self.config_text = widgets.Textarea(placeholder="Export fills this with the setup; "
                                            "paste one here and Import",
                                            layout=widgets.Layout(width="520px", height="60px"))
        self.export_button = widgets.Button(description="Export JSON")
        self.import_button = widgets.Button(description="Import JSON")
        self.save_path = widgets.Text(value="playground.npz", description="file")
        self.save_button = widgets.Button(description="Save model")
        self.upload = widgets.FileUpload(accept=".csv", multiple=False, description="CSV file")
        self.code_path = widgets.Text(value="playground.py", description="script")
        self.export_code_button = widgets.Button(
            description="Export code", tooltip="write a bpkit and a PyTorch script that train "
            "this setup again")
        self.csv: PlaygroundCSV | None = None  # the CSV file the data came from, if any
        self._csv_bytes = b""  # its content as read
        self._csv_path: Path | None = None  # its path (None for an upload)
        self._off_script = ""  # why an exported script would not reproduce this run
        self.message = widgets.HTML()
        self.stats = widgets.HTML()
        self.grad_flow = widgets.HTML()
        side = f"{GRID * OUTPUT_ZOOM}px"
        self.output_image = widgets.Image(format="png", layout=widgets.Layout(width=side,
                                                                             height=side))
        self.output_image.add_class("bpkit-playground-output")
        self.curve_image = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{CURVE_SIZE[0]}px", height=f"{CURVE_SIZE[1]}px"))
        self.feature_images = {name: _unit_image() for name in FEATURES}
        self.unit_images: list[list[Any]] = []
        self.network_box = widgets.HBox()
        self.layers_label = widgets.HTML()
        self.diagram = NetworkDiagram()
        self.last_update: list[np.ndarray] | None = None  # parameters' last change, per step
        self._traces = 0  # step-throughs so far: each draws its own mini-batch
        self._feature_tiles: dict[str, np.ndarray] = {}

        # -- wiring -------------------------------------------------------------------------
        for control in (self.dataset, self.noise, self.ratio, self.seed):
            control.observe(self._on_data_change, names="value")
        self.task.observe(self._on_task_change, names="value")
        for button in self.feature_buttons.values():
            button.observe(self._on_feature_change, names="value")
        self.activation.observe(self._on_network_change, names="value")
        for control in (self.lr, self.optimizer):
            control.observe(self._on_optimizer_change, names="value")
        for control in (self.regularization, self.reg_rate, self.batch_size):
            control.observe(self._on_training_change, names="value")
        self.show_test.observe(self._on_show_test, names="value")
        self.regenerate_button.on_click(self._on_regenerate)
        self.add_layer_button.on_click(self._on_add_layer)
        self.remove_layer_button.on_click(self._on_remove_layer)
        for i in range(MAX_LAYERS):
            self.units_plus[i].on_click(self._units_handler(i, +1))
            self.units_minus[i].on_click(self._units_handler(i, -1))
        self.play_button.on_click(self._on_play)
        self.step_button.on_click(lambda _b: self.step())
        self.reset_button.on_click(lambda _b: self.reset())
        self.export_button.on_click(self._on_export)
        self.import_button.on_click(self._on_import)
        self.save_button.on_click(self._on_save)
        self.upload.observe(self._on_upload, names="value")
        self.export_code_button.on_click(self._on_export_code)
        self.diagram.start_button.on_click(self._on_step_through)

        def column(title: str, *children: Any) -> Any:
            return widgets.VBox([widgets.HTML(f"<b>{title}</b>"), *children],
                                layout=widgets.Layout(margin="0 12px 0 0"))

        feature_rows = [widgets.HBox([self.feature_buttons[n], self.feature_images[n]])
                        for n in FEATURES]
        self.box = widgets.VBox([
            widgets.HBox([self.play_button, self.step_button, self.reset_button,
                          self.epoch_label, self.epochs_per_frame]),
            widgets.HBox([self.lr, self.optimizer, self.activation]),
            widgets.HBox([self.regularization, self.reg_rate, self.task]),
            widgets.HBox([
                column("DATA", self.dataset, self.ratio, self.noise, self.batch_size,
                       widgets.HBox([self.seed, self.regenerate_button]), self.upload),
                column("FEATURES", *feature_rows),
                column("HIDDEN LAYERS", widgets.HBox([self.add_layer_button,
                                                      self.remove_layer_button,
                                                      self.layers_label]),
                       self.network_box),
                column("OUTPUT", self.stats, self.output_image, self.show_test,
                       self.curve_image, widgets.HTML("<b>gradient norm per layer</b>"),
                       self.grad_flow),
            ]),
            self.diagram.box,
            self.message,
            widgets.HBox([self.export_button, self.import_button, self.config_text]),
            widgets.HBox([self.save_path, self.save_button]),
            widgets.HBox([self.code_path, self.export_code_button]),
        ])
        self.box.add_class("bpkit-playground")
        self.noise.disabled = self._custom is not None  # your data come with their own noise
        self._make_data()
        self._draw_features()
        self._build()

    # -- data -----------------------------------------------------------------------------
    @property
    def is_regression(self) -> bool:
        """True when the task is regression (MSE on a linear output unit)."""
        return self.task.value == "regression"

    def _make_data(self) -> None:
        """Make (or take) the points and split them into training and test parts."""
        seed = int(self.seed.value)
        if self.dataset.value == "custom":
            X, y = self._custom
            if self.is_regression:
                y = y.astype(np.float64)
            lo, hi = X.min(axis=0), X.max(axis=0)
            center, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.1, 1e-6)
        else:
            X, y = make_playground_data(self.dataset.value, self.noise.value / 100.0,
                                        rng=np.random.default_rng([seed, 0]))
            center, half = np.zeros(2), DOMAIN
        stratify = not self.is_regression
        test_size = round(len(X) * (100 - int(self.ratio.value)) / 100)  # a row count
        test_size = min(max(test_size, 1), len(X) - 1)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size, rng=np.random.default_rng([seed, 1]), stratify=stratify)
        self.X_train, self.X_test, self.y_train, self.y_test = X_train, X_test, y_train, y_test
        self.n_classes = 0 if self.is_regression else int(max(y.max() + 1, 2))
        self.extent = (float(center[0] - half), float(center[0] + half),
                       float(center[1] - half), float(center[1] + half))
        xs = np.linspace(self.extent[0], self.extent[1], GRID)
        ys = np.linspace(self.extent[3], self.extent[2], GRID)  # row 0 at the top
        gx, gy = np.meshgrid(xs, ys)
        self._grid = np.column_stack([gx.ravel(), gy.ravel()])
        scale = GRID * OUTPUT_ZOOM - 1
        self._pixels = {
            part: (np.round((self.extent[3] - Xp[:, 1]) / (2 * half) * scale),
                   np.round((Xp[:, 0] - self.extent[0]) / (2 * half) * scale))
            for part, Xp in (("train", X_train), ("test", X_test))
        }
        self._y_scale = (float(np.abs(y_train).max()) or 1.0) if self.is_regression else 1.0

    @property
    def features(self) -> list[str]:
        """The features switched on, in the order of ``FEATURES``."""
        return [name for name, b in self.feature_buttons.items() if b.value]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The network's input: the features switched on, computed from 2-D points.

        Shape:
            X (N, 2) -> (N, n_features), columns in the order of ``FEATURES``.
        """
        return np.column_stack([FEATURES[name](X) for name in self.features])

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.is_regression or self.n_classes == 2:
            return y.reshape(-1, 1).astype(np.float64)  # one output column
        return y  # class indices for CrossEntropyLoss

    # -- the network ----------------------------------------------------------------------
    def _build(self) -> None:
        """Build a fresh network and optimiser for the current settings, then redraw."""
        self._seed = int(self.seed.value)
        rng = np.random.default_rng([self._seed, 2])
        act = ACTIVATIONS[self.activation.value][1]
        layers: list[Module] = []
        n_in = len(self.features)
        for units in self.hidden:
            layers += [Linear(n_in, units, rng=rng), act()]
            n_in = units
        n_out = 1 if self.is_regression or self.n_classes == 2 else self.n_classes
        layers.append(Linear(n_in, n_out, rng=rng))
        self.model = Sequential(*layers)
        if self.is_regression:
            self.loss_fn: Any = MSELoss()
        else:
            self.loss_fn = BCEWithLogitsLoss() if self.n_classes == 2 else CrossEntropyLoss()
        self._make_optimizer()
        self._batch_rng = np.random.default_rng([self._seed, 3])
        self._F_train, self._F_test = self.transform(self.X_train), self.transform(self.X_test)
        self._t_train, self._t_test = self._targets(self.y_train), self._targets(self.y_test)
        self._F_grid = self.transform(self._grid)
        self.epoch = 0
        self.diverged = False
        self.history = {"epoch": [], "train_loss": [], "test_loss": [], "penalty": []}
        if not self.is_regression:
            self.history.update(train_accuracy=[], test_accuracy=[])
        self.grad_norms = [0.0] * (len(self.hidden) + 1)
        self._off_script = ""
        self.last_update = None
        self.diagram.end_trace()
        self._record()
        self._build_network_view()
        self.render()

    def _make_optimizer(self) -> None:
        make = OPTIMIZERS[self.optimizer.value][1]
        self.opt = make(self.model.parameters(), float(self.lr.value))

    def _linears(self) -> list[Linear]:
        return [m for m in self.model if isinstance(m, Linear)]

    def penalty(self) -> float:
        """The regularisation penalty on the weights (biases excluded).

        L1: rate sum |w|;  L2: rate / 2 sum w^2;  none: 0.
        """
        kind, rate = self.regularization.value, float(self.reg_rate.value)
        if kind == "none" or rate == 0:
            return 0.0
        weights = [m.weight.data for m in self._linears()]
        if kind == "l1":
            return rate * float(sum(np.abs(w).sum() for w in weights))
        return rate / 2 * float(sum((w * w).sum() for w in weights))

    def _add_penalty_gradient(self) -> None:
        kind, rate = self.regularization.value, float(self.reg_rate.value)
        if kind == "none" or rate == 0:
            return
        for m in self._linears():
            w = m.weight
            w.grad += rate * (np.sign(w.data) if kind == "l1" else w.data)

    def _loss(self, F: np.ndarray, t: np.ndarray) -> tuple[float, float | None]:
        out = self.model(F)
        loss = float(self.loss_fn(out, t))
        if self.is_regression:
            return loss, None
        pred = (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        truth = t[:, 0].astype(np.int64) if t.ndim == 2 else t
        return loss, float(np.mean(pred == truth))

    def _record(self) -> None:
        """Append the current losses (and accuracies) to the history."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train, train_acc = self._loss(self._F_train, self._t_train)
            test, test_acc = self._loss(self._F_test, self._t_test)
        h = self.history
        h["epoch"].append(self.epoch)
        h["train_loss"].append(train)
        h["test_loss"].append(test)
        h["penalty"].append(self.penalty())
        if train_acc is not None:
            h["train_accuracy"].append(train_acc)
            h["test_accuracy"].append(test_acc)

    # -- training -------------------------------------------------------------------------
    def step(self, epochs: int = 1) -> None:
        """Train ``epochs`` epochs (one pass over the training points each), then redraw.

        Each mini-batch: forward, loss, zero_grad, backward, + penalty gradient, optimiser
        step. If the loss or a weight stops being finite, the weights go back to the start
        of that epoch, play stops and the message says so.
        """
        epochs = int_in(epochs, 1, 10**6, "epochs")
        self.diagram.end_trace()
        params = self.model.parameters()
        start = preserved(self.model, parameters=True)  # the weights at the start of an epoch
        for _ in range(epochs):
            if self.diverged:
                break
            start.save()
            norms = np.zeros(len(self.hidden) + 1)
            n_batches = 0
            finite = True
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for Xb, tb in batches(self._F_train, self._t_train,
                                      int(self.batch_size.value), rng=self._batch_rng):
                    loss = self.loss_fn(self.model(Xb), tb)
                    self.opt.zero_grad()
                    self.model.backward(self.loss_fn.backward())
                    self._add_penalty_gradient()
                    norms += [float(np.linalg.norm(m.weight.grad)) for m in self._linears()]
                    n_batches += 1
                    before = [p.data.copy() for p in params]
                    self.opt.step()
                    self.last_update = [p.data - b for p, b in zip(params, before, strict=True)]
                    if not math.isfinite(loss):
                        finite = False
                        break
                finite = finite and all(np.all(np.isfinite(p.data)) for p in params)
            if not finite:
                start.restore()
                self.diverged = True
                self.pause()
                self._say(f"Training diverged in epoch {self.epoch + 1} (the loss or a weight "
                          "became NaN or infinite); the weights are back to the start of that "
                          "epoch. Lower the learning rate and press Reset.", error=True)
                break
            self.epoch += 1
            self.grad_norms = (norms / max(n_batches, 1)).tolist()
            self._record()
        self.render()

    def step_through(self, point: int | None = None) -> UpdateTrace:
        """Take one mini-batch update (or one on training point ``point``) and show it.

        The batch is ``batch_size`` training points drawn from its own seeded generator
        (the epochs' shuffling is untouched); the update is real (the weights change, the
        epoch counter does not). The diagram then steps through ``trace.phases``.
        """
        self.pause()
        n = len(self._F_train)
        if point is None:
            rng = np.random.default_rng([self._seed, 4, self._traces])
            rows = np.sort(rng.choice(n, size=min(int(self.batch_size.value), n), replace=False))
        else:
            rows = np.array([int_in(point, 0, n - 1, "point")])
        self._traces += 1
        params = self.model.parameters()
        before = [p.data.copy() for p in params]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            trace = trace_update(self.model, self.loss_fn, self._F_train[rows],
                                 self._t_train[rows], self.opt, rows=rows,
                                 before_step=self._add_penalty_gradient)
        self.last_update = [p.data - b for p, b in zip(params, before, strict=True)]
        self._off_script = self._off_script or (
            "a step-through update changed the weights outside the epochs, and this script "
            "trains the epochs only, so its losses differ from the Playground's; press Reset "
            "and train again for a run it reproduces")
        self.render()
        self.diagram.show_trace(trace)
        self._say(f"One update on {len(rows)} training point(s), not counted as an epoch: "
                  "use back/next to follow it, done to return.")
        return trace

    def _on_step_through(self, _button: Any = None) -> None:
        try:
            point = int(self.diagram.point.value) if self.diagram.mode.value == "point" else None
            self.step_through(point)
        except (ValueError, TypeError) as e:
            self._say(f"Step-through failed: {e}", error=True)

    def reset(self) -> None:
        """Fresh weights from the seed, epoch 0, an empty history (the data stay)."""
        self.pause()
        self._say("")
        self._build()

    def pause(self) -> None:
        """Stop playing (the running frame finishes first)."""
        self._generation += 1
        self.playing = False
        self.play_button.description = "▶ Play"
        self.play_button.button_style = "success"
        self._draw_epoch()

    def play(self) -> None:
        """Start training in the background on the running asyncio event loop (Jupyter's).

        Without a running event loop (a plain script) nothing starts and the message says
        to use ``step()`` or ``await app.run(frames)``.
        """
        if self.playing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._say("Play needs a running asyncio event loop (a Jupyter kernel has one). "
                      "Here, call step() or run `await app.run(frames)`.", error=True)
            return
        self._task = loop.create_task(self._loop(self._start(), None, report=True))

    def _start(self) -> int:
        """Mark the app as playing; returns the generation the new play loop belongs to."""
        self._generation += 1
        self.playing = True
        self.play_button.description = "❚❚ Pause"
        self.play_button.button_style = "warning"
        self._draw_epoch()
        return self._generation

    async def run(self, frames: int | None = None) -> int:
        """The play loop: ``epochs_per_frame`` epochs, a redraw, a short sleep; repeat.

        Runs until paused, until training diverges, or for ``frames`` frames. Each frame
        sleeps at least 5 ms and at most until ``MIN_FRAME_S`` has passed since it started,
        so the kernel can handle clicks in between. Returns the number of frames run.
        """
        return await self._loop(self._start(), frames)

    async def _loop(self, generation: int, frames: int | None, report: bool = False) -> int:
        """The loop behind ``run`` and the Play button (which belongs to ``generation``).

        With ``report``, an error is shown in the message area instead of raised: a task
        started by a button has nobody to raise to.
        """
        done = 0
        try:
            while self._generation == generation and (frames is None or done < frames):
                start = time.perf_counter()
                self.step(int(self.epochs_per_frame.value))
                done += 1
                if self.diverged:
                    break
                await asyncio.sleep(max(0.005, MIN_FRAME_S - (time.perf_counter() - start)))
        except Exception as e:
            if not report:
                raise
            self._say(f"Training stopped: {type(e).__name__}: {e}", error=True)
        finally:
            if self._generation == generation:
                self.pause()
        return done

    # -- control callbacks ----------------------------------------------------------------
    def _on_data_change(self, _change: Any = None) -> None:
        if self._quiet:
            return
        if self.dataset.value != "custom":
            wanted = "regression" if self.dataset.value in REGRESSION_SETS else "classification"
            if self.task.value != wanted:
                self._quiet = True
                try:
                    self.task.value = wanted
                finally:
                    self._quiet = False
        self._make_data()
        self._draw_features()
        self._build()

    def _on_task_change(self, change: Any) -> None:
        if self._quiet:
            return
        if self.dataset.value == "custom" and self.csv is not None:
            self._reread_csv(change)
            return
        if self.dataset.value == "custom":
            if change["new"] == "classification" and self._custom[1].dtype.kind == "f":
                self._quiet = True
                try:
                    self.task.value = change["old"]
                finally:
                    self._quiet = False
                self._say("Your y holds real numbers: it cannot be used for classification.",
                          error=True)
                return
            self._on_data_change()
            return
        sets = REGRESSION_SETS if change["new"] == "regression" else CLASSIFICATION_SETS
        self.dataset.value = sets[0]  # rebuilds through _on_data_change

    def _on_feature_change(self, change: Any) -> None:
        if self._quiet:
            return
        if not self.features:
            self._quiet = True
            try:
                change["owner"].value = True
            finally:
                self._quiet = False
            self._say("At least one input feature must stay on.", error=True)
            return
        self._say("")
        self._F_grid = None
        self._build()

    def _on_network_change(self, _change: Any = None) -> None:
        if not self._quiet:
            self._build()

    def _on_optimizer_change(self, change: Any) -> None:
        if self._quiet:
            return
        self._note_change(change)
        if change["owner"] is self.lr:
            self.opt.lr = float(self.lr.value)  # keeps the optimiser's state
        else:
            self._make_optimizer()  # a new optimiser, fresh state, same weights
        self.render()

    def _on_training_change(self, change: Any = None) -> None:
        if not self._quiet:
            self._note_change(change)
            self.render()

    def _note_change(self, change: Any) -> None:
        """Remember that a training setting changed after training started (for exports)."""
        if self.epoch and not self._off_script and change is not None:
            name = change["owner"].description
            name = {"batch": "batch size", "reg. rate": "regularisation rate"}.get(name, name)
            self._off_script = (f"the {name} changed at epoch {self.epoch}, after training "
                                "had started, and this script trains every epoch with the "
                                "current settings, so its losses differ from the "
                                "Playground's; press Reset and train again for a run it "
                                "reproduces")

    def _on_show_test(self, _change: Any = None) -> None:
        self.render()

    def _on_regenerate(self, _button: Any = None) -> None:
        self.seed.value = (int(self.seed.value) + 1) % (10**6 + 1)

    def _on_add_layer(self, _button: Any = None) -> None:
        if len(self.hidden) >= MAX_LAYERS:
            self._say(f"At most {MAX_LAYERS} hidden layers.", error=True)
            return
        self.hidden.append(self.hidden[-1] if self.hidden else 4)
        self._say("")  # an earlier "at most ..." no longer applies
        self._build()

    def _on_remove_layer(self, _button: Any = None) -> None:
        if not self.hidden:
            self._say("No hidden layer left to remove.", error=True)
            return
        self.hidden.pop()
        self._say("")
        self._build()

    def _units_handler(self, layer: int, delta: int) -> Callable[[Any], None]:
        def change_units(_button: Any = None) -> None:
            if layer >= len(self.hidden):
                return
            units = self.hidden[layer] + delta
            if not 1 <= units <= MAX_UNITS:
                self._say(f"A hidden layer has 1 to {MAX_UNITS} units.", error=True)
                return
            self.hidden[layer] = units
            self._say("")
            self._build()
        return change_units

    def _on_play(self, _button: Any = None) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def _on_export(self, _button: Any = None) -> None:
        self.config_text.value = self.to_json()

    def _on_import(self, _button: Any = None) -> None:
        try:
            self.load_json(self.config_text.value)
        except (ValueError, TypeError, KeyError) as e:
            self._say(f"Import failed: {e}", error=True)

    def _on_save(self, _button: Any = None) -> None:
        try:
            path = self.save(self.save_path.value)
        except (OSError, ValueError, TypeError) as e:
            self._say(f"Saving failed: {e}", error=True)
            return
        self._say(f"Saved the model (epoch {self.epoch}) to {path}. Load it with "
                  "bp.load(Playground.from_json(config).model, path).")

    # -- configuration ----------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The whole setup as plain values (what ``to_json`` writes)."""
        return {
            "version": CONFIG_VERSION, "dataset": self.dataset.value, "task": self.task.value,
            "seed": int(self.seed.value), "noise": int(self.noise.value),
            "ratio": int(self.ratio.value), "batch_size": int(self.batch_size.value),
            "features": self.features, "hidden": list(self.hidden),
            "activation": self.activation.value, "lr": float(self.lr.value),
            "optimizer": self.optimizer.value, "regularization": self.regularization.value,
            "reg_rate": float(self.reg_rate.value),
            "epochs_per_frame": int(self.epochs_per_frame.value),
            "show_test": bool(self.show_test.value),
        }

    def to_json(self) -> str:
        """The setup as a one-line JSON string, to share in a message."""
        return json.dumps(self.config)

    @staticmethod
    def _parse(text: str) -> dict[str, Any]:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"Playground configuration is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise ValueError(f"Playground configuration must be a JSON object, got "
                             f"{type(config).__name__}")
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise ValueError(f"Playground configuration has unknown keys {unknown}")
        version = config.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ValueError(f"Playground configuration version {version!r} is not "
                             f"supported (expected {CONFIG_VERSION})")
        return config

    @classmethod
    def from_json(cls, text: str, *, X: np.ndarray | None = None,
                  y: np.ndarray | None = None) -> Playground:
        """A new Playground with the setup in ``text`` (pass X, y again for custom data).

        With the same seed it builds the same data and the same initial weights.
        """
        config = cls._parse(text)
        dataset = config.pop("dataset", "circle")
        if dataset == "custom":
            if X is None:
                raise ValueError("Playground.from_json: this setup uses custom data; pass "
                                 "X= and y= too")
            return cls(X=X, y=y, **config)
        return cls(dataset, X=X, y=y, **config)

    def load_json(self, text: str) -> None:
        """Apply the setup in ``text`` to this Playground and start training again."""
        config = self._parse(text)
        dataset = config.get("dataset", self.dataset.value)
        if dataset == "custom" and self._custom is None:
            raise ValueError("this setup uses custom data; build it with "
                             "Playground.from_json(text, X=..., y=...)")
        probe = {k: v for k, v in config.items() if k != "dataset"}
        if dataset == "custom":
            check_settings(X=self._custom[0], y=self._custom[1], **probe)
        else:
            check_settings(dataset, **probe)
        self.pause()
        self._quiet = True
        try:
            self.dataset.value = dataset
            if "task" in config:
                self.task.value = config["task"]
            for name in ("seed", "noise", "ratio", "batch_size", "activation", "lr",
                         "optimizer", "regularization", "reg_rate", "epochs_per_frame",
                         "show_test"):
                if name in config:
                    getattr(self, name).value = config[name]
            if "features" in config:
                for name, button in self.feature_buttons.items():
                    button.value = name in config["features"]
            if "hidden" in config:
                self.hidden = [int(h) for h in config["hidden"]]
        finally:
            self._quiet = False
        self._say("")
        self._make_data()
        self._draw_features()
        self._build()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the trained model with ``bp.save`` (load it into ``from_json(...).model``)."""
        return bp_save(self.model, path)

    # -- data from a CSV file -----------------------------------------------------------------
    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], *, task: str | None = None,
                 header: bool | None = None, **settings: Any) -> Playground:
        """A Playground on the points of a CSV file: columns x1, x2 and a label or target.

        The file is only read. ``task=None`` reads the third column as class labels when it
        holds whole numbers with at most 10 distinct values, else as regression targets;
        the sorted labels become classes 0, 1, ... The first row is a header when none of
        its cells is a number (``header=None``). At most ``MAX_ROWS`` (10,000) data rows.
        ``settings`` are ``Playground``'s (``hidden=``, ``lr=``, ``seed=``, ...).

        Shape:
            a file of N rows -> the Playground's custom data X (N, 2), y (N,).
        """
        path = Path(path)
        data = read_playground_csv(path, task=task, header=header)
        app = cls(X=data.X, y=data.y, task=data.task, **settings)
        app._use_csv(data, path.read_bytes(), path.resolve())
        return app

    def _use_csv(self, data: PlaygroundCSV, content: bytes, path: Path | None) -> None:
        """Train on the points of ``data`` (read from ``content``) from now on."""
        X, y, task = check_custom(data.X, data.y, data.task)
        self.pause()
        self.csv, self._csv_bytes, self._csv_path = data, content, path
        self._custom = (X, y)
        self._quiet = True
        try:
            sets = ("custom",) + CLASSIFICATION_SETS + REGRESSION_SETS
            if "custom" not in self.dataset.options:
                self.dataset.options = [(DATASET_LABELS[s], s) for s in sets]
            self.dataset.value = "custom"
            self.task.value = task
        finally:
            self._quiet = False
        self.noise.disabled = True  # your data come with their own noise
        self._on_data_change()
        self._say(data.summary())

    def _on_upload(self, change: Any) -> None:
        """Read the uploaded CSV file (ipywidgets 8: a tuple of dicts, content a memoryview)."""
        if not change["new"]:
            return
        item = change["new"][-1]
        name, content = str(item["name"]), bytes(item["content"])
        self.upload.value = ()  # the widget keeps no copy; the same file can come again
        try:
            data = parse_playground_csv(content, name)
        except ValueError as e:
            self._say(f"Could not use the upload: {e}", error=True)
            return
        self._use_csv(data, content, None)

    def _reread_csv(self, change: Any) -> None:
        """The problem type changed on CSV data: read the file's content again for it."""
        assert self.csv is not None
        try:
            data = parse_playground_csv(self._csv_bytes, self.csv.name, task=change["new"],
                                        header=self.csv.header)
        except ValueError as e:
            self._quiet = True
            try:
                self.task.value = change["old"]
            finally:
                self._quiet = False
            self._say(str(e), error=True)
            return
        self._use_csv(data, self._csv_bytes, self._csv_path)

    # -- export as code -------------------------------------------------------------------
    def export_code(self, path: str | os.PathLike[str] = "playground.py", *,
                    epochs: int | None = None) -> list[Path]:
        """Write a bpkit script (``path``) and a PyTorch one (``<stem>_torch.py``).

        Each rebuilds this setup (data, features, network, optimiser, seed), trains it for
        ``epochs`` (default: the epochs trained here, or 100 before any) and prints the
        final losses and accuracies; the bpkit script prints the Playground's own numbers.
        Built-in data are made again by bpkit's generator from the name and the seed; a
        CSV file is read at its path (if it still holds the same bytes); an upload or
        ``X``/``y`` data go to ``<stem>_data_<hash>.csv`` beside the scripts. Files not
        written by an export are never replaced. Returns the paths written.
        """
        epochs = int_in(self.epoch or 100 if epochs is None else epochs, 1, 10**6, "epochs")
        path = Path(path)
        data, content, header = "builtin", None, False
        data_path: str | None = None
        beside = False
        if self.dataset.value == "custom":
            if self.csv is not None:
                data, header = "csv", self.csv.header
                same = self._csv_path is not None and self._csv_path.is_file() and (
                    self._csv_path.read_bytes() == self._csv_bytes)
                if same:
                    data_path = str(self._csv_path)
                else:
                    content = self._csv_bytes
            else:
                data, content = "table", data_table(*self._custom, self.is_regression)
            if content is not None:
                data_path, beside = data_copy_name(path, content), True
        spec = ScriptSpec(
            config=self.config, sizes=(len(self.features), *self.hidden,
                                       self._linears()[-1].out_features),
            epochs=epochs, test_size=len(self.X_test),
            n_points=len(self.X_train) + len(self.X_test), data=data, data_path=data_path,
            beside_script=beside, header=header, trained=self.epoch, note=self._off_script)
        return write_export(path, spec, content)

    def _on_export_code(self, _button: Any = None) -> None:
        try:
            paths = self.export_code(self.code_path.value)
        except (OSError, ValueError) as e:
            self._say(f"Export failed: {e}", error=True)
            return
        data = f" and the data to {paths[2].name}" if len(paths) > 2 else ""
        text = (f"Wrote {paths[0]} (bpkit) and {paths[1]} (PyTorch){data}: "
                f"run python {paths[0].name} to train this setup again.")
        if self._off_script:
            self._say(f"{text} Note: {self._off_script}.", error=True)
        else:
            self._say(text)

    # -- drawing ----------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "inherit"
        self.message.value = (f"<span style='color:{colour}'>{html.escape(text)}</span>"
                              if text else "")

    def _build_network_view(self) -> None:
        """One column per hidden layer: +/- buttons, the unit count, a heatmap per unit."""
        import ipywidgets as widgets

        self.unit_images = []
        columns = []
        for i, units in enumerate(self.hidden):
            images = [_unit_image() for _ in range(units)]
            for image in images:
                image.add_class("bpkit-playground-unit")
            self.unit_images.append(images)
            columns.append(widgets.VBox(
                [widgets.HBox([self.units_plus[i], self.units_minus[i]]),
                 widgets.HTML(f"{units} unit{'s' if units > 1 else ''}"), *images],
                layout=widgets.Layout(margin="0 6px 0 0")))
        self.network_box.children = columns
        n = len(self.hidden)
        self.layers_label.value = f"&nbsp;{n} hidden layer{'' if n == 1 else 's'}"

    def _draw_features(self) -> None:
        """A small heatmap of every feature over the plane (each scaled by its max |value|)."""
        small = self._grid.reshape(GRID, GRID, 2)[::2, ::2].reshape(-1, 2)
        side = len(range(0, GRID, 2))
        for name, image in self.feature_images.items():
            v = FEATURES[name](small)
            top = float(np.abs(v).max()) or 1.0
            rgb = render.diverging((v / top).reshape(side, side))
            self._feature_tiles[name] = render.upsample(rgb, UNIT_ZOOM)
            image.value = render.png_bytes(self._feature_tiles[name])

    def render(self) -> None:
        """Redraw the output, every hidden unit, the curves, the gradient flow and the text.

        Hidden units are shown after their activation: tanh as is, sigmoid as 2a - 1, ReLU
        and linear divided by their largest |value| over the plane; orange < 0 < blue.
        """
        if self._F_grid is None:
            self._F_grid = self.transform(self._grid)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            h = self._F_grid
            activations = []
            for layer in self.model:
                h = layer(h)
                if not isinstance(layer, Linear):
                    activations.append(h)
            out = h
            unit_tiles = self._draw_units(activations)
            out_rgb = self._draw_output(out)[::2, ::2]
        out_tile = render.upsample(out_rgb, UNIT_ZOOM)
        self.diagram.draw(self.model, self.features,
                          [[self._feature_tiles[n] for n in self.features], *unit_tiles,
                           [out_tile] * out.shape[1]], self.last_update)
        self._draw_curves()
        self.redraws += 1

    def _draw_units(self, activations: list[np.ndarray]) -> list[list[np.ndarray]]:
        """Each hidden unit's heatmap into its image; returns them per layer for the diagram."""
        kind = self.activation.value
        tiles = []
        for a, images in zip(activations, self.unit_images, strict=True):
            a = a.reshape(GRID, GRID, -1)[::2, ::2]
            if kind == "sigmoid":
                t = 2 * a - 1
            elif kind == "tanh":
                t = a
            else:
                top = np.abs(a).max(axis=(0, 1))
                t = a / np.where(top > 0, top, 1.0)
            rgb = render.upsample(render.diverging(t), UNIT_ZOOM)  # (side, side, units, 3)
            tiles.append([rgb[:, :, k] for k in range(len(images))])
            for k, image in enumerate(images):
                image.value = render.png_bytes(np.ascontiguousarray(rgb[:, :, k]))
        return tiles

    def _draw_output(self, out: np.ndarray) -> np.ndarray:
        """The output heatmap with the points; returns the heatmap alone, (GRID, GRID, 3)."""
        if self.is_regression:
            rgb = render.diverging(out[:, 0] / self._y_scale)
        elif out.shape[1] == 1:
            rgb = render.diverging(np.tanh(out[:, 0] / 2))  # = 2 sigmoid(z) - 1
        else:
            z = out - out.max(axis=1, keepdims=True)
            p = np.exp(z)
            rgb = render.blend_classes(p / p.sum(axis=1, keepdims=True))
        heatmap = rgb.reshape(GRID, GRID, 3)
        img = render.upsample(heatmap, OUTPUT_ZOOM)
        parts = [("train", self.y_train, (255, 255, 255))]
        if self.show_test.value:
            parts.append(("test", self.y_test, (0, 0, 0)))
        for part, y, ring in parts:
            if self.is_regression:
                fill = render.diverging(y / self._y_scale, lighten=0.0)
            else:
                fill = render.CLASS_COLORS[y].astype(np.uint8)
            rows, cols = self._pixels[part]
            render.draw_points(img, rows, cols, fill, ring)
        self.output_image.value = render.png_bytes(img)
        return heatmap

    def _draw_epoch(self) -> None:
        """The epoch counter, and whether training is playing or paused.

        Both are in one widget so a front end never shows an older epoch with a newer
        state (each widget's updates arrive in order; different widgets' need not).
        """
        state = "playing" if self.playing else ("paused" if self.epoch else "")
        self.epoch_label.value = (
            f"<span style='font-size:16px'>&nbsp;Epoch <b class='bpkit-epoch'>{self.epoch}</b>"
            f"</span> <span class='bpkit-state' style='color:#777'>{state}</span>&nbsp;")

    def _draw_curves(self) -> None:
        h = self.history
        train, test = np.array(h["train_loss"]), np.array(h["test_loss"])
        self.curve_image.value = render.png_bytes(
            render.line_chart([train, test], [(150, 150, 150), (0, 0, 0)], *CURVE_SIZE))
        self._draw_epoch()
        text = (f"train loss <b>{train[-1]:.4f}</b> (grey), test loss <b>{test[-1]:.4f}</b> "
                "(black)")
        if "test_accuracy" in h:
            text += (f"<br>accuracy: train {h['train_accuracy'][-1]:.1%}, "
                     f"test {h['test_accuracy'][-1]:.1%}")
        if self.regularization.value != "none" and float(self.reg_rate.value) > 0:
            text += (f"<br>{REGULARIZATIONS[self.regularization.value]} penalty "
                     f"{h['penalty'][-1]:.4f}; objective {train[-1] + h['penalty'][-1]:.4f}")
        self.stats.value = text
        rows = [] if self.epoch else ["<i>after the first epoch</i>"]
        sizes = [len(self.features), *self.hidden, self._linears()[-1].out_features]
        for i, norm in enumerate(self.grad_norms if self.epoch else []):
            width = 0 if norm <= 0 or not math.isfinite(norm) else int(
                np.clip((math.log10(norm) + 6) / 7 * 120, 1, 120))
            rows.append(f"<div style='font-family:monospace;font-size:11px'>"
                        f"{i + 1}: {sizes[i]}→{sizes[i + 1]} "
                        f"<span style='display:inline-block;width:{width}px;height:8px;"
                        f"background:#0877bd'></span> {norm:.1e}</div>")
        self.grad_flow.value = "".join(rows)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """Show the live widget in Jupyter, and a plain sentence where widgets cannot run."""
        bundle = dict(self.box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = ("Playground: an interactive widget. Run this notebook in "
                                "JupyterLab to use it.")
        return bundle
