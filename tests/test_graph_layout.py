"""The layout behind draw_graph: every Value a box, every operation a circle, arrows forward."""

from __future__ import annotations

from itertools import combinations
from types import SimpleNamespace

import pytest

from bpkit._graph_layout import graph_values, layout_graph
from bpkit.scalar import Value


def _expression() -> tuple[Value, dict[str, Value]]:
    a, b, c, f = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c"), \
        Value(-2.0, label="f")
    e = a * b
    d = e + c
    loss = d * f
    loss.label = "loss"
    loss.backward()
    return loss, {"a": a, "b": b, "c": c, "f": f, "e": e, "d": d}


def test_graph_values_lists_each_value_once_children_before_parents():
    loss, v = _expression()
    order = graph_values(loss)
    assert len(order) == 7 and order[-1] is loss
    position = {id(x): i for i, x in enumerate(order)}
    for x in order:
        assert all(position[id(ch)] < position[id(x)] for ch in x.children)
    shared = Value(1.0)
    y = shared * shared + shared
    assert graph_values(y).count(shared) == 1
    node = SimpleNamespace(_prev=(SimpleNamespace(_prev=()),))  # any attribute name works
    assert graph_values(node, "_prev") == [node._prev[0], node]


def test_layout_has_a_box_per_value_then_a_circle_per_operation():
    loss, _ = _expression()
    values = graph_values(loss)
    layout = layout_graph(values)
    boxes = [n for n in layout.nodes if n.kind == "value"]
    circles = [n for n in layout.nodes if n.kind == "op"]
    assert [n.value for n in boxes] == values and layout.nodes[:7] == boxes
    assert sorted(n.text for n in circles) == ["*", "*", "+"]
    assert {n.value.label for n in boxes if n.leaf} == {"a", "b", "c", "f"}
    assert boxes[-1].text == "loss | data -8.0000 | grad 1.0000"
    assert len(layout.arrows) == 3 + 6  # op -> result, and operand -> op


@pytest.mark.parametrize("rankdir", ["LR", "RL", "TB", "BT"])
def test_nodes_do_not_overlap_and_everything_is_inside_the_bounds(rankdir):
    loss, _ = _expression()
    layout = layout_graph(graph_values((loss * loss).tanh() + loss), rankdir)
    x0, y0, x1, y1 = layout.bounds
    for n in layout.nodes:
        assert x0 < n.x - n.width / 2 and n.x + n.width / 2 < x1
        assert y0 < n.y - n.height / 2 and n.y + n.height / 2 < y1
    for p, q in combinations(layout.nodes, 2):
        apart_x = abs(p.x - q.x) >= (p.width + q.width) / 2
        apart_y = abs(p.y - q.y) >= (p.height + q.height) / 2
        assert apart_x or apart_y, (p.text, q.text)
    for verts, codes in layout.arrows:
        assert codes[0] == "move" and set(codes[1:]) <= {"curve", "line"}
        assert len(verts) == len(codes)
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in verts)


def test_arrows_run_from_operands_to_results_in_the_direction_asked():
    loss, _ = _expression()
    values = graph_values(loss)
    lr = layout_graph(values, "LR")
    for verts, _ in lr.arrows:
        assert verts[0][0] < verts[-1][0]  # left to right
    starts = {round(v[0][0], 9) for v, _ in lr.arrows}
    rights = {round(n.x + n.width / 2, 9) for n in lr.nodes}
    assert starts <= rights  # every arrow leaves a node's right edge
    rl = layout_graph(values, "RL")  # the mirror image of LR
    for a, b in zip(lr.nodes, rl.nodes, strict=True):
        assert (b.x, b.y, b.width, b.height) == (-a.x, a.y, a.width, a.height)
    tb, bt = layout_graph(values, "TB"), layout_graph(values, "BT")
    for verts, _ in tb.arrows:
        assert verts[0][1] > verts[-1][1]  # top to bottom
    for a, b in zip(tb.nodes, bt.nodes, strict=True):
        assert (b.x, b.y) == (a.x, -a.y)
    assert tb.nodes[6].text == "loss\ndata -8.0000\ngrad 1.0000"  # stacked when vertical
