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
    assert "Your code failed" in app.message.value
    with pytest.raises(TypeError, match="train must be a function"):
        DigitsPipeline(standardize, make_model, None, predict, X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)


def test_the_learners_arrays_are_not_changed_by_their_code_through_the_widget():
    def standardize_in_place(X_train, X):
        X -= X_train.mean(axis=0)
        return X

    def train_shuffling_y(model, X, y, rng):
        rng.shuffle(y)  # the learner's bug, on the copy the widget handed over
        return train(model, X, y, rng)

    X_train, y_train, X_test, y_test = X_TRAIN.copy(), Y_TRAIN.copy(), X_TEST.copy(), Y_TEST.copy()
    app = DigitsPipeline(standardize_in_place, make_model, train_shuffling_y, predict, X_train,
                         y_train, X_test, y_test)
    app.train()
    app.train()
    assert app.state.error == ""
    for mine, original in ((X_train, X_TRAIN), (y_train, Y_TRAIN), (X_test, X_TEST),
                           (y_test, Y_TEST), (app.X_train, X_TRAIN), (app.y_train, Y_TRAIN)):
        np.testing.assert_array_equal(mine, original)


@pytest.mark.parametrize(("which", "returns", "expected"), [
    ("standardize", lambda X_train, X: None, "standardize returned None"),
    ("train", lambda model, X, y, rng: None, "train returned None"),
    ("train", lambda model, X, y, rng: 0.5, "train returned a float"),
    ("predict", lambda model, X: model(X), "predict returned shape (300, 10) for 300 images"),
    ("make_model", lambda rng: None, "make_model returned None"),
])
def test_a_function_returning_the_wrong_thing_is_named(which, returns, expected):
    fns = {"standardize": standardize, "make_model": make_model, "train": train,
           "predict": predict, which: returns}
    app = DigitsPipeline(fns["standardize"], fns["make_model"], fns["train"], fns["predict"],
                         X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    app.train()
    assert expected in app.state.error and not app.state.trained
    assert "Your code failed" in app.message.value
