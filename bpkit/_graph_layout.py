"""Where `bpkit.plot.draw_graph` puts each box, circle and arrow of a Value's graph.

No drawing happens here (and no matplotlib): `layout_graph` turns the Values reachable
from a root into positioned nodes and arrow paths, in inches, and ``draw_graph`` paints
them. The layout is Sugiyama-style: every Value sits in the layer of its longest path from
the leaves (a leaf just before its first use, an operation's circle between its operands
and its result), edges longer than one layer pass through invisible dummy nodes, a few
barycentric sweeps order each layer to reduce crossings, and the nodes of a layer are
packed and then pulled towards their neighbours (a least-squares isotonic fit keeps them
in order and apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FONT", "GraphLayout", "GraphNode", "graph_values", "layout_graph"]

FONT = 9.0  # points, at scale 1
_CHAR_W = 0.66 * FONT / 72  # inches per monospace character (glyph advance 0.6 em, + hinting)
_LINE_H = 1.25 * FONT / 72  # inches per text line
_PAD_X, _PAD_Y = 0.08, 0.05  # box padding, inches
_LAYER_GAP = 0.55  # between layers, inches
_NODE_GAP = 0.22  # between neighbours in a layer, inches


@dataclass
class GraphNode:
    """One box (a Value) or circle (its operation) of the drawing.

    Shape:
        ``x``, ``y`` the centre and ``width``, ``height`` the size, in inches at scale 1
        (a circle's diameter is its width); ``value`` the Value of a box, None for a circle.
    """

    kind: str  # "value" or "op"
    text: str
    x: float
    y: float
    width: float
    height: float
    value: Any = None
    leaf: bool = False


@dataclass
class GraphLayout:
    """Positioned nodes, arrows and the extent of a graph's drawing, in inches at scale 1.

    Each arrow is ``(vertices, codes)``: points ``(x, y)`` and, per point, ``"move"`` (the
    first), ``"curve"`` (a cubic Bezier segment: two control points, then its end) or
    ``"line"``; it runs from an operand's box to the operation (or result) using it.
    ``bounds`` is ``(x0, y0, x1, y1)``, every node and arrow inside with a margin.
    """

    nodes: list[GraphNode]
    arrows: list[tuple[list[tuple[float, float]], list[str]]]
    bounds: tuple[float, float, float, float]


def graph_values(root: Any, children: str = "children") -> list[Any]:
    """The Values reachable from root through the attribute ``children``, children before
    parents (iterative post-order)."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in reversed(tuple(getattr(node, children, ()))):
            if id(child) not in seen:
                stack.append((child, False))
    return order



def _fmt(x: Any) -> str:
    """A node's data or grad as drawn: a str as written, anything else with 4 decimals."""
    if isinstance(x, str):
        return x
    return f"{float(x):.4f}"


def _isotonic(t: np.ndarray) -> np.ndarray:
    """Least-squares non-decreasing fit of t (pool adjacent violators)."""
    sums: list[float] = []
    counts: list[int] = []
    for v in t:
        sums.append(float(v))
        counts.append(1)
        while len(sums) > 1 and sums[-2] / counts[-2] > sums[-1] / counts[-1]:
            s, c = sums.pop(), counts.pop()
            sums[-1] += s
            counts[-1] += c
    return np.repeat(np.array(sums) / np.array(counts), counts)


def _crossings(layers: list[list[int]], succ: list[list[int]], pos: np.ndarray) -> int:
    total = 0
    for layer in layers[:-1]:
        edges = np.array([(pos[u], pos[v]) for u in layer for v in succ[u]], dtype=np.int64)
        if len(edges) < 2:
            continue
        a, b = edges[:, 0], edges[:, 1]
        total += int(np.sum((a[:, None] < a[None, :]) & (b[:, None] > b[None, :])))
    return total


def _layout(
    n: int, edges: list[tuple[int, int]], layer: list[int], length: list[float],
    breadth: list[float],
) -> tuple[np.ndarray, np.ndarray, list[list[int]], list[float], list[int]]:
    """Sugiyama-style layout: dummies on long edges, barycentric ordering, packed coordinates.

    Returns primary and secondary coordinates of every node (dummies appended after the n
    real ones), each original edge's chain of nodes, the layers' lengths and every node's
    layer.
    """
    layer, length, breadth = list(layer), list(length), list(breadth)
    chains: list[list[int]] = []
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        chain = [u]
        for lv in range(layer[u] + 1, layer[v]):
            layer.append(lv)
            length.append(0.0)
            breadth.append(0.0)
            succ.append([])
            pred.append([])
            chain.append(len(layer) - 1)
        chain.append(v)
        for a, b in zip(chain, chain[1:], strict=False):
            succ[a].append(b)
            pred[b].append(a)
        chains.append(chain)
    total = len(layer)
    n_layers = max(layer) + 1
    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for node in range(total):  # creation order: children before parents, a stable start
        layers[layer[node]].append(node)
    pos = np.zeros(total, dtype=np.int64)

    def set_pos() -> None:
        for lay in layers:
            for i, node in enumerate(lay):
                pos[node] = i

    set_pos()
    best = [list(lay) for lay in layers]
    best_cross = _crossings(layers, succ, pos)
    for sweep in range(16):
        if best_cross == 0:
            break
        down = sweep % 2 == 0
        order = range(1, n_layers) if down else range(n_layers - 2, -1, -1)
        for li in order:
            lay = layers[li]
            nbrs = pred if down else succ
            keys = [sum(pos[m] for m in nbrs[node]) / len(nbrs[node]) if nbrs[node]
                    else pos[node] for node in lay]
            layers[li] = [lay[i] for i in np.argsort(keys, kind="stable")]
            for i, node in enumerate(layers[li]):
                pos[node] = i
        cross = _crossings(layers, succ, pos)
        if cross < best_cross:
            best, best_cross = [list(lay) for lay in layers], cross
    layers = best
    set_pos()

    # secondary coordinates: start packed, then pull each node towards its neighbours
    sec = np.zeros(total)

    def gaps(lay: list[int]) -> np.ndarray:
        g = [(breadth[a] + breadth[b]) / 2 + (_NODE_GAP if a < n and b < n else _NODE_GAP / 2)
             for a, b in zip(lay, lay[1:], strict=False)]
        return np.array(g)

    for lay in layers:
        offsets = np.concatenate([[0.0], np.cumsum(gaps(lay))])
        sec[lay] = offsets - offsets[-1] / 2
    for sweep in range(12):
        mode = ("down", "up", "both")[sweep % 3]
        for lay in layers if mode != "up" else layers[::-1]:
            desired = []
            for node in lay:
                nb = (pred[node] if mode != "up" else []) + (succ[node] if mode != "down" else [])
                desired.append(sum(sec[m] for m in nb) / len(nb) if nb else sec[node])
            offsets = np.concatenate([[0.0], np.cumsum(gaps(lay))])
            sec[lay] = _isotonic(np.array(desired) - offsets) + offsets
    layer_len = [max([length[m] for m in lay], default=0.0) for lay in layers]
    starts = np.concatenate([[0.0], np.cumsum(np.array(layer_len) + _LAYER_GAP)])
    prim = np.array([starts[layer[m]] + layer_len[layer[m]] / 2 for m in range(total)])
    return prim, sec, chains, layer_len, layer


def layout_graph(values: Sequence[Any], rankdir: str = "LR") -> GraphLayout:
    """Lay out the Values ``values`` (children before parents, as `graph_values` lists them).

    Shape:
        each Value has ``.data``, ``.grad``, ``.label``, ``.op`` ("" for leaves) and
        ``.children``; ``rankdir`` is "LR" (leaves on the left), "RL", "TB" or "BT".
        Returns a `GraphLayout` with one box per Value (in the order given), then one circle
        per operation.
    """
    horizontal = rankdir in ("LR", "RL")
    index = {id(v): i for i, v in enumerate(values)}

    # layout nodes: Values first (0..nv-1), then one op node per computed Value
    texts, kinds, length, breadth = [], [], [], []
    for v in values:
        label = str(getattr(v, "label", "") or "")
        parts = ([label] if label else []) + [f"data {_fmt(v.data)}", f"grad {_fmt(v.grad)}"]
        text = " | ".join(parts) if horizontal else "\n".join(parts)
        lines = text.split("\n")
        w = max(len(s) for s in lines) * _CHAR_W + 2 * _PAD_X
        h = len(lines) * _LINE_H + 2 * _PAD_Y
        texts.append(text)
        kinds.append("value")
        length.append(w if horizontal else h)
        breadth.append(h if horizontal else w)
    edges: list[tuple[int, int]] = []
    op_of: dict[int, int] = {}
    for i, v in enumerate(values):
        children = tuple(getattr(v, "children", ()))
        op = str(getattr(v, "op", "") or "")
        if not children:
            continue
        target = i
        if op:
            diameter = max(0.3, len(op) * _CHAR_W * 0.9 + 0.1)
            texts.append(op)
            kinds.append("op")
            length.append(diameter)
            breadth.append(diameter)
            target = len(texts) - 1
            op_of[i] = target
            edges.append((target, i))
        for child in children:
            e = (index[id(child)], target)
            if e not in edges:
                edges.append(e)
    n = len(texts)
    # layer = longest path from the leaves; then each leaf moves next to its first consumer
    layer = [0] * n
    for i, v in enumerate(values):
        children = tuple(getattr(v, "children", ()))
        if not children:
            continue
        base = max(layer[index[id(c)]] for c in children) + 1
        if i in op_of:
            layer[op_of[i]] = base
            layer[i] = base + 1
        else:
            layer[i] = base
    consumers: dict[int, list[int]] = {}
    for u, v in edges:
        consumers.setdefault(u, []).append(v)
    for i, v in enumerate(values):
        if not tuple(getattr(v, "children", ())) and i in consumers:
            layer[i] = min(layer[c] for c in consumers[i]) - 1

    prim, sec, chains, layer_len, all_layers = _layout(n, edges, layer, length, breadth)

    def xy(p: float, s: float) -> tuple[float, float]:
        return {"LR": (p, -s), "RL": (-p, -s), "TB": (s, -p), "BT": (s, p)}[rankdir]

    # extents in layout inches
    corners = []
    for m in range(n):
        for dp in (-length[m] / 2, length[m] / 2):
            for ds in (-breadth[m] / 2, breadth[m] / 2):
                corners.append(xy(prim[m] + dp, sec[m] + ds))
    for chain in chains:
        for m in chain:
            corners.append(xy(prim[m], sec[m]))
    corners_a = np.array(corners)
    margin = 0.15
    x0, y0 = corners_a.min(axis=0) - margin
    x1, y1 = corners_a.max(axis=0) + margin

    nodes = []
    for m in range(n):
        x, y = (float(c) for c in xy(prim[m], sec[m]))
        w, h = (length[m], breadth[m]) if horizontal else (breadth[m], length[m])
        if kinds[m] == "value":
            leaf = not tuple(getattr(values[m], "children", ()))
            nodes.append(GraphNode("value", texts[m], x, y, w, h, values[m], leaf))
        else:
            nodes.append(GraphNode("op", texts[m], x, y, w, h))
    arrows = []
    for chain in chains:
        u, v = chain[0], chain[-1]
        pts = [(prim[u] + length[u] / 2, sec[u])]
        for d in chain[1:-1]:
            half = layer_len[all_layers[d]] / 2
            pts.append((prim[d] - half, sec[d]))
            pts.append((prim[d] + half, sec[d]))
        pts.append((prim[v] - length[v] / 2, sec[v]))
        verts, codes = [xy(*pts[0])], ["move"]
        for k in range(1, len(pts)):
            (pa, sa), (pb, sb) = pts[k - 1], pts[k]
            if k % 2 == 1:  # between layers: a smooth S-curve
                dp = (pb - pa) / 2
                verts += [xy(pa + dp, sa), xy(pb - dp, sb), xy(pb, sb)]
                codes += ["curve"] * 3
            else:  # straight through a layer a long edge passes
                verts.append(xy(pb, sb))
                codes.append("line")
        arrows.append((verts, codes))
    return GraphLayout(nodes, arrows, (float(x0), float(y0), float(x1), float(y1)))
