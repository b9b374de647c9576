"""GradientCheckerLab: the curve and the estimate come from the learner's functions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.grading.exercises.ex06_gradient_checker import (  # noqa: E402
    CASES,
    _forward_difference,
    reference_numerical_gradient,
    reference_rel_error,
)
from bpkit.widgets.exercise_gradient_checker import (  # noqa: E402
    STEPS,
    GradientCheckerLab,
    error_curve,
)


def _stub(f, x, h=1e-5):
    raise NotImplementedError()


def _line(app, gid):
    found = [ln for ax in app.figure.axes for ln in ax.lines if ln.get_gid() == gid]
    return found[0] if found else None


def test_lab_measures_your_curve_and_marks_your_h():
    app = GradientCheckerLab(reference_numerical_gradient, reference_rel_error, log10_h=-5.0)
    s = app.state
    assert s.error == "" and s.h == pytest.approx(1e-5)
    assert s.error_at_h < 1e-8 and 1e-7 < s.best_h < 1e-4
    np.testing.assert_allclose(s.estimate, CASES[0].grad(CASES[0].x), rtol=1e-7)
    np.testing.assert_array_equal(_line(app, "curve").get_xdata(), STEPS)
    assert "(good)" in app.message.value

    redraws, image = app.redraws, app.image.value
    app.log10_h.value = -1.0
    assert app.redraws == redraws + 1 and app.image.value != image
    assert app.state.error_at_h > 1e-2 and "(wrong)" in app.message.value
    assert _line(app, "your-h").get_xdata()[0] == pytest.approx(0.1)


def test_lab_shows_a_forward_difference_as_a_worse_curve():
    case = CASES[0]
    central = error_curve(reference_numerical_gradient, reference_rel_error, case)
    forward = error_curve(_forward_difference, reference_rel_error, case)
    assert forward.min() > 100 * central.min()  # sqrt(eps) against eps^(2/3)
    app = GradientCheckerLab(_forward_difference, reference_rel_error)
    assert app.state.errors.min() == pytest.approx(forward.min())
    app.problem.value = CASES[3].name
    assert app.state.problem == CASES[3].name and app.state.estimate.shape == (4, 3)


def test_lab_reports_an_unwritten_function_instead_of_raising():
    app = GradientCheckerLab(_stub, reference_rel_error)
    assert app.state.error == "NotImplementedError" and np.isnan(app.state.error_at_h)
    assert "NotImplementedError" in app.message.value and _line(app, "curve") is None


def test_lab_refuses_bad_arguments():
    with pytest.raises(TypeError, match="two functions"):
        GradientCheckerLab(reference_numerical_gradient, 3)
    with pytest.raises(ValueError, match="problem must be one of"):
        GradientCheckerLab(reference_numerical_gradient, reference_rel_error, problem="x")
    with pytest.raises(ValueError, match="log10_h"):
        GradientCheckerLab(reference_numerical_gradient, reference_rel_error, log10_h=0.0)


@pytest.mark.parametrize(("numerical_gradient", "expected"), [
    (lambda f, x, h=1e-5: None, "numerical_gradient returned None"),
    (lambda f, x, h=1e-5: 0.0, "numerical_gradient returned shape () for x of shape (6,)"),
])
def test_lab_names_an_estimate_that_is_none_or_of_the_wrong_shape(numerical_gradient, expected):
    app = GradientCheckerLab(numerical_gradient, reference_rel_error)
    assert expected in app.state.error and np.isnan(app.state.error_at_h)
    assert "look closer" not in app.message.value and expected in app.message.value
    assert app.figure.axes[0].get_xlim() == pytest.approx((STEPS[0], STEPS[-1]))


@pytest.mark.parametrize(("rel_error", "expected"), [
    (lambda a, b: None, "rel_error returned None"),
    (lambda a, b: np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8),
     "rel_error returned an array of shape (6,); expected one number"),
])
def test_lab_names_a_rel_error_that_is_none_or_an_array(rel_error, expected):
    app = GradientCheckerLab(reference_numerical_gradient, rel_error)
    assert expected in app.state.error
    with pytest.raises(TypeError, match="rel_error returned"):
        error_curve(reference_numerical_gradient, rel_error, CASES[0])


def test_lab_calls_the_function_it_hands_over_f():
    app = GradientCheckerLab(lambda f, x, h=1e-5: f(x), reference_rel_error)
    assert app.state.error == "TypeError: f() takes 0 positional arguments but 1 was given"
