"""GraphStepper: the steps follow the backward pass, the figure follows the step."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from bpkit import plot  # noqa: E402
from bpkit.scalar import Value, topological_order  # noqa: E402
from bpkit.widgets import GraphStepper  # noqa: E402
from bpkit.widgets.graph_stepper import draw_backward_step  # noqa: E402


def small():
    """L = (a*b + c) * f at a=3, b=-2, c=5, f=4: e=-6, d=-1, L=-4."""
    a, b, c, f = Value(3.0, "a"), Value(-2.0, "b"), Value(5.0, "c"), Value(4.0, "f")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    L = d * f
    L.label = "L"
    return L


# dL/d(node) worked out by hand: L = d f, d = e + c, e = a b
EXPECTED = {"L": 1.0, "d": 4.0, "f": -1.0, "e": 4.0, "c": 4.0, "a": -8.0, "b": 12.0}


def used_twice():
    """M = a*b + a: a reaches M along two paths, dM/da = b + 1 = -1."""
    a, b = Value(3.0, "a"), Value(-2.0, "b")
    p = a * b
    p.label = "p"
    M = p + a
    M.label = "M"
    return M


def _value_texts(app_or_fig):
    fig = app_or_fig.figure if isinstance(app_or_fig, GraphStepper) else app_or_fig
    return {t.get_text() for t in fig.axes[0].texts if "data" in t.get_text()}


def _caption(fig) -> str:
    found = [t for t in fig.axes[0].texts if t.get_gid() == "caption"]
    assert len(found) == 1
    return found[0].get_text()


def _highlighted_texts(fig):
    """The texts of the boxes framed in the highlight colour."""
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    marked = [b for b in boxes if tuple(b.get_edgecolor()) == to_rgba(plot.PALETTE[1])]
    texts = [t for t in ax.texts if "data" in t.get_text()]
    found = []
    for box in marked:
        x, y = box.get_x() + box.get_width() / 2, box.get_y() + box.get_height() / 2
        found += [t.get_text() for t in texts if t.get_position() == pytest.approx((x, y))]
    return found


# -- the state ----------------------------------------------------------------------------


def test_step_zero_has_only_the_seed_and_nothing_highlighted():
    app = GraphStepper(small())
    s = app.state
    assert (s.step, s.n_steps, s.node, s.upstream, s.terms, s.done) == (0, 7, None, None, (), False)
    assert s.grads == {"a": None, "b": None, "e": None, "c": None, "d": None, "f": None, "L": 1.0}
    assert app.back_button.disabled and not app.next_button.disabled
    assert "dL/dL = 1" in app.message.value
    assert "L | data -4 | grad 1" in _value_texts(app)
    # no gradient has reached a yet: "?", padded to the width of the "-8" it will show
    assert "a | data 3 | grad  ?" in _value_texts(app)
    assert _highlighted_texts(app.figure) == []


def test_next_processes_the_root_first_local_times_upstream():
    app = GraphStepper(small())
    app.next_button.click()
    s = app.state
    assert (s.step, s.node, s.op, s.upstream) == (1, "L", "*", 1.0)
    # L = d * f: "* swaps", so d gets f * 1 and f gets d * 1
    assert [(t.child, t.local, t.upstream, t.contribution, t.total) for t in s.terms] == [
        ("d", 4.0, 1.0, 4.0, 4.0),
        ("f", -1.0, 1.0, -1.0, -1.0),
    ]
    assert s.grads["d"] == 4.0 and s.grads["f"] == -1.0 and s.grads["a"] is None
    assert not app.back_button.disabled
    assert "<td>d</td><td>4</td><td>× 1</td><td>= 4</td>" in app.message.value
    assert "dL/dd += 4 × 1 = 4" in _caption(app.figure)
    assert _highlighted_texts(app.figure) == ["L | data -4 | grad 1"]


def test_plus_passes_the_upstream_gradient_unchanged():
    app = GraphStepper(small(), include_leaves=False)
    app.step.value = 2  # L, then d
    s = app.state
    assert (s.node, s.op, s.upstream) == ("d", "+", 4.0)
    terms = [(t.child, t.local, t.contribution) for t in s.terms]
    assert terms == [("e", 1.0, 4.0), ("c", 1.0, 4.0)]


def test_the_last_step_gives_the_gradients_backward_gives():
    root = small()
    app = GraphStepper(root, step=7)
    assert app.state.done and app.next_button.disabled
    assert app.state.grads == EXPECTED
    fresh = small()
    fresh.backward()
    assert {v.label: v.grad for v in topological_order(fresh)} == app.state.grads
    assert "a | data 3 | grad -8" in _value_texts(app)
    assert "b | data -2 | grad 12" in _value_texts(app)


def test_the_users_values_are_never_changed():
    root = small()
    app = GraphStepper(root, include_leaves=False)
    app.next_button.click()
    assert all(v.grad == 0.0 for v in topological_order(root))
    root.backward()
    before = {v: v.grad for v in topological_order(root)}
    app.step.value = 3
    assert {v: v.grad for v in topological_order(root)} == before


def test_back_and_reset_and_the_ends_of_the_range():
    app = GraphStepper(small(), include_leaves=False)
    assert app.step.max == app.state.n_steps == 3  # L, d, e: the leaves skipped
    app.back_button.click()  # at 0 already: stays
    assert app.state.step == 0
    app.step.value = 3
    app.next_button.click()  # at the end already: stays
    assert app.state.step == 3 and app.state.node == "e"
    app.back_button.click()
    assert app.state.step == 2 and app.state.node == "d"
    assert app.state.grads["a"] is None  # e has not handed anything on yet
    app.reset_button.click()
    assert app.state.step == 0 and app.state.grads["d"] is None


def test_a_leaf_step_says_the_gradient_is_complete():
    app = GraphStepper(small(), step=2)  # L, then its leaf child f
    assert app.state.node == "f" and app.state.terms == ()
    assert app.state.upstream == -1.0
    assert "f is a leaf" in app.message.value
    assert "f is a leaf: dL/df = -1 is complete" in _caption(app.figure)


def test_a_node_used_twice_sums_its_contributions():
    app = GraphStepper(used_twice(), include_leaves=False)
    app.step.value = 1  # M = p + a hands 1 to a
    assert app.state.grads["a"] == 1.0
    app.step.value = 2  # p = a * b hands b * 1 = -2 to a: the total is 1 + (-2)
    term_a = app.state.terms[0]
    assert (term_a.child, term_a.contribution, term_a.total) == ("a", -2.0, -1.0)
    assert app.state.grads == {"a": -1.0, "b": 3.0, "p": 1.0, "M": 1.0}


def test_moving_the_slider_redraws_a_different_picture():
    app = GraphStepper(small(), include_leaves=False)
    redraws, image, texts = app.redraws, app.image.value, _value_texts(app)
    app.step.value = 3
    assert app.redraws == redraws + 1
    assert app.image.value != image
    assert _value_texts(app) != texts
    assert _highlighted_texts(app.figure) == ["e | data -6 | grad 4"]


def test_box_texts_keep_their_width_so_the_layout_does_not_jump():
    app = GraphStepper(small(), include_leaves=False)
    widths = sorted(len(t) for t in _value_texts(app))
    positions = sorted(t.get_position() for t in app.figure.axes[0].texts if "data" in t.get_text())
    app.step.value = 3
    assert sorted(len(t) for t in _value_texts(app)) == widths
    assert sorted(
        t.get_position() for t in app.figure.axes[0].texts if "data" in t.get_text()
    ) == positions


def test_a_builder_and_unlabelled_or_repeated_labels_get_unique_names():
    def build():
        x = Value(2.0, "x")
        y = Value(1.0, "x")  # the same label again
        return (x * y).exp()

    app = GraphStepper(build, step=1)
    names = list(app.state.grads)
    assert names == ["x", "x#1", "#2", "#3"]
    term = app.state.terms[0]
    assert term.child == "#2" and math.isclose(term.local, math.exp(2.0))


@pytest.mark.parametrize("bad", [3.0, "L", None])
def test_rejects_what_is_not_a_value(bad):
    with pytest.raises(TypeError, match="GraphStepper expected a Value .* got"):
        GraphStepper(bad)


def test_rejects_a_step_out_of_range_and_a_bad_rankdir():
    with pytest.raises(ValueError, match=r"expected step to be an int in 0\.\.7, got 8"):
        GraphStepper(small(), step=8)
    with pytest.raises(ValueError, match="rankdir must be"):
        GraphStepper(small(), rankdir="sideways")


def test_draw_backward_step_into_given_axes_leaves_the_graph_alone():
    root = small()
    fig = Figure(figsize=(9, 3))
    ax = fig.add_axes((0, 0, 1, 0.8))
    assert draw_backward_step(root, 3, ax=ax) is fig
    assert "d (+):" in _caption(fig)
    assert _highlighted_texts(fig) == ["d | data -1 | grad 4"]
    assert all(v.grad == 0.0 for v in topological_order(root))
    with pytest.raises(ValueError, match=r"expected step to be an int in 0\.\.7, got -1"):
        draw_backward_step(root, -1, ax=ax)
