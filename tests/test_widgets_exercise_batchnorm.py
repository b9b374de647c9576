"""BatchNormTrainer: trains with the learner's BatchNorm1d; state and figure follow it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets.exercise_batchnorm import BatchNormTrainer, build_network  # noqa: E402


class MyBatchNorm(bp.BatchNorm1d):
    """Stands in for a learner's right layer (the trainer accepts any such class)."""


class EvalUsesBatch(bp.Module):
    """A wrong layer: batch statistics in both modes, no running statistics updates."""

    def __init__(self, n):
        self.inner = bp.BatchNorm1d(n)
        self.running_mean, self.running_var = np.zeros(n), np.ones(n)

    def forward(self, x):
        self.inner.training = True
        return self.inner(x)

    def backward(self, grad_output):
        return self.inner.backward(grad_output)


class Broken(bp.Module):
    def __init__(self, n):
        self.running_mean, self.running_var = np.zeros(n), np.ones(n)

    def forward(self, x):
        raise NotImplementedError()


def _line(app, gid, panel):
    found = [ln for ln in app.figure.axes[panel].lines if ln.get_gid() == gid]
    return found[0] if found else None


def test_training_with_a_right_layer_learns_and_the_modes_agree():
    app = BatchNormTrainer(MyBatchNorm, depth=3, epochs=1)
    s = app.state
    assert s.epoch == 0 and len(s.std_train) == 3
    np.testing.assert_allclose(s.std_train, 1.0, atol=0.02)
    app.train_button.click()
    app.train(1)
    s = app.state
    assert s.epoch == 2 and len(s.loss_bn) == len(s.loss_plain) == 2
    assert s.loss_bn[-1] < s.loss_plain[-1] and s.accuracy_eval > 0.8
    assert np.max(np.abs(s.std_eval - s.std_train)) < 0.2
    np.testing.assert_allclose(_line(app, "loss-bn", 0).get_ydata(), s.loss_bn)
    np.testing.assert_allclose(_line(app, "std-eval", 1).get_ydata(), s.std_eval)
    assert "epoch 2" in app.message.value

    app.reset_button.click()
    assert app.state.epoch == 0 and app.state.loss_bn == []


def test_a_layer_that_ignores_the_mode_looks_the_same_in_both_modes():
    app = BatchNormTrainer(EvalUsesBatch, depth=2)
    app.train(1)
    s = app.state
    assert s.error == "" and s.epoch == 1
    # the trainer measures eval mode through the learner's layer: batch statistics here too
    np.testing.assert_allclose(s.std_train, s.std_eval, atol=1e-12)


def test_an_unwritten_layer_is_reported_not_raised():
    app = BatchNormTrainer(Broken, depth=2)
    app.train(1)
    assert app.state.error == "NotImplementedError" and app.state.epoch == 0
    assert "Your layer" in app.message.value


def test_depth_change_rebuilds_and_the_plain_network_has_no_normalisation():
    app = BatchNormTrainer(MyBatchNorm, depth=2)
    app.depth.value = 3
    assert app.state.depth == 3 and len(app.state.std_train) == 3
    plain = build_network(5, None, 0)
    assert not any(isinstance(m, bp.BatchNorm1d) for m in plain.modules())
    with pytest.raises(TypeError, match="expected a layer class"):
        BatchNormTrainer(MyBatchNorm(3))


class EvalRaises(bp.BatchNorm1d):
    """Right in training mode; its eval mode was never written."""

    def forward(self, x):
        if not self.training:
            raise NotImplementedError("eval mode")
        return super().forward(x)


class ForgetsReturn(bp.BatchNorm1d):
    def forward(self, x):
        super().forward(x)


def test_a_layer_raising_in_eval_mode_is_reported_and_left_as_it_was():
    app = BatchNormTrainer(EvalRaises, depth=2)
    s = app.state
    assert s.error == "NotImplementedError: eval mode" and len(s.std_train) == 0
    assert app.figure.axes[1].get_title() == "your layer failed"
    norms = [m for m in app.model.modules() if isinstance(m, EvalRaises)]
    assert all(m.training for m in app.model.modules())  # back in training mode
    for m in norms:  # the training-mode look was undone
        np.testing.assert_array_equal(m.running_mean, np.zeros(64))
        np.testing.assert_array_equal(m.running_var, np.ones(64))


def test_a_forward_without_return_is_named():
    app = BatchNormTrainer(ForgetsReturn, depth=2)
    assert ("ForgetsReturn.forward returned None (is `return` missing?); expected an array of "
            "shape (600, 64)") in app.state.error


def test_measuring_leaves_a_layer_frozen_in_eval_mode_and_every_statistic_as_it_was():
    from model_state import assert_unchanged, state_of

    app = BatchNormTrainer(MyBatchNorm, depth=3)
    app.train(1)
    norms = [m for m in app.model.modules() if isinstance(m, MyBatchNorm)]
    norms[1].eval()  # a learner's experiment: one layer frozen
    before = state_of(app.model)
    app.update()
    assert app.state.error == ""
    assert_unchanged(app.model, before)
