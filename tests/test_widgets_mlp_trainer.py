"""MLPTrainer: the controls set the architecture and the training, and the figure follows."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import MLPTrainer  # noqa: E402
from bpkit.widgets.mlp_trainer import (  # noqa: E402
    DATASETS,
    make_mlp,
    moons,
    spiral,
    train_full_batch,
)


def _linears(model: bp.Sequential) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model if isinstance(m, bp.Linear)]


def _loss_line(app: MLPTrainer):
    found = [line for line in app.figure.axes[1].lines if line.get_gid() == "losses"]
    assert len(found) == 1, f"expected one loss line, found {len(found)}"
    return found[0]


def _choose(app: MLPTrainer, label: str) -> None:
    app.dataset.value = dict(app.dataset.options)[label]


# -- the building blocks ----------------------------------------------------------------------


@pytest.mark.parametrize(("width", "depth"), [(5, 0), (1, 1), (7, 3)])
def test_make_mlp_has_depth_hidden_relu_layers_of_width(width, depth):
    model = make_mlp(2, width, depth, 3, rng=0)
    expected = [(2, 3)] if depth == 0 else (
        [(2, width)] + [(width, width)] * (depth - 1) + [(width, 3)]
    )
    assert _linears(model) == expected
    assert sum(isinstance(m, bp.ReLU) for m in model) == depth
    assert isinstance(model[len(model) - 1], bp.Linear)  # logits: no ReLU at the end
    n_params = sum(p.data.size for p in model.parameters())
    assert n_params == sum((i + 1) * o for i, o in expected)


def test_make_mlp_rejects_bad_sizes_naming_the_argument():
    with pytest.raises(ValueError, match="make_mlp expected depth to be an integer >= 0"):
        make_mlp(2, 4, -1, 2)
    with pytest.raises(ValueError, match="width"):
        make_mlp(2, 0, 1, 2)


def test_datasets_are_fixed_and_shaped():
    (Xm, ym), (Xs, ys) = moons(), spiral()
    assert Xm.shape == (200, 2) and set(ym) == {0, 1}
    assert Xs.shape == (300, 2) and set(ys) == {0, 1, 2}
    np.testing.assert_array_equal(moons()[0], Xm)
    assert set(DATASETS) == {"moons", "spiral"}


def test_train_full_batch_records_the_loss_before_each_step_and_trains_in_place():
    X, y = moons()
    model = make_mlp(2, 8, 1, 2, rng=1)
    before = bp.CrossEntropyLoss()(model(X), y)
    losses = train_full_batch(model, X, y, lr=0.02, steps=60)
    assert losses.shape == (60,)
    assert losses[0] == before
    after = bp.CrossEntropyLoss()(model(X), y)
    assert after < losses[-1] < losses[0]


def test_train_full_batch_rejects_bad_arguments():
    X, y = moons()
    with pytest.raises(ValueError, match="lr > 0"):
        train_full_batch(make_mlp(2, 4, 1, 2, rng=0), X, y, lr=0.0, steps=5)
    with pytest.raises(ValueError, match="steps"):
        train_full_batch(make_mlp(2, 4, 1, 2, rng=0), X, y, lr=0.01, steps=0)


# -- the app: settings -> architecture --------------------------------------------------------


def test_width_and_depth_controls_change_the_models_architecture():
    app = MLPTrainer(width=4, depth=1, steps=10)
    assert _linears(app.state.model) == [(2, 4), (4, 2)]
    assert app.state.architecture == "2 → 4 → 2"
    app.width.value = 9
    assert _linears(app.state.model) == [(2, 9), (9, 2)]
    app.depth.value = 3
    assert _linears(app.state.model) == [(2, 9), (9, 9), (9, 9), (9, 2)]
    assert app.state.n_parameters == 3 * 9 + 2 * 10 * 9 + 10 * 2
    assert app.state.architecture in app.message.value
    app.depth.value = 0
    assert _linears(app.state.model) == [(2, 2)]
    assert "linear model" in app.message.value


def test_the_spiral_has_three_outputs_and_its_own_split():
    app = MLPTrainer(steps=10)
    assert app.state.n_classes == 2 and len(app.state.y_train) + len(app.state.y_test) == 200
    _choose(app, "spiral")
    s = app.state
    assert s.dataset == "spiral" and s.n_classes == 3
    assert _linears(s.model)[-1] == (16, 3)
    assert len(s.y_test) == 75 and len(s.y_train) == 225  # 25% held out
    assert np.bincount(s.y_test).tolist() == [25, 25, 25]  # stratified
    assert abs(s.losses[0] - math.log(3)) < 0.1  # sanity check: chance level at the start


def test_state_numbers_are_those_of_the_trained_model():
    app = MLPTrainer(steps=40)
    s = app.state
    assert len(s.losses) == 40 and not s.diverged
    scores = bp.evaluate(s.model, bp.CrossEntropyLoss(), s.X_train, s.y_train)
    assert s.final_loss == scores["loss"]
    assert s.train_accuracy == bp.accuracy(s.model(s.X_train), s.y_train)
    assert s.test_accuracy == bp.accuracy(s.model(s.X_test), s.y_test)
    assert s.n_parameters == sum(p.data.size for p in s.model.parameters())


# -- the app: training ------------------------------------------------------------------------


def test_more_training_lowers_the_loss_and_extends_the_same_run():
    app = MLPTrainer(steps=50)
    short = app.state
    app.steps.value = 300
    long = app.state
    np.testing.assert_array_equal(long.losses[:50], short.losses)  # same run, continued
    assert long.final_loss < short.final_loss / 3
    assert long.train_accuracy >= short.train_accuracy
    assert long.train_accuracy > 0.95 and long.test_accuracy > 0.9


def test_a_tiny_learning_rate_barely_moves_the_parameters_or_the_loss():
    app = MLPTrainer(steps=50, lr=1e-4, seed=3)
    s = app.state
    start = make_mlp(2, 16, 2, 2, rng=3)
    # an Adam step moves each entry by at most about lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr
    bound = 50 * 1e-4 * 0.1 / math.sqrt(0.001)
    for p0, p in zip(start.parameters(), s.model.parameters(), strict=True):
        assert np.max(np.abs(p.data - p0.data)) <= bound
    assert abs(s.final_loss - s.losses[0]) < 0.02
    app.lr.value = 0.03
    assert app.state.final_loss < s.losses[0] - 0.3  # a real learning rate does learn


def test_the_same_settings_give_the_same_result():
    a, b = MLPTrainer(steps=30, seed=5), MLPTrainer(steps=30, seed=5)
    np.testing.assert_array_equal(a.state.losses, b.state.losses)
    for pa, pb in zip(a.state.model.parameters(), b.state.model.parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
    a.seed.value = 6
    assert not np.array_equal(a.state.losses, b.state.losses)


def test_the_train_button_trains_again_from_the_next_seed():
    app = MLPTrainer(steps=20, seed=7)
    redraws, image, losses = app.redraws, app.image.value, app.state.losses
    app.train_button.click()
    assert app.seed.value == 8 and app.state.seed == 8
    assert app.redraws == redraws + 1
    assert app.image.value != image
    assert not np.array_equal(app.state.losses, losses)
    expected = train_full_batch(make_mlp(2, 16, 2, 2, rng=8), app.state.X_train,
                                app.state.y_train, 0.01, 20)
    np.testing.assert_array_equal(app.state.losses, expected)


def test_the_largest_learning_rate_still_leaves_finite_numbers():
    X, y = spiral()
    model = make_mlp(2, 32, 4, 3, rng=0)
    losses = train_full_batch(model, X, y, lr=1.0, steps=100)
    assert np.all(np.isfinite(losses))
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())


# -- the app: the figure follows the state ----------------------------------------------------


def test_the_figure_shows_the_boundary_and_the_loss_curve():
    app = MLPTrainer(steps=30)
    boundary, curve = app.figure.axes[:2]
    assert "2 → 16 → 16 → 2" in boundary.get_title()
    assert f"{app.state.test_accuracy:.1%}" in boundary.get_title()
    assert len(boundary.collections) >= 3  # filled contours, the 0.5 line, the points
    line = _loss_line(app)
    np.testing.assert_array_equal(line.get_ydata(), app.state.losses)
    chance = [ln for ln in curve.lines if ln.get_gid() != "losses"]
    assert chance and chance[0].get_ydata()[0] == pytest.approx(math.log(2))
    image = app.image.value
    app.steps.value = 60
    assert len(_loss_line(app).get_ydata()) == 60
    assert app.image.value != image


def test_constructor_rejects_bad_settings_naming_the_app():
    with pytest.raises(ValueError, match="MLPTrainer expected width"):
        MLPTrainer(width=0)
    with pytest.raises(ValueError, match="MLPTrainer expected lr"):
        MLPTrainer(lr=5.0)
    with pytest.raises(ValueError, match="MLPTrainer expected dataset"):
        MLPTrainer("circles")
    with pytest.raises(TypeError, match="datasets"):
        MLPTrainer(datasets={"moons": 3})

    def with_nan():
        X, y = moons()
        X[0, 0] = np.nan
        return X, y

    with pytest.raises(ValueError, match="data set 'nan' must give finite float X"):
        MLPTrainer("nan", datasets={"nan": with_nan})


def test_train_full_batch_undoes_a_step_whose_loss_is_not_finite():
    X, y = spiral()
    model = make_mlp(2, 16, 2, 3, rng=0)
    arrays = [p.data for p in model.parameters()]
    losses = train_full_batch(model, X, y, lr=1e200, steps=10)  # the first step overflows
    assert len(losses) == 1
    fresh = make_mlp(2, 16, 2, 3, rng=0)
    for p, q, array in zip(model.parameters(), fresh.parameters(), arrays, strict=True):
        assert p.data is array
        np.testing.assert_array_equal(p.data, q.data)
