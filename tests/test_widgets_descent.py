"""DescentExplorer: descent follows the curvature theory, and the figure follows the state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.widgets import DescentExplorer  # noqa: E402
from bpkit.widgets.descent import (  # noqa: E402
    LOSS_CAP,
    PROBLEMS,
    VERDICTS,
    DescentProblem,
    classify_descent,
    gradient_descent,
    quadratic_bowl,
    tanh_neuron,
)

BOWL = "quadratic bowl, λ = (1, 10)"
NEURON = "tanh neuron (notebook 03)"


def _verdict(problem: DescentProblem, lr: float, steps: int = 60) -> str:
    path, losses = gradient_descent(problem, lr, steps)
    return classify_descent(path, losses, stopped=len(path) < steps + 1)


def _line(app: DescentExplorer, gid: str, panel: int):
    found = [line for line in app.figure.axes[panel].lines if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, found {len(found)}"
    return found[0]


# -- the curvature theory: w <- (1 - lr * lam) w ---------------------------------------------


def test_descent_on_a_bowl_is_the_closed_form_one_factor_per_coordinate():
    problem = quadratic_bowl((2.0, 5.0), start=(1.5, -0.8))
    lr = 0.13
    path, losses = gradient_descent(problem, lr, 12)
    t = np.arange(13)[:, None]
    expected = np.array([1.5, -0.8]) * (1 - lr * np.array([2.0, 5.0])) ** t
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-15)
    expected_losses = 0.5 * (2.0 * expected[:, 0] ** 2 + 5.0 * expected[:, 1] ** 2)
    np.testing.assert_allclose(losses, expected_losses)


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(0.5, 20.0),
    ratio=st.one_of(st.floats(0.05, 0.95), st.floats(1.05, 1.95), st.floats(2.05, 4.0)),
    start=st.tuples(st.floats(0.2, 2.0), st.floats(0.2, 2.0)),
)
def test_one_curvature_three_regimes(lam, ratio, start):
    """Curvature lam everywhere: lr < 1/lam converges, < 2/lam oscillates, > 2/lam diverges."""
    problem = quadratic_bowl((lam, lam), start=start)
    expected = "converges" if ratio < 1 else "oscillates" if ratio < 2 else "diverges"
    assert _verdict(problem, ratio / lam) == expected


@pytest.mark.parametrize(
    ("lr", "expected"),
    [
        (0.005, "converges"),
        (0.09, "converges"),  # just below 1/lam_max = 0.1
        (0.11, "oscillates"),  # just above 1/lam_max: the stiff coordinate flips sign
        (0.19, "oscillates"),  # just below 2/lam_max = 0.2: still converging
        (0.21, "diverges"),  # just above 2/lam_max
        (1.5, "diverges"),  # fast enough to overflow the loss cap: stopped early
    ],
)
def test_the_largest_curvature_sets_the_thresholds(lr, expected):
    problem = PROBLEMS[BOWL]  # curvatures 1 and 10
    assert _verdict(problem, lr, steps=100) == expected


def test_oscillation_still_lowers_the_loss_and_divergence_raises_it():
    problem = PROBLEMS[BOWL]
    _, osc = gradient_descent(problem, 0.15, 40)
    assert np.all(np.diff(osc) < 0) and osc[-1] < 1e-2 * osc[0]
    _, div = gradient_descent(problem, 0.25, 40)
    assert div[-1] > 1e3 * div[0]


def test_descent_stops_before_the_loss_blows_up():
    path, losses = gradient_descent(PROBLEMS[BOWL], 10.0, 200)
    assert len(path) < 201 and len(losses) == len(path)
    assert np.all(np.isfinite(path)) and np.all(losses <= LOSS_CAP)
    assert classify_descent(path, losses, stopped=True) == "diverges"


# -- classify_descent on paths made by hand --------------------------------------------------


def test_classify_reads_the_path():
    flat = np.zeros(6)
    zigzag = np.column_stack([np.zeros(6), [1, -1, 1, -1, 1, -1.0]])
    assert classify_descent(zigzag, flat + 1.0) == "oscillates"  # the loss stays, signs flip
    line = np.column_stack([np.linspace(1, 0, 6), np.zeros(6)])
    assert classify_descent(line, np.linspace(1, 0, 6)) == "converges"
    assert classify_descent(line, np.array([1, 0.5, 2, 0.1, 0.1, 0.1])) == "diverges"
    assert classify_descent(line, np.array([1, 0.5, np.nan, 0.1, 0.1, 0.1])) == "diverges"
    assert classify_descent(line, np.linspace(1, 0, 6), stopped=True) == "diverges"
    one_flip = np.column_stack([[0, 1, 2, 1.5, 1.4, 1.3], np.zeros(6)])
    assert classify_descent(one_flip, np.linspace(1, 0, 6)) == "converges"  # not repeatedly
    assert classify_descent(np.zeros((1, 2)), np.ones(1)) == "converges"  # no step taken
    with pytest.raises(ValueError, match=r"path of shape \(T \+ 1, 2\)"):
        classify_descent(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"losses of shape \(T \+ 1,\)"):
        classify_descent(np.zeros((3, 2)), np.zeros(4))
    assert set(VERDICTS) == {"converges", "oscillates", "diverges"}


def test_rounding_noise_in_tiny_updates_is_not_oscillation():
    path = np.column_stack([[1.0, 0.5, 0.25, 0.25 + 1e-17, 0.25, 0.25 + 1e-17, 0.25], np.zeros(7)])
    losses = np.array([1.0, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25])
    assert classify_descent(path, losses) == "converges"


# -- the neuron problem ---------------------------------------------------------------------


def _central(f, p, h=1e-6):
    p = np.asarray(p, dtype=np.float64)
    out = []
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        out.append((f(*(p + e)) - f(*(p - e))) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("point", [(-1.0, -1.5), (0.3, 0.2), (0.8, 0.4), (2.0, -1.0)])
def test_neuron_gradient_and_hessian_match_central_differences(point):
    problem = tanh_neuron()
    np.testing.assert_allclose(problem.grad(*point), _central(problem.loss, point), rtol=1e-6,
                               atol=1e-10)
    numeric_h = np.column_stack([_central(lambda w, b, k=k: problem.grad(w, b)[k], point)
                                 for k in range(2)]).T
    np.testing.assert_allclose(problem.hessian(*point), numeric_h, rtol=1e-5, atol=1e-9)


def test_neuron_loss_is_the_mean_squared_error_of_tanh():
    xs, ts = [-1.0, 0.5, 2.0], [0.1, -0.2, 0.7]
    problem = tanh_neuron(xs, ts)
    w, b = 0.7, -0.3
    expected = np.mean((np.tanh(w * np.array(xs) + b) - ts) ** 2)
    assert float(problem.loss(w, b)) == pytest.approx(expected, rel=1e-14)
    grid = problem.loss(np.full((3, 4), w), np.full((3, 4), b))
    assert grid.shape == (3, 4) and np.allclose(grid, expected)
    with pytest.raises(ValueError, match=r"tanh_neuron expected xs and targets of the same shape"):
        tanh_neuron([1.0, 2.0], [1.0])


def test_neuron_descends_to_the_generating_parameters():
    path, losses = gradient_descent(PROBLEMS[NEURON], 0.5, 200)
    assert classify_descent(path, losses) == "converges"
    assert losses[-1] < 1e-5
    np.testing.assert_allclose(path[-1], [0.8, 0.4], atol=0.01)  # targets were tanh(0.8x + 0.4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="quadratic_bowl expected two finite curvatures > 0"):
        quadratic_bowl((1.0, -2.0))
    with pytest.raises(ValueError, match="gradient_descent expected a finite learning rate"):
        gradient_descent(PROBLEMS[BOWL], 0.0, 5)
    with pytest.raises(ValueError, match="gradient_descent expected a number of steps >= 0"):
        gradient_descent(PROBLEMS[BOWL], 0.1, -1)
    with pytest.raises(ValueError, match="gradient_descent expected a finite start"):
        gradient_descent(PROBLEMS[BOWL], 0.1, 5, start=(np.nan, 0.0))


# -- the app --------------------------------------------------------------------------------


def test_moving_the_learning_rate_walks_through_the_three_regimes():
    app = DescentExplorer({BOWL: PROBLEMS[BOWL]}, lr=0.05, steps=40)
    assert app.redraws == 1
    seen = {}
    for lr in (0.05, 0.15, 0.25):
        before_image, before_redraws = app.image.value, app.redraws
        app.lr.value = lr
        if lr != 0.05:
            assert app.redraws == before_redraws + 1
            assert app.image.value != before_image
        s = app.state
        assert s.lr == pytest.approx(lr, rel=1e-9)
        seen[lr] = s.verdict
        # what is drawn is the state: the path on the contours, the losses on the right
        np.testing.assert_allclose(np.column_stack(_line(app, "path", 0).get_data()), s.path)
        np.testing.assert_allclose(_line(app, "losses", 1).get_ydata(), s.losses)
        assert s.verdict in app.figure.axes[0].get_title()
        assert s.verdict in app.figure.axes[1].get_title()
        assert app.message.value.startswith(f"<b>{s.verdict}</b>")
    assert seen == {0.05: "converges", 0.15: "oscillates", 0.25: "diverges"}
    assert app.state.curvature == pytest.approx(10.0)
    assert "1/λ = 0.1, 2/λ = 0.2" in app.message.value


def test_state_records_sign_flips_per_coordinate():
    app = DescentExplorer({BOWL: PROBLEMS[BOWL]}, lr=0.15, steps=20)
    s = app.state
    # theta_1 (curvature 1): factor 0.85, never flips; theta_2 (curvature 10): factor -0.5
    assert s.flips == (0, 19) and s.pairs == (19, 19)
    assert s.final_loss == pytest.approx(s.losses[-1])
    assert s.path.shape == (21, 2) and not s.stopped


def test_the_steps_slider_lengthens_the_path():
    app = DescentExplorer({NEURON: PROBLEMS[NEURON]}, lr=0.5, steps=5)
    short_loss = app.state.final_loss
    app.steps.value = 60
    assert app.state.path.shape == (61, 2) and app.state.losses.shape == (61,)
    assert app.state.final_loss < short_loss / 1000
    assert app.figure.axes[1].get_xlim() == (0.0, 60.0)
    assert "after 60 steps" in app.message.value
    app.steps.value = 1
    assert "after 1 step" in app.message.value and "1 steps" not in app.message.value


def test_blow_up_stops_early_and_says_so():
    app = DescentExplorer({BOWL: PROBLEMS[BOWL]}, lr=10.0, steps=200)
    s = app.state
    assert s.stopped and s.verdict == "diverges" and len(s.path) < 201
    assert "the next loss is above 1e100" in app.message.value
    assert np.isfinite(_line(app, "losses", 1).get_ydata()).all()


def test_choosing_another_problem_redraws_it():
    app = DescentExplorer(lr=0.5, steps=30)
    assert list(app.problem.options) == list(PROBLEMS)
    app.problem.label = NEURON
    s = app.state
    assert s.label == NEURON and s.verdict == "converges"
    np.testing.assert_allclose(s.path[0], PROBLEMS[NEURON].start)
    assert app.figure.axes[0].get_xlabel() == "w" and app.figure.axes[0].get_ylabel() == "b"
    assert NEURON in app.figure.axes[0].get_title()


def test_constructor_checks_and_leaves_its_arguments_alone():
    bowl = quadratic_bowl((1.0, 1.0))
    problems = {"bowl": bowl}
    app = DescentExplorer(problems, lr=0.5, steps=3)
    assert app.problem.value is bowl and problems == {"bowl": bowl}
    assert repr(bowl) == "DescentProblem('quadratic bowl, λ = (1, 1)', start=(-2.0, 1.0))"
    with pytest.raises(ValueError, match="at least one problem"):
        DescentExplorer({})
    with pytest.raises(TypeError, match=r"problems\['x'\] to be a DescentProblem"):
        DescentExplorer({"x": (np.sin, np.cos)})
    with pytest.raises(ValueError, match=r"lr in \[0.001, 10\], got 50"):
        DescentExplorer(lr=50)
    with pytest.raises(ValueError, match=r"steps in \[1, 200\], got 0"):
        DescentExplorer(steps=0)
