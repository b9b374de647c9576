"""ShapeExplorer: every array of a ``Linear`` layer's forward and backward pass, to scale.

Pick the batch size N and the layer's ``in_features`` and ``out_features``. The explorer runs
a real ``bp.Linear`` forward and backward on random data of those shapes and draws each
array as a grid of cells (one cell per entry, the same size everywhere), one row per
equation:

    y  = x Wᵀ + b    (N, in)·(in, out) + (out,) → (N, out)
    dx = dy W        (N, out)·(out, in)         → (N, in)
    dW = dyᵀ x       (out, N)·(N, in)           → (out, in)
    db = Σₙ dy       (N, out) summed over n     → (out,)

Next to each row: the equation, its shapes in letters and in numbers, and its cost in
floating-point operations (FLOPs). The memory aid it illustrates: a gradient has the shape
of the array it belongs to, and in every product the inner dimensions must match.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.layers import Linear
from bpkit.widgets._app import WidgetApp

__all__ = [
    "EQUATIONS",
    "ShapeExplorer",
    "ShapeState",
    "draw_linear_shapes",
    "linear_flops",
    "linear_shapes",
]

N_MAX, FEATURES_MAX = 16, 12  # slider maxima (N and in/out features)

#: The four equations with their shapes in letters: result name -> text.
EQUATIONS: dict[str, str] = {
    "y": "y = x Wᵀ + b : (N,in)·(in,out) + (out,) → (N,out)",
    "dx": "dx = dy W : (N,out)·(out,in) → (N,in)",
    "dW": "dW = dyᵀ x : (out,N)·(N,in) → (out,in)",
    "db": "db = Σₙ dy : (N,out) summed over n → (out,)",
}

# Drawing, in inches (the axes' data coordinates are inches, y pointing down).
_UNIT_MAX = 0.22  # largest cell size
_BUDGET_W, _BUDGET_H = 5.0, 4.0  # the cells of the widest row / of all rows fit in these
_SLOT_MIN = 0.6  # every array gets at least this much width (room for its labels)
_GAP = 0.4  # between two arrays, holding the operator symbol
_LABEL_ABOVE, _LABEL_BELOW = 0.3, 0.3  # room for the name above and the shape below
_TEXT_W, _TEXT_H = 3.9, 0.75  # the equation column and the smallest row height
_MARGIN = 0.2
_COLOURS = {"x": "#1f77b4", "W": "#ff7f0e", "b": "#2ca02c", "y": "#9467bd"}  # tab10


def linear_flops(n: int, in_features: int, out_features: int) -> dict[str, int]:
    """The floating-point operations of each step of a Linear layer's forward and backward.

    Shape:
        ``x`` (N, in), ``W`` (out, in), ``b`` (out,), ``y`` and ``dy`` (N, out).

    Formula:
        an (a, b)·(b, c) product costs 2abc (one multiply and one add per term, the usual
        count); an elementwise add or a sum costs one FLOP per entry added:
        ``x @ W.T``: 2·N·in·out, ``+ b``: N·out, ``dy @ W``: 2·N·out·in,
        ``dy.T @ x``: 2·out·N·in, ``dy.sum(0)``: N·out.
    """
    where = "linear_flops"
    n = _checks.positive_int(n, "n", where)
    i = _checks.positive_int(in_features, "in_features", where)
    o = _checks.positive_int(out_features, "out_features", where)
    return {
        "x @ W.T": 2 * n * i * o,
        "+ b": n * o,
        "dy @ W": 2 * n * o * i,
        "dy.T @ x": 2 * o * n * i,
        "dy.sum(0)": n * o,
    }


@dataclass
class ShapeState:
    """What the explorer shows: the sizes, every array's shape, and the FLOP counts.

    Shape:
        ``shapes``: name -> shape for ``x`` (N, in), ``W`` (out, in), ``b`` (out,),
        ``y`` (N, out), ``dy`` (N, out), ``dx`` (N, in), ``dW`` (out, in), ``db`` (out,),
        read off the arrays of a real forward and backward pass. ``flops``: as
        :func:`linear_flops`; ``forward_flops`` = x @ W.T + b, ``backward_flops`` = the rest.
        ``equations``: result name -> the equation with its shapes in letters and numbers.
    """

    n: int
    in_features: int
    out_features: int
    shapes: dict[str, tuple[int, ...]]
    flops: dict[str, int]
    forward_flops: int
    backward_flops: int
    equations: dict[str, str]


def _numbers(shape: tuple[int, ...]) -> str:
    """A shape as written in the equations: ``(4,3)``, ``(2,)``."""
    return "(" + ",".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def linear_shapes(
    n: int,
    in_features: int,
    out_features: int,
    *,
    rng: np.random.Generator | int = 0,
) -> ShapeState:
    """Run ``bp.Linear(in_features, out_features)`` forward and backward; record every shape.

    Shape:
        ``x`` (N, in) and ``dy`` (N, out) are standard normal draws from ``rng``; the state
        holds the shapes of the arrays the layer actually produced (see :class:`ShapeState`).

    Formula:
        y = x Wᵀ + b;  dx = dy W;  dW = dyᵀ x;  db = Σₙ dy[n].
    """
    where = "linear_shapes"
    n = _checks.positive_int(n, "n", where)
    in_features = _checks.positive_int(in_features, "in_features", where)
    out_features = _checks.positive_int(out_features, "out_features", where)
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
            raise TypeError(
                f"{where}: rng must be a numpy.random.Generator or an int seed, got {rng!r}"
            )
        rng = np.random.default_rng(int(rng))
    layer = Linear(in_features, out_features, rng=rng)
    x = rng.standard_normal((n, in_features))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    arrays = {
        "x": x, "W": layer.weight.data, "b": layer.bias.data, "y": y,
        "dy": dy, "dx": dx, "dW": layer.weight.grad, "db": layer.bias.grad,
    }
    shapes = {name: tuple(int(d) for d in a.shape) for name, a in arrays.items()}
    flops = linear_flops(n, in_features, out_features)
    s = {name: _numbers(shape) for name, shape in shapes.items()}
    wt, dyt = _numbers(shapes["W"][::-1]), _numbers(shapes["dy"][::-1])
    numbers = {
        "y": f"{s['x']}·{wt} + {s['b']} → {s['y']}",
        "dx": f"{s['dy']}·{s['W']} → {s['dx']}",
        "dW": f"{dyt}·{s['x']} → {s['dW']}",
        "db": f"{s['dy']} summed over n → {s['db']}",
    }
    equations = {name: f"{EQUATIONS[name]} = {numbers[name]}" for name in EQUATIONS}
    return ShapeState(
        n=n,
        in_features=in_features,
        out_features=out_features,
        shapes=shapes,
        flops=flops,
        forward_flops=flops["x @ W.T"] + flops["+ b"],
        backward_flops=flops["dy @ W"] + flops["dy.T @ x"] + flops["dy.sum(0)"],
        equations=equations,
    )


def _flops(count: int) -> str:
    return f"{count} FLOP" if count == 1 else f"{count} FLOPs"


# -- drawing ---------------------------------------------------------------------------------
# A row is a list of items: an array (gid, label, (rows, cols), colour key) or an operator.
def _rows(state: ShapeState) -> list[tuple[str, list[Any], list[str]]]:
    """The four rows to draw: (result name, items, lines of text beside them)."""
    sh = state.shapes
    f = state.flops
    wt = sh["W"][::-1]
    dyt = sh["dy"][::-1]
    return [
        ("y", [("x", "x", sh["x"], "x"), "·", ("W.T", "Wᵀ", wt, "W"), "+",
               ("b", "b", (1, sh["b"][0]), "b"), "=", ("y", "y", sh["y"], "y")],
         [EQUATIONS["y"].split(" : ")[0] + "   (forward)",
          EQUATIONS["y"].split(" : ")[1],
          f"{_numbers(sh['x'])}·{_numbers(wt)} + {_numbers(sh['b'])} → {_numbers(sh['y'])}",
          f"2·N·in·out + N·out = {f['x @ W.T']} + {_flops(f['+ b'])}"]),
        ("dx", [("dy", "dy", sh["dy"], "y"), "·", ("W", "W", sh["W"], "W"), "=",
                ("dx", "dx", sh["dx"], "x")],
         [EQUATIONS["dx"].split(" : ")[0] + "   (backward)",
          EQUATIONS["dx"].split(" : ")[1],
          f"{_numbers(sh['dy'])}·{_numbers(sh['W'])} → {_numbers(sh['dx'])}",
          f"2·N·out·in = {_flops(f['dy @ W'])}"]),
        ("dW", [("dy.T", "dyᵀ", dyt, "y"), "·", ("x2", "x", sh["x"], "x"), "=",
                ("dW", "dW", sh["dW"], "W")],
         [EQUATIONS["dW"].split(" : ")[0],
          EQUATIONS["dW"].split(" : ")[1],
          f"{_numbers(dyt)}·{_numbers(sh['x'])} → {_numbers(sh['dW'])}",
          f"2·out·N·in = {_flops(f['dy.T @ x'])}"]),
        ("db", [("dy2", "dy", sh["dy"], "y"), "Σₙ", ("db", "db", (1, sh["db"][0]), "b")],
         [EQUATIONS["db"].split(" : ")[0],
          EQUATIONS["db"].split(" : ")[1],
          f"{_numbers(sh['dy'])} summed over n → {_numbers(sh['db'])}",
          f"N·out = {_flops(f['dy.sum(0)'])} (one add per entry of dy)"]),
    ]


def _cell_size(rows: list[tuple[str, list[Any], list[str]]]) -> float:
    """Inches per entry: as large as allowed while the widest row and all rows fit."""
    widest = max(sum(it[2][1] for it in items if isinstance(it, tuple)) for _, items, _ in rows)
    tall = sum(max(it[2][0] for it in items if isinstance(it, tuple)) for _, items, _ in rows)
    return min(_UNIT_MAX, _BUDGET_W / widest, _BUDGET_H / tall)


def draw_linear_shapes(state: ShapeState, figure: Any) -> None:
    """Draw every array of ``state`` as a grid of equal cells, one row per equation.

    Shape:
        one cell per entry at the same size everywhere, so areas compare; a (K,) vector is
        drawn as a 1 x K row. The figure is resized to fit (its width and height grow with
        the arrays). Each array's rectangle carries a ``gid``: ``x``, ``W.T``, ``b``, ``y``
        (forward row), ``dy``, ``W``, ``dx`` (dx row), ``dy.T``, ``x2``, ``dW`` (dW row),
        ``dy2``, ``db`` (db row).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    rows = _rows(state)
    u = _cell_size(rows)

    def slot(item: Any) -> float:
        return _GAP if isinstance(item, str) else max(item[2][1] * u, _SLOT_MIN)

    left_w = max(sum(slot(it) for it in items) for _, items, _ in rows)
    heights = [
        max(max(it[2][0] for it in items if isinstance(it, tuple)) * u
            + _LABEL_ABOVE + _LABEL_BELOW, _TEXT_H)
        for _, items, _ in rows
    ]
    width = 2 * _MARGIN + left_w + _TEXT_W
    height = 2 * _MARGIN + sum(heights) + 0.3
    figure.set_layout_engine("none")
    figure.set_size_inches(width, height)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(height, 0.0)
    ax.set_axis_off()
    ax.text(
        _MARGIN, _MARGIN, f"Linear({state.in_features} → {state.out_features}) on a batch of "
        f"N = {state.n}: every array to scale (one square per entry)",
        ha="left", va="top", fontsize=10.5, fontweight="bold",
    )
    top = _MARGIN + 0.3
    for (name, items, lines), row_h in zip(rows, heights, strict=True):
        mid = top + row_h / 2
        x = _MARGIN
        for item in items:
            w = slot(item)
            if isinstance(item, str):
                ax.text(x + w / 2, mid, item, ha="center", va="center",
                        fontsize=18 if item == "·" else 13)
                x += w
                continue
            gid, label, (r, c), colour = item
            rw, rh = c * u, r * u
            x0, y0 = x + (w - rw) / 2, mid - rh / 2
            ax.add_patch(Rectangle(
                (x0, y0), rw, rh, facecolor=_COLOURS[colour], alpha=0.35,
                edgecolor=_COLOURS[colour], lw=1.5, gid=gid,
            ))
            grid = [[(x0 + k * u, y0), (x0 + k * u, y0 + rh)] for k in range(1, c)]
            grid += [[(x0, y0 + k * u), (x0 + rw, y0 + k * u)] for k in range(1, r)]
            if grid:
                ax.add_collection(LineCollection(grid, colors="white", linewidths=0.8))
            ax.text(x0 + rw / 2, y0 - 0.06, label, ha="center", va="bottom", fontsize=10,
                    fontweight="bold", color=_COLOURS[colour])
            shape = state.shapes[label.rstrip("ᵀ")]
            shown = shape[::-1] if label.endswith("ᵀ") else shape
            ax.text(x0 + rw / 2, y0 + rh + 0.06, _numbers(shown), ha="center", va="top",
                    fontsize=9)
            x += w
        ax.text(
            _MARGIN + left_w + 0.25, mid, "\n".join(lines), ha="left", va="center",
            fontsize=9.5, linespacing=1.35, gid=f"equation {name}",
        )
        ax.axhline(top + row_h, color="0.85", lw=0.8)
        top += row_h


class ShapeExplorer(WidgetApp):
    """A Linear layer's forward and backward arrays drawn to scale for chosen N, in and out.

    Controls: ``n`` (batch size N, 1 to 16), ``in_features`` and ``out_features`` (1 to 12),
    all IntSliders. ``state`` is a :class:`ShapeState` computed by running a real
    ``bp.Linear`` forward and backward on random data of those shapes (seeded by ``rng``).

    Shape:
        x (N, in), W (out, in), b (out,), y = dy (N, out), dx (N, in), dW (out, in),
        db (out,).
    """

    def __init__(
        self,
        n: int = 4,
        in_features: int = 3,
        out_features: int = 2,
        *,
        rng: int = 0,
    ) -> None:
        import ipywidgets as widgets

        where = "ShapeExplorer"
        for name, value, high in (("n", n, N_MAX), ("in_features", in_features, FEATURES_MAX),
                                  ("out_features", out_features, FEATURES_MAX)):
            if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                    or not 1 <= value <= high):
                raise ValueError(f"{where} expected {name} in [1, {high}], got {value!r}")
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
            raise TypeError(f"{where}: rng must be an int seed, got {rng!r}")
        self.seed = int(rng)
        style = {"description_width": "initial"}
        self.n = widgets.IntSlider(
            value=int(n), min=1, max=N_MAX, description="N (batch)", style=style,
            continuous_update=False,
        )
        self.in_features = widgets.IntSlider(
            value=int(in_features), min=1, max=FEATURES_MAX, description="in_features",
            style=style, continuous_update=False,
        )
        self.out_features = widgets.IntSlider(
            value=int(out_features), min=1, max=FEATURES_MAX, description="out_features",
            style=style, continuous_update=False,
        )
        super().__init__([self.n, self.in_features, self.out_features], figsize=(9.0, 5.0))

    def update(self) -> None:
        """Run the layer with the current sizes and record every shape and FLOP count."""
        self.state = linear_shapes(
            self.n.value, self.in_features.value, self.out_features.value, rng=self.seed
        )
        s = self.state
        ratio = s.backward_flops / s.forward_flops
        self.message.value = html.escape(
            f"Forward: {s.forward_flops} FLOPs. Backward: {s.backward_flops} FLOPs, "
            f"{ratio:.2f}× the forward (two products of the same size as the forward one)."
        )

    def draw(self, figure: Any) -> None:
        """Draw the state with :func:`draw_linear_shapes`."""
        draw_linear_shapes(self.state, figure)
