"""Exercise 02 (Value backward): more slips a learner makes, each named on the card.

The learner's namespace is the solution notebook's Value class and rules with one rule
replaced by a wrong one (or the backprop cell edited); the check of that part must name the
slip, and the whole-class check must send the learner to that part. The first mistakes are
in test_exercises.py.
"""

from __future__ import annotations

import math

import pytest
from exercise_helpers import cell, edited, solution

import bpkit as bp
from bpkit.grading import check

EXERCISE = "02_value_backward"
CELLS = ("value-class", "answer-add", "answer-mul", "answer-pow", "answer-exp", "answer-tanh",
         "answer-backprop")
POINTS = {"add": 1, "mul": 2, "pow": 2, "exp": 1, "tanh": 2, "backprop": 3}


def _ns(replace: str = "") -> dict:
    """The solution's class and rules, then ``replace`` (a wrong rule) run on top."""
    nb = solution(EXERCISE)
    ns: dict = {"math": math, "bp": bp}
    for cell_id in CELLS:
        exec(cell(nb, cell_id), ns)
    exec(replace, ns)
    return ns


def _backprop(*edits: tuple[str, str]) -> str:
    return edited(cell(solution(EXERCISE), "answer-backprop"), edits)


SEED = ("    root.grad = 1.0\n", "    root.grad = 1.0\n    root._backward()\n")
CALL = ("        v._backward()", "        v._backward")


def test_the_solution_still_scores_thirteen():
    assert check(EXERCISE, namespace=_ns()).score == 13


@pytest.mark.parametrize(
    ("part", "wrong", "words"),
    [
        ("pow", "def pow_backward(a, k, out):\n    a.grad += k * a.data ** k - 1 * out.grad\n",
         "** binds tighter than -"),
        ("pow", "def pow_backward(a, k, out):\n"
                "    a.grad += k * out.data ** (k - 1) * out.grad\n",
         "used out.data = a^k where the input belongs"),
        ("exp", "def exp_backward(a, out):\n    a.grad += math.exp(out.data) * out.grad\n",
         "applied exp a second time"),
        ("exp", "def exp_backward(a, out):\n    a.grad += out.data * a.grad\n",
         "used a.grad (the gradient collected so far) where out.grad"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += 1 - out.data**2 * out.grad\n",
         "parentheses missing"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += (1 - out.data)**2 * out.grad\n",
         "(1 - t)² is not 1 - t²"),
        ("tanh", "def tanh_backward(a, out):\n"
                 "    a.grad += (1 - math.tanh(out.data)**2) * out.grad\n",
         "applied tanh a second time"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b.data * out.data\n"
                "    b.grad += a.data * out.data\n",
         "multiplied by out.data (the output's value) where out.grad"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b.grad * out.grad\n"
                "    b.grad += a.grad * out.grad\n",
         "used the other operand's .grad where its value belongs"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b * out.grad\n"
                "    b.grad += a * out.grad\n",
         "an operand was used where its number belongs"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b.data * out.grad\n"
                "    a.grad += a.data * out.grad\n",
         "both contributions went into a.grad"),
        ("add", "def add_backward(a, b, out):\n    a.grad += out.grad\n    a.grad += out.grad\n",
         "a.grad got out.grad twice and b.grad nothing"),
        ("add", "def add_backward(a, b, out):\n    a.grad += out.data\n    b.grad += out.data\n",
         "multiplied by out.data (the output's value) where out.grad"),
        ("backprop", _backprop(SEED), "the root's rule (L) ran twice"),
        ("backprop", _backprop(CALL), "v._backward without parentheses"),
        ("backprop", _backprop(("    build(root)\n", "")),
         "no node's _backward was even looked up: is the order empty"),
    ],
)
def test_a_wrong_rule_is_named_and_the_whole_class_check_points_to_it(part, wrong, words):
    card = check(EXERCISE, namespace=_ns(wrong))
    by_id = {r.id: r for r in card.results}
    result = by_id[part]
    assert result.status == "failed" and result.points == 0
    assert len(result.why) == 1 and words in result.why[0], result.why
    together = by_id["expressions"]
    assert together.status == "failed"
    assert together.why == [f"these parts fail their own checks (see above): {part}"]
    assert card.score == 13 - POINTS[part] - 2
