"""DigitsPipeline (exercise 11): runs the learner's four functions when Train is pressed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets.exercise_deep_mlp_digits import DigitsPipeline  # noqa: E402

X, Y = bp.load_digits()
X_TRAIN, Y_TRAIN, X_TEST, Y_TEST = X[:300], Y[:300], X[300:400], Y[300:400]
SEEN: list = []


def standardize(X_train, X):
    std = X_train.std(axis=0)
    return (X - X_train.mean(axis=0)) / np.where(std == 0, 1.0, std)


def make_model(rng):
    return bp.Sequential(bp.Linear(64, 32, rng=rng), bp.ReLU(), bp.Linear(32, 10, rng=rng))


def train(model, X, y, rng):
    SEEN.append(X)
    opt = bp.optim.Adam(model.parameters(), lr=1e-2)
    return bp.fit(model, bp.CrossEntropyLoss(), opt, X, y, epochs=3, batch_size=32, rng=rng,
                  progress=False)


def predict(model, X):
    model.eval()
    out = model(X).argmax(axis=1)
    model.train()
    return out


def _app(**kwargs):
    return DigitsPipeline(standardize, make_model, train, predict, X_TRAIN, Y_TRAIN, X_TEST,
                          Y_TEST, **kwargs)


def test_nothing_trains_until_train_is_pressed():
    SEEN.clear()
    app = _app()
    assert not app.state.trained and SEEN == [] and "Press Train" in app.message.value
    app.n_train.value = 100
    assert SEEN == []


def test_train_runs_the_pipeline_and_draws_the_confusion_matrix():
    SEEN.clear()
    app = _app(n_train=200)
    app.train_button.click()
    s = app.state
    assert s.trained and s.error == "" and s.n_train == 200 and len(s.losses) == 3
    assert len(SEEN[-1]) == 200 and abs(float(SEEN[-1].mean())) < 0.1  # standardised
    assert s.confusion.sum() == len(Y_TEST)
    assert s.test_accuracy == pytest.approx(np.trace(s.confusion) / len(Y_TEST))
    image = [im for im in app.figure.axes[1].images if im.get_gid() == "confusion"][0]
    np.testing.assert_array_equal(image.get_array(), s.confusion)
    assert "test accuracy" in app.message.value


def test_unticking_standardise_trains_on_raw_pixels():
    SEEN.clear()
    app = _app(n_train=100)
    app.standardize_box.value = False
    app.train()
    assert not app.state.standardized and SEEN[-1].max() == 16


def test_errors_in_the_learners_code_are_shown_not_raised():
    def stub(*args):
        raise NotImplementedError()

    app = DigitsPipeline(standardize, stub, train, predict, X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    app.train()
    assert "NotImplementedError" in app.state.error and not app.state.trained
    assert "raised" in app.message.value
    with pytest.raises(TypeError, match="train must be a function"):
        DigitsPipeline(standardize, make_model, None, predict, X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
