"""Exercise 03 (a Linear layer): one slip in backward costs the part it is in.

The learner's class comes from the solution notebook's answer cell with one line replaced
(see tests/exercise_helpers.py); the rest of exercise 03's cases are in test_exercises.py.
"""

from __future__ import annotations

from functools import partial

import pytest
from exercise_helpers import cell, edited, first_result, namespace, solution

from bpkit.grading import check

EXERCISE = "03_linear_layer"
WEIGHT = "self.weight.grad += grad_output.T @ self._x"
BIAS = "self.bias.grad += grad_output.sum(axis=0)"
DX = "return grad_output @ self.weight.data"

_result = partial(first_result, EXERCISE)


def _ns(old: str = "", new: str = "") -> dict:
    source = cell(solution(EXERCISE), "answer-linear")
    return namespace(edited(source, [(old, new)]) if old else source)


@pytest.mark.parametrize(
    ("old", "new", "wrong_part", "score", "cause"),
    [
        (WEIGHT, "self.weight.grad += self._x.T @ grad_output", "weight_grad", 5,
         "transposed"),
        (BIAS, "self.bias.grad += grad_output.sum(axis=1)", "bias_grad", 6,
         "the bias gradient was summed over axis=1 (the outputs): it came out of shape "
         "(N,) = (4,), but bias.grad has shape (out,) = (3,); sum over the batch, "
         "grad_output.sum(axis=0)"),
        (DX, "grad_output *= 1.5\n        return grad_output @ self.weight.data",
         "backward_input", 5, "grad_output belongs to the layer above"),
    ],
)
def test_one_slip_in_backward_costs_its_own_part_and_the_gradient_check(
        old, new, wrong_part, score, cause):
    card = check(EXERCISE, namespace=_ns(old, new))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {wrong_part, "gradcheck"}, {r.id: r.why for r in card.results}
    assert card.score == score
    assert any(cause in line for line in [failed[wrong_part].message, *failed[wrong_part].why])
    grad = failed["gradcheck"]
    assert len(grad.why) == 1 and f"(see the `{wrong_part}` check: " in grad.why[0]


def test_a_forward_that_writes_into_x_is_reported_once_and_referred_to_later():
    card = check(EXERCISE, namespace=_ns(
        "return x @ self.weight.data.T + self.bias.data",
        "x -= 1.0\n        return (x + 1.0) @ self.weight.data.T + self.bias.data"))
    by_id = {r.id: r for r in card.results}
    assert "input modified in place" in by_id["forward"].why[0]
    assert by_id["backward_input"].passed and by_id["bias_grad"].passed
    for part in ("weight_grad", "gradcheck"):
        assert "(see the `forward` check: input modified in place" in by_id[part].why[0], part


def test_the_solution_still_scores_nine():
    assert check(EXERCISE, namespace=_ns()).score == 9


FORWARD = "return x @ self.weight.data.T + self.bias.data"
REFERS = "(see the `{}` check: "


@pytest.mark.parametrize(
    ("old", "new", "wrong_part", "others", "score", "words"),
    [
        (FORWARD, "return x @ self.weight.T + self.bias", "forward",
         {"backward_input", "weight_grad", "bias_grad", "gradcheck"}, 0,
         "compute with self.weight.data and self.bias.data"),
        (FORWARD, "return self.weight.data @ x.T + self.bias.data", "forward",
         {"backward_input", "weight_grad", "bias_grad", "gradcheck"}, 0,
         "W @ x.T has shape (out, N) = (3, 4), one column per example"),
        (FORWARD, "return x * self.weight.data.T + self.bias.data", "forward",
         {"backward_input", "weight_grad", "bias_grad", "gradcheck"}, 0,
         "* multiplies entry by entry: each output is a weighted sum"),
        (DX, "return grad_output @ self.weight.grad", "backward_input", {"gradcheck"}, 5,
         "dx was computed from self.weight.grad"),
        (DX, "return self.weight.data @ grad_output.T", "backward_input", {"gradcheck"}, 5,
         "dx came out transposed, (in, N)"),
        (DX, "return grad_output @ self.weight.data.T", "backward_input", {"gradcheck"}, 5,
         "dx computed with W.T"),
        (DX, "self.weight.data -= 0.1 * self.weight.grad\n        " + DX, "backward_input",
         {"gradcheck"}, 5, "the optimizer's step (w -= lr * grad) changes the weights"),
        (WEIGHT, "self.weight.grad += grad_output @ self._x.T", "weight_grad", {"gradcheck"}, 5,
         "a product came out of shape (N, N) = (4, 4)"),
        (WEIGHT, "self.weight.grad += grad_output.T * self._x", "weight_grad", {"gradcheck"}, 5,
         "* multiplies entry by entry: the weight gradient sums over the batch"),
        ("self._x = x\n        " + FORWARD,
         "self._x = x @ self.weight.data.T + self.bias.data\n        return self._x",
         "weight_grad", {"gradcheck"}, 5, "computed from the layer's output y"),
        (BIAS, "self.bias.grad += grad_output.mean(axis=0)", "bias_grad", {"gradcheck"}, 6,
         "divided by N = 4 inside the layer"),
        (BIAS, "self.bias.grad += grad_output.sum()", "bias_grad", {"gradcheck"}, 6,
         "summed over every axis: grad_output.sum() is one number"),
        (BIAS, "self.bias.grad += grad_output.sum(axis=0, keepdims=True)", "bias_grad",
         {"gradcheck"}, 6, "the bias gradient kept the batch axis (keepdims=True)"),
    ],
)
def test_more_slips_are_named_once_and_the_other_parts_refer_to_them(
        old, new, wrong_part, others, score, words):
    card = check(EXERCISE, namespace=_ns(old, new))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {wrong_part, *others}, {r.id: r.why for r in card.results}
    assert card.score == score
    result = failed[wrong_part]
    assert result.status == "failed" and len(result.why) == 1
    assert words in result.why[0], result.why
    for part in others:
        assert failed[part].status == "failed", (part, failed[part].message)
        assert failed[part].why[0].startswith("your "), (part, failed[part].why)
        assert REFERS.format(wrong_part) in failed[part].why[0], (part, failed[part].why)


def test_a_forward_shape_error_is_not_called_a_transposed_weight_gradient():
    result = _result(_ns(FORWARD, "return x * self.weight.data.T + self.bias.data"), "forward")
    assert not any("weight gradient" in line for line in result.why), result.why
