"""DepthExplorer: what depth, initialisation and activation do to activations and gradients.

Pick the depth (2-20 hidden layers), the initialisation of the weights, the activation and
whether a ``BatchNorm1d`` sits before each activation. The app builds a deep MLP of width 64
from a fixed seed, runs one forward and one backward pass of a cross-entropy loss on a fixed
batch, and shows three panels: histograms of a few layers' activations, the activation std
per layer, and the gradient norm of every hidden weight per layer (gradient flow).
Everything is deterministic: the same settings always give the same figure.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit import init
from bpkit._checks import as_rng
from bpkit.layers import BatchNorm1d, Linear, ReLU, Sigmoid, Tanh
from bpkit.losses import CrossEntropyLoss
from bpkit.module import Module, Parameter, Sequential
from bpkit.widgets._app import WidgetApp

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "DepthExplorer",
    "DepthExplorerState",
    "LayerStatistics",
    "layer_statistics",
    "make_deep_mlp",
]

DEPTH_MIN, DEPTH_MAX = 2, 20
WIDTH = 64  # hidden width (and input width)
BATCH = 128  # samples in the fixed batch
CLASSES = 10  # outputs of the last Linear (random labels: the loss only drives gradients)
SATURATION = 0.97  # |tanh| (or |2 sigmoid - 1|) above this counts as saturated (as bp.Monitor)

Init = Callable[[Parameter, np.random.Generator], Any]


def _zero(w: Parameter, rng: np.random.Generator) -> Any:
    return init.zeros(w)


def _small(w: Parameter, rng: np.random.Generator) -> Any:
    return init.normal(w, 0.0, 0.01, rng=rng)


def _large(w: Parameter, rng: np.random.Generator) -> Any:
    return init.normal(w, 0.0, 1.0, rng=rng)


def _xavier(w: Parameter, rng: np.random.Generator) -> Any:
    return init.xavier_normal(w, rng=rng)


def _kaiming(w: Parameter, rng: np.random.Generator) -> Any:
    return init.kaiming_normal(w, nonlinearity="relu", rng=rng)


#: Initialisations: label -> function(weight, rng) filling the weight in place.
INITS: dict[str, Init] = {
    "zero": _zero,
    "small N(0, 0.01²)": _small,
    "large N(0, 1)": _large,
    "Xavier": _xavier,
    "Kaiming": _kaiming,
}

#: Activations: label -> layer class.
ACTIVATIONS: dict[str, type[Module]] = {"sigmoid": Sigmoid, "tanh": Tanh, "ReLU": ReLU}


def make_deep_mlp(
    depth: int,
    init_fn: Init,
    activation: type[Module],
    *,
    batchnorm: bool = False,
    width: int = WIDTH,
    out_features: int = CLASSES,
    rng: np.random.Generator | int | None = None,
) -> Sequential:
    """A deep MLP: ``depth`` blocks Linear(width, width) [+ BatchNorm1d] + activation, then a head.

    Shape:
        input (N, width) -> logits (N, out_features).

    Every Linear weight (the head's too) is filled by ``init_fn(weight, rng)``; biases are 0.
    """
    gen = as_rng(rng, "make_deep_mlp")
    layers: list[Module] = []
    for _ in range(int(depth)):
        layers.append(Linear(width, width, rng=gen))
        if batchnorm:
            layers.append(BatchNorm1d(width))
        layers.append(activation())
    layers.append(Linear(width, out_features, rng=gen))
    for layer in layers:
        if isinstance(layer, Linear):
            init_fn(layer.weight, gen)
            init.zeros(layer.bias)
    return Sequential(*layers)


@dataclass
class LayerStatistics:
    """Per-layer statistics of one forward/backward pass of a deep MLP.

    Shape:
        ``activations``: a list of ``depth`` arrays (N, width), the output of each
        activation layer; ``pre_std`` (the std of each activation's input, after the
        Linear or the BatchNorm1d), ``act_std``, ``act_mean``, ``dead_fraction``,
        ``saturated_fraction``, ``grad_norm`` (the hidden Linear weights' ||dL/dW||) are
        arrays of shape (depth,). ``head_grad_norm`` is the output layer's weight gradient norm.
    """

    activations: list[np.ndarray]
    pre_std: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    grad_norm: np.ndarray
    head_grad_norm: float
    loss: float


def layer_statistics(model: Sequential, X: np.ndarray, y: np.ndarray) -> LayerStatistics:
    """One forward and backward pass of ``model`` on (X, y), with per-layer statistics.

    Shape:
        X (N, D), y (N,) class indices.

    Formulas (A an activation layer's output (N, D)): dead_fraction = fraction of units
    with A[n, d] == 0 for every n (ReLU; 0 otherwise); saturated_fraction = fraction of
    entries with |A| > 0.97 (tanh) or |2A - 1| > 0.97 (sigmoid; 0 for ReLU).
    """
    loss_fn = CrossEntropyLoss()
    activations: list[np.ndarray] = []
    stats: dict[str, list[float]] = {k: [] for k in ("pre", "mean", "std", "dead", "sat")}
    x = X
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for layer in model:
            if isinstance(layer, (ReLU, Tanh, Sigmoid)):
                stats["pre"].append(float(np.std(x)))
            x = layer(x)
            if isinstance(layer, (ReLU, Tanh, Sigmoid)):
                activations.append(x)
                stats["mean"].append(float(np.mean(x)))
                stats["std"].append(float(np.std(x)))
                dead = float(np.mean(np.all(x == 0, axis=0))) if isinstance(layer, ReLU) else 0.0
                stats["dead"].append(dead)
                sat = 0.0
                if isinstance(layer, Tanh):
                    sat = float(np.mean(np.abs(x) > SATURATION))
                elif isinstance(layer, Sigmoid):
                    sat = float(np.mean(np.abs(2 * x - 1) > SATURATION))
                stats["sat"].append(sat)
        loss = loss_fn(x, y)
        model.zero_grad()
        model.backward(loss_fn.backward())
    weights = [m.weight.grad for m in model if isinstance(m, Linear)]
    norms = [float(np.sqrt(np.sum(g * g))) for g in weights]
    return LayerStatistics(
        activations=activations, pre_std=np.array(stats["pre"]),
        act_mean=np.array(stats["mean"]), act_std=np.array(stats["std"]),
        dead_fraction=np.array(stats["dead"]), saturated_fraction=np.array(stats["sat"]),
        grad_norm=np.array(norms[:-1]), head_grad_norm=norms[-1], loss=float(loss),
    )


@dataclass
class DepthExplorerState:
    """What the explorer shows: the settings, the model and its per-layer statistics.

    Shape:
        ``pre_std`` (std of each activation's input), ``act_std``, ``act_mean``,
        ``dead_fraction``, ``saturated_fraction``, ``grad_norm``: (depth,), layer 1 first.
    """

    depth: int
    init: str
    activation: str
    batchnorm: bool
    model: Sequential
    activations: list[np.ndarray]
    pre_std: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    grad_norm: np.ndarray
    loss: float


def _plain_number(value: float, _position: int) -> str:
    """A log-axis tick label such as 0.01 or 1e-20 in plain text."""
    return f"{value:.2g}"


def _shown_layers(depth: int) -> list[int]:
    """Up to five layers (0-based) spread from the first to the last."""
    return sorted({int(round(i)) for i in np.linspace(0, depth - 1, min(depth, 5))})


class DepthExplorer(WidgetApp):
    """Depth, initialisation, activation and batch norm in; activations and gradients out.

    Controls: ``depth`` (IntSlider 2-20), ``init`` (Dropdown of :data:`INITS`),
    ``activation`` (Dropdown of :data:`ACTIVATIONS`), ``batchnorm`` (Checkbox). ``state`` is
    a :class:`DepthExplorerState`. Panels: histograms of up to five layers' activations,
    activation std per layer, gradient norm per hidden weight (log scales).

    Shape:
        the fixed batch X (128, 64) ~ N(0, 1) and random labels y (128,) in 0..9 (seed 0).
    """

    def __init__(
        self,
        depth: int = 10,
        init: str = "small N(0, 0.01²)",
        activation: str = "tanh",
        *,
        batchnorm: bool = False,
        seed: int = 0,
    ) -> None:
        import ipywidgets as widgets

        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not (
            DEPTH_MIN <= depth <= DEPTH_MAX
        ):
            raise ValueError(f"DepthExplorer expected depth to be an integer in "
                             f"[{DEPTH_MIN}, {DEPTH_MAX}], got {depth!r}")
        if init not in INITS:
            raise ValueError(f"DepthExplorer expected init to be one of {list(INITS)}, "
                             f"got {init!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"DepthExplorer expected activation to be one of "
                             f"{list(ACTIVATIONS)}, got {activation!r}")
        self.seed = int(seed)
        data_rng = np.random.default_rng(self.seed)
        self.X = data_rng.standard_normal((BATCH, WIDTH))
        self.y = data_rng.integers(0, CLASSES, BATCH)
        self.depth = widgets.IntSlider(value=int(depth), min=DEPTH_MIN, max=DEPTH_MAX,
                                       description="depth", continuous_update=False)
        self.init = widgets.Dropdown(options=list(INITS), value=init, description="init")
        self.activation = widgets.Dropdown(options=list(ACTIVATIONS), value=activation,
                                           description="activation")
        self.batchnorm = widgets.Checkbox(value=bool(batchnorm), description="batch norm")
        super().__init__(
            [self.depth, self.init, self.activation, self.batchnorm],
            figsize=(11.0, 3.8),
            rows=[[self.depth, self.init], [self.activation, self.batchnorm]],
        )

    def update(self) -> None:
        """Build the deep MLP for the settings and run one forward/backward pass."""
        depth, label = int(self.depth.value), str(self.init.value)
        act, bn = str(self.activation.value), bool(self.batchnorm.value)
        model = make_deep_mlp(depth, INITS[label], ACTIVATIONS[act], batchnorm=bn,
                              rng=self.seed)
        s = layer_statistics(model, self.X, self.y)
        self.state = DepthExplorerState(
            depth=depth, init=label, activation=act, batchnorm=bn, model=model,
            activations=s.activations, pre_std=s.pre_std, act_mean=s.act_mean,
            act_std=s.act_std,
            dead_fraction=s.dead_fraction, saturated_fraction=s.saturated_fraction,
            grad_norm=s.grad_norm, loss=s.loss,
        )
        if s.grad_norm[-1] > 0:
            ratio = f"ratio first/last {s.grad_norm[0] / s.grad_norm[-1]:.3g}"
        else:
            ratio = "no ratio: the last layer gets no gradient"
        text = (f"{depth} × (Linear 64→64{' + BatchNorm1d' if bn else ''} + {act}), "
                f"init {label}. Activation std: layer 1 {s.act_std[0]:.3g}, layer {depth} "
                f"{s.act_std[-1]:.3g}. Gradient norm: layer 1 {s.grad_norm[0]:.3g}, layer "
                f"{depth} {s.grad_norm[-1]:.3g} ({ratio}).")
        if act == "ReLU":
            text += f" Dead units (mean over layers): {np.mean(s.dead_fraction):.0%}."
        else:
            text += f" Saturated outputs (mean over layers): {np.mean(s.saturated_fraction):.0%}."
        self.message.value = html.escape(text)

    def draw(self, figure: Any) -> None:
        """Histograms of a few layers, activation std per layer, gradient norm per layer."""
        from matplotlib import ticker

        from bpkit.plot import PALETTE

        s = self.state
        figure.set_layout_engine("none")
        margins = {"left": 0.06, "right": 0.99, "bottom": 0.14, "top": 0.82, "wspace": 0.3}
        hist_ax, std_ax, grad_ax = figure.subplots(1, 3, gridspec_kw=margins)
        for k, i in enumerate(_shown_layers(s.depth)):
            values = s.activations[i].ravel()
            values = values[np.isfinite(values)]
            hist_ax.hist(values, bins=40, histtype="step", lw=1.4,
                         color=PALETTE[k % len(PALETTE)], label=f"layer {i + 1}")
        hist_ax.set_xlabel("activation value")
        hist_ax.set_ylabel("count")
        hist_ax.set_title("Activations of a few layers", fontsize=10)
        hist_ax.legend(fontsize="x-small")
        layers = np.arange(1, s.depth + 1)
        std_ax.plot(layers, np.maximum(s.act_std, 1e-30), "o-", color=PALETTE[0], gid="act_std")
        std_ax.set_yscale("log")
        std_ax.set_xlabel("layer")
        std_ax.set_ylabel("activation std (log)")
        std_ax.set_title("Activation std per layer", fontsize=10)
        std_ax.grid(True, alpha=0.3)
        grad_ax.bar(layers, np.maximum(s.grad_norm, 1e-30), color=PALETTE[1], gid="grad_norm")
        grad_ax.set_yscale("log")
        grad_ax.set_xlabel("layer")
        grad_ax.set_ylabel("‖dL/dW‖ (log)")
        grad_ax.set_title("Gradient flow: weight gradient norm", fontsize=10)
        grad_ax.grid(True, alpha=0.3)
        for ax, values in ((std_ax, s.act_std), (grad_ax, s.grad_norm)):
            # plain tick labels: mathtext is slow to lay out on every redraw
            positive = values[np.isfinite(values) & (values > 0)]
            narrow = positive.size == 0 or positive.max() < 30 * positive.min()
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0) if narrow
                                                         else (1.0,), numticks=6))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
        figure.suptitle(f"{s.depth} layers, {s.activation}, init {s.init}"
                        f"{', batch norm' if s.batchnorm else ''}; loss {s.loss:.3f}",
                        fontsize=11)
