"""ShapeExplorer: the shapes come from a real Linear pass, and the drawing is to scale."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import ShapeExplorer  # noqa: E402
from bpkit.widgets.shapes import (  # noqa: E402
    EQUATIONS,
    draw_linear_shapes,
    linear_flops,
    linear_shapes,
)

GIDS = ("x", "W.T", "b", "y", "dy", "W", "dx", "dy.T", "x2", "dW", "dy2", "db")


def _expected_shapes(n: int, i: int, o: int) -> dict[str, tuple[int, ...]]:
    return {"x": (n, i), "W": (o, i), "b": (o,), "y": (n, o), "dy": (n, o), "dx": (n, i),
            "dW": (o, i), "db": (o,)}


def _rect(figure, gid: str):
    found = [p for p in figure.axes[0].patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one rectangle with gid {gid!r}, found {len(found)}"
    return found[0]


def _texts(figure) -> str:
    return "\n".join(t.get_text() for t in figure.axes[0].texts)


# -- the state --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), i=st.integers(1, 9), o=st.integers(1, 9))
def test_every_gradient_has_the_shape_of_its_array(n, i, o):
    s = linear_shapes(n, i, o, rng=1)
    assert s.shapes == _expected_shapes(n, i, o)
    for name in ("x", "W", "b", "y"):
        assert s.shapes["d" + name] == s.shapes[name]
    assert (s.n, s.in_features, s.out_features) == (n, i, o)
    assert s.forward_flops == 2 * n * i * o + n * o
    assert s.backward_flops == 4 * n * i * o + n * o
    assert sum(s.flops.values()) == s.forward_flops + s.backward_flops


def test_the_shapes_are_read_off_a_real_forward_and_backward(monkeypatch):
    """A layer that returns a wrong-shaped gradient shows up in the state: nothing is assumed."""

    def broken_backward(self, grad_output):
        self.weight.grad += grad_output.T @ self._x
        self.bias.grad += grad_output.sum(axis=0)
        return grad_output  # (N, out) instead of (N, in)

    monkeypatch.setattr(bp.Linear, "backward", broken_backward)
    s = linear_shapes(4, 3, 2)
    assert s.shapes["dx"] == (4, 2)


def _counted_matmul(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """The schoolbook product, counting one FLOP per multiply and one per add."""
    out = np.zeros((a.shape[0], b.shape[1]))
    count = 0
    for r in range(a.shape[0]):
        for c in range(b.shape[1]):
            for k in range(a.shape[1]):
                out[r, c] += a[r, k] * b[k, c]
                count += 2
    return out, count


@pytest.mark.parametrize(("n", "i", "o"), [(1, 1, 1), (4, 3, 2), (2, 5, 3)])
def test_flop_counts_match_a_counted_schoolbook_pass(n, i, o):
    rng = np.random.default_rng(3)
    x, w, dy = rng.normal(size=(n, i)), rng.normal(size=(o, i)), rng.normal(size=(n, o))
    y, f_fwd = _counted_matmul(x, w.T)
    dx, f_dx = _counted_matmul(dy, w)
    dw, f_dw = _counted_matmul(dy.T, x)
    np.testing.assert_allclose(y, x @ w.T)
    np.testing.assert_allclose(dx, dy @ w)
    np.testing.assert_allclose(dw, dy.T @ x)
    flops = linear_flops(n, i, o)
    assert flops == {"x @ W.T": f_fwd, "+ b": y.size, "dy @ W": f_dx, "dy.T @ x": f_dw,
                     "dy.sum(0)": dy.size}


def test_equations_carry_the_numbers():
    s = linear_shapes(4, 3, 2)
    assert s.equations["dW"] == "dW = dyᵀ x : (out,N)·(N,in) → (out,in) = (2,4)·(4,3) → (2,3)"
    assert s.equations["y"].endswith("= (4,3)·(3,2) + (2,) → (4,2)")
    assert s.equations["db"].endswith("= (4,2) summed over n → (2,)")
    assert set(s.equations) == set(EQUATIONS) == {"y", "dx", "dW", "db"}


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="linear_shapes: n must be a positive integer, got 0"):
        linear_shapes(0, 3, 2)
    with pytest.raises(ValueError, match="linear_flops: out_features must be a positive"):
        linear_flops(2, 3, -1)
    with pytest.raises(TypeError, match="linear_shapes: rng must be a numpy.random.Generator"):
        linear_shapes(2, 3, 2, rng="seed")


# -- the drawing ------------------------------------------------------------------------------


def test_every_array_is_drawn_to_one_scale():
    from matplotlib.figure import Figure

    n, i, o = 5, 3, 7
    fig = Figure()
    draw_linear_shapes(linear_shapes(n, i, o), fig)
    size = {gid: (_rect(fig, gid).get_width(), _rect(fig, gid).get_height()) for gid in GIDS}
    u = size["x"][0] / i  # inches per entry
    expected = {"x": (i, n), "W.T": (o, i), "b": (o, 1), "y": (o, n), "dy": (o, n),
                "W": (i, o), "dx": (i, n), "dy.T": (n, o), "x2": (i, n), "dW": (i, o),
                "dy2": (o, n), "db": (o, 1)}  # (columns, rows)
    for gid, (cols, rows) in expected.items():
        assert size[gid] == pytest.approx((cols * u, rows * u)), gid
    # the inner dimensions of each product match on the page, too
    assert size["x"][0] == pytest.approx(size["W.T"][1])  # in
    assert size["dy"][0] == pytest.approx(size["W"][1])  # out
    assert size["dy.T"][0] == pytest.approx(size["x2"][1])  # N


def test_the_equations_are_written_beside_the_arrays():
    from matplotlib.figure import Figure

    fig = Figure()
    s = linear_shapes(4, 3, 2)
    draw_linear_shapes(s, fig)
    text = _texts(fig)
    for name in ("y", "dx", "dW", "db"):
        letters = EQUATIONS[name].split(" : ")[1]
        assert letters in text, name
    assert "(2,4)·(4,3) → (2,3)" in text
    assert "2·out·N·in = 48 FLOPs" in text
    assert "N·out = 8 FLOPs" in text
    assert "Linear(3 → 2) on a batch of N = 4" in text


# -- the app ----------------------------------------------------------------------------------


def test_each_slider_changes_the_state_and_the_picture():
    app = ShapeExplorer(n=4, in_features=3, out_features=2)
    assert app.redraws == 1
    assert app.state.shapes == _expected_shapes(4, 3, 2)
    assert "Forward: 56 FLOPs. Backward: 104 FLOPs, 1.86×" in app.message.value
    sizes = [(4, 3, 2)]
    for slider, value in ((app.n, 9), (app.in_features, 6), (app.out_features, 1)):
        image, redraws = app.image.value, app.redraws
        height = _rect(app.figure, "x").get_height()
        width = _rect(app.figure, "dW").get_width()
        slider.value = value
        assert app.redraws == redraws + 1
        assert app.image.value != image
        n, i, o = app.n.value, app.in_features.value, app.out_features.value
        sizes.append((n, i, o))
        s = app.state
        assert s.shapes == _expected_shapes(n, i, o)
        assert s.flops == linear_flops(n, i, o)
        assert f"on a batch of N = {n}" in _texts(app.figure)
        x, w = _rect(app.figure, "x"), _rect(app.figure, "dW")
        assert x.get_height() / x.get_width() == pytest.approx(n / i)
        assert w.get_height() / w.get_width() == pytest.approx(o / i)
        if slider is app.n:
            assert x.get_height() > height  # a bigger batch: a taller x
        if slider is app.in_features:
            assert w.get_width() > width  # more inputs: a wider dW
    assert sizes[-1] == (9, 6, 1)


def test_constructor_checks_its_arguments():
    with pytest.raises(ValueError, match=r"ShapeExplorer expected n in \[1, 16\], got 0"):
        ShapeExplorer(n=0)
    with pytest.raises(ValueError, match=r"expected in_features in \[1, 12\], got 13"):
        ShapeExplorer(in_features=13)
    with pytest.raises(ValueError, match=r"expected out_features in \[1, 12\], got 2.5"):
        ShapeExplorer(out_features=2.5)
    with pytest.raises(TypeError, match="ShapeExplorer: rng must be an int seed"):
        ShapeExplorer(rng=None)
