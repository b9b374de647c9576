"""GradcheckExplorer: the error-vs-h curve is the U of truncation and rounding, per dtype."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import GradcheckExplorer  # noqa: E402
from bpkit.widgets.gradcheck_explorer import (  # noqa: E402
    PROBLEMS,
    Elementwise,
    LinearWeight,
    error_curve,
    optimal_h,
    step_grid,
)

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def _only(label: str) -> dict:
    """A one-problem mapping (fewer curves to compute)."""
    return {label: PROBLEMS[label]}


def _line(app: GradcheckExplorer, gid: str):
    found = [a for a in app.figure.axes[0].lines if a.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, found {len(found)}"
    return found[0]


def _tanh_at(x: float) -> Elementwise:
    return Elementwise("tanh", np.tanh, lambda v: 1 - np.tanh(v) ** 2, np.array([x]))


# -- the pieces -------------------------------------------------------------------------------


def test_step_grid_runs_from_1e_14_to_1e_1_in_tenths_of_a_decade():
    hs = step_grid()
    assert hs.shape == (131,)
    assert hs[0] == pytest.approx(1e-14) and hs[-1] == pytest.approx(1e-1)
    np.testing.assert_allclose(np.diff(np.log10(hs)), 0.1, atol=1e-9)


def test_optimal_h_is_sqrt_eps_forward_and_cube_root_eps_central():
    assert optimal_h("forward", "float64") == pytest.approx(EPS64**0.5)
    assert optimal_h("central", "float64") == pytest.approx(EPS64 ** (1 / 3))
    assert optimal_h("central", np.float32) == pytest.approx(EPS32 ** (1 / 3))
    assert 1e-8 < optimal_h("forward", "float64") < 2e-8  # 1.49e-8
    assert 6e-6 < optimal_h("central", "float64") < 7e-6  # 6.06e-6
    with pytest.raises(ValueError, match="method to be one of"):
        optimal_h("backward", "float64")
    with pytest.raises(ValueError, match="dtype to be one of"):
        optimal_h("central", "float16")


def test_truncation_errors_follow_taylor():
    # forward: error ~ h/2 f''(x); central: error ~ h^2/6 f'''(x)  (tanh at x = 0.5)
    x = 0.5
    t = np.tanh(x)
    d1 = 1 - t**2
    d2 = -2 * t * d1
    d3 = -2 * d1**2 + 4 * t**2 * d1
    problem = _tanh_at(x)
    h = 1e-4
    forward = problem.estimate(h, np.float64, "forward")[0]
    assert forward - d1 == pytest.approx(h / 2 * d2, rel=1e-3)
    h = 1e-3
    central = problem.estimate(h, np.float64, "central")[0]
    assert central - d1 == pytest.approx(h**2 / 6 * d3, rel=1e-3)


def test_estimates_are_computed_in_the_chosen_dtype():
    problem = _tanh_at(0.5)
    # 1e-9 is below float32's resolution at 0.5 (eps/2 * 0.5 = 3e-8): x + h == x, slope 0
    assert problem.estimate(1e-9, np.float32, "central")[0] == 0.0
    assert problem.estimate(1e-9, np.float64, "central")[0] == pytest.approx(
        1 - np.tanh(0.5) ** 2, rel=1e-6)


def test_linear_weight_exact_is_the_backward_formula_and_estimates_agree_in_float64():
    problem = LinearWeight(rng=3)
    before = problem.layer.weight.data.copy()
    pre = problem.x @ problem.layer.weight.data.T + problem.layer.bias.data
    expected = (problem.grad_output * (1 - np.tanh(pre) ** 2)).T @ problem.x
    np.testing.assert_allclose(problem.exact(), expected.reshape(-1), rtol=1e-12)
    assert problem.exact().shape == (6,)
    assert bp.rel_error(problem.estimate(1e-6, np.float64, "central"), problem.exact()) < 1e-7
    assert bp.rel_error(problem.estimate(1e-6, np.float32, "central"), problem.exact()) > 1e-3
    np.testing.assert_array_equal(problem.layer.weight.data, before)  # left as it was
    assert problem.layer.weight.data.dtype == np.float64


def test_error_curve_is_the_max_relative_error_at_each_step():
    problem = PROBLEMS["softplus(x)"]
    hs = np.array([1e-3, 1e-6])
    curve = error_curve(problem, np.float64, "central", hs)
    for h, value in zip(hs, curve, strict=True):
        assert value == bp.rel_error(problem.estimate(h, np.float64, "central"), problem.exact())


# -- the app: the U-curve ---------------------------------------------------------------------


def test_default_state():
    app = GradcheckExplorer(_only("tanh(x)"))
    s = app.state
    assert (s.label, s.dtype, s.method) == ("tanh(x)", "float64", "central")
    assert s.eps == EPS64 and s.h == pytest.approx(1e-6)
    assert s.hs.shape == s.errors.shape == s.other_errors.shape == (131,)
    assert s.error_at_h < 1e-7  # central differences in float64 pass CS231n's "good"
    assert s.best_error == s.errors.min() and s.best_h == s.hs[np.argmin(s.errors)]
    assert s.optimal_h == pytest.approx(EPS64 ** (1 / 3))
    assert app.redraws == 1
    assert "eps^(1/3) = 6.1e-06" in app.message.value


@pytest.mark.parametrize("label", list(PROBLEMS))
def test_the_curve_is_a_u_with_its_bottom_near_the_rule_of_thumb(label):
    hs = step_grid()
    best = {}
    for dtype in ("float64", "float32"):
        for method in ("central", "forward"):
            errors = error_curve(PROBLEMS[label], dtype, method, hs)
            k = int(np.argmin(errors))
            best[dtype, method] = errors[k]
            # the best h lies within a factor of 10 of sqrt(eps) / eps^(1/3)
            h_rule = optimal_h(method, dtype)
            assert h_rule / 10 < hs[k] < h_rule * 10, (dtype, method, hs[k], h_rule)
            # a U: the error rises on both sides of the best h
            assert errors[0] > 100 * errors[k] and errors[-1] > 10 * errors[k]
    for dtype in ("float64", "float32"):  # central beats forward at their best
        assert best[dtype, "central"] < best[dtype, "forward"] / 10
    # float32's best is far worse than float64's and never reaches CS231n's "good" (1e-7)
    assert best["float32", "central"] > 1e3 * best["float64", "central"]
    assert best["float32", "central"] > 1e-7 > best["float64", "central"]


def test_the_app_reports_the_best_h_and_the_dtype():
    app = GradcheckExplorer(_only("tanh(x)"))
    s = app.state
    assert s.optimal_h / 10 < s.best_h < s.optimal_h * 10  # float64 central
    best64 = s.best_error
    app.dtype.value = "float32"
    s = app.state
    assert s.eps == EPS32 and s.optimal_h == pytest.approx(EPS32 ** (1 / 3))
    assert s.optimal_h / 10 < s.best_h < s.optimal_h * 10
    assert s.best_error > 1e3 * best64 and s.best_error > 1e-7


def test_changing_dtype_changes_the_curve_and_the_picture():
    app = GradcheckExplorer(_only("tanh(x)"))
    before_curve = _line(app, "curve").get_ydata().copy()
    before_image, before_redraws = app.image.value, app.redraws
    before_optimum = _line(app, "optimum").get_xdata()[0]
    app.dtype.value = "float32"
    assert app.redraws == before_redraws + 1
    after_curve = _line(app, "curve").get_ydata()
    assert not np.allclose(after_curve, before_curve)
    np.testing.assert_array_equal(after_curve, np.maximum(app.state.errors, 1e-17))
    assert after_curve[0] == 1.0  # float32: x + 1e-14 == x, the estimate is 0
    assert _line(app, "optimum").get_xdata()[0] == pytest.approx(EPS32 ** (1 / 3))
    assert _line(app, "optimum").get_xdata()[0] > 100 * before_optimum
    assert app.image.value != before_image
    assert "float32" in app.figure.axes[0].get_title()


def test_moving_h_moves_the_marker_along_the_curve():
    app = GradcheckExplorer(_only("tanh(x)"))
    curve = app.state.errors
    before_image = app.image.value
    app.log10_h.value = -10.0
    s = app.state
    assert s.h == pytest.approx(1e-10)
    k = int(np.argmin(np.abs(np.log10(s.hs) + 10)))
    assert s.error_at_h == pytest.approx(curve[k], rel=1e-3)
    assert s.error_at_h > 1e-7  # too small a step: rounding dominates
    x, y = _line(app, "chosen").get_data()
    assert x[0] == pytest.approx(1e-10) and y[0] == pytest.approx(s.error_at_h)
    assert s.errors is curve  # the curve is cached, only the marker moved
    assert app.image.value != before_image
    app.log10_h.value = -1.0
    assert app.state.error_at_h > 1e-4  # too large a step: truncation dominates


def test_method_toggle_swaps_the_curves():
    app = GradcheckExplorer(_only("softplus(x)"))
    central, forward = app.state.errors, app.state.other_errors
    app.method.value = "forward"
    assert app.state.errors is forward and app.state.other_errors is central
    np.testing.assert_array_equal(_line(app, "curve").get_ydata(), np.maximum(forward, 1e-17))
    assert _line(app, "curve").get_label() == "forward difference"
    assert "sqrt(eps)" in app.message.value


def test_choosing_another_function_changes_the_curve():
    app = GradcheckExplorer(
        {"tanh(x)": PROBLEMS["tanh(x)"], "softplus(x)": PROBLEMS["softplus(x)"]})
    before = app.state.errors
    app.problem.label = "softplus(x)"
    assert app.state.label == "softplus(x)"
    assert not np.allclose(app.state.errors, before)
    assert app.figure.axes[0].get_title().startswith("softplus(x)")
    best = _line(app, "best").get_data()
    assert best[0][0] == app.state.best_h


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="at least one problem"):
        GradcheckExplorer({})
    with pytest.raises(TypeError, match=r"problems\['f'\] to be an Elementwise"):
        GradcheckExplorer({"f": np.tanh})
    with pytest.raises(ValueError, match=r"problem to be one of \['tanh\(x\)'"):
        GradcheckExplorer(problem="relu")
    with pytest.raises(ValueError, match="log10_h in"):
        GradcheckExplorer(log10_h=-20.0)
    with pytest.raises(ValueError, match="dtype to be one of"):
        GradcheckExplorer(dtype="float16")
    with pytest.raises(ValueError, match="method to be one of"):
        GradcheckExplorer(method="backward")
