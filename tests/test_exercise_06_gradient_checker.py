"""Exercise 06: the solution scores full marks, and every recognised mistake is named.

The checks run in-process on a namespace built from the solution notebook's own cells, with
one answer replaced by a wrong one (from the check module's tables, or written out as a
learner would), and the test asserts the diagnosis the learner reads on the card.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from exercise_helpers import assert_named, cell, edited, first_result, namespace, solution

from bpkit.grading import check, release_notebook
from bpkit.grading.exercises.ex06_gradient_checker import (
    PLANTED,
    WRONG_GRADIENT_ERRORS,
    WRONG_NUMERICAL,
    WRONG_REL_ERROR,
    WRONG_RESTORE,
    PlantedTanhLayer,
    reference_gradient_errors,
)

EXERCISE = "06_gradient_checker"
ANSWERS = ("answer-rel-error", "answer-numerical-gradient", "answer-gradient-errors")


def _ns() -> dict:
    """The solution's three functions and its answer to part 4."""
    nb = solution(EXERCISE)
    ns = namespace(*(cell(nb, cell_id) for cell_id in ANSWERS))
    ns["suspect_tensor"] = "bias"
    return ns


_result = partial(first_result, EXERCISE)


def test_solution_scores_twelve():
    card = check(EXERCISE, namespace=_ns())
    assert card.score == card.max_score == 12 and card.passed


def test_stubs_are_not_attempted():
    student = release_notebook(solution(EXERCISE))
    card = check(EXERCISE, namespace=namespace(*(cell(student, c) for c in ANSWERS)))
    assert card.score == 0
    assert {r.label for r in card.results} == {"not attempted"}


def test_the_suspect_layer_of_the_notebook_has_a_broken_bias_gradient():
    ns = _ns()
    exec(cell(solution(EXERCISE), "suspect-layer"), ns)
    rng = np.random.default_rng(3)
    errors = reference_gradient_errors(ns["SuspectLayer"](3, 2, rng=0),
                                       rng.standard_normal((6, 3)), rng.standard_normal((6, 2)))
    assert errors["bias"] > 1e-2 and errors["input"] < 1e-7 and errors["weight"] < 1e-7


def test_planted_layers_break_exactly_the_tensor_they_say():
    for i, planted in enumerate(PLANTED):
        layer = PlantedTanhLayer(planted.in_features, planted.out_features, rng=i,
                                 corrupt=planted.corrupt)
        rng = np.random.default_rng(i)
        x = rng.standard_normal((planted.n, planted.in_features))
        dy = rng.standard_normal((planted.n, planted.out_features))
        errors = reference_gradient_errors(layer, x, dy)
        assert {k for k, v in errors.items() if v > 1e-2} == ({planted.broken} - {""})
        assert all(v < 1e-7 for k, v in errors.items() if k != planted.broken)


# -- every recognised wrong answer gets its own sentence ------------------------------------------


# check id -> (its table of wrong answers, the learner's function they replace)
TABLES = {
    "rel_error": (WRONG_REL_ERROR, "rel_error"),
    "numerical_gradient": (WRONG_NUMERICAL, "numerical_gradient"),
    "restores_x": (WRONG_RESTORE, "numerical_gradient"),
    "gradient_errors": (WRONG_GRADIENT_ERRORS, "gradient_errors"),
}


@pytest.mark.parametrize(
    ("part", "index"),
    [(part, i) for part, (table, _) in TABLES.items() for i in range(len(table))])
def test_every_recognised_wrong_answer_is_named(part, index):
    table, function = TABLES[part]
    wrong, meaning = table[index]
    ns = _ns()
    ns[function] = wrong
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0
    assert result.why == [meaning]


def test_every_diagnosis_is_a_distinct_sentence():
    tables = [table for table, _ in TABLES.values()]
    for table in tables:
        meanings = [m for _, m in table]
        assert len(set(meanings)) == len(meanings)
    assert sum(len(t) for t in tables) >= 6


# -- mistakes written as a learner writes them -----------------------------------------------------

REL = "return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))"


def _replace(ns: dict, cell_id: str, old: str, new: str) -> dict:
    exec(edited(cell(solution(EXERCISE), cell_id), [(old, new)]), ns)
    return ns


def test_rel_error_without_floor_is_explained_as_zero_over_zero():
    ns = _replace(_ns(), "answer-rel-error", REL,
                  "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))")
    result = _result(ns, "rel_error")
    assert result.status == "failed" and "divide 0 by 0 (NaN)" in result.why[0]


def test_rel_error_that_modifies_its_arguments_is_caught():
    ns = _ns()
    exec("def rel_error(a, b):\n    a -= b\n    return float(np.max(np.abs(a)))\n", ns)
    result = _result(ns, "rel_error")
    assert result.status == "failed" and "changed its arguments in place" in result.message


def test_calling_f_with_x_is_explained():
    ns = _replace(_ns(), "answer-numerical-gradient", "f_plus = f()", "f_plus = f(x)")
    result = _result(ns, "numerical_gradient")
    assert result.status == "failed" and "call f(), not f(x)" in result.why[0]


def test_forward_difference_written_by_hand_is_named():
    ns = _replace(_ns(), "answer-numerical-gradient",
                  "grad[i] = (f_plus - f_minus) / (2 * h)",
                  "x[i] = old\n        grad[i] = (f_plus - f()) / h")
    result = _result(ns, "numerical_gradient")
    assert "forward difference" in result.why[0]


def test_numerical_gradient_returning_nothing_is_explained():
    ns = _replace(_ns(), "answer-numerical-gradient", "return grad", "pass")
    result = _result(ns, "numerical_gradient")
    assert result.status == "failed" and "is a `return` statement missing?" in result.why[0]


def test_gradient_errors_with_wrong_keys_or_a_modified_input_are_explained():
    ns = _replace(_ns(), "answer-gradient-errors", 'errors = {"input":', 'errors = {"x":')
    result = _result(ns, "gradient_errors")
    assert "wrong keys" in result.message and '"input" for the input' in result.why[0]
    ns = _replace(_ns(), "answer-gradient-errors", "x = x.copy()", "x += 0.0")
    exec("def numerical_gradient(f, x, h=1e-5):\n    x += h\n    return np.zeros_like(x)\n", ns)
    result = _result(ns, "gradient_errors")
    assert "changed the caller's x" in result.message


def test_a_checker_that_always_says_fine_misses_the_planted_bugs():
    ns = _ns()
    exec("def gradient_errors(layer, x, grad_output):\n"
         "    return {'input': 0.0, 'weight': 0.0, 'bias': 0.0}\n", ns)
    assert _result(ns, "gradient_errors").passed  # a correct layer: nothing to find
    result = _result(ns, "planted_bugs")
    assert result.status == "failed" and "sign flipped" in result.message


def test_suspect_answers():
    ns = _ns()
    ns["suspect_tensor"] = "weight"
    result = _result(ns, "suspect")
    assert result.status == "failed" and "is right" in result.message
    ns["suspect_tensor"] = "b"
    assert "one of the tensors' names" in _result(ns, "suspect").message


def test_rel_error_adding_the_floor_instead_of_taking_the_maximum_is_named():
    ns = _replace(_ns(), "answer-rel-error", REL,
                  "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b) + 1e-8)))")
    result = _result(ns, "rel_error")
    assert result.status == "failed"
    assert result.why[0].startswith("added 1e-8 to the denominator")



@pytest.mark.parametrize(
    ("cell_id", "old", "new", "helper", "parts"),
    [
        # estimates on a copy: every numerical gradient is 0, every relative error 1
        ("answer-numerical-gradient", "grad = np.zeros_like(x)",
         "grad = np.zeros_like(x)\n    x = x.copy()", "numerical_gradient",
         ("gradient_errors", "planted_bugs")),
        ("answer-numerical-gradient", "return grad", "pass", "numerical_gradient",
         ("gradient_errors", "planted_bugs")),
        ("answer-rel-error", REL, "return float(np.max(np.abs(a - b)) * 0)", "rel_error",
         ("planted_bugs",)),
    ],
)
def test_gradient_errors_wrong_through_a_broken_helper_blames_the_helper(
        cell_id, old, new, helper, parts):
    ns = _replace(_ns(), cell_id, old, new)
    mine = ns[helper]
    for part in parts:
        result = _result(ns, part)
        assert result.status == "failed"
        assert result.why == [result.why[0]] and f"it calls your {helper}" in result.why[0]
    assert ns[helper] is mine  # tried in a copy of the namespace, never swapped in it


def test_a_float32_gradient_array_is_named_as_float32_not_as_a_row_nudge():
    nb = solution(EXERCISE)
    source = cell(nb, "answer-numerical-gradient").replace(
        "grad = np.zeros_like(x)", "grad = np.zeros_like(x, dtype=np.float32)")
    ns = namespace(cell(nb, "answer-rel-error"), source)
    result = _result(ns, "numerical_gradient")
    assert result.status == "failed"
    assert result.why[0].startswith("the gradient array is float32"), result.why


NG = "answer-numerical-gradient"
GE = "answer-gradient-errors"
CENTRAL = "grad[i] = (f_plus - f_minus) / (2 * h)"
BLAMES_NG = "it calls your numerical_gradient, which is wrong"


@pytest.mark.parametrize(
    ("cell_id", "old", "new", "score", "named"),
    [
        ("answer-rel-error", REL, "return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) "
         "+ np.linalg.norm(b), 1e-8))", 8,
         {"rel_error": "used vector norms", "planted_bugs": "it calls your rel_error"}),
        ("answer-rel-error", REL, "return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) "
         "+ np.abs(b)), 1e-8))", 8,
         {"rel_error": "divided the largest difference by the largest |a| + |b|"}),
        (NG, CENTRAL, "grad[i] = (f_plus - f_minus) / 2 * h", 4,
         {"numerical_gradient": "/ 2 * h multiplies by h", "gradient_errors": BLAMES_NG,
          "planted_bugs": BLAMES_NG}),
        (NG, CENTRAL + "\n    return grad", CENTRAL + "\n        return grad", 4,
         {"numerical_gradient": "`return grad` is inside the loop"}),
        (NG, "f_plus = f()", "f_plus = f", 3,
         {"numerical_gradient": "f_plus = f stores the function, not its value",
          "restores_x": "f_plus = f stores the function",
          "gradient_errors": BLAMES_NG, "planted_bugs": BLAMES_NG}),
        (NG, "grad = np.zeros_like(x)", "grad = x", 3,
         {"numerical_gradient": "grad is x itself (grad = x)",
          "restores_x": "grad is x itself", "gradient_errors": BLAMES_NG}),
        (NG, "h=1e-5", "h=1e-3", 7,
         {"numerical_gradient": "your default is h = 0.001: the contract's default is h = 1e-5",
          "planted_bugs": BLAMES_NG}),
        (GE, "    layer(x)\n    analytic", "    analytic", 7,
         {"gradient_errors": "backward uses what the last forward pass cached",
          "planted_bugs": "run layer(x) first"}),
        (GE, "numerical_gradient(f, x))", "numerical_gradient(f, x.copy()))", 7,
         {"gradient_errors": "the input's numerical gradient is 0: you nudged a copy of x",
          "planted_bugs": "the input's numerical gradient is 0"}),
        (GE, "numerical_gradient(f, p.data)", "numerical_gradient(f, p)", 7,
         {"gradient_errors": "passed the Parameter p to numerical_gradient",
          "planted_bugs": "pass its array, numerical_gradient(f, p.data)"}),
        # errors of 1 for every parameter fit several mistakes on one layer: the card names
        # the one that fits every layer (not the missing zero_grad on the planted ones)
        (GE, "numerical_gradient(f, p.data)", "numerical_gradient(f, p.grad)", 7,
         {"gradient_errors": "numerical gradient of every parameter is 0",
          "planted_bugs": "nor p.grad"}),
        (GE, "    layer.zero_grad()\n    layer(x)\n    analytic = {\"input\": "
         "layer.backward(grad_output)}\n",
         "    layer(x)\n    analytic = {\"input\": layer.backward(grad_output)}\n"
         "    layer.zero_grad()\n", 7,
         {"gradient_errors": "zeroed the gradients after backward",
          "planted_bugs": "zeroed the gradients after backward"}),
    ],
)
def test_more_wrong_answers_are_named_where_they_are(cell_id, old, new, score, named):
    card = check(EXERCISE, namespace=_replace(_ns(), cell_id, old, new))
    assert_named(card, score, named)
