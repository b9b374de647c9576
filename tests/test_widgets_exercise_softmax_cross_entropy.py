"""SoftmaxLossExplorer (exercise 05): driven by the learner's softmax and loss, no browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.grading._files import read_notebook  # noqa: E402
from bpkit.widgets.exercise_softmax_cross_entropy import (  # noqa: E402
    SoftmaxLossExplorer,
    run_learner,
)

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "05_softmax_cross_entropy.ipynb"


def _answers() -> tuple:
    """The solution notebook's softmax function and SoftmaxCrossEntropy class."""
    nb = read_notebook(SOLUTION)
    ns: dict = {"np": np, "bp": bp}
    for cell in nb["cells"]:
        if cell.get("id") in ("answer-softmax", "answer-loss"):
            exec(cell["source"], ns)
    return ns["softmax"], ns["SoftmaxCrossEntropy"]


def _naive(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _stub(z):
    raise NotImplementedError()


def _bars(app, panel: int) -> np.ndarray:
    return np.array([p.get_height() for p in app.figure.axes[panel].patches])


def test_your_softmax_loss_and_gradient_match_bpkit_and_ignore_the_shift():
    app = SoftmaxLossExplorer(*_answers())
    s = app.state
    assert s.agree and s.finite and s.error == ""
    np.testing.assert_allclose(s.p, [0.66524096, 0.24472847, 0.09003057], atol=1e-8)
    assert s.loss == pytest.approx(0.4076059644, abs=1e-9)
    np.testing.assert_allclose(s.grad, s.p - [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(_bars(app, 0), s.p)
    np.testing.assert_allclose(_bars(app, 1), s.grad)
    assert "✔" in app.message.value

    redraws, image = app.redraws, app.image.value
    app.shift.value = 1000.0
    assert app.redraws == redraws + 1 and app.image.value != image
    t = app.state
    assert t.agree and t.z.tolist() == [1002.0, 1001.0, 1000.0]
    np.testing.assert_allclose(t.p, s.p, rtol=1e-12)
    assert t.loss == pytest.approx(s.loss, abs=1e-12)

    app.label.value = 2
    assert app.state.agree and app.state.grad[2] < 0 < app.state.grad[0]
    app.z0.value = -10.0
    assert app.state.loss == pytest.approx(app.state.loss_ref, rel=1e-12)


def test_a_naive_softmax_overflows_under_the_shift():
    _, loss_class = _answers()
    app = SoftmaxLossExplorer(_naive, loss_class)
    assert app.state.agree  # ordinary logits: the naive softmax is right
    app.shift.value = 800.0
    assert not app.state.finite and not app.state.agree
    assert np.isnan(app.state.p).all()
    assert "inf or nan" in app.message.value


def test_unwritten_code_is_shown_not_raised_and_bad_arguments_are_refused():
    _, loss_class = _answers()
    app = SoftmaxLossExplorer(_stub, loss_class)
    assert app.state.error == "NotImplementedError" and not app.state.agree
    assert "NotImplementedError" in app.message.value
    p, value, grad = run_learner(*_answers(), np.array([0.0, -1000.0, 0.0]), 1)
    assert value == pytest.approx(1000.0 + np.log(2.0)) and grad[1] == pytest.approx(-1.0)
    with pytest.raises(TypeError, match="softmax function"):
        SoftmaxLossExplorer(3, loss_class)
    with pytest.raises(TypeError, match="loss class"):
        SoftmaxLossExplorer(_naive, loss_class())
    with pytest.raises(ValueError, match="3 logits"):
        SoftmaxLossExplorer(_naive, loss_class, logits=(1.0, 2.0))
    with pytest.raises(ValueError, match="label in 0..2"):
        SoftmaxLossExplorer(_naive, loss_class, label=3)


def _loss_class(forward=None, backward=None):
    """The solution's loss with forward or backward replaced."""
    _, right = _answers()

    class Loss(right):
        pass

    if forward is not None:
        Loss.forward = forward
    if backward is not None:
        Loss.backward = backward
    return Loss


@pytest.mark.parametrize(("which", "returns", "expected"), [
    ("softmax", lambda z: None, "your softmax returned None"),
    ("forward", lambda self, logits, labels: None, "your loss returned None"),
    ("forward", lambda self, logits, labels: np.ones(len(labels)),
     "your loss returned an array of shape (1,); expected one float, the mean"),
    ("backward", lambda self: None, "your backward returned None"),
])
def test_a_result_that_is_none_or_a_per_sample_loss_is_named(which, returns, expected):
    softmax, _ = _answers()
    if which == "softmax":
        app = SoftmaxLossExplorer(returns, _loss_class())
    else:
        app = SoftmaxLossExplorer(softmax, _loss_class(**{which: returns}))
    assert expected in app.state.error and not app.state.agree
    assert "Your code" in app.message.value


def test_a_softmax_wrapped_in_a_tuple_is_not_called_a_match():
    softmax, loss = _answers()
    app = SoftmaxLossExplorer(lambda z: (softmax(z),), loss)
    assert not app.state.agree and "tuple" in app.state.error
