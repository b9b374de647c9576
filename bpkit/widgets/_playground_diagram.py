"""The Playground's network diagram and its "Step through one update" mode.

The diagram is one image: a column of unit heatmaps per layer (the inputs, every hidden
layer, the output; the Playground's own heatmaps, copied in with NumPy) and a link from
every unit to every unit of the next layer (drawn with Pillow's ``ImageDraw``), coloured by
the sign of its weight (blue > 0, orange < 0) and thicker with |weight|. Clicks on an image
do not reach the kernel, so two dropdowns select a unit and one of its incoming links; the
panel beside shows the selected weight or bias, its current gradient and its last update.

``trace_update`` runs one real mini-batch update on the network and keeps every number of
it (forward values, the gradient each layer's own ``backward`` returned, the update the
optimiser made) as plain arrays and a list of ``Phase`` objects: forward column by column,
the loss, backward from the loss to the inputs, the update. ``explain`` writes the chain
rule for a selected unit or link with those numbers.

Shape conventions: a network has columns 0 (inputs) ... L (outputs) and L Linear layers;
Linear layer l maps column l to column l + 1, its weight is (units of l + 1, units of l).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.layers import Linear
from bpkit.losses import BCEWithLogitsLoss, MSELoss
from bpkit.module import Module
from bpkit.optim import SGD
from bpkit.widgets import _playground_render as render

__all__ = [
    "GAP",
    "NODE",
    "SMALL_NODE",
    "Layout",
    "NetworkDiagram",
    "Phase",
    "UpdateTrace",
    "diagram_layout",
    "draw_links",
    "explain",
    "link_style",
    "trace_update",
]

NODE = 50  # a unit's heatmap, as in the Playground's columns (25 x 25 grid points, zoom 2)
SMALL_NODE = 25  # the same heatmap at zoom 1, when a column has more than MANY units
MANY = 8  # up to 8 units a column, units are drawn NODE wide (a 6 x 16 network: SMALL_NODE)
TEXT = 16  # room for a line of text under each unit
GAP = 60  # horizontal room for the links between two columns
TOP = 4  # margin above the tallest column
RIGHT = 45  # margin right of the output column: the numbers written under it fit
WEIGHT_SCALE = 1.0  # |w| >= this draws the thickest link (play mode, a fixed scale)
MAX_WIDTH = 5  # thickest link in pixels
FRAME = (40, 40, 40)  # the selected unit's frame and the selected link's colour


# -- layout and links --------------------------------------------------------------------------


@dataclass
class Layout:
    """Where the diagram puts each unit.

    Shape:
        ``x`` (C,) left edge of each of C columns; ``ys``: C arrays (units of column c,)
        top edge of each unit; ``node`` the side of a unit's square, in pixels.
    """

    x: np.ndarray
    ys: list[np.ndarray]
    height: int
    width: int
    node: int


def diagram_layout(sizes: Sequence[int]) -> Layout:
    """Where each column's units go in the diagram image.

    Shape:
        sizes (C,) units per column -> a ``Layout`` of C columns.

    Units are NODE px squares (SMALL_NODE when a column has more than MANY units, so the
    largest network's image stays small enough to redraw while playing), TEXT px apart;
    columns are GAP apart (RIGHT to spare after the last), each centred vertically on the
    tallest one.
    """
    sizes = [int(s) for s in sizes]
    tallest = max(sizes)
    node = NODE if tallest <= MANY else SMALL_NODE
    pitch = node + TEXT
    x = np.arange(len(sizes)) * (node + GAP)
    ys = [TOP + (tallest - n) * pitch // 2 + np.arange(n) * pitch for n in sizes]
    return Layout(x, ys, TOP + tallest * pitch, len(sizes) * node + (len(sizes) - 1) * GAP
                  + RIGHT, node)


def link_style(values: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A link's colour (by sign) and width (by size): what the diagram draws for a value.

    Shape:
        values (...) -> colours (..., 3) uint8, widths (...) int in 1 ... MAX_WIDTH.

    t = clip(|v| / scale, 0, 1); width = 1 + round(t (MAX_WIDTH - 1)); colour: blue for
    v > 0, orange for v < 0, at least 40 % saturated so a small weight stays visible.
    """
    values = np.asarray(values, dtype=np.float64)
    t = np.clip(np.abs(np.nan_to_num(values)) / (scale if scale > 0 else 1.0), 0.0, 1.0)
    colours = render.diverging(np.sign(values) * np.maximum(t, 0.4), lighten=0.0)
    widths = 1 + np.round(t * (MAX_WIDTH - 1)).astype(np.int64)
    return colours, widths


def draw_links(
    pen: Any,
    start: np.ndarray,
    end: np.ndarray,
    colours: np.ndarray,
    widths: np.ndarray,
) -> None:
    """Draw straight links with a Pillow ``ImageDraw``; wider links are drawn last (on top).

    Shape:
        start, end (M, 2) pixel (row, col) of each end; colours (M, 3) uint8;
        widths (M,) int >= 1.

    Pillow rasterises each line in C, one call per link (about 350 calls for six layers of
    8 units, 1 400 for the largest network).
    """
    order = np.argsort(widths, kind="stable")
    ends = np.column_stack([start[:, 1], start[:, 0], end[:, 1], end[:, 0]])[order]
    for xy, colour, width in zip(ends.tolist(), np.asarray(colours)[order].tolist(),
                                 np.asarray(widths)[order].tolist(), strict=True):
        pen.line(xy, fill=tuple(colour), width=width)


def _link_ends(sizes: Sequence[int], lay: Layout, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) ends of Linear layer ``layer``'s links, in the order of weight.ravel()."""
    n_out, n_in = sizes[layer + 1], sizes[layer]
    k, j = np.divmod(np.arange(n_out * n_in), n_in)  # weight[k, j] links j -> k
    # 2-3 px clear of the heatmaps: a wide line's end never paints over a unit
    x, ys, half = lay.x, lay.ys, lay.node // 2
    start = np.column_stack([ys[layer][j] + half, np.full(k.size, x[layer] + lay.node + 2)])
    end = np.column_stack([ys[layer + 1][k] + half, np.full(k.size, x[layer + 1] - 3)])
    return start, end


def _frame(img: np.ndarray, top: int, left: int, node: int, colour: Sequence[int],
           width: int) -> None:
    """A frame ``width`` px wide just outside the node x node square at (top, left)."""
    t, b = max(top - width, 0), min(top + node + width, img.shape[0])
    lft, r = max(left - width, 0), min(left + node + width, img.shape[1])
    img[t:top, lft:r] = colour
    img[top + node:b, lft:r] = colour
    img[t:b, lft:left] = colour
    img[t:b, left + node:r] = colour


# -- one update, traced ------------------------------------------------------------------------


@dataclass
class Phase:
    """One picture of the step-through: which numbers the diagram shows.

    ``kind`` is "forward", "loss", "backward" or "update"; ``column`` the column it reached
    (None for the loss and the update). ``units[c]`` (sizes[c],) is the value written under
    each unit of column c for the traced point (None: not shown), ``links[l]`` (out, in)
    the value drawn on Linear layer l's links (None: drawn faded), ``quantity`` what the
    units show ("a", "dL/da", "Δb") and ``link_quantity`` what the links show.
    """

    kind: str
    column: int | None
    title: str
    units: list[np.ndarray | None]
    links: list[np.ndarray | None]
    quantity: str
    link_quantity: str


@dataclass
class UpdateTrace:
    """Every number of one traced update (mini-batch of N points, L Linear layers).

    Shape:
        ``X`` (N, n_in), ``targets`` what the loss took; ``rows`` (N,) the training points
        used; ``point`` the row (0 ... N-1) whose own numbers the chain rule writes out.
        Per column c = 0 ... L: ``a[c]`` (N, sizes[c]) the forward value (inputs, each
        hidden activation, the output logits) and ``grad_a[c]`` dL/da[c] from backward.
        Per Linear l = 0 ... L-1: ``z[l]`` (N, sizes[l+1]) its output, ``grad_z[l]`` the
        gradient its backward received, ``local[l]`` (N, sizes[l+1]) f'(z) of the
        activation after it (ones after the last layer), ``weight_grad[l]`` (out, in) and
        ``bias_grad[l]`` (out,) what backward accumulated, ``weight_penalty[l]`` what the
        penalty added, ``weight_before``/``weight_after`` and ``bias_before``/
        ``bias_after`` around the optimiser's step. ``plain_sgd``: the optimiser is SGD
        without momentum or weight decay (then Δw = -lr g exactly).
    """

    X: np.ndarray
    targets: np.ndarray
    rows: np.ndarray
    point: int
    loss: float
    loss_name: str
    activation: str
    optimizer: str
    lr: float
    plain_sgd: bool
    a: list[np.ndarray] = field(default_factory=list)
    grad_a: list[np.ndarray] = field(default_factory=list)
    z: list[np.ndarray] = field(default_factory=list)
    grad_z: list[np.ndarray] = field(default_factory=list)
    local: list[np.ndarray] = field(default_factory=list)
    weight_grad: list[np.ndarray] = field(default_factory=list)
    bias_grad: list[np.ndarray] = field(default_factory=list)
    weight_penalty: list[np.ndarray] = field(default_factory=list)
    weight_before: list[np.ndarray] = field(default_factory=list)
    weight_after: list[np.ndarray] = field(default_factory=list)
    bias_before: list[np.ndarray] = field(default_factory=list)
    bias_after: list[np.ndarray] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        """Units per column, inputs first."""
        return [a.shape[1] for a in self.a]


def _split(model: Module) -> tuple[list[Linear], list[Module]]:
    """The Linear layers and the activation after each hidden one; refuses other shapes."""
    layers = list(model)
    linears, acts = layers[0::2], layers[1::2]
    if (not layers or len(layers) % 2 == 0 or not all(isinstance(m, Linear) for m in linears)
            or any(isinstance(m, Linear) for m in acts)
            or any(m.parameters() for m in acts)):
        names = [type(m).__name__ for m in layers]
        raise ValueError(f"trace_update expected a Sequential of Linear layers with one "
                         f"parameter-free activation between each two, got {names}")
    return linears, acts


def trace_update(
    model: Module,
    loss_fn: Any,
    X: np.ndarray,
    targets: np.ndarray,
    optimizer: Any,
    *,
    rows: np.ndarray | None = None,
    point: int = 0,
    before_step: Callable[[], None] | None = None,
) -> UpdateTrace:
    """Take one optimiser step on (X, targets) and keep every number of it.

    Forward through each layer, the loss, ``loss_fn.backward()``, then each layer's own
    ``backward`` from the last to the first (what ``Sequential.backward`` does, one layer
    at a time so the gradient between layers is kept), ``before_step()`` (the Playground
    adds its penalty gradient there), ``optimizer.step()``. ``optimizer.zero_grad()`` runs
    first. The model is changed exactly as one training step changes it.

    Shape:
        X (N, n_in); targets: what ``loss_fn`` takes for N points; see ``UpdateTrace``.
    """
    linears, acts = _split(model)
    n = len(X)
    if not 0 <= int(point) < n:
        raise ValueError(f"trace_update: point must be a row of X, 0 to {n - 1}, got {point!r}")
    trace = UpdateTrace(
        X=np.array(X), targets=np.array(targets),
        rows=np.arange(n) if rows is None else np.asarray(rows), point=int(point),
        loss=0.0, loss_name=type(loss_fn).__name__,
        activation=type(acts[0]).__name__ if acts else "",
        optimizer=type(optimizer).__name__, lr=float(optimizer.lr),
        plain_sgd=isinstance(optimizer, SGD) and optimizer.momentum == 0
        and optimizer.weight_decay == 0)
    h = trace.X
    trace.a.append(h)
    for i, linear in enumerate(linears):
        z = linear(h)
        trace.z.append(z.copy())
        h = acts[i](z) if i < len(acts) else z
        trace.a.append(np.array(h))
    trace.loss = float(loss_fn(h, targets))
    optimizer.zero_grad()
    grad = loss_fn.backward()
    grad_a: list[np.ndarray] = [np.array(grad)]
    grad_z: list[np.ndarray] = []
    local: list[np.ndarray] = []
    for i in reversed(range(len(linears))):
        if i < len(acts):  # the activation after Linear i: dL/dz = dL/da * f'(z)
            local.append(acts[i].backward(np.ones_like(grad)))  # f'(z), its own backward
            grad = acts[i].backward(grad)
        else:
            local.append(np.ones_like(grad))
        grad_z.append(np.array(grad))
        grad = linears[i].backward(grad)
        grad_a.append(np.array(grad))
    trace.grad_a, trace.grad_z, trace.local = grad_a[::-1], grad_z[::-1], local[::-1]
    trace.weight_grad = [m.weight.grad.copy() for m in linears]
    trace.bias_grad = [m.bias.grad.copy() for m in linears]
    if before_step is not None:
        before_step()
    trace.weight_penalty = [m.weight.grad - g for m, g in zip(linears, trace.weight_grad,
                                                              strict=True)]
    trace.weight_before = [m.weight.data.copy() for m in linears]
    trace.bias_before = [m.bias.data.copy() for m in linears]
    optimizer.step()
    trace.weight_after = [m.weight.data.copy() for m in linears]
    trace.bias_after = [m.bias.data.copy() for m in linears]
    trace.phases = _phases(trace)
    return trace


def _phases(trace: UpdateTrace) -> list[Phase]:
    """Forward column by column, the loss, backward from the output to the inputs, update."""
    n_cols, p = len(trace.a), trace.point
    n_lin = n_cols - 1
    phases = []
    for c in range(n_cols):
        what = "the inputs" if c == 0 else ("the output" if c == n_lin else f"layer {c}")
        rule = ("the features of the point" if c == 0 else "z = W a_prev + b" if c == n_lin
                else "a = f(W a_prev + b)")
        phases.append(Phase(
            "forward", c, f"Forward: {what} ({rule})",
            [trace.a[i][p] if i <= c else None for i in range(n_cols)],
            [trace.weight_before[i] if i < c else None for i in range(n_lin)],
            "a", "w"))
    out = trace.a[-1]
    target = np.ravel(trace.targets[p]).astype(np.float64)
    if target.size != out.shape[1]:  # a class index: its one-hot row
        target = np.eye(out.shape[1])[int(target[0])]
    phases.append(Phase(
        "loss", None, f"Loss: {trace.loss_name} over {len(trace.X)} point(s) = "
        f"{_num(trace.loss)}; under the output: the point's target",
        [None] * n_lin + [target], list(trace.weight_before), "t", "w"))
    for c in reversed(range(n_cols)):
        what = "the output" if c == n_lin else ("the inputs" if c == 0 else f"layer {c}")
        phases.append(Phase(
            "backward", c, f"Backward: dL/da of {what}" + (
                "" if c == n_lin else f", dL/dw of the links into layer {c + 1}"
                if c + 1 < n_lin else ", dL/dw of the links into the output"),
            [trace.grad_a[i][p] if i >= c else None for i in range(n_cols)],
            [trace.weight_grad[i] if i >= c else None for i in range(n_lin)],
            "dL/da", "dL/dw"))
    phases.append(Phase(
        "update", None, f"Update: {trace.optimizer} step, lr = {_num(trace.lr)}",
        [None] + [after - before for after, before in zip(trace.bias_after, trace.bias_before,
                                                           strict=True)],
        [after - before for after, before in zip(trace.weight_after, trace.weight_before,
                                                 strict=True)],
        "Δb", "Δw"))
    return phases


# -- the chain rule in words -------------------------------------------------------------------


def _num(v: float) -> str:
    """A number as the panel shows it: 4 significant digits, a true minus sign."""
    return f"{float(v):.4g}".replace("-", "−")


def _factor(v: float) -> str:
    """A number inside a product, negative ones in parentheses."""
    s = _num(v)
    return f"({s})" if s.startswith("−") else s


def _sum_of_products(u: np.ndarray, v: np.ndarray, limit: int = 4) -> str:
    """'u0·v0 + u1·v1 + ...' (negatives in parentheses), the first ``limit`` terms only."""
    pairs = list(zip(u, v, strict=True))
    terms = [f"{_factor(u)}·{_factor(v)}" for u, v in pairs[:limit]]
    if len(pairs) > limit:
        terms.append(f"… ({len(pairs) - limit} more)")
    return " + ".join(terms)


def _local_formula(activation: str, a: float, z: float) -> str:
    """f'(z) written with its numbers, for the activations the Playground offers."""
    if activation == "Tanh":
        return f"1 − a² = 1 − {_factor(a)}²"
    if activation == "Sigmoid":
        return f"a (1 − a) = {_factor(a)}·(1 − {_factor(a)})"
    if activation == "ReLU":
        return f"[z > 0] with z = {_num(z)}"
    return "1 (linear)"


def _loss_formula(trace: UpdateTrace, k: int) -> str:
    """How the loss's backward made dL/dz of output unit k for the traced point."""
    p, n = trace.point, len(trace.X)
    z, t = trace.a[-1][p, k], trace.targets[p]
    t = float(np.ravel(t)[k]) if np.ndim(t) else float(t)
    if trace.loss_name == BCEWithLogitsLoss.__name__:
        return f" = (σ(z) − t)/N = (σ({_num(z)}) − {_num(t)})/{n * trace.a[-1].shape[1]}"
    if trace.loss_name == MSELoss.__name__:
        return f" = 2 (z − t)/(N·outputs) = 2·({_num(z)} − {_num(t)})/{n * trace.a[-1].shape[1]}"
    return f" (from {trace.loss_name}.backward())"


def explain(trace: UpdateTrace, phase: int, selection: tuple) -> list[str]:
    """The selected unit's or link's numbers in this phase, the chain rule written out.

    ``selection`` is ("unit", column, j) or ("link", layer, k, j): the link from unit j
    of column ``layer`` to unit k of column ``layer`` + 1. Returns lines of plain text;
    every number is one the trace holds (the forward values, what backward returned).
    """
    lines = _explain(trace, phase, selection)
    if selection[0] == "unit" and trace.phases[phase].kind in ("forward", "backward"):
        lines[0] = f"[training point {int(trace.rows[trace.point])}] {lines[0]}"
    return lines


def _explain(trace: UpdateTrace, phase: int, selection: tuple) -> list[str]:
    ph = trace.phases[phase]
    p, n_lin = trace.point, len(trace.a) - 1
    if selection[0] == "unit":
        _, c, j = selection
        a = trace.a[c][p, j]
        if ph.kind == "forward" and c > ph.column:
            return ["not reached yet: forward goes from the inputs to the output"]
        if ph.kind in ("forward", "loss"):
            if c == 0:
                return [f"input {j + 1}: x = {_num(a)}"]
            w, b = trace.weight_before[c - 1][j], trace.bias_before[c - 1][j]
            prev = trace.a[c - 1][p]
            z = trace.z[c - 1][p, j]
            lines = [f"z = Σ w·a_prev + b = {_sum_of_products(w, prev)} + "
                     f"{_factor(b)} = {_num(z)}"]
            if c < n_lin:
                lines.append(f"a = {trace.activation}(z) = {_num(a)}")
            return lines
        if ph.kind == "backward":
            if c < ph.column:
                return ["not reached yet: backward goes from the loss to the inputs"]
            if c == n_lin:
                g = trace.grad_a[c][p, j]
                return [f"dL/dz (output {j + 1}) = {_num(g)}{_loss_formula(trace, j)}"]
            w_next = trace.weight_before[c][:, j]
            g_next = trace.grad_z[c][p]
            ga = trace.grad_a[c][p, j]
            lines = [f"dL/da = Σ_k dL/dz_k · w_kj = {_sum_of_products(g_next, w_next)}"
                     f" = {_num(ga)}"]
            if c > 0:
                f1 = trace.local[c - 1][p, j]
                gz = trace.grad_z[c - 1][p, j]
                lines += [f"f'(z) = {_local_formula(trace.activation, a, trace.z[c - 1][p, j])}"
                          f" = {_num(f1)}",
                          f"dL/dz = dL/da · f'(z) = {_factor(ga)}·{_factor(f1)} = {_num(gz)}"]
            return lines
        if c == 0:
            return ["an input has no bias"]
        before, after = trace.bias_before[c - 1][j], trace.bias_after[c - 1][j]
        g = trace.bias_grad[c - 1][j]
        return [f"dL/db = Σ_n dL/dz[n] = {_num(g)}",
                f"b: {_num(before)} → {_num(after)} (Δb = {_num(after - before)})"]
    _, layer, k, j = selection
    w_before, w_after = trace.weight_before[layer][k, j], trace.weight_after[layer][k, j]
    if ph.kind == "forward" and layer >= ph.column:
        return ["not reached yet: forward goes from the inputs to the output"]
    if ph.kind in ("forward", "loss"):
        return [f"w = {_num(w_before)}: carries a_prev = {_num(trace.a[layer][p, j])} "
                f"as w·a_prev = {_num(w_before * trace.a[layer][p, j])}"]
    if ph.kind == "backward" and layer < ph.column:
        return ["not reached yet: backward goes from the loss to the inputs"]
    gz, a_prev = trace.grad_z[layer][:, k], trace.a[layer][:, j]
    lines = [f"dL/dw = Σ_n dL/dz[n] · a_prev[n] = {_sum_of_products(gz, a_prev)}"
             f" = {_num(trace.weight_grad[layer][k, j])}"]
    if ph.kind == "update":
        penalty = trace.weight_penalty[layer][k, j]
        g = trace.weight_grad[layer][k, j] + penalty
        if penalty:
            lines.append(f"+ penalty gradient {_num(penalty)} = {_num(g)}")
        lines.append(f"w: {_num(w_before)} → {_num(w_after)} (Δw = {_num(w_after - w_before)})")
        if trace.plain_sgd:
            lines.append(f"SGD without momentum: Δw = −lr · g = −{_num(trace.lr)}·{_factor(g)}"
                         f" = {_num(-trace.lr * g)}")
    return lines


# -- the widget --------------------------------------------------------------------------------


class NetworkDiagram:
    """The diagram image, the unit/link selector with its numbers, the step-through controls.

    Widgets (attributes): ``image``, ``unit_select``, ``link_select``, ``info`` (HTML),
    ``start_button`` (the Playground wires it to its ``step_through``), ``mode``
    (mini-batch or one point), ``point``, ``prev_button``, ``next_button``,
    ``done_button``, ``phase_label``, ``box``. Plain state: ``sizes``, ``trace``
    (an ``UpdateTrace`` or None), ``phase`` (index into ``trace.phases``), ``selection``.
    """

    def __init__(self) -> None:
        import ipywidgets as widgets

        self.sizes: list[int] = []
        self.names: list[str] = []
        self.trace: UpdateTrace | None = None
        self.phase = 0
        self._weights: list[np.ndarray] = []
        self._biases: list[np.ndarray] = []
        self._grads: list[tuple[np.ndarray, np.ndarray]] = []
        self._updates: list[np.ndarray] | None = None
        self._tiles: list[list[np.ndarray]] = []
        self.image = widgets.Image(format="png")
        self.image.add_class("bpkit-playground-diagram")
        self.unit_select = widgets.Dropdown(description="unit", options=[("-", None)])
        self.link_select = widgets.Dropdown(description="link from", options=[("-", None)])
        self.info = widgets.HTML()
        self.start_button = widgets.Button(description="Step through one update",
                                           layout=widgets.Layout(width="auto"))
        self.mode = widgets.ToggleButtons(options=[("mini-batch", "batch"),
                                                   ("one point", "point")], value="batch")
        self.point = widgets.BoundedIntText(value=0, min=0, max=10**6, description="point",
                                            layout=widgets.Layout(width="150px"))
        self.prev_button = widgets.Button(description="◀ back", disabled=True)
        self.next_button = widgets.Button(description="next ▶", disabled=True)
        self.done_button = widgets.Button(description="done", disabled=True)
        self.phase_label = widgets.HTML()
        self.unit_select.observe(self._on_unit, names="value")
        self.link_select.observe(self._on_select, names="value")
        self.prev_button.on_click(lambda _b: self.show_phase(self.phase - 1))
        self.next_button.on_click(lambda _b: self.show_phase(self.phase + 1))
        self.done_button.on_click(lambda _b: self.end_trace())
        self.box = widgets.VBox([
            widgets.HTML("<b>NETWORK</b> (links: blue w &gt; 0, orange w &lt; 0, "
                         "thicker = larger |w|)"),
            widgets.HBox([self.image, widgets.VBox([
                self.unit_select, self.link_select, self.info,
                widgets.HBox([self.start_button, self.mode, self.point]),
                widgets.HBox([self.prev_button, self.next_button, self.done_button]),
                self.phase_label])]),
        ])

    # -- selection --------------------------------------------------------------------------
    @property
    def selection(self) -> tuple | None:
        """("unit", column, j) or ("link", layer, k, j) as the dropdowns say, or None."""
        unit = self.unit_select.value
        if unit is None:
            return None
        source = self.link_select.value
        if source is None or unit[0] == 0:
            return ("unit", unit[0], unit[1])
        return ("link", unit[0] - 1, unit[1], source)

    def _unit_name(self, c: int, j: int) -> str:
        if c == 0:
            return f"input {self.names[j]}"
        if c == len(self.sizes) - 1:
            return "output" if self.sizes[c] == 1 else f"output {j + 1}"
        return f"layer {c}, unit {j + 1}"

    def _set_shape(self, sizes: list[int], names: list[str]) -> None:
        """New dropdown options for a new network shape; keeps the selection if it exists."""
        old = self.unit_select.value
        self.sizes, self.names = sizes, names
        options = [(self._unit_name(c, j), (c, j)) for c, n in enumerate(sizes)
                   for j in range(n)]
        keep = old if old in [v for _, v in options] else (len(sizes) - 1, 0)
        self.unit_select.options = options
        self.unit_select.value = keep
        self._link_options()

    def _link_options(self) -> None:
        unit = self.unit_select.value
        old = self.link_select.value
        options: list[tuple[str, Any]] = [("(the unit itself)", None)]
        if unit is not None and unit[0] > 0:
            options += [(self._unit_name(unit[0] - 1, j), j)
                        for j in range(self.sizes[unit[0] - 1])]
        self.link_select.options = options
        self.link_select.value = old if old in [v for _, v in options] else None

    def _on_unit(self, _change: Any = None) -> None:
        self._link_options()
        self._on_select()

    def _on_select(self, _change: Any = None) -> None:
        self._paint()
        self._describe()

    def _describe(self) -> None:
        """The panel: the selection's value, gradient and last update (or the phase's rule)."""
        sel = self.selection
        if sel is None:
            self.info.value = ""
            return
        if self.trace is not None:
            lines = explain(self.trace, self.phase, sel)
        elif sel[0] == "unit" and sel[1] == 0:
            lines = [f"{self._unit_name(sel[1], sel[2])}: a feature, no weight or bias"]
        else:
            if sel[0] == "unit":
                layer, index, name = sel[1] - 1, (sel[2],), "b"
                value, grad = self._biases[layer], self._grads[layer][1]
                update = None if self._updates is None else self._updates[2 * layer + 1]
            else:
                layer, index, name = sel[1], (sel[2], sel[3]), "w"
                value, grad = self._weights[layer], self._grads[layer][0]
                update = None if self._updates is None else self._updates[2 * layer]
            lines = [f"{name} = {_num(value[index])}",
                     f"gradient dL/d{name} = {_num(grad[index])} (last mini-batch)",
                     "last update: none yet" if update is None else
                     f"last update Δ{name} = {_num(update[index])}"]
        self.info.value = "<div style='font-family:monospace;font-size:12px'>" + "<br>".join(
            _html(line) for line in lines) + "</div>"

    # -- drawing ------------------------------------------------------------------------------
    def draw(self, model: Module, names: Sequence[str], tiles: Sequence[Sequence[np.ndarray]],
             last_update: list[np.ndarray] | None = None) -> None:
        """Redraw the diagram from the network's weights and every unit's heatmap.

        Shape:
            tiles[c][j] (NODE, NODE, 3) uint8: the heatmap of unit j of column c;
            ``last_update``: the parameters' last changes in ``model.parameters()`` order
            (weight, bias per Linear layer), or None before the first update.
        """
        linears = [m for m in model if isinstance(m, Linear)]
        sizes = [len(tiles[0])] + [m.out_features for m in linears]
        self._weights = [m.weight.data for m in linears]
        self._biases = [m.bias.data for m in linears]
        self._grads = [(m.weight.grad, m.bias.grad) for m in linears]
        self._updates = last_update
        self._tiles = [list(column) for column in tiles]
        if sizes != self.sizes or list(names) != self.names:
            self._set_shape(sizes, list(names))
        self._paint()
        self._describe()

    def _paint(self) -> None:
        from PIL import Image, ImageDraw

        if not self.sizes:
            return
        lay = diagram_layout(self.sizes)
        x, ys, node = lay.x, lay.ys, lay.node
        img = np.full((lay.height, lay.width, 3), 255, dtype=np.uint8)
        ph = None if self.trace is None else self.trace.phases[self.phase]
        sel = self.selection
        for c, column in enumerate(self._tiles):
            for j, tile in enumerate(column):
                step = NODE // node  # a tile's every pixel, or every 2nd (zoom 2 -> 1)
                img[ys[c][j]:ys[c][j] + node, x[c]:x[c] + node] = tile[::step, ::step]
        if ph is not None:  # a frame coloured by the phase's value of each unit
            for c, values in enumerate(ph.units):
                top = 1.0 if values is None else float(np.abs(values).max()) or 1.0
                for j, v in enumerate([] if values is None else values):
                    _frame(img, int(ys[c][j]), int(x[c]), node,
                           render.diverging(v / top, lighten=0.0), 3)
        if sel is not None and sel[0] == "unit":
            _frame(img, int(ys[sel[1]][sel[2]]), int(x[sel[1]]), node, FRAME, 2)
        picture = Image.fromarray(img)
        pen = ImageDraw.Draw(picture)
        for layer in range(len(self.sizes) - 1):
            start, end = _link_ends(self.sizes, lay, layer)
            if ph is None:
                colours, widths = link_style(self._weights[layer].ravel(), WEIGHT_SCALE)
            elif ph.links[layer] is None:
                colours = np.full((len(start), 3), 225, dtype=np.uint8)
                widths = np.ones(len(start), dtype=np.int64)
            else:
                values = ph.links[layer].ravel()
                top = float(np.abs(values).max()) if ph.link_quantity != "w" else WEIGHT_SCALE
                colours, widths = link_style(values, top)
            draw_links(pen, start, end, colours, widths)
        if sel is not None and sel[0] == "link":
            start, end = _link_ends(self.sizes, lay, sel[1])
            i = sel[2] * self.sizes[sel[1]] + sel[3]
            draw_links(pen, start[i:i + 1], end[i:i + 1], np.array([FRAME]),
                       np.array([MAX_WIDTH + 1]))  # the selected link, on top
        if ph is not None:
            # Pillow's built-in font has no Greek letters ("Δb" would draw as a box), so an
            # update is written as what the step did: b += Δb
            label = ph.quantity[1:] + "+=" if ph.quantity.startswith("Δ") else ph.quantity + "="
            for c, values in enumerate(ph.units):
                for j, v in enumerate([] if values is None else values):
                    pen.text((int(x[c]), int(ys[c][j]) + node + 3),
                             f"{label}{float(v):.4g}", fill=(0, 0, 0))  # ASCII minus
        self.image.value = render.png_bytes(np.asarray(picture))

    # -- the step-through ---------------------------------------------------------------------
    def show_trace(self, trace: UpdateTrace) -> None:
        """Start showing ``trace``, at its first phase."""
        self.trace = trace
        self.show_phase(0)

    def show_phase(self, phase: int) -> None:
        """Show phase ``phase`` of the trace (clipped to the first and the last)."""
        if self.trace is None:
            return
        self.phase = int(np.clip(phase, 0, len(self.trace.phases) - 1))
        ph = self.trace.phases[self.phase]
        self.prev_button.disabled = self.phase == 0
        self.next_button.disabled = self.phase == len(self.trace.phases) - 1
        self.done_button.disabled = False
        self.phase_label.value = (f"<b>{self.phase + 1}/{len(self.trace.phases)}</b> "
                                  f"{_html(ph.title)}")
        self._paint()
        self._describe()

    def end_trace(self) -> None:
        """Back to the live diagram (weights on the links)."""
        if self.trace is None:
            return
        self.trace = None
        self.phase = 0
        self.prev_button.disabled = self.next_button.disabled = True
        self.done_button.disabled = True
        self.phase_label.value = ""
        self._paint()
        self._describe()


def _html(text: str) -> str:
    import html

    return html.escape(text)
