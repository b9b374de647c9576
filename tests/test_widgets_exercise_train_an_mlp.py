"""SpiralLoop (exercise 07): trains with the learner's make_model and train_epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets.exercise_train_an_mlp import SpiralLoop  # noqa: E402


def make_model(rng):
    return bp.Sequential(bp.Linear(2, 16, rng=rng), bp.ReLU(), bp.Linear(16, 3, rng=rng))


def train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng):
    total = 0.0
    for Xb, yb in bp.batches(X, y, batch_size, rng=rng):
        loss = loss_fn(model(Xb), yb)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        total += loss * len(Xb)
    return total / len(X)


def _loss_line(app):
    return [ln for ln in app.figure.axes[1].lines if ln.get_gid() == "loss"]


def test_training_runs_the_learners_epochs_and_draws_their_losses():
    app = SpiralLoop(make_model, train_epoch, epochs=5)
    assert app.state.epoch == 0 and app.state.losses == [] and not _loss_line(app)
    redraws = app.redraws
    app.train_button.click()
    s = app.state
    assert s.epoch == 5 and len(s.losses) == 5 and s.error == ""
    assert s.losses[-1] < s.losses[0]
    assert 0.0 <= s.heldout_accuracy <= 1.0 and app.redraws == redraws + 1
    np.testing.assert_allclose(_loss_line(app)[0].get_ydata(), s.losses)
    assert "held-out" in app.message.value


def test_changing_the_learning_rate_starts_a_fresh_run():
    app = SpiralLoop(make_model, train_epoch, optimizer="SGD", lr=0.1)
    app.train(3)
    assert app.state.epoch == 3
    app.lr.value = 1.0
    assert app.state.epoch == 0 and app.state.lr == 1.0 and app.state.optimizer == "SGD"


def test_too_large_a_learning_rate_stays_worse_than_chance():
    app = SpiralLoop(make_model, train_epoch, optimizer="SGD", lr=10.0)
    app.train(10)
    assert app.state.error == "" and min(app.state.losses) > math.log(3)


def test_a_loss_that_is_not_finite_stops_the_run_with_a_message():
    def nan_epoch(*args):
        return float("nan")

    app = SpiralLoop(make_model, nan_epoch)
    app.train(5)
    assert app.state.epoch == 1 and "too high" in app.state.error
    assert "Stopped" in app.message.value


def test_errors_in_the_learners_code_are_shown_not_raised():
    def stub(*args):
        raise NotImplementedError()

    app = SpiralLoop(make_model, stub)
    app.train(2)
    assert "NotImplementedError" in app.state.error and app.state.epoch == 0
    assert "Stopped" in app.message.value
    broken = SpiralLoop(stub, train_epoch)
    assert broken.model is None and "NotImplementedError" in broken.state.error


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        SpiralLoop(make_model, train_epoch, optimizer="RMSprop")
    with pytest.raises(TypeError, match="two functions"):
        SpiralLoop(make_model, 3)


@pytest.mark.parametrize(("returns", "expected"), [
    (lambda *args: None, "train_epoch returned None"),
    (lambda *args: [train_epoch(*args)], "train_epoch returned a list; expected one float"),
])
def test_an_epoch_returning_none_or_a_list_is_named(returns, expected):
    app = SpiralLoop(make_model, returns, epochs=2)
    app.train()
    assert expected in app.state.error and app.state.epoch == 0
    assert expected in app.message.value


@pytest.mark.parametrize(("maker", "expected"), [
    (lambda rng: None, "make_model returned None"),
    (lambda rng: [bp.Linear(2, 3, rng=rng)], "make_model returned a list; expected a Module"),
])
def test_a_model_maker_returning_none_or_a_list_is_named(maker, expected):
    app = SpiralLoop(maker, train_epoch)
    assert expected in app.state.error and app.model is None


def test_an_epoch_that_shuffles_x_in_place_does_not_scramble_the_widgets_data():
    def shuffling_epoch(model, loss_fn, optimizer, X, y, batch_size, rng):
        rng.shuffle(X)  # the learner's bug: X without y
        return train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng)

    app = SpiralLoop(make_model, shuffling_epoch, epochs=3)
    X, y = app.X.copy(), app.y.copy()
    app.train()
    np.testing.assert_array_equal(app.X, X)
    np.testing.assert_array_equal(app.y, y)
