"""DerivativeExplorer: the state follows the controls and the figure follows the state."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.widgets import DerivativeExplorer  # noqa: E402
from bpkit.widgets.derivative import FUNCTIONS, finite_difference  # noqa: E402


def _line(app: DerivativeExplorer, gid: str, panel: int = 0):
    """The line drawn with ``gid`` in panel ``panel`` of the current figure."""
    found = [line for line in app.figure.axes[panel].lines if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, found {len(found)}"
    return found[0]


def _only(label: str) -> dict:
    """A one-function mapping, so a test starts on that function with a single redraw."""
    return {label: FUNCTIONS[label]}


def _slope(line) -> float:
    xs, ys = line.get_data()
    return float((ys[-1] - ys[0]) / (xs[-1] - xs[0]))


# -- finite_difference -------------------------------------------------------------------------


def test_finite_difference_forward_and_central_formulas():
    f = np.sin
    x, h = 0.7, 1e-3
    assert finite_difference(f, x, h) == pytest.approx((math.sin(x + h) - math.sin(x)) / h)
    assert finite_difference(f, x, h, central=True) == pytest.approx(
        (math.sin(x + h) - math.sin(x - h)) / (2 * h)
    )


def test_central_difference_is_exact_for_a_quadratic_but_forward_is_off_by_h():
    def f(x):
        return x**2

    # forward: ((x+h)^2 - x^2)/h = 2x + h;  central: 2x exactly.
    assert finite_difference(f, 3.0, 0.5) == pytest.approx(6.5, abs=1e-12)
    assert finite_difference(f, 3.0, 0.5, central=True) == pytest.approx(6.0, abs=1e-12)


def test_error_orders_forward_halves_central_quarters():
    x = 1.0
    exact = math.cos(x)
    e = [abs(finite_difference(np.sin, x, h) - exact) for h in (1e-2, 5e-3)]
    c = [abs(finite_difference(np.sin, x, h, central=True) - exact) for h in (1e-2, 5e-3)]
    assert e[0] / e[1] == pytest.approx(2.0, rel=0.02)
    assert c[0] / c[1] == pytest.approx(4.0, rel=0.02)


@pytest.mark.parametrize("h", [0.0, -1e-3, float("nan"), float("inf")])
def test_finite_difference_rejects_a_bad_step(h):
    with pytest.raises(ValueError, match="finite_difference expected a finite step h > 0"):
        finite_difference(np.sin, 0.0, h)


@pytest.mark.parametrize("label", list(FUNCTIONS))
def test_every_builtin_derivative_matches_a_central_difference(label):
    f, df = FUNCTIONS[label]
    xs = np.linspace(-2.0, 2.0, 9)
    numeric = np.array([finite_difference(f, x, 1e-5, central=True) for x in xs])
    np.testing.assert_allclose(df(xs), numeric, atol=1e-8)


# -- the app: state ---------------------------------------------------------------------------


def test_initial_state_matches_the_controls():
    app = DerivativeExplorer(x=1.0, log10_h=-1.0)
    s = app.state
    assert s.label == "x²"
    assert s.x == 1.0 and s.h == pytest.approx(0.1) and s.method == "forward"
    assert s.fx == pytest.approx(1.0)
    assert s.analytic == pytest.approx(2.0)
    assert s.estimate == pytest.approx(2.1)  # 2x + h
    assert s.abs_error == pytest.approx(0.1)
    assert s.secant_points == pytest.approx((1.0, 1.1))
    assert app.redraws == 1


def test_moving_x_changes_state_figure_and_image():
    app = DerivativeExplorer(_only("sin(x)"))
    before_image, before_redraws = app.image.value, app.redraws
    before_tangent = _slope(_line(app, "tangent"))
    app.x.value = -0.5
    assert app.redraws == before_redraws + 1
    assert app.state.x == -0.5
    assert app.state.analytic == pytest.approx(math.cos(-0.5))
    assert _slope(_line(app, "tangent")) == pytest.approx(math.cos(-0.5))
    assert _slope(_line(app, "tangent")) != pytest.approx(before_tangent)
    xs, ys = _line(app, "point").get_data()
    assert (xs[0], ys[0]) == pytest.approx((-0.5, math.sin(-0.5)))
    assert app.image.value != before_image


def test_moving_h_moves_the_secant_and_the_marker_on_the_error_panel():
    app = DerivativeExplorer(_only("sin(x)"), x=1.0, log10_h=0.0)
    big = app.state.abs_error
    app.log10_h.value = -3.0
    assert app.state.h == pytest.approx(1e-3)
    assert app.state.abs_error < big / 100
    # the secant's slope is the estimate, and it passes through f(x) and f(x + h)
    assert _slope(_line(app, "secant")) == pytest.approx(app.state.estimate)
    xs, ys = _line(app, "secant-points").get_data()
    np.testing.assert_allclose(xs, [1.0, 1.001])
    np.testing.assert_allclose(ys, np.sin([1.0, 1.001]))
    mx, my = _line(app, "current", panel=1).get_data()
    assert mx[0] == pytest.approx(1e-3) and my[0] == pytest.approx(app.state.abs_error)
    assert app.message.value.count("1.0e-03") == 1


def test_halving_h_halves_the_forward_error_and_quarters_the_central_error():
    app = DerivativeExplorer(_only("exp(-x²)"), x=0.8, log10_h=-2.0)
    forward = app.state.abs_error
    app.log10_h.value = -2.0 - math.log10(2.0)
    assert forward / app.state.abs_error == pytest.approx(2.0, rel=0.05)
    app.central.value = True
    central_half = app.state.abs_error
    app.log10_h.value = -2.0
    assert app.state.abs_error / central_half == pytest.approx(4.0, rel=0.05)


def test_central_checkbox_uses_x_minus_h_and_x_plus_h():
    app = DerivativeExplorer(_only("sin(x)"), x=1.0, log10_h=-1.0)
    forward_error = app.state.abs_error
    app.central.value = True
    s = app.state
    assert s.method == "central"
    assert s.secant_points == pytest.approx((0.9, 1.1))
    assert s.estimate == pytest.approx((math.sin(1.1) - math.sin(0.9)) / 0.2)
    assert s.abs_error < forward_error / 10
    xs, _ = _line(app, "secant-points").get_data()
    np.testing.assert_allclose(xs, [0.9, 1.1])
    assert "central" in _line(app, "errors", panel=1).get_label()


def test_error_curves_match_finite_differences_at_each_h():
    app = DerivativeExplorer(_only("x³ - 2x"), x=0.3)
    s = app.state
    f, df = FUNCTIONS["x³ - 2x"]
    for i in (0, 60, 120):
        h = s.hs[i]
        assert s.errors_forward[i] == pytest.approx(abs(finite_difference(f, 0.3, h) - df(0.3)))
        assert s.errors_central[i] == pytest.approx(
            abs(finite_difference(f, 0.3, h, central=True) - df(0.3))
        )
    # the drawn curve is the stored one (clipped at the floor for the log axis)
    ys = _line(app, "errors", panel=1).get_ydata()
    np.testing.assert_allclose(ys, np.maximum(s.errors_forward, 1e-17))


def test_choosing_another_function_redraws_it():
    app = DerivativeExplorer(x=1.5)
    assert list(app.function.options) == list(FUNCTIONS)
    before = app.redraws
    app.function.label = "sin(x²)"
    assert app.redraws == before + 1
    s = app.state
    assert s.label == "sin(x²)"
    assert s.analytic == pytest.approx(math.cos(1.5**2) * 2 * 1.5)
    xs, ys = _line(app, "function").get_data()
    np.testing.assert_allclose(ys, np.sin(xs**2))


def test_custom_functions_and_bad_arguments():
    app = DerivativeExplorer({"3x": (lambda x: 3 * x, lambda x: 3 + 0 * x)}, x=0.0)
    assert app.state.analytic == 3.0 and app.state.abs_error < 1e-12
    with pytest.raises(ValueError, match="at least one function"):
        DerivativeExplorer({})
    with pytest.raises(TypeError, match=r"functions\['bad'\] to be a pair"):
        DerivativeExplorer({"bad": np.sin})
    with pytest.raises(ValueError, match=r"x in \[-2.0, 2.0\], got 5"):
        DerivativeExplorer(x=5)
    with pytest.raises(ValueError, match=r"log10_h in \[-12.0, 0.0\], got 1"):
        DerivativeExplorer(log10_h=1)
    with pytest.raises(TypeError, match="expected x to be a number, got str"):
        DerivativeExplorer(x="1")


def test_the_explorer_does_not_modify_the_mapping_it_is_given():
    functions = {"sin": (np.sin, np.cos)}
    app = DerivativeExplorer(functions)
    app.x.value = 0.2
    assert functions == {"sin": (np.sin, np.cos)}
