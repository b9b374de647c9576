"""OptimizerRace: the races run the real optimisers, and the figure follows the controls."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import OptimizerRace  # noqa: E402
from bpkit.widgets.optimizer_race import (  # noqa: E402
    OPTIMIZERS,
    SURFACES,
    RaceState,
    Surface,
    beale,
    race,
    ravine,
    rosenbrock,
    run_optimizer,
    saddle,
)


def _lines(app: OptimizerRace, prefix: str, panel: int) -> dict[str, object]:
    """The lines of one panel whose gid starts with ``prefix``, by optimiser name."""
    found = {}
    for line in app.figure.axes[panel].lines:
        gid = line.get_gid() or ""
        if gid.startswith(prefix):
            found[gid[len(prefix):]] = line
    return found


def _central(f, x, y, h=1e-6):
    return np.array([(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)])


# -- the surfaces ---------------------------------------------------------------------------


@pytest.mark.parametrize("label", list(SURFACES))
@pytest.mark.parametrize("point", [(-1.1, 0.7), (0.3, -0.4), (1.6, 1.2), (2.5, 0.2)])
def test_gradients_match_central_differences(label, point):
    s = SURFACES[label]
    numeric = _central(lambda x, y: float(s.f(np.float64(x), np.float64(y))), *point)
    np.testing.assert_allclose(s.grad(*point), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("label", list(SURFACES))
def test_minima_are_stationary_points_with_the_stated_value(label):
    s = SURFACES[label]
    for x, y in s.minima:
        assert float(s.f(np.float64(x), np.float64(y))) == pytest.approx(s.f_min, abs=1e-15)
        np.testing.assert_allclose(s.grad(x, y), 0.0, atol=1e-12)
    grid_x, grid_y = np.meshgrid(np.linspace(*s.xlim, 60), np.linspace(*s.ylim, 60))
    values = s.f(grid_x, grid_y)
    assert values.shape == (60, 60) and values.min() >= s.f_min - 1e-12  # no lower point in view
    assert s.xlim[0] < s.start[0] < s.xlim[1] and s.ylim[0] < s.start[1] < s.ylim[1]
    assert set(s.lrs) == set(OPTIMIZERS)


def test_surface_factories_check_their_arguments():
    with pytest.raises(ValueError, match="ravine expected two finite curvatures > 0"):
        ravine((1.0, 0.0))
    with pytest.raises(ValueError, match="rosenbrock expected finite a and b > 0"):
        rosenbrock(b=-1.0)
    assert rosenbrock(a=2.0).minima == ((2.0, 4.0),)
    assert saddle(start=(1.0, 0.5)).start == (1.0, 0.5) and beale().minima == ((3.0, 0.5),)


# -- running the real optimisers ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(lr=st.floats(0.001, 0.19), steps=st.integers(0, 40))
def test_sgd_on_the_ravine_is_the_closed_form(lr, steps):
    """SGD on ½(λ₁x² + λ₂y²): each coordinate is multiplied by (1 − lr λᵢ) per step."""
    s = ravine((0.1, 10.0), start=(-9.0, 1.0))
    path, diverged = run_optimizer(s, OPTIMIZERS["SGD"], lr, steps)
    t = np.arange(steps + 1)[:, None]
    expected = np.array([-9.0, 1.0]) * (1 - lr * np.array([0.1, 10.0])) ** t
    assert not diverged and path.shape == (steps + 1, 2)
    np.testing.assert_allclose(path, expected, rtol=1e-10, atol=1e-12)


def test_each_racer_is_the_bpkit_optimiser_it_names():
    p = bp.Parameter(np.zeros(2))
    kinds = {name: make([p], 0.01) for name, make in OPTIMIZERS.items()}
    assert type(kinds["SGD"]) is bp.optim.SGD and kinds["SGD"].momentum == 0
    assert kinds["momentum"].momentum == 0.9 and not kinds["momentum"].nesterov
    assert kinds["Nesterov"].momentum == 0.9 and kinds["Nesterov"].nesterov
    assert type(kinds["RMSprop"]) is bp.optim.RMSprop and kinds["RMSprop"].alpha == 0.99
    assert type(kinds["Adam"]) is bp.optim.Adam and kinds["Adam"].betas == (0.9, 0.999)
    assert all(opt.lr == 0.01 for opt in kinds.values())


def test_adam_and_rmsprop_first_steps_have_the_textbook_sizes():
    s = SURFACES["ravine"]
    adam, _ = run_optimizer(s, OPTIMIZERS["Adam"], 0.05, 1)
    rms, _ = run_optimizer(s, OPTIMIZERS["RMSprop"], 0.05, 1)
    sign = np.sign(s.grad(*s.start))
    np.testing.assert_allclose(adam[1] - adam[0], -0.05 * sign, rtol=1e-6)  # lr per coordinate
    np.testing.assert_allclose(rms[1] - rms[0], -0.5 * sign, rtol=1e-6)  # lr / sqrt(1 - 0.99)


@pytest.mark.parametrize("lr", [0.01, 0.03, 0.06, 0.12])
def test_momentum_beats_sgd_on_the_ravine_at_the_same_lr(lr):
    s = race(SURFACES["ravine"], {"SGD": lr, "momentum": lr}, 100)
    assert s.distance["momentum"] < 0.5 * s.distance["SGD"]
    assert s.final_loss["momentum"] < s.final_loss["SGD"]
    assert s.ranking == ["momentum", "SGD"]


def test_adaptive_methods_leave_the_saddle_sooner_than_sgd():
    s = race(SURFACES["saddle"], SURFACES["saddle"].lrs, 60)
    assert abs(s.paths["SGD"][-1, 1]) < 0.5  # still near the saddle's y = 0
    for name in ("RMSprop", "Adam"):
        assert s.distance[name] < 0.1 and s.gap[name] < 0.01


def test_a_blow_up_stops_the_run_and_ranks_it_last():
    s = race(SURFACES["ravine"], {"SGD": 0.3, "Adam": 0.3}, 200)  # 0.3 > 2 / λ₂ = 0.2
    assert s.diverged == {"SGD": True, "Adam": False}
    assert len(s.paths["SGD"]) < 201 and np.isfinite(s.paths["SGD"]).all()
    assert np.abs(s.paths["SGD"]).max() <= 1e6
    assert s.ranking == ["Adam", "SGD"]


def test_race_state_is_consistent_and_ranked_by_final_loss():
    surface = SURFACES["Rosenbrock"]
    s = race(surface, surface.lrs, 200, label="banana")
    assert isinstance(s, RaceState) and s.surface == "banana" and s.steps == 200
    assert list(s.paths) == list(OPTIMIZERS)  # the racers' order, whatever the dict order
    for name in OPTIMIZERS:
        assert s.paths[name].shape == (201, 2) and s.losses[name].shape == (201,)
        np.testing.assert_allclose(s.paths[name][0], surface.start)
        assert s.final_loss[name] == s.losses[name][-1]
        assert s.gap[name] == pytest.approx(s.final_loss[name] - surface.f_min)
        assert s.distance[name] == pytest.approx(np.linalg.norm(s.paths[name][-1] - [1, 1]))
    finals = [s.final_loss[name] for name in s.ranking]
    assert finals == sorted(finals)
    with pytest.raises(ValueError, match=r"unknown optimiser\(s\) \['LBFGS'\]"):
        race(surface, {"LBFGS": 0.1}, 10)
    with pytest.raises(ValueError, match="run_optimizer expected a number of steps >= 0"):
        run_optimizer(surface, OPTIMIZERS["SGD"], 0.1, -1)


# -- the app --------------------------------------------------------------------------------


def test_the_figure_draws_the_state():
    app = OptimizerRace()
    s = app.state
    assert app.redraws == 1 and s.surface == "ravine" and list(s.paths) == list(OPTIMIZERS)
    paths, gaps = _lines(app, "path:", 0), _lines(app, "gap:", 1)
    assert list(paths) == list(OPTIMIZERS) and list(gaps) == list(OPTIMIZERS)
    for name in OPTIMIZERS:
        np.testing.assert_allclose(np.column_stack(paths[name].get_data()), s.paths[name])
        np.testing.assert_allclose(gaps[name].get_ydata(),
                                   np.maximum(s.losses[name], 1e-12))  # f* = 0 on the ravine
        assert paths[name].get_color() == gaps[name].get_color() == app.colors[name]
    assert s.ranking[0] in app.figure.axes[1].get_title()
    assert app.message.value.startswith(f"<b>After {s.steps} steps</b>: 1. {s.ranking[0]}")


def test_unticking_an_optimiser_removes_its_path():
    app = OptimizerRace()
    before = app.state.paths["Adam"].copy()
    image = app.image.value
    app.include["SGD"].value = False
    assert "SGD" not in app.state.paths and "SGD" not in app.state.ranking
    assert "SGD" not in _lines(app, "path:", 0) and "SGD" not in _lines(app, "gap:", 1)
    assert app.image.value != image
    np.testing.assert_array_equal(app.state.paths["Adam"], before)
    # the others keep their colours
    assert _lines(app, "path:", 0)["momentum"].get_color() == app.colors["momentum"]
    app.include["SGD"].value = True
    assert list(app.state.paths) == list(OPTIMIZERS)


def test_changing_one_learning_rate_changes_only_that_path():
    app = OptimizerRace()
    before = {name: path.copy() for name, path in app.state.paths.items()}
    redraws = app.redraws
    app.lr["momentum"].value = 0.03
    assert app.redraws == redraws + 1 and app.state.lrs["momentum"] == pytest.approx(0.03)
    for name in OPTIMIZERS:
        if name == "momentum":
            assert not np.array_equal(app.state.paths[name], before[name])
        else:
            np.testing.assert_array_equal(app.state.paths[name], before[name])
    drawn = _lines(app, "path:", 0)["momentum"]
    np.testing.assert_allclose(np.column_stack(drawn.get_data()), app.state.paths["momentum"])


def test_picking_a_surface_loads_its_settings_in_one_redraw():
    app = OptimizerRace()
    app.lr["Adam"].value = 0.9
    redraws = app.redraws
    app.surface.label = "saddle"
    surface = SURFACES["saddle"]
    assert app.redraws == redraws + 1
    assert app.steps.value == surface.steps and app.state.steps == surface.steps
    for name in OPTIMIZERS:
        assert app.lr[name].value == pytest.approx(surface.lrs[name])
        np.testing.assert_allclose(app.state.paths[name][0], surface.start)
    assert app.figure.axes[0].get_title().startswith("saddle")
    minimum = [line for line in app.figure.axes[0].lines if line.get_gid() == "minimum"][0]
    np.testing.assert_allclose(np.column_stack(minimum.get_data()), surface.minima)


def test_the_steps_slider_lengthens_every_path():
    app = OptimizerRace(steps=10)
    assert all(len(p) == 11 for p in app.state.paths.values())
    gap_short = dict(app.state.gap)
    app.steps.value = 80
    assert all(len(p) == 81 for p in app.state.paths.values())
    assert all(app.state.gap[n] < gap_short[n] for n in OPTIMIZERS)
    assert app.figure.axes[1].get_xlim() == (0.0, 80.0)
    assert "After 80 steps" in app.message.value
    app.steps.value = 1
    assert "After 1 step<" in app.message.value


def test_a_diverging_racer_is_labelled_and_the_view_stays_put():
    app = OptimizerRace(include=["SGD", "Adam"])
    app.lr["SGD"].value = 0.5
    assert app.state.diverged["SGD"] and app.state.ranking[-1] == "SGD"
    labels = [t.get_text() for t in app.figure.axes[1].get_legend().get_texts()]
    assert "SGD (diverged)" in labels
    assert "1. Adam" in app.message.value and "SGD (lr 0.5): diverged" in app.message.value
    assert app.figure.axes[0].get_xlim() == SURFACES["ravine"].xlim


def test_no_racer_left_shows_only_the_surface():
    app = OptimizerRace(include=["Adam"])
    app.include["Adam"].value = False
    assert app.state.paths == {} and app.state.ranking == []
    assert _lines(app, "path:", 0) == {}
    assert "No optimiser selected" in app.message.value
    assert app.figure.axes[1].get_title() == "No optimiser selected"


def test_races_are_deterministic():
    surface = SURFACES["Beale"]
    a, b = race(surface, surface.lrs, 50), race(surface, surface.lrs, 50)
    for name in OPTIMIZERS:
        np.testing.assert_array_equal(a.paths[name], b.paths[name])


def test_constructor_checks_and_leaves_its_arguments_alone():
    surfaces = {"bowl": ravine((1.0, 1.0))}
    app = OptimizerRace(surfaces, steps=5)
    assert list(app.surface.options) == ["bowl"] and len(surfaces) == 1
    with pytest.raises(ValueError, match="at least one surface"):
        OptimizerRace({})
    with pytest.raises(TypeError, match=r"surfaces\['x'\] to be a Surface"):
        OptimizerRace({"x": (np.sin, np.cos)})
    with pytest.raises(ValueError, match=r"steps in \[1, 1000\], got 0"):
        OptimizerRace(steps=0)
    with pytest.raises(ValueError, match=r"unknown optimiser\(s\) \['Adagrad'\]"):
        OptimizerRace(include=["Adam", "Adagrad"])
    assert isinstance(SURFACES["Beale"], Surface)
