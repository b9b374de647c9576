"""Exercise 04 (activations): right answers score 11, every recognised mistake is named.

The checks run in-process on a namespace built from the solution notebook's own cells, with
one layer replaced by a wrong one, and the tests assert the diagnosis the learner reads.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pytest
from exercise_helpers import cell, first_result, namespace, says, solution

import bpkit as bp
from bpkit.grading import check, checks_for, release_notebook
from bpkit.grading.exercises.ex04_activations import WRONG, function

EXERCISE = "04_activations"
ANSWERS = ("answer-relu", "answer-sigmoid", "answer-tanh")
LAYER_OF = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _ns(nb: dict | None = None, replace: str = "") -> dict:
    """The three layers of the solution (or of ``nb``), then ``replace`` run on top."""
    nb = nb or solution(EXERCISE)
    return namespace(*(cell(nb, cell_id) for cell_id in ANSWERS), replace)


_result = partial(first_result, EXERCISE)


def test_solution_scores_eleven_points():
    card = check(EXERCISE, namespace=_ns())
    assert card.score == card.max_score == 11
    assert sum(c.points for c in checks_for(EXERCISE)) == 11


def test_untouched_student_copy_is_not_attempted():
    card = check(EXERCISE, namespace=_ns(release_notebook(solution(EXERCISE))))
    assert card.score == 0
    assert {r.label for r in card.results} == {"not attempted"}


def _layer_class(name: str, forward, backward) -> type:
    """A layer whose forward returns ``forward(x)`` and backward ``backward(x, y, dy)``."""

    class Layer(bp.Module):
        def forward(self, x):
            self._x = x.copy()
            return forward(x)

        def backward(self, grad_output):
            x = self._x
            return backward(x, function(name, x), grad_output)

    return Layer


def _right_backward(name: str):
    derivatives = {"ReLU": lambda x, y: x > 0, "Sigmoid": lambda x, y: y * (1 - y),
                   "Tanh": lambda x, y: 1 - y * y}
    return lambda x, y, dy: dy * derivatives[name](x, y)


CASES = [(part, i) for part, items in WRONG.items() for i in range(len(items))]


@pytest.mark.parametrize(("part", "index"), CASES)
def test_every_recognised_wrong_answer_is_named_by_its_own_words(part, index):
    wrong, meaning = WRONG[part][index]
    name = LAYER_OF[part.split("_")[0]]
    if part.endswith("forward"):
        cls = _layer_class(name, wrong, _right_backward(name))
    else:
        cls = _layer_class(name, lambda x, n=name: function(n, x), wrong)
    ns = _ns()
    ns[name] = cls
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0
    assert result.why[0] == meaning, result.why


def test_wrong_answers_are_told_apart():
    sentences = [meaning for items in WRONG.values() for _, meaning in items]
    assert len(set(sentences)) >= 6
    for part, items in WRONG.items():
        # one sentence per mistake; only two forms of the same mistake share one
        assert len({meaning for _, meaning in items}) >= len(items) - 1, part


RELU_BACKWARD = "return grad_output * (self._x > 0)"
SIGMOID_BACKWARD = "return grad_output * s * (1 - s)"


@pytest.mark.parametrize(
    ("part", "wrong", "diagnosis"),
    [
        ("in_place", RELU_BACKWARD.replace(
            "return grad_output * (self._x > 0)",
            "grad_output[self._x <= 0] = 0\n        return grad_output"),
         "returned grad_output itself after writing into it"),
        ("in_place", RELU_BACKWARD.replace(
            "return grad_output * (self._x > 0)",
            "dx = grad_output\n        dx[self._x <= 0] = 0\n        return dx"),
         "dx = grad_output does not copy"),
        ("in_place", RELU_BACKWARD.replace(
            "return grad_output * (self._x > 0)",
            "grad_output *= self._x > 0\n        return grad_output.copy()"),
         "modified grad_output in place"),
        ("in_place", SIGMOID_BACKWARD.replace(
            "return grad_output * s * (1 - s)",
            "self._out *= 1 - s\n        return grad_output * self._out"),
         "backward changed what forward cached"),
        ("relu_forward", "self._x = x\n        return np.maximum(x, 0)",
         "changed its input x in place"),
        ("relu_backward", RELU_BACKWARD, "forgot to return dx"),
    ],
)
def test_source_level_mistakes_are_named(part, wrong, diagnosis):
    nb = solution(EXERCISE)
    cell_id = "answer-sigmoid" if "s * (1 - s)" in wrong or "self._out" in wrong \
        else "answer-relu"
    source = cell(nb, cell_id)
    if wrong == RELU_BACKWARD:  # the backward that forgot its return
        source = source.replace(RELU_BACKWARD, "dx = grad_output * (self._x > 0)")
    elif part == "relu_forward":  # forward zeroes the caller's array
        source = source.replace(wrong, "x[x < 0] = 0\n        self._x = x\n        return x")
    else:
        original = RELU_BACKWARD if cell_id == "answer-relu" else SIGMOID_BACKWARD
        assert source.count(original) == 1
        source = source.replace(original, wrong)
    ns = _ns(replace=source)
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0
    assert says(result, diagnosis), (result.message, result.why)


def test_in_place_backward_still_gets_the_backward_points():
    # one mistake costs points in one part only: the values returned are right
    source = cell(solution(EXERCISE), "answer-relu").replace(
        RELU_BACKWARD, "grad_output[self._x <= 0] = 0\n        return grad_output")
    card = check(EXERCISE, namespace=_ns(replace=source))
    by_id = {r.id: r for r in card.results}
    assert by_id["relu_backward"].status == "passed"
    assert by_id["in_place"].status == "failed"
    assert card.score == 9


def test_np_max_instead_of_np_maximum_is_explained():
    source = cell(solution(EXERCISE), "answer-relu").replace(
        "return np.maximum(x, 0)", "return np.max(x, 0)")
    result = _result(_ns(replace=source), "relu_forward")
    assert result.status == "failed"
    assert "np.max(x, 0) is a reduction" in result.why[0]


def test_bpkit_layers_and_non_modules_are_refused():
    for impostor in ("ReLU = bp.ReLU", "class ReLU(bp.ReLU):\n    pass"):
        result = _result(_ns(replace=impostor), "relu_backward")
        assert result.status == "failed" and "bpkit's own layer (bp.ReLU)" in result.message
    result = _result(_ns(replace="class Tanh:\n    pass"), "tanh_forward")
    assert "must be a class that subclasses bp.Module" in result.message


def test_an_exception_in_the_learners_code_is_reported_not_raised():
    source = cell(solution(EXERCISE), "answer-tanh").replace(
        "t = self._out", "t = self._output")
    result = _result(_ns(replace=source), "tanh_backward")
    assert result.status == "error" and "AttributeError" in result.message


def test_checks_leave_the_learners_arrays_alone():
    ns = _ns()
    ns["x_mine"] = np.linspace(-2, 2, 5)
    ns["dy_mine"] = np.ones(5)
    layer = ns["Sigmoid"]()
    ns["my_layer"] = layer
    layer(ns["x_mine"])
    before = copy.deepcopy({k: v for k, v in ns.items() if isinstance(v, np.ndarray)})
    cached = layer._out.copy()
    assert check(EXERCISE, namespace=ns).score == 11
    for name, value in before.items():
        np.testing.assert_array_equal(ns[name], value)
    np.testing.assert_array_equal(layer._out, cached)


def test_in_place_part_says_what_a_backward_returning_a_tuple_did():
    source = cell(solution(EXERCISE), "answer-relu").replace(
        RELU_BACKWARD, RELU_BACKWARD + ", None")
    result = _result(_ns(replace=source), "in_place")
    assert result.status == "failed" and result.points == 0
    assert "ReLU.backward returned a tuple, not an array" in result.message


@pytest.mark.parametrize(
    ("cell_id", "old", "new", "part", "diagnosis"),
    [
        ("answer-relu", "return np.maximum(x, 0)",
         "x = np.asarray(x, dtype=np.float64)\n        return np.maximum(x, 0)",
         "relu_forward", "forward converted float32 to float64"),
        ("answer-relu", RELU_BACKWARD,
         "return grad_output * (self._x > 0).astype(np.float64)", "relu_backward",
         "backward converted float32 to float64"),
        ("answer-tanh", "return grad_output * (1 - t**2)",
         "return grad_output * (1 - t**2) / len(grad_output)", "tanh_backward",
         "batch size N (4)"),
    ],
)
def test_a_float32_upcast_and_a_division_by_the_batch_size_are_named(cell_id, old, new, part,
                                                                     diagnosis):
    source = cell(solution(EXERCISE), cell_id)
    assert source.count(old) == 1
    result = _result(_ns(replace=source.replace(old, new)), part)
    assert result.status == "failed" and result.points == 0
    assert says(result, diagnosis), (result.message, result.why)


def test_a_right_backward_of_a_wrong_forward_refers_to_the_forward_check():
    source = cell(solution(EXERCISE), "answer-sigmoid")
    old = "1 / (1 + np.exp(-x))"
    assert source.count(old) == 1
    result = _result(_ns(replace=source.replace(old, "np.tanh(x)")), "sigmoid_backward")
    assert result.status == "failed" and len(result.why) == 1
    assert result.why[0].startswith(
        "Sigmoid.backward is right for the output your forward returns, and that is wrong "
        "(see the `sigmoid_forward` check: that is tanh"), result.why


FORWARD_RELU = "return np.maximum(x, 0)"
SIGMOID_FORWARD = "self._out = 1 / (1 + np.exp(-x))\n        return self._out"
TANH_FORWARD = "self._out = np.tanh(x)\n        return self._out"
TANH_BACKWARD = "return grad_output * (1 - t**2)"
POINTS = {c.id: c.points for c in checks_for(EXERCISE)}


@pytest.mark.parametrize(
    ("cell_id", "old", "new", "part", "others", "words"),
    [
        ("answer-relu", FORWARD_RELU, "return max(x, 0)", "relu_forward",
         ("relu_backward", "in_place"), "Python's max(x, 0), or an `if x > 0:`"),
        ("answer-relu", RELU_BACKWARD, "return grad_output * self._x", "relu_backward", (),
         "multiplied by the input x instead of ReLU's derivative"),
        ("answer-relu", RELU_BACKWARD, "return grad_output @ (self._x > 0)", "relu_backward",
         ("in_place",), "@ is the matrix product: an activation acts entry by entry"),
        ("answer-relu", RELU_BACKWARD, "return grad_output * np.heaviside(self._x, 1)",
         "relu_backward", (), "the mask is x > 0, not x >= 0"),
        ("answer-sigmoid", SIGMOID_BACKWARD, "return grad_output * s * 1 - s",
         "sigmoid_backward", (), "parentheses missing: grad_output * s * 1 - s"),
        ("answer-sigmoid", SIGMOID_FORWARD, "s = 1 / (1 + np.exp(-x))\n        return s",
         "sigmoid_backward", ("in_place",),
         "forward must keep what backward needs before it returns (self._out = ...)"),
        ("answer-sigmoid", SIGMOID_BACKWARD, "return grad_output @ (s * (1 - s))",
         "sigmoid_backward", ("in_place",), "@ is the matrix product"),
        ("answer-sigmoid", SIGMOID_BACKWARD,
         "return np.multiply(grad_output, s * (1 - s), out=grad_output)", "in_place", (),
         "or out=grad_output wrote into grad_output"),
        ("answer-tanh", TANH_BACKWARD, "return grad_output * (1 - t)**2", "tanh_backward", (),
         "(1 - t)² is not 1 - t²"),
        ("answer-tanh", TANH_BACKWARD, "return grad_output * 1 - t**2", "tanh_backward", (),
         "parentheses missing: grad_output * 1 - t**2"),
        ("answer-tanh", TANH_FORWARD, "return np.tanh(x)", "tanh_backward", ("in_place",),
         "backward read the cache while it was still None"),
        ("answer-tanh", TANH_BACKWARD, "return grad_output * (1 - np.tanh(t)**2)",
         "tanh_backward", (), "applied tanh a second time"),
    ],
)
def test_more_slips_are_named_once_and_the_parts_that_rely_on_them_refer_to_them(
        cell_id, old, new, part, others, words):
    source = cell(solution(EXERCISE), cell_id)
    assert source.count(old) == 1, old
    card = check(EXERCISE, namespace=_ns(replace=source.replace(old, new)))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {part, *others}, {r.id: r.why for r in card.results}
    assert card.score == 11 - sum(POINTS[p] for p in failed)
    result = failed[part]
    assert result.status == "failed" and len(result.why) >= 1
    assert words in result.why[0], result.why
    for other in others:
        assert f"(see the `{part}` check: " in failed[other].why[0], failed[other].why


def test_a_forward_that_writes_into_x_costs_the_forward_part_only():
    source = cell(solution(EXERCISE), "answer-relu").replace(
        "self._x = x\n        return np.maximum(x, 0)",
        "x[x < 0] = 0\n        self._x = x\n        return x")
    card = check(EXERCISE, namespace=_ns(replace=source))
    assert {r.id for r in card.results if not r.passed} == {"relu_forward"}
    assert card.score == 10
