"""The exercise widgets: driven by the learner's code, the state and the figure follow it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.grading._files import read_notebook  # noqa: E402
from bpkit.widgets import BackpropStepper, ChainRuleExplorer, LinearLayerTrainer  # noqa: E402
from bpkit.widgets.exercise_value_backward import draw_backprop  # noqa: E402

SOLUTION_02 = Path(__file__).resolve().parents[1] / "solutions" / "02_value_backward.ipynb"


def _line(app, gid: str, panel: int):
    found = [ln for ln in app.figure.axes[panel].lines if ln.get_gid() == gid]
    assert len(found) <= 1
    return found[0] if found else None


def _slope(line) -> float:
    xs, ys = line.get_data()
    return float((ys[-1] - ys[0]) / (xs[-1] - xs[0]))


def _sin_square(x):
    return np.sin(x**2)


def _right(x):
    return np.cos(x**2) * 2 * x


def _no_inner(x):
    return np.cos(x**2)


def _stub(x):
    raise NotImplementedError()


# -- ChainRuleExplorer ----------------------------------------------------------------------------


def test_chain_rule_explorer_draws_your_tangent_against_the_true_one():
    app = ChainRuleExplorer({"sin(x²)": (_sin_square, _right)}, x=1.0)
    s = app.state
    assert s.slope == pytest.approx(2 * math.cos(1.0), abs=1e-12)
    assert s.true_slope == pytest.approx(2 * math.cos(1.0), abs=1e-8)
    assert s.agree and s.max_difference < 1e-7 and s.error == ""
    assert _slope(_line(app, "your-tangent", 0)) == pytest.approx(s.slope)
    assert _slope(_line(app, "true-tangent", 0)) == pytest.approx(s.true_slope)
    assert "matches everywhere" in app.figure.axes[1].get_title()
    assert "✔" in app.message.value

    redraws, image = app.redraws, app.image.value
    app.x.value = -2.0
    assert app.state.x == -2.0 and app.redraws == redraws + 1 and app.image.value != image
    assert _slope(_line(app, "your-tangent", 0)) == pytest.approx(-4 * math.cos(4.0))
    assert _line(app, "your-slope", 1).get_data()[0][0] == -2.0


def test_chain_rule_explorer_shows_a_wrong_derivative_parting_from_the_slope():
    app = ChainRuleExplorer({"right": (_sin_square, _right), "no inner": (_sin_square, _no_inner)})
    app.function.value = app.function.options["no inner"]
    s = app.state
    assert s.label == "no inner" and not s.agree
    assert s.slope == pytest.approx(math.cos(1.0)) and s.difference > 0.5
    np.testing.assert_allclose(_line(app, "yours", 1).get_ydata(), np.cos(s.xs**2))
    assert "yours is off" in app.figure.axes[1].get_title()
    assert "✘" in app.message.value


def test_chain_rule_explorer_reports_an_unwritten_derivative_instead_of_raising():
    app = ChainRuleExplorer({"f": (_sin_square, _stub)})
    assert app.state.error == "NotImplementedError" and not app.state.agree
    assert np.isnan(app.state.slope)
    assert _line(app, "your-tangent", 0) is None and _line(app, "true-tangent", 0) is not None
    assert "NotImplementedError" in app.message.value


def test_chain_rule_explorer_refuses_bad_arguments():
    with pytest.raises(ValueError, match="at least one function"):
        ChainRuleExplorer({})
    with pytest.raises(TypeError, match="pair"):
        ChainRuleExplorer({"f": _sin_square})
    with pytest.raises(ValueError, match=r"x in \[-3.0, 3.0\]"):
        ChainRuleExplorer({"f": (_sin_square, _right)}, x=5.0)


# -- BackpropStepper ------------------------------------------------------------------------------


def _exercise_02(**rules: str) -> dict:
    """The solution notebook's Value class and rules; ``rules`` replace some by source."""
    nb = read_notebook(SOLUTION_02)
    cells = {c.get("id"): c["source"] for c in nb["cells"]}
    ns: dict = {"math": math}
    for cell_id in ("value-class", "answer-add", "answer-mul", "answer-pow", "answer-exp",
                    "answer-tanh", "answer-backprop"):
        exec(cells[cell_id], ns)
    for source in rules.values():
        exec(source, ns)
    return ns


def _expression(V):
    """L = (a + c) * (a * b) at a=3, b=-2, c=0.5: u = 3.5, p = -6, L = -21.

    dL/du = p = -6 and dL/dp = u = 3.5, so dL/da = -6 + b u = -13, dL/db = a u = 10.5,
    dL/dc = -6. The product's rule runs before the sum's, so `=` in add_backward loses a
    share of a's gradient.
    """
    a, b, c = V(3.0, label="a"), V(-2.0, label="b"), V(0.5, label="c")
    u = a + c
    u.label = "u"
    p = a * b
    p.label = "p"
    L = u * p
    L.label = "L"
    return L


def test_backprop_stepper_replays_your_rules_node_by_node():
    ns = _exercise_02()
    app = BackpropStepper(_expression(ns["Value"]), reference=_expression(bp.Value))
    s = app.state
    assert (s.step, s.n_steps, s.node, s.done) == (0, 3, None, False)
    assert s.grads == {"a": 0.0, "c": 0.0, "u": 0.0, "b": 0.0, "p": 0.0, "L": 1.0}
    assert app.back_button.disabled and not app.next_button.disabled

    image = app.image.value
    app.next_button.click()  # L = u * p passes back to u and p
    s = app.state
    assert (s.step, s.node, s.op) == (1, "L", "*")
    assert (s.grads["u"], s.grads["p"], s.grads["a"]) == (-6.0, 3.5, 0.0)
    assert app.image.value != image

    app.step.value = 3
    s = app.state
    assert s.done and s.wrong == [] and app.next_button.disabled
    expected = {"a": -13.0, "b": 10.5, "c": -6.0}
    assert {k: s.grads[k] for k in expected} == pytest.approx(expected)
    assert s.expected["a"] == pytest.approx(expected["a"])
    assert "matches bpkit.Value" in app.figure.axes[0].texts[-1].get_text()
    app.reset_button.click()
    assert app.state.step == 0


def test_backprop_stepper_points_at_the_nodes_a_wrong_rule_gets_wrong():
    ns = _exercise_02(add="def add_backward(a, b, out):\n    a.grad = out.grad\n"
                          "    b.grad = out.grad\n")
    app = BackpropStepper(_expression(ns["Value"]), reference=_expression(bp.Value))
    app.step.value = app.step.max
    assert app.state.wrong == ["a"]  # the product's share b * u = -7 was overwritten
    assert app.state.grads["a"] == -6.0
    assert "differs from bpkit.Value at: a" in app.figure.axes[0].texts[-1].get_text()
    assert "✘" in app.message.value


def test_backprop_stepper_stops_at_a_rule_that_raises():
    ns = _exercise_02(mul="def mul_backward(a, b, out):\n    raise NotImplementedError()\n")
    app = BackpropStepper(_expression(ns["Value"]))
    assert app.state.n_steps == 0 and app.state.error == "NotImplementedError"
    assert "NotImplementedError" in app.message.value


def test_backprop_stepper_reference_is_not_doubled_and_bad_roots_are_refused():
    ns = _exercise_02()
    reference = _expression(bp.Value)
    first = BackpropStepper(_expression(ns["Value"]), reference=reference).state.expected
    second = BackpropStepper(_expression(ns["Value"]), reference=reference).state.expected
    assert first == second
    with pytest.raises(TypeError, match="the exercise's Value"):
        BackpropStepper(bp.Value(1.0))
    fig = draw_backprop(_expression(ns["Value"]), step=1)
    assert "step 1 of 3" in fig.axes[0].texts[-1].get_text()
    with pytest.raises(ValueError, match="step in 0..3"):
        draw_backprop(_expression(ns["Value"]), step=7)


# -- LinearLayerTrainer ---------------------------------------------------------------------------


class _Broken(bp.Module):
    """A layer whose forward was never written."""

    def __init__(self, in_features, out_features, *, rng=None):
        self.weight = bp.Parameter(np.zeros((out_features, in_features)), "weight")

    def forward(self, x):
        raise NotImplementedError()


def test_linear_layer_trainer_trains_with_the_given_layer_and_redraws():
    app = LinearLayerTrainer(bp.Linear, dataset="moons", epochs=10)
    s = app.state
    assert (s.dataset, s.epoch, s.losses, s.error) == ("moons", 0, [], "")
    assert 0.0 <= s.accuracy <= 1.0
    assert all(isinstance(layer, bp.Linear) for layer in app.model[::2])
    redraws, image = app.redraws, app.image.value
    app.train_button.click()
    s = app.state
    assert s.epoch == 10 and len(s.losses) == 10 and s.losses[-1] < s.losses[0]
    assert app.redraws == redraws + 1 and app.image.value != image
    first_loss = s.losses[0]
    app.train(40)
    assert app.state.epoch == 50 and app.state.accuracy > 0.8
    line = [ln for ln in app.figure.axes[-1].lines if ln.get_gid() == "loss"][0]
    assert len(line.get_xdata()) == 50

    app.reset_button.click()
    assert app.state.epoch == 0 and app.state.losses == []
    app.train(1)
    assert app.state.losses == [first_loss]  # the same start: training is reproducible


def test_linear_layer_trainer_switches_to_the_spiral_and_starts_afresh():
    app = LinearLayerTrainer(bp.Linear, epochs=5)
    app.train()
    app.dataset.value = "spiral"
    assert app.state.dataset == "spiral" and app.state.epoch == 0
    assert app.model(app.X).shape == (240, 3)


def test_linear_layer_trainer_reports_a_broken_layer_instead_of_raising():
    app = LinearLayerTrainer(_Broken)
    assert app.state.error == "NotImplementedError" and np.isnan(app.state.accuracy)
    app.train(5)
    assert app.state.epoch == 0
    assert "NotImplementedError" in app.message.value
    with pytest.raises(ValueError, match="dataset must be one of"):
        LinearLayerTrainer(bp.Linear, dataset="circles")
    with pytest.raises(TypeError, match="layer class"):
        LinearLayerTrainer(bp.Linear(2, 2))


# -- what a learner's code returns instead of raising ------------------------------------------


@pytest.mark.parametrize(("df", "expected"), [
    (lambda x: None, "returned None"),
    (lambda x: (np.cos(x**2) * 2 * x,), "returned a tuple"),
    (lambda x: np.stack([x, x]), "returned shape (2, 241)"),
])
def test_chain_rule_explorer_names_a_derivative_that_returns_none_a_tuple_or_a_wrong_shape(
        df, expected):
    app = ChainRuleExplorer({"f": (_sin_square, df)})
    assert expected in app.state.error and not app.state.agree
    assert expected in app.message.value and "failed" in app.figure.axes[1].get_title()


def test_chain_rule_explorer_counts_nan_points_instead_of_a_nan_difference():
    app = ChainRuleExplorer({"f": (_sin_square, lambda x: np.cos(x**2) * 2 * x * x / x)})
    assert app.state.error == "" and not app.state.agree
    assert app.state.max_difference < 1e-6  # right everywhere but at x = 0 (0/0)
    assert "NaN or inf at 1 of 241 points" in app.figure.axes[1].get_title()


def test_backprop_stepper_names_a_rule_that_leaves_a_value_instead_of_a_number():
    ns = _exercise_02(mul="def mul_backward(a, b, out):\n    a.grad += b * out.grad\n"
                          "    b.grad += a * out.grad\n")  # the Values, not their .data
    app = BackpropStepper(_expression(ns["Value"]), reference=_expression(bp.Value))
    s = app.state
    assert s.n_steps == 0 and "after L._backward() (*), u.grad is Value(" in s.error
    assert "not a number (use the operands" in app.message.value
    fig = draw_backprop(_expression(ns["Value"]))
    assert "step 0 of 0" in fig.axes[0].texts[-1].get_text()


def test_linear_layer_trainer_names_a_forward_returning_a_tuple():
    class TupleOut(bp.Module):  # x @ W.T + b works on the (1, N, in) array a tuple becomes
        def __init__(self, in_features, out_features, *, rng=None):
            self.inner = bp.Linear(in_features, out_features, rng=rng)

        def forward(self, x):
            x = np.asarray(x)
            return (x @ self.inner.weight.data.T + self.inner.bias.data,)

        def backward(self, grad_output):
            return grad_output @ self.inner.weight.data

    app = LinearLayerTrainer(TupleOut)
    assert "returned a tuple" in app.state.error and np.isnan(app.state.accuracy)
    app.train(5)
    assert app.state.epoch == 0 and "check what forward returns" in app.message.value


def test_linear_layer_trainer_does_not_say_a_layer_with_a_nan_loss_raised():
    class Exploding(bp.Linear):
        def backward(self, grad_output):
            return super().backward(grad_output) * 1e300

    app = LinearLayerTrainer(Exploding)
    app.train(5)
    assert app.state.error.startswith("the loss is not finite")
    assert app.figure.axes[0].get_title() == "the loss is not finite: no boundary"
