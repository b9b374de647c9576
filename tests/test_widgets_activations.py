"""ActivationExplorer: f and f' follow the controls, the check, kinks and saturation are right."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.gradcheck import numerical_gradient  # noqa: E402
from bpkit.widgets import ActivationExplorer  # noqa: E402
from bpkit.widgets.activations import (  # noqa: E402
    ACTIVATIONS,
    find_kinks,
    layer_derivative,
)


def _only(label: str) -> dict:
    """A one-activation mapping, so a test starts on it with a single redraw."""
    return {label: ACTIVATIONS[label]}


def _artists(app: ActivationExplorer, gid: str, panel: int) -> list:
    ax = app.figure.axes[panel]
    return [a for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]


def _line(app: ActivationExplorer, gid: str, panel: int):
    found = _artists(app, gid, panel)
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- the helpers ------------------------------------------------------------------------------


def test_layer_derivative_is_backward_with_ones():
    x = np.linspace(-3, 3, 13)
    f, df = layer_derivative(bp.Tanh(), x)
    np.testing.assert_allclose(f, np.tanh(x))
    np.testing.assert_allclose(df, 1 - np.tanh(x) ** 2)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("ReLU", [0.0]), ("LeakyReLU", [0.0]), ("Sigmoid", []), ("Tanh", []), ("GELU", [])],
)
def test_find_kinks_finds_the_corner_of_relu_and_nothing_in_smooth_layers(label, expected):
    x = np.linspace(-4.0, 3.0, 71)  # 0 is between grid points here ...
    kinks = find_kinks(ACTIVATIONS[label](0.2), x)
    np.testing.assert_allclose(kinks, expected, atol=1e-12)
    x = np.linspace(-4.0, 4.0, 81)  # ... and on a grid point here
    np.testing.assert_allclose(find_kinks(ACTIVATIONS[label](0.2), x), expected, atol=1e-12)


def test_find_kinks_is_empty_when_the_kink_is_outside_the_range_or_absent():
    assert find_kinks(bp.ReLU(), np.linspace(0.5, 2.0, 31)).size == 0
    assert find_kinks(bp.LeakyReLU(1.0), np.linspace(-1.0, 1.0, 31)).size == 0  # identity


# -- the app: state ---------------------------------------------------------------------------


def test_default_state_is_relu_on_minus_six_to_six():
    app = ActivationExplorer()
    s = app.state
    assert list(app.activation.options) == list(ACTIVATIONS)
    assert s.label == "ReLU" and s.layer == "ReLU()"
    np.testing.assert_allclose(s.x, np.linspace(-6, 6, 401))
    np.testing.assert_array_equal(s.f, np.maximum(s.x, 0))
    np.testing.assert_array_equal(s.df, (s.x > 0).astype(float))
    np.testing.assert_allclose(s.kinks, [0.0], atol=1e-12)
    assert s.max_abs_error < 1e-9
    # |f'| = 0 < 0.05 exactly where x <= 0: 201 of 401 points
    assert s.saturated_fraction == pytest.approx(201 / 401)
    np.testing.assert_array_equal(s.saturated, s.x <= 0)
    assert app.redraws == 1
    assert app.negative_slope.disabled  # ReLU has no negative slope


@pytest.mark.parametrize("label", list(ACTIVATIONS))
def test_backward_matches_the_numerical_derivative_away_from_kinks(label):
    app = ActivationExplorer(_only(label), x_range=(-5.0, 5.0), negative_slope=0.2)
    s = app.state
    assert s.max_abs_error < 1e-8
    # the numerical derivative is numerical_gradient's with an upstream gradient of ones
    layer = ACTIVATIONS[label](0.2)
    x = s.x[::40].copy()
    reference = numerical_gradient(lambda: layer(x), x, h=1e-5, grad_output=np.ones_like(x))
    np.testing.assert_allclose(s.numerical[::40], reference, atol=1e-9)


def test_derivatives_are_the_textbook_formulas():
    app = ActivationExplorer(activation="Sigmoid", x_range=(-4.0, 4.0))
    x = app.state.x
    np.testing.assert_allclose(app.state.df, _sigmoid(x) * (1 - _sigmoid(x)), atol=1e-15)
    assert app.state.df.max() == pytest.approx(0.25)  # sigma'(0) = 1/4
    app.activation.label = "Tanh"
    np.testing.assert_allclose(app.state.df, 1 - np.tanh(x) ** 2, atol=1e-15)
    app.activation.label = "GELU"
    erf = np.vectorize(math.erf)
    phi_cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
    phi = np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(app.state.df, phi_cdf + x * phi, atol=1e-12)


def test_the_kink_is_excluded_from_the_check_but_the_raw_difference_is_off_there():
    app = ActivationExplorer(_only("ReLU"), x_range=(-1.0, 1.0), num=201)  # 0 is a grid point
    s = app.state
    at_zero = np.flatnonzero(s.near_kink)
    assert len(at_zero) == 1 and s.x[at_zero[0]] == pytest.approx(0.0, abs=1e-12)
    assert s.numerical[at_zero[0]] == pytest.approx(0.5)  # straddles the corner
    assert s.df[at_zero[0]] == 0.0  # backward's convention at exactly 0, like PyTorch
    assert s.max_abs_error < 1e-9


def test_sigmoid_saturated_fraction_matches_the_threshold_crossing():
    app = ActivationExplorer(_only("Sigmoid"), x_range=(-10.0, 10.0), num=2001)
    # sigma (1 - sigma) = 0.05  <=>  sigma = (1 + sqrt(0.8)) / 2,  x = log(sigma / (1 - sigma))
    s_star = (1 + math.sqrt(0.8)) / 2
    x_star = math.log(s_star / (1 - s_star))
    assert app.state.saturated_fraction == pytest.approx(1 - 2 * x_star / 20, abs=2e-3)
    assert not app.state.saturated[np.abs(app.state.x) < x_star - 0.01].any()
    assert app.state.saturated[np.abs(app.state.x) > x_star + 0.01].all()


def test_a_larger_threshold_marks_more_of_the_range():
    small = ActivationExplorer(_only("Tanh"), threshold=0.01).state.saturated_fraction
    large = ActivationExplorer(_only("Tanh"), threshold=0.5).state.saturated_fraction
    assert 0 < small < large < 1


# -- the app: controls change what is shown ---------------------------------------------------


def test_choosing_another_activation_changes_state_figure_and_image():
    app = ActivationExplorer()
    before_image, before = app.image.value, app.redraws
    assert len(_artists(app, "kink", 0)) == 1
    app.activation.label = "Tanh"
    assert app.redraws == before + 1
    s = app.state
    assert s.label == "Tanh" and s.kinks.size == 0
    np.testing.assert_allclose(_line(app, "f", 0).get_ydata(), np.tanh(s.x))
    np.testing.assert_allclose(_line(app, "df", 1).get_ydata(), 1 - np.tanh(s.x) ** 2)
    assert _artists(app, "kink", 0) == [] and _artists(app, "kink", 1) == []
    assert app.image.value != before_image
    assert app.figure.axes[0].get_title() == "Tanh()"


def test_moving_the_range_changes_x_and_the_axes():
    app = ActivationExplorer(_only("Sigmoid"))
    before_image = app.image.value
    before_fraction = app.state.saturated_fraction
    app.x_range.value = (-2.0, 2.0)
    s = app.state
    assert (s.x[0], s.x[-1]) == (-2.0, 2.0)
    assert app.figure.axes[1].get_xlim() == pytest.approx((-2.0, 2.0))
    assert s.saturated_fraction == 0.0 < before_fraction  # sigma' >= 0.105 on [-2, 2]
    assert _artists(app, "saturated", 1)[0].get_paths() == []  # nothing shaded
    assert app.image.value != before_image


def test_the_range_slider_with_both_handles_together_still_shows_a_range():
    app = ActivationExplorer(_only("Tanh"))
    app.x_range.value = (1.0, 1.0)
    assert app.state.x[0] == pytest.approx(0.9) and app.state.x[-1] == pytest.approx(1.1)


def test_negative_slope_slider_moves_leaky_relu():
    app = ActivationExplorer(activation="LeakyReLU", x_range=(-2.0, 2.0))
    assert not app.negative_slope.disabled
    assert app.state.layer == "LeakyReLU(negative_slope=0.01)"
    assert app.state.saturated_fraction > 0.4  # slope 0.01 < 0.05 on the negative side
    before_image = app.image.value
    app.negative_slope.value = 0.3
    s = app.state
    assert s.layer == "LeakyReLU(negative_slope=0.3)"
    np.testing.assert_allclose(s.df, np.where(s.x > 0, 1.0, 0.3))
    assert s.saturated_fraction == 0.0
    np.testing.assert_allclose(s.kinks, [0.0], atol=1e-12)
    assert app.image.value != before_image
    app.negative_slope.value = 1.0  # the identity: no kink left
    assert app.state.kinks.size == 0
    assert _artists(app, "kink", 1) == []


def test_the_df_line_is_broken_at_the_kink():
    app = ActivationExplorer(_only("ReLU"), x_range=(-1.0, 1.0), num=101)
    xs, ys = _line(app, "df", 1).get_data()
    assert len(xs) == 102 and np.isnan(ys).sum() == 1
    assert xs[np.isnan(ys)][0] == pytest.approx(0.0, abs=1e-12)
    # the dots are the numerical estimates at every k-th point
    dx, dy = _line(app, "numerical", 1).get_data()
    np.testing.assert_allclose(dy, app.state.numerical[:: 101 // 25])
    np.testing.assert_allclose(dx, app.state.x[:: 101 // 25])


def test_message_reports_the_check_and_the_kink():
    app = ActivationExplorer(_only("ReLU"))
    assert "kinks: x = 0.00" in app.message.value
    assert "50% of the range" in app.message.value


# -- custom activations and bad arguments -----------------------------------------------------


def test_custom_activation_and_the_given_mapping_is_left_alone():
    def identity(slope):
        return bp.Identity()

    activations = {"identity": identity}
    app = ActivationExplorer(activations)
    np.testing.assert_array_equal(app.state.df, np.ones(401))
    assert app.state.kinks.size == 0 and app.state.saturated_fraction == 0.0
    app.x_range.value = (-1.0, 1.0)
    assert activations == {"identity": identity}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="at least one activation"):
        ActivationExplorer({})
    with pytest.raises(TypeError, match=r"activations\['bad'\] to be a layer factory"):
        ActivationExplorer({"bad": bp.ReLU()})
    with pytest.raises(ValueError, match=r"activation to be one of \['ReLU'"):
        ActivationExplorer(activation="Softplus")
    with pytest.raises(ValueError, match=r"x_range .* got \(2.0, 1.0\)"):
        ActivationExplorer(x_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="negative_slope in"):
        ActivationExplorer(negative_slope=-0.1)
    with pytest.raises(ValueError, match="threshold > 0"):
        ActivationExplorer(threshold=0)
    with pytest.raises(ValueError, match="num to be an int >= 3"):
        ActivationExplorer(num=2)
    with pytest.raises(TypeError, match="returned ndarray, expected a bpkit Module"):
        ActivationExplorer({"np": lambda slope: np.zeros(3)})
