"""DigitBrowser: the slider, Prev/Next and "only mistakes" pick the image; the figure follows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import DigitBrowser  # noqa: E402

# Eight "images" with labels; the model's logits are 4 * one_hot(guess), so the predictions
# are exactly ``GUESS``: images 2 and 5 are the mistakes.
LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7])
GUESS = np.array([0, 1, 9, 3, 4, 6, 6, 7])
MISTAKES = [2, 5]


def _images(n: int = 8) -> np.ndarray:
    return np.arange(n * 64, dtype=np.float64).reshape(n, 64) % 17


def _logits(guess: np.ndarray = GUESS) -> np.ndarray:
    return 4.0 * bp.one_hot(guess, 10)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _browser(**kwargs) -> DigitBrowser:
    kwargs.setdefault("inputs", _logits())
    return DigitBrowser(bp.Identity(), _images(), LABELS, **kwargs)


def _bar_heights(app: DigitBrowser) -> np.ndarray:
    return np.array([p.get_height() for p in app.figure.axes[1].patches])


def test_state_holds_labels_prediction_and_softmax_probabilities():
    app = _browser(index=2)
    s = app.state
    assert (s.index, s.true_label, s.predicted_label, s.correct) == (2, 2, 9, False)
    np.testing.assert_allclose(s.probabilities, _softmax(_logits()[2]), rtol=1e-12)
    assert s.probabilities.sum() == pytest.approx(1.0)
    assert s.n_mistakes == 2 and s.n_shown == 8 and not s.mistakes_only
    np.testing.assert_array_equal(app.mistakes, MISTAKES)
    np.testing.assert_array_equal(app.predictions, GUESS)


def test_figure_shows_the_image_the_bars_and_marks_predicted_and_true_class():
    app = _browser(index=5)
    ax_img, ax_bar = app.figure.axes
    np.testing.assert_array_equal(ax_img.images[0].get_array(), _images()[5].reshape(8, 8))
    assert "true 5" in ax_img.get_title()
    np.testing.assert_allclose(_bar_heights(app), app.state.probabilities)
    predicted = [p for p in ax_bar.patches if p.get_gid() == "predicted"]
    assert len(predicted) == 1 and predicted[0].get_x() + predicted[0].get_width() / 2 == 6
    others = {tuple(p.get_facecolor()) for p in ax_bar.patches if p.get_gid() != "predicted"}
    assert tuple(predicted[0].get_facecolor()) not in others  # highlighted
    true_marker = [line for line in ax_bar.lines if line.get_gid() == "true"]
    assert len(true_marker) == 1 and list(true_marker[0].get_xdata()) == [5]
    assert "wrong" in ax_bar.get_title()


def test_moving_the_slider_changes_state_and_picture():
    app = _browser()
    before, redraws = app.image.value, app.redraws
    app.index.value = 3
    assert app.state.index == 3 and app.state.correct
    assert app.redraws == redraws + 1 and app.image.value != before
    np.testing.assert_array_equal(app.figure.axes[0].images[0].get_array(),
                                  _images()[3].reshape(8, 8))


def test_prev_and_next_step_by_one_and_wrap_around():
    app = _browser()
    app.next_button.click()
    assert app.state.index == 1
    app.prev_button.click()
    app.prev_button.click()
    assert app.state.index == 7  # wrapped from 0 to the last image
    app.next_button.click()
    assert app.state.index == 0


def test_only_mistakes_browses_the_mistakes_and_keeps_the_place():
    app = _browser(index=3)
    app.only_mistakes.value = True
    # goes to the first mistake at or after image 3
    assert app.state.mistakes_only and app.state.index == 5 and app.state.n_shown == 2
    assert app.index.max == 1
    app.next_button.click()
    assert app.state.index == 2  # wrapped to the first mistake
    assert all(not app.state.correct for _ in range(1))
    app.only_mistakes.value = False
    assert app.state.index == 2 and app.state.n_shown == 8 and app.index.max == 7


def test_only_mistakes_with_a_perfect_model_shows_a_message():
    app = DigitBrowser(bp.Identity(), _images(), LABELS, inputs=_logits(LABELS),
                       only_mistakes=True)
    assert app.state.index is None and app.state.n_mistakes == 0 and app.state.correct is None
    assert "no mistakes" in app.message.value
    app.next_button.click()  # nothing to step through: no error
    app.only_mistakes.value = False
    assert app.state.index == 0 and app.state.correct


def test_transform_or_standardizer_feeds_the_model_while_raw_pixels_are_shown():
    X = _images()
    scaler = bp.Standardizer().fit(X)
    rng = np.random.default_rng(0)
    model = bp.Sequential(bp.Linear(64, 10, rng=rng))
    app = DigitBrowser(model, X, LABELS, transform=scaler)
    np.testing.assert_allclose(app.probabilities, _softmax(model(scaler.transform(X))))
    same = DigitBrowser(model, X, LABELS, transform=scaler.transform)
    np.testing.assert_array_equal(same.probabilities, app.probabilities)
    assert app.figure.axes[0].images[0].get_array().max() == X[0].max()  # raw values shown


def test_predicts_in_eval_mode_and_restores_train_mode():
    rng = np.random.default_rng(0)
    model = bp.Sequential(bp.Identity(), bp.Dropout(0.5, rng=rng))
    model.train()
    app = DigitBrowser(model, _images(), LABELS, inputs=_logits())
    np.testing.assert_allclose(app.probabilities, _softmax(_logits()))  # no dropout applied
    assert all(m.training for m in model.modules())


def test_bad_input_is_reported_clearly():
    with pytest.raises(TypeError, match="expected a bpkit Module"):
        DigitBrowser("model", _images(), LABELS)
    with pytest.raises(ValueError, match=r"X_test of shape \(N, 64\)"):
        DigitBrowser(bp.Identity(), np.zeros((8, 10)), LABELS)
    with pytest.raises(ValueError, match="y_test of integer labels"):
        DigitBrowser(bp.Identity(), _images(), LABELS[:5], inputs=_logits())
    with pytest.raises(ValueError, match="one model input per image"):
        DigitBrowser(bp.Identity(), _images(), LABELS, inputs=_logits()[:3])
    with pytest.raises(ValueError, match="either transform or inputs"):
        DigitBrowser(bp.Identity(), _images(), LABELS, inputs=_logits(), transform=np.abs)
    with pytest.raises(ValueError, match="index must be in 0..7"):
        _browser(index=8)
    with pytest.raises(ValueError, match="outside the model's 10 classes"):
        DigitBrowser(bp.Identity(), _images(), LABELS + 5, inputs=_logits())


def test_a_diverged_model_with_nan_outputs_is_named_in_the_message():
    logits = _logits()
    logits[[1, 4]] = np.nan  # a model whose training blew up outputs NaN
    app = _browser(inputs=logits)
    assert app.n_not_finite == 2
    assert "outputs NaN or inf for 2 of 8 test images" in app.message.value
    app.next_button.click()
    assert "did training diverge?" in app.message.value
    assert "NaN" not in _browser().message.value  # a healthy model gets no such note
