"""Plots: training curves, decision boundaries, diagnostics, loss surfaces and graph drawings.

matplotlib is imported inside each function, never when bpkit is imported. Every function
draws into the ``ax=`` (or ``axes=``) it is given, or else makes a new figure, and returns the
Figure; none calls ``plt.show()``. In a notebook, end the cell with ``;`` (or assign the
result) so the figure is not shown twice.

Colours come from one colour-blind-aware palette (matplotlib's ``tab10``): class ``k``, layer
``k`` and path ``k`` are always drawn in ``PALETTE[k]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bpkit._checks import class_labels
from bpkit._graph_layout import FONT, graph_values, layout_graph
from bpkit.module import Module, preserved
from bpkit.train import confusion_matrix  # also bp.plot.confusion_matrix, as notebook 11 uses

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "confusion_matrix",
    "draw_graph",
    "loss_surface_grid",
    "plot_activation_histograms",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_grad_flow",
    "plot_history",
    "plot_loss_surface",
    "plot_regression_fit",
    "plot_update_ratios",
    "show_images",
]

#: matplotlib's ``tab10`` colours, in order.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_RED = PALETTE[3]


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _plt() -> Any:
    """``matplotlib.pyplot``, imported on first use."""
    import matplotlib.pyplot as plt

    return plt


def _fig_ax(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given axes and its figure, or a new figure with one axes."""
    if ax is None:
        fig, ax = _plt().subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _axes_list(axes: Any, n: int, where: str) -> list[Axes]:
    """``axes`` (one Axes, a sequence or an array of them) as a flat list of at least n."""
    found = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(found) < n:
        raise ValueError(f"{where} needs {n} axes, got {len(found)}")
    return found


def _colors(n: int) -> list[str]:
    """n distinct colours: ``tab10`` for up to 10, otherwise evenly spaced ``viridis``."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["viridis"]
    return [to_hex(cmap(t)) for t in np.linspace(0.0, 0.95, n)]


def _log_scale_if_positive(ax: Axes, values: Iterable[np.ndarray]) -> bool:
    """Switch the y axis to log scale when some value is finite and > 0; report whether."""
    for v in values:
        v = np.asarray(v, dtype=np.float64)
        if np.any(np.isfinite(v) & (v > 0)):
            ax.set_yscale("log")
            return True
    return False


def _series(values: Mapping[str, Any], where: str) -> tuple[list[str], list[np.ndarray]]:
    """Names and float arrays of a ``{name: value or [values]}`` mapping (not empty)."""
    if not isinstance(values, Mapping) or len(values) == 0:
        raise ValueError(f"{where} expected a non-empty dict {{name: values}}, got {values!r}")
    names = [str(k) for k in values]
    arrays = []
    for name, v in zip(names, values.values(), strict=True):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: values for {name!r} are not numbers: {v!r}") from None
        if a.ndim > 1:
            raise ValueError(
                f"{where}: values for {name!r} must be a number or a 1-D list over steps, "
                f"got shape {a.shape}"
            )
        arrays.append(a)
    return names, arrays


def _points(X: Any, where: str, what: str = "X") -> np.ndarray:
    """``X`` as a float (N, 2) array."""
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{where} expected {what} of shape (N, 2), got {a.shape}")
    return a


def _input_dtype(model: Any, *arrays: np.ndarray) -> np.dtype:
    """The dtype to feed the model: its own (``model.dtype``), else the data's, else float64."""
    dtype = getattr(model, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "f":
        return np.dtype(dtype)
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return a.dtype
    return np.dtype(np.float64)


def _predict(model: Any, inputs: np.ndarray) -> np.ndarray:
    """``model(inputs)`` in eval mode as a float64 array; the model is left as it was.

    A bpkit Module keeps every sub-module's mode, its buffers and its random state
    (``module.preserved``); another callable with ``train``/``eval`` gets its mode back.
    """
    if isinstance(model, Module):
        with preserved(model):
            model.eval()
            return np.asarray(model(inputs), dtype=np.float64)
    was_training = bool(getattr(model, "training", False))
    if was_training and hasattr(model, "eval"):
        model.eval()
    try:
        out = model(inputs)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return np.asarray(out, dtype=np.float64)


def _probabilities(out: np.ndarray, n: int, output: str, where: str) -> np.ndarray:
    """Class probabilities (n, C) from model outputs: sigmoid for one column, else softmax."""
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(
            f"{where} expected the model to return outputs of shape (N, C) or (N,) for "
            f"N={n} inputs, got {out.shape}"
        )
    if out.shape[1] == 1:
        z = out[:, 0]
        p1 = np.clip(z, 0.0, 1.0) if output == "probabilities" else 0.5 * (1 + np.tanh(z / 2))
        return np.column_stack([1 - p1, p1])
    if output == "probabilities":
        return out
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------


def _history_values(history: Any, key: str) -> list[float]:
    if isinstance(history, Mapping):
        values = history.get(key, [])
    else:
        values = getattr(history, key, [])
    if values is None:
        return []
    if np.ndim(values) == 0:  # one number (e.g. a 0-d array) is one epoch's value
        values = [values]
    return [float(v) for v in values]


def _epochs(history: Any, n: int) -> list[float]:
    """The history's epoch numbers when it has one per value, else 1..n."""
    epochs = _history_values(history, "epochs")
    return epochs if len(epochs) == n else list(range(1, n + 1))


def plot_history(
    history: Any,
    ax: Axes | Sequence[Axes] | None = None,
    metrics: Sequence[str] = ("loss", "accuracy"),
) -> Figure:
    """Training and validation curves per epoch, one panel per metric that has values.

    ``history`` is a ``History`` (``.loss``, ``.val_loss``, ``.accuracy``, ``.val_accuracy``)
    or a dict with those keys; metric ``m`` draws ``m`` (train) and ``val_m`` (validation).
    ``ax`` may be a sequence of axes, one per panel, or one axes: then a second panel goes on
    a twin y axis.

    Shape:
        each of ``history.<metric>``: (E,); the x axis is ``history.epochs`` (else 1..E).
    """
    where = "plot_history"
    panels = []
    for m in metrics:
        train, val = _history_values(history, m), _history_values(history, f"val_{m}")
        if train or val:
            panels.append((m, train, val))
    if not panels:
        raise ValueError(f"{where}: history has no values for metrics {tuple(metrics)}")
    plt = _plt()
    twin = False
    if ax is None:
        fig, axs = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
        axs = list(axs[0])
    elif hasattr(ax, "plot"):
        if len(panels) > 2:
            raise ValueError(f"{where}: one axes holds at most 2 metrics, got {len(panels)}")
        fig, axs = ax.figure, [ax] + ([ax.twinx()] if len(panels) == 2 else [])
        twin = len(panels) == 2
    else:
        axs = _axes_list(ax, len(panels), where)
        fig = axs[0].figure
    notes = []  # where a series stops being finite (a diverged run): said in the title
    for name, train, val in panels:
        for kind, series in (("train", train), ("validation", val)):
            bad = [e for e, v in zip(_epochs(history, len(series)), series, strict=True)
                   if not np.isfinite(v)]
            if bad:
                notes.append((name, f"{kind} {name} is NaN/inf from epoch {bad[0]:g}"))
    note = f"\n({'; '.join(n for _, n in notes)})" if notes else ""
    for i, ((name, train, val), a) in enumerate(zip(panels, axs, strict=False)):
        title = name.replace("_", " ").capitalize()
        panel_notes = [n for m, n in notes if m == name]
        if panel_notes:
            title += f"\n({'; '.join(panel_notes)})"
        # on a shared axes each metric keeps one colour, train solid and validation dashed
        c_train, c_val = (PALETTE[i], PALETTE[i]) if twin else (PALETTE[0], PALETTE[1])
        ls_val = "--" if twin else "-"
        if train:
            a.plot(_epochs(history, len(train)), train, color=c_train, marker=".",
                   label=f"train {name}")
        if val:
            a.plot(_epochs(history, len(val)), val, color=c_val, ls=ls_val, marker=".",
                   label=f"validation {name}")
        a.set_xlabel("epoch")
        a.set_ylabel(name.replace("_", " "))
        if not twin:
            a.set_title(title)
            a.legend(fontsize="small")
        a.grid(True, alpha=0.3)
    if twin:
        handles = axs[0].get_legend_handles_labels()
        handles2 = axs[1].get_legend_handles_labels()
        axs[0].legend(handles[0] + handles2[0], handles[1] + handles2[1], fontsize="small")
        axs[0].set_title(" and ".join(p[0] for p in panels).capitalize() + note)
    if ax is None:
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Models on 2-D and 1-D data
# --------------------------------------------------------------------------------------------


def plot_decision_boundary(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    ax: Axes | None = None,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    resolution: int = 200,
    padding: float = 0.5,
    features: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    output: str = "logits",
) -> Figure:
    """A classifier's regions over the plane, shaded by probability, with the data on top.

    Binary models (one output column, or a flat output) are read as logits through a sigmoid:
    the background runs from class 0's colour through white (p = 0.5, the boundary line) to
    class 1's. Multiclass logits go through a softmax: each point takes the colour of its
    argmax class, more opaque where that class is more certain. ``output="probabilities"``
    takes the outputs as probabilities as they are. Training points are filled, test points
    hollow; the title gives both accuracies. ``features`` maps grid points to model inputs
    (e.g. adds x1^2). The model runs forward in eval mode (its mode is restored after); that
    forward pass replaces what the model cached for ``backward``, so plot between steps.

    Shape:
        X (N, 2), y (N,) class labels; X_test (M, 2), y_test (M,);
        model(features(P)) for P (resolution^2, 2) -> (resolution^2, C) or (resolution^2,).
    """
    where = "plot_decision_boundary"
    if output not in ("logits", "probabilities"):
        raise ValueError(f"{where}: output must be 'logits' or 'probabilities', got {output!r}")
    X = _points(X, where)
    y = class_labels(y, where, "y")
    if len(y) != len(X):
        raise ValueError(f"{where} expected y of length {len(X)} (one per row of X), got {len(y)}")
    has_test = X_test is not None
    if has_test:
        if y_test is None:
            raise ValueError(f"{where}: X_test given without y_test")
        X_test = _points(X_test, where, "X_test")
        y_test = class_labels(y_test, where, "y_test")
        if len(y_test) != len(X_test):
            raise ValueError(
                f"{where} expected y_test of length {len(X_test)}, got {len(y_test)}"
            )
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 2:
        raise ValueError(f"{where}: resolution must be an integer >= 2, got {resolution!r}")
    to_inputs = features if features is not None else (lambda p: p)
    dtype = _input_dtype(model, np.asarray(X))

    def probs(points: np.ndarray) -> np.ndarray:
        inputs = np.asarray(to_inputs(points)).astype(dtype, copy=False)
        return _probabilities(_predict(model, inputs), len(points), output, where)

    everything = np.vstack([X, X_test]) if has_test else X
    if len(everything) == 0:
        raise ValueError(f"{where} expected at least one point in X (or X_test), got none")
    if not np.all(np.isfinite(everything)):
        raise ValueError(f"{where} expected finite X and X_test, got NaN/inf in "
                         f"{int(np.sum(~np.isfinite(everything).all(axis=1)))} row(s)")
    lo, hi = everything.min(axis=0) - padding, everything.max(axis=0) + padding
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid_p = probs(np.column_stack([xx.ravel(), yy.ravel()]))
    n_classes = max(grid_p.shape[1], int(y.max()) + 1 if len(y) else 0,
                    int(y_test.max()) + 1 if has_test and len(y_test) else 0)
    colors = np.array(_colors(n_classes))

    fig, ax = _fig_ax(ax, (6, 5))
    from matplotlib.colors import LinearSegmentedColormap, to_rgb
    from matplotlib.lines import Line2D

    if grid_p.shape[1] == 2:
        cmap = LinearSegmentedColormap.from_list(
            "bpkit_binary", [PALETTE[0], "#ffffff", PALETTE[1]]
        )
        p1 = grid_p[:, 1].reshape(xx.shape)
        ax.contourf(xx, yy, p1, levels=np.linspace(0, 1, 11), cmap=cmap, vmin=0, vmax=1,
                    alpha=0.75)
        ax.contour(xx, yy, p1, levels=[0.5], colors="k", linewidths=1.2)
    else:
        c = grid_p.shape[1]
        winner = grid_p.argmax(axis=1)
        certainty = (grid_p.max(axis=1) - 1 / c) / (1 - 1 / c)
        rgba = np.zeros((len(winner), 4))
        rgba[:, :3] = np.array([to_rgb(col) for col in colors[:c]])[winner]
        rgba[:, 3] = 0.1 + 0.6 * certainty
        ax.imshow(rgba.reshape(resolution, resolution, 4), origin="lower", aspect="auto",
                  extent=(lo[0], hi[0], lo[1], hi[1]), interpolation="nearest")
    ax.scatter(X[:, 0], X[:, 1], c=list(colors[y]), edgecolors="k", linewidths=0.5, s=22,
               label="train", zorder=3)
    accuracy = float(np.mean(probs(X).argmax(axis=1) == y)) if len(y) else float("nan")
    title = f"Decision boundary (train accuracy {accuracy:.1%}"
    if has_test:
        ax.scatter(X_test[:, 0], X_test[:, 1], facecolors="none", edgecolors=list(colors[y_test]),
                   linewidths=1.4, s=36, label="test", zorder=3)
        test_acc = float(np.mean(probs(X_test).argmax(axis=1) == y_test)) if len(y_test) \
            else float("nan")
        title += f", test {test_acc:.1%}"
    ax.set_title(title + ")")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    handles = [Line2D([], [], ls="", marker="s", color=colors[k], label=f"class {k}")
               for k in range(n_classes)]
    handles.append(Line2D([], [], ls="", marker="o", mfc="0.6", mec="k", label="train"))
    if has_test:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", label="test"))
    ax.legend(handles=handles, fontsize="small", loc="best", framealpha=0.8)
    return fig


def plot_regression_fit(model: Any, X: np.ndarray, y: np.ndarray, ax: Axes | None = None) -> Figure:
    """The data of a 1-D regression and the model's curve over (a little beyond) its range.

    The model runs forward in eval mode (restored after), replacing its ``backward`` cache.

    Shape:
        X (N,) or (N, 1), y (N,) or (N, 1); the model maps (M, 1) -> (M, 1) or (M,).
    """
    where = "plot_regression_fit"
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"{where} expected X of shape (N,) or (N, 1), got {np.shape(X)}")
    t = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(t) != len(x):
        raise ValueError(
            f"{where} expected y with {len(x)} values (one per row of X), got {len(t)}"
        )
    if len(x) == 0:
        raise ValueError(f"{where} expected at least one point in X, got none")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where} expected finite X, got NaN/inf in "
                         f"{int(np.sum(~np.isfinite(x)))} row(s)")
    dtype = _input_dtype(model, np.asarray(X))
    span = float(x.max() - x.min())
    pad = 0.05 * span if span > 0 else 0.5
    grid = np.linspace(x.min() - pad, x.max() + pad, 300)

    def predict(points: np.ndarray) -> np.ndarray:
        out = _predict(model, points[:, None].astype(dtype)).reshape(-1)
        if len(out) != len(points):
            raise ValueError(
                f"{where} expected the model to return one value per input, got "
                f"{len(out)} for {len(points)}"
            )
        return out

    curve = predict(grid)
    mse = float(np.mean((predict(x) - t) ** 2))
    fig, ax = _fig_ax(ax, (6, 4))
    ax.scatter(x, t, s=14, color=PALETTE[0], alpha=0.7, label="data")
    ax.plot(grid, curve, color=PALETTE[1], lw=2, label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Regression fit (MSE {mse:.4g})")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------


def plot_grad_flow(grad_norms: Mapping[str, Any], ax: Axes | None = None) -> Figure:
    """Gradient norm per layer on a log scale: one line per layer over steps, or one bar each.

    Given histories (``{layer: [norm at step 0, 1, ...]}``) it draws a line per layer; given a
    snapshot (``{layer: norm}``) a bar per layer, input side on the left. Vanishing gradients
    show as early layers orders of magnitude below the last ones.

    Shape:
        grad_norms: {layer: float} or {layer: (steps,)}.
    """
    where = "plot_grad_flow"
    names, arrays = _series(grad_norms, where)
    ndims = {a.ndim for a in arrays}
    if len(ndims) > 1:
        raise ValueError(
            f"{where} expected either one number per layer or one history per layer, got a mix"
        )
    fig, ax = _fig_ax(ax, (7, 4))
    colors = _colors(len(names))
    if ndims == {1}:
        for name, a, c in zip(names, arrays, colors, strict=True):
            ax.plot(np.arange(len(a)), a, color=c, lw=1.3, label=name,
                    marker="." if len(a) == 1 else None)
        ax.set_xlabel("step")
        ax.legend(fontsize="small", ncol=2 if len(names) > 6 else 1)
    else:
        values = np.array([float(a) for a in arrays])
        ax.bar(np.arange(len(names)), values, color=colors, edgecolor="k", linewidth=0.5)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=45 if len(names) > 4 else 0, ha="right"
                           if len(names) > 4 else "center")
        ax.set_xlabel("layer (input side first)")
    log = _log_scale_if_positive(ax, arrays)
    ax.set_ylabel("gradient norm" + (" (log scale)" if log else ""))
    ax.set_title("Gradient norm per layer")
    ax.grid(True, alpha=0.3, which="major")
    return fig


def plot_activation_histograms(
    activations: Mapping[str, np.ndarray], bins: int = 50, axes: Any = None
) -> Figure:
    """One histogram of activation values per layer, side by side, titled with mean and std.

    Collapsing (all near 0) or saturating (piled at +-1) layers are visible at a glance.
    Non-finite values are left out and counted in the title.

    Shape:
        activations: {layer: array of any shape}; ``axes``: at least one per layer.
    """
    where = "plot_activation_histograms"
    if not isinstance(activations, Mapping) or len(activations) == 0:
        raise ValueError(f"{where} expected a non-empty dict {{layer: activations}}")
    n = len(activations)
    if axes is None:
        fig, axs = _plt().subplots(1, n, figsize=(min(2.8 * n, 18), 2.9), squeeze=False)
        axs = list(axs[0])
    else:
        axs = _axes_list(axes, n, where)
        fig = axs[0].figure
    colors = _colors(n)
    for i, ((name, act), a) in enumerate(zip(activations.items(), axs, strict=False)):
        v = np.asarray(act, dtype=np.float64).reshape(-1)
        finite = v[np.isfinite(v)]
        dropped = v.size - finite.size
        if finite.size:
            a.hist(finite, bins=bins, color=colors[i], alpha=0.85)
            title = f"{name}\nmean {finite.mean():.3g}, std {finite.std():.3g}"
        else:
            a.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=a.transAxes)
            title = str(name)
        if dropped:
            title += f"\n({dropped} non-finite left out)"
        a.set_title(title, fontsize=9)
        a.set_xlabel("activation")
        if i == 0:
            a.set_ylabel("count")
    if axes is None:
        fig.tight_layout()
    return fig


def plot_update_ratios(ratios: Mapping[str, Any], ax: Axes | None = None) -> Figure:
    """log10(update / data) per parameter over steps, with the ~1e-3 rule of thumb at -3.

    Lines far below -3 learn slowly (learning rate too low); far above, too fast.

    Shape:
        ratios: {parameter: (steps,)} of log10 ratios (a single number counts as one step).
    """
    names, arrays = _series(ratios, "plot_update_ratios")
    fig, ax = _fig_ax(ax, (7, 4))
    for name, a, c in zip(names, arrays, _colors(len(names)), strict=True):
        a = np.atleast_1d(a)
        ax.plot(np.arange(len(a)), a, color=c, lw=1.2, label=name,
                marker="." if len(a) == 1 else None)
    ax.axhline(-3, color="k", ls="--", lw=1, label="1e-3 guide")
    ax.set_xlabel("step")
    ax.set_ylabel("log10(update / data)")
    ax.set_title("Update:data ratio per parameter")
    ax.legend(fontsize="small", ncol=2 if len(names) > 6 else 1)
    ax.grid(True, alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# Loss surfaces
# --------------------------------------------------------------------------------------------


def loss_surface_grid(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    n: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate a vectorised 2-D function on an n x n grid: returns (X, Y, Z = f(X, Y)).

    Shape:
        X, Y, Z: (n, n); X varies along columns, Y along rows (``np.meshgrid``).
    """
    where = "loss_surface_grid"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{where}: n must be an integer >= 2, got {n!r}")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if len(lim) != 2 or not float(lim[0]) < float(lim[1]):
            raise ValueError(f"{where}: {name} must be (low, high) with low < high, got {lim!r}")
    X, Y = np.meshgrid(np.linspace(*map(float, xlim), n), np.linspace(*map(float, ylim), n))
    Z = np.asarray(f(X, Y), dtype=np.float64)
    if Z.shape != X.shape:
        raise ValueError(
            f"{where}: f must be vectorised: f(X, Y) on ({n}, {n}) grids should return an "
            f"({n}, {n}) array, got shape {Z.shape}"
        )
    return X, Y, Z


def plot_loss_surface(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    paths: Mapping[str, np.ndarray] | None = None,
    ax: Axes | None = None,
    levels: int = 30,
    log: bool = False,
    *,
    resolution: int = 200,
) -> Figure:
    """Contours of f(x, y) with optimiser paths on top (a line per path, start o, end *).

    ``log=True`` spaces the contour levels geometrically (for valleys like Rosenbrock's);
    it needs some positive values of f. The view stays on ``xlim`` x ``ylim`` even when a
    path diverges.

    Shape:
        f maps (n, n) grids X, Y to (n, n); each path (T, 2), row t = (x_t, y_t).
    """
    where = "plot_loss_surface"
    checked = {}
    for name, path in (paths or {}).items():
        p = np.asarray(path, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
            raise ValueError(f"{where} expected path {name!r} of shape (T, 2), got {p.shape}")
        checked[str(name)] = p
    X, Y, Z = loss_surface_grid(f, xlim, ylim, resolution)
    Zm = np.ma.masked_invalid(Z)
    fig, ax = _fig_ax(ax, (6, 5))
    if log:
        from matplotlib.colors import LogNorm

        positive = Z[np.isfinite(Z) & (Z > 0)]
        if positive.size == 0 or positive.min() == positive.max():
            raise ValueError(f"{where}: log=True needs f to take several positive values")
        lv = np.geomspace(positive.min(), positive.max(), levels)
        ax.contour(X, Y, Zm, levels=lv, cmap="viridis", linewidths=0.8,
                   norm=LogNorm(lv[0], lv[-1]))
    else:
        ax.contour(X, Y, Zm, levels=levels, cmap="viridis", linewidths=0.8)
    colors = _colors(len(checked))
    starts, ends, end_colors, start_colors = [], [], [], []
    for (name, p), c in zip(checked.items(), colors, strict=True):
        ax.plot(p[:, 0], p[:, 1], color=c, lw=1.5, marker="o", markersize=2.5, label=name,
                zorder=3)
        finite = p[np.isfinite(p).all(axis=1)]
        if len(finite):
            starts.append(finite[0])
            start_colors.append(c)
            ends.append(finite[-1])
            end_colors.append(c)
    if starts:
        s, e = np.array(starts), np.array(ends)
        ax.scatter(s[:, 0], s[:, 1], s=60, facecolors="white", edgecolors=start_colors,
                   linewidths=1.5, zorder=4, label="start")
        ax.scatter(e[:, 0], e[:, 1], s=160, marker="*", c=end_colors, edgecolors="k",
                   linewidths=0.6, zorder=5, label="end")
    if checked:
        ax.legend(fontsize="small", loc="best")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Loss surface" + (" (log-spaced contours)" if log else ""))
    return fig


# --------------------------------------------------------------------------------------------
# Images and confusion matrices
# --------------------------------------------------------------------------------------------


def show_images(
    images: np.ndarray,
    labels: Any = None,
    predictions: Any = None,
    n_cols: int = 10,
    shape: tuple[int, int] = (8, 8),
    axes: Any = None,
) -> Figure:
    """A grid of small images (digits), titled with labels or predictions; mistakes in red.

    With both labels and predictions a correct image is titled with its class and a wrong
    one ``"<predicted> (true <label>)"`` in red. ``predictions`` may be scores (N, C): the
    argmax is taken.

    Shape:
        images (N, H*W) or (N, H, W) with (H, W) = ``shape``; labels, predictions (N,).
    """
    where = "show_images"
    imgs = np.asarray(images, dtype=np.float64)
    n = len(imgs) if imgs.ndim >= 1 else 0
    size = int(np.prod(shape))
    if imgs.ndim < 2 or int(np.prod(imgs.shape[1:])) != size:
        raise ValueError(
            f"{where} expected images of shape (N, {size}) or (N, {shape[0]}, {shape[1]}) "
            f"for shape={tuple(shape)}, got {imgs.shape}"
        )
    lab = class_labels(labels, where, "labels") if labels is not None else None
    pred = class_labels(predictions, where, "predictions") if predictions is not None else None
    for name, arr in (("labels", lab), ("predictions", pred)):
        if arr is not None and len(arr) != n:
            raise ValueError(
                f"{where} expected {name} of length {n} (one per image), got {len(arr)}"
            )
    if isinstance(n_cols, bool) or not isinstance(n_cols, (int, np.integer)) or n_cols < 1:
        raise ValueError(f"{where}: n_cols must be a positive integer, got {n_cols!r}")
    if axes is None:
        cols = max(1, min(n_cols, n))
        rows = max(1, -(-n // cols))
        fig, grid = _plt().subplots(rows, cols, figsize=(1.1 * cols, 1.3 * rows), squeeze=False)
        axs = list(grid.ravel())
    else:
        axs = _axes_list(axes, n, where)
        fig = axs[0].figure
    for i, a in enumerate(axs):
        a.set_xticks([])
        a.set_yticks([])
        if i >= n:
            if axes is None:
                a.set_axis_off()
            continue
        a.imshow(imgs[i].reshape(shape), cmap="gray_r", interpolation="nearest")
        if pred is not None and lab is not None:
            wrong = pred[i] != lab[i]
            text = f"{pred[i]} (true {lab[i]})" if wrong else f"{pred[i]}"
            a.set_title(text, fontsize=8, color=_RED if wrong else "k",
                        fontweight="bold" if wrong else "normal")
        elif pred is not None:
            a.set_title(f"pred {pred[i]}", fontsize=8)
        elif lab is not None:
            a.set_title(f"{lab[i]}", fontsize=8)
    if axes is None:
        fig.tight_layout(pad=0.3)
    return fig


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    n_classes: int | None = None,
    ax: Axes | None = None,
    normalize: bool = False,
) -> Figure:
    """The confusion matrix as a heat map with every cell's count (or row fraction) written in.

    ``normalize=True`` divides each row by its class's count (each row then sums to 1: the
    diagonal is the per-class recall).

    Shape:
        y_true, y_pred (N,) -> a (C, C) grid, rows true class, columns predicted.
    """
    m = confusion_matrix(y_true, y_pred, n_classes)
    c = len(m)
    values = m.astype(np.float64)
    if normalize:
        rows = values.sum(axis=1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows > 0)
    fig, ax = _fig_ax(ax, (max(3.5, 0.5 * c + 1.5), max(3.2, 0.5 * c + 1.2)))
    vmax = values.max() if values.max() > 0 else 1.0
    ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    fontsize = 9 if c <= 10 else max(5, 9 - (c - 10) // 3)
    for i in range(c):
        for j in range(c):
            text = f"{values[i, j]:.2f}" if normalize else f"{m[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if values[i, j] > 0.5 * vmax else "k")
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = m.sum()
    acc = f", accuracy {np.trace(m) / total:.1%}" if total else ""
    ax.set_title(f"Confusion matrix{' (rows normalised)' if normalize else ''}{acc}")
    return fig


# --------------------------------------------------------------------------------------------
# Computation graphs of Values
# --------------------------------------------------------------------------------------------

_MAX_FIG = 40.0  # largest figure side, inches


def draw_graph(
    root: Any,
    ax: Axes | None = None,
    rankdir: str = "LR",
    highlight: Iterable[Any] | None = None,
    *,
    max_nodes: int = 400,
) -> Figure:
    """Draw a ``Value``'s computation graph with matplotlib (no Graphviz needed).

    Each Value is a box with its label, data and grad (``%.4f``); each operation is a small
    circle between a result and its operands; arrows run from operands to results. Layers
    follow the longest path from the leaves (a leaf sits just before its first use), and each
    layer is ordered by the barycentre of its neighbours to reduce crossings. ``rankdir`` is
    ``"LR"`` (leaves on the left, like micrograd's ``draw_dot``), ``"RL"``, ``"TB"`` or
    ``"BT"``. Values in ``highlight`` get an orange frame (the backward stepper marks the
    current node with it; one Value may be given). A new figure is sized to the graph; in a
    given ``ax`` the drawing is scaled to fit.

    Shape:
        any ``root`` with ``.data``, ``.grad``, ``.label``, ``.op`` ("" for leaves) and
        ``.children``; at most ``max_nodes`` Values. ``data`` and ``grad`` are numbers,
        drawn with 4 decimals, or ``str``, drawn as written (a stepper shows "?" that way).
    """
    where = "draw_graph"
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"{where}: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if not hasattr(root, "children") or not hasattr(root, "data"):
        raise TypeError(f"{where} expected a Value (with .data and .children), got "
                        f"{type(root).__name__}")
    values = graph_values(root)
    if len(values) > max_nodes:
        raise ValueError(
            f"{where}: the graph has {len(values)} Values, more than max_nodes={max_nodes} can "
            "show readably; draw a smaller expression (or raise max_nodes)"
        )
    if highlight is not None and hasattr(highlight, "children"):
        highlight = (highlight,)  # one Value
    marked = {id(v) for v in (highlight or ())}
    layout = layout_graph(values, rankdir)
    # the scale: 1 layout inch -> `scale` inches on paper
    x0, y0, x1, y1 = layout.bounds
    width, height = x1 - x0, y1 - y0
    if ax is None:
        scale = min(1.0, _MAX_FIG / width, _MAX_FIG / height)
        fig = _plt().figure(figsize=(max(width * scale, 1.5), max(height * scale, 1.0)))
        ax = fig.add_axes((0, 0, 1, 1))
    else:
        fig = ax.figure
    box = ax.get_position()
    fw, fh = fig.get_size_inches()
    aw, ah = box.width * fw, box.height * fh  # the axes' size in inches
    scale = min(aw / width, ah / height)

    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    lw = max(0.4, 1.0 * scale)
    for node in layout.nodes:
        x, y, w, h = node.x, node.y, node.width, node.height
        if node.kind == "value":
            is_marked = id(node.value) in marked
            face = "#ffe8cc" if is_marked else ("#e3eef8" if node.leaf else "white")
            edge = PALETTE[1] if is_marked else PALETTE[0]
            ax.add_artist(FancyBboxPatch(
                (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.04",
                facecolor=face, edgecolor=edge, linewidth=lw * (2.5 if is_marked else 1.0),
                zorder=2))
            ax.text(x, y, node.text, ha="center", va="center", family="monospace",
                    fontsize=FONT * scale, zorder=3)
        else:
            ax.add_artist(Circle((x, y), w / 2, facecolor="#f0f0f0", edgecolor="0.35",
                                linewidth=lw, zorder=2))
            ax.text(x, y, node.text, ha="center", va="center", family="monospace",
                    fontsize=(FONT + (1.5 if len(node.text) <= 2 else -0.5)) * scale, zorder=3)
    path_codes = {"move": Path.MOVETO, "curve": Path.CURVE4, "line": Path.LINETO}
    for verts, codes in layout.arrows:
        path = Path(verts, [path_codes[c] for c in codes])
        ax.add_artist(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=9 * scale,
                                      color="0.35", linewidth=lw, zorder=1))
    # equal scales on both axes: widen the limits of the roomier direction
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax.set_xlim(cx - aw / scale / 2, cx + aw / scale / 2)
    ax.set_ylim(cy - ah / scale / 2, cy + ah / scale / 2)
    ax.set_axis_off()
    return fig
