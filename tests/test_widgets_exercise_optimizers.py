"""YourOptimizerRace: runs the learner's rules next to bp.optim, and says where they part."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.grading.exercises.ex08_optimizers import WRONG  # noqa: E402
from bpkit.widgets.exercise_optimizers import (  # noqa: E402
    FunctionOptimizer,
    YourOptimizerRace,
    race_against_bpkit,
)
from bpkit.widgets.optimizer_race import SURFACES  # noqa: E402


def sgd_momentum(param, grad, state, lr, momentum=0.9):
    old = state.get("momentum_buffer")
    b = grad.copy() if old is None else momentum * old + grad
    state["momentum_buffer"] = b
    return param - lr * b


def adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t = state.get("step", 0) + 1
    m = betas[0] * state.get("exp_avg", 0.0) + (1 - betas[0]) * grad
    v = betas[1] * state.get("exp_avg_sq", 0.0) + (1 - betas[1]) * grad**2
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    return param - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v / (1 - betas[1] ** t)) + eps)


def stub(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8):
    raise NotImplementedError()


def _lines(app, prefix):
    return {ln.get_gid()[len(prefix):]: ln for ln in app.figure.axes[0].lines
            if (ln.get_gid() or "").startswith(prefix)}


def test_function_optimizer_trains_like_bp_optim():
    p, q = bp.Parameter(np.array([1.0, -2.0])), bp.Parameter(np.array([1.0, -2.0]))
    mine = FunctionOptimizer([p], adam, lr=0.1)
    ref = bp.optim.Adam([q], lr=0.1)
    for k in range(5):
        p.grad[...] = q.grad[...] = [k + 1.0, -0.5]
        mine.step()
        ref.step()
    np.testing.assert_allclose(p.data, q.data, rtol=1e-14)
    mine.zero_grad()
    assert not p.grad.any()


def test_right_rules_run_on_top_of_bpkit_and_the_figure_shows_both():
    app = YourOptimizerRace({"momentum": sgd_momentum, "Adam": adam}, steps=40)
    s = app.state
    assert s.surface == "ravine" and s.steps == 40
    assert s.difference["momentum"] < 1e-12 and s.difference["Adam"] < 1e-12
    assert set(_lines(app, "yours:")) == set(_lines(app, "bpkit:")) == {"momentum", "Adam"}
    np.testing.assert_allclose(_lines(app, "yours:")["Adam"].get_xdata(), s.paths["Adam"][:, 0])
    assert "on top of bp.optim" in app.message.value

    redraws = app.redraws
    app.surface.label = "saddle"                     # loads that surface's settings, one redraw
    assert app.redraws == redraws + 1 and app.state.steps == SURFACES["saddle"].steps
    assert app.lr["Adam"].value == pytest.approx(SURFACES["saddle"].lrs["Adam"])
    app.show_reference.value = False
    assert _lines(app, "bpkit:") == {}


def test_a_wrong_rule_leaves_bpkits_path_and_an_unwritten_one_is_reported():
    no_correction = next(f for f, m in WRONG["adam"] if m.startswith("no bias correction"))
    s = race_against_bpkit(SURFACES["ravine"], {"Adam": no_correction, "RMSprop": stub},
                           {"Adam": 0.3, "RMSprop": 0.1}, 50)
    assert s.difference["Adam"] > 0.1
    assert s.errors["RMSprop"] == "NotImplementedError" and "RMSprop" not in s.paths
    app = YourOptimizerRace({"RMSprop": stub}, surface="saddle")
    assert "your rule failed" in app.message.value and _lines(app, "yours:") == {}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="expected rules for some of"):
        YourOptimizerRace({"Nesterov": sgd_momentum})
    with pytest.raises(ValueError, match="surface must be one of"):
        YourOptimizerRace({"Adam": adam}, surface="moon")
    with pytest.raises(TypeError, match="expected a function"):
        FunctionOptimizer([], 3, lr=0.1)


@pytest.mark.parametrize(("rule", "expected"), [
    (lambda param, grad, state, lr, momentum=0.9: None, "returned None"),
    (lambda param, grad, state, lr, momentum=0.9: (param - lr * grad, state),
     "returned a tuple; return only the new parameter"),
])
def test_a_rule_returning_none_or_a_tuple_is_named(rule, expected):
    p = bp.Parameter(np.ones(3))
    p.grad[...] = 1.0
    with pytest.raises(TypeError, match=expected.split(";")[0]):
        FunctionOptimizer([p], rule, lr=0.1, momentum=0.9).step()
    np.testing.assert_array_equal(p.data, np.ones(3))
    app = YourOptimizerRace({"momentum": rule}, steps=5)
    assert expected in app.state.errors["momentum"] and "your rule failed" in app.message.value
