"""Exercise 10: the solution scores full marks, and every recognised mistake is named.

Each wrong answer is the solution's ``Dropout`` with one line replaced, as a learner would
write it; the test asserts the sentence the card shows for it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from exercise_helpers import cell, edited, first_result, namespace, says, solution

import bpkit as bp
from bpkit.grading import check, release_notebook
from bpkit.grading.exercises.ex10_dropout import (
    M_RETURNED_MASK,
    WRONG_BACKWARD,
    WRONG_EVAL,
    WRONG_MASK,
    WRONG_TRAIN,
)

EXERCISE = "10_dropout"
KEEP = "keep = self.rng.random(x.shape) >= self.p"
MASK = "self._mask = keep.astype(x.dtype) / (1 - self.p)"
EVAL = "if not self.training or self.p == 0:"
RESET = "self._mask = None\n            return x"
BACK = "return grad_output * self._mask"


def _ns(*edits: tuple[str, str]) -> dict:
    return namespace(edited(cell(solution(EXERCISE), "answer-dropout"), edits))


_result = partial(first_result, EXERCISE)


def test_solution_scores_ten_and_bpkit_dropout_is_refused():
    assert check(EXERCISE, namespace=_ns()).score == 10
    for impostor in ("Dropout = bp.Dropout", "class Dropout(bp.Dropout):\n    pass"):
        ns = _ns()
        exec(impostor, ns)
        card = check(EXERCISE, namespace=ns)
        assert card.score == 0
        assert all("bpkit's own layer (bp.Dropout)" in r.message for r in card.results)


def test_stub_is_not_attempted():
    student = release_notebook(solution(EXERCISE))
    card = check(EXERCISE, namespace=namespace(cell(student, "answer-dropout")))
    assert card.score == 0 and {r.label for r in card.results} == {"not attempted"}


def test_the_solution_draws_the_same_masks_as_bp_dropout():
    ns = _ns()
    x = np.random.default_rng(0).standard_normal((5, 7))
    mine, ref = ns["Dropout"](0.4, rng=3), bp.Dropout(0.4, rng=3)
    for _ in range(3):
        np.testing.assert_array_equal(mine(x), ref(x))
        np.testing.assert_array_equal(mine.backward(x), ref.backward(x))


# Each entry: (check id, edits to the solution, the table entry it must show).
CASES = [
    ("eval", [(EVAL, "if self.p == 0:")], WRONG_EVAL[0][1]),
    ("eval", [(RESET, "self._mask = None\n            return x * (1 - self.p)")],
     WRONG_EVAL[1][1]),
    ("eval", [(RESET, "self._mask = None\n            return x / (1 - self.p)")],
     WRONG_EVAL[2][1]),
    ("eval", [(EVAL, "if self.p == 0:"), ("return x * self._mask",
                                         "return x * self._mask if self.training else x * keep")],
     WRONG_EVAL[3][1]),
    ("train_statistics", [(KEEP, "keep = self.rng.random(x.shape) < self.p")],
     WRONG_TRAIN["kept_p"]),
    ("train_statistics", [(MASK, "self._mask = keep.astype(x.dtype)")], WRONG_TRAIN["no_scale"]),
    ("train_statistics", [(MASK, "self._mask = keep.astype(x.dtype) * (1 - self.p)")],
     WRONG_TRAIN["times_keep"]),
    ("train_statistics", [(MASK, "self._mask = keep.astype(x.dtype) / self.p")],
     WRONG_TRAIN["over_p"]),
    ("train_statistics", [(EVAL, "if self.training or self.p == 0:")], WRONG_TRAIN["identity"]),
    ("train_statistics", [(KEEP, "keep = self.rng.random(x.shape[1:]) >= self.p")],
     WRONG_TRAIN["shared"]),
    ("train_statistics", [(MASK, "self._mask = keep / (1 - self.p)")], WRONG_TRAIN["dtype"]),
    ("seeded_mask", [(KEEP, "keep = self.rng.random(x.shape) < 1 - self.p")],
     WRONG_MASK[0][1]),
    ("seeded_mask", [(KEEP, "keep = self.rng.binomial(1, 1 - self.p, size=x.shape) == 1")],
     WRONG_MASK[0][1]),
    ("seeded_mask", [(KEEP, "keep = self.rng.random(x.shape, dtype=np.float32) >= self.p")],
     WRONG_MASK[1][1]),
    ("seeded_mask", [(KEEP, "keep = np.random.default_rng(0).random(x.shape) >= self.p")],
     "the same mask on every call"),
    ("seeded_mask", [(KEEP, "keep = np.random.random(x.shape) >= self.p")],
     "does not come from the layer's generator"),
    ("backward", [(BACK, "return grad_output * (self._mask != 0)")], WRONG_BACKWARD[0][1]),
    ("backward", [(BACK, "return grad_output")], WRONG_BACKWARD[1][1]),
    ("backward", [(MASK, MASK + "\n        self._y = x * self._mask"),
                  (BACK, "return grad_output * self._y")], WRONG_BACKWARD[2][1]),
    ("backward", [(BACK, "return grad_output * (self.rng.random(grad_output.shape) >= self.p)"
                         " / (1 - self.p)")], WRONG_BACKWARD[3][1]),
    ("backward", [(BACK, "return grad_output * (self._mask != 0) * (1 - self.p)")],
     WRONG_BACKWARD[4][1]),
    ("backward", [(RESET, "return x")], "used the mask of an earlier training pass"),
    ("backward", [(BACK, "grad_output *= self._mask\n        return grad_output")],
     "backward changed grad_output in place"),
    ("train_statistics", [(MASK + "\n        return x * self._mask",
                           MASK + "\n        x *= self._mask\n        return x")],
     "input modified in place"),
    ("train_statistics", [(KEEP, "keep = self.rng.random((len(x), 1)) >= self.p")],
     WRONG_TRAIN["per_example"]),
    ("train_statistics", [("return x * self._mask", "return x / (1 - self.p)")],
     WRONG_TRAIN["no_drop"]),
    ("train_statistics", [(MASK, "self._mask = keep.astype(x.dtype) / 1 - self.p")],
     WRONG_TRAIN["precedence"]),
    ("seeded_mask", [("return x * self._mask", "return self._mask")], M_RETURNED_MASK),
    ("backward", [(BACK, "return grad_output * self._mask / (1 - self.p)")],
     WRONG_BACKWARD[5][1]),
    ("backward", [(BACK, "return grad_output * (self._mask != 0) / self.p")],
     WRONG_BACKWARD[6][1]),
]


@pytest.mark.parametrize(("part", "edits", "diagnosis"), CASES)
def test_mistakes_are_named(part, edits, diagnosis):
    result = _result(_ns(*edits), part)
    assert result.status == "failed" and result.points == 0
    assert says(result, diagnosis), (result.message, result.why)


def test_every_table_entry_is_exercised_and_distinct():
    shown = {d for _, _, d in CASES}
    for meaning in [m for _, m in WRONG_EVAL + WRONG_MASK + WRONG_BACKWARD]:
        assert meaning in shown
    assert set(WRONG_TRAIN.values()) <= shown
    meanings = ([m for _, m in WRONG_EVAL + WRONG_MASK + WRONG_BACKWARD]
                + list(WRONG_TRAIN.values()))
    assert len(set(meanings)) == len(meanings) >= 6


#: (edits, the check whose cause the later checks name, the checks that fail, the score).
DEPENDENT = {
    "forward unscaled, backward scaled": (
        [("return x * self._mask", "return x * keep")], "train_statistics",
        {"train_statistics", "seeded_mask", "backward", "gradcheck"}, 2),
    "forward drops nothing": (
        [("return x * self._mask", "return x / (1 - self.p)")], "train_statistics",
        {"train_statistics", "seeded_mask", "backward", "gradcheck"}, 2),
    "forward returns the mask": (
        [("return x * self._mask", "return self._mask")], "seeded_mask",
        {"seeded_mask", "backward", "gradcheck"}, 4),
    "precedence": (
        [(MASK, "self._mask = keep.astype(x.dtype) / 1 - self.p")], "train_statistics",
        {"train_statistics", "seeded_mask", "backward"}, 3),
}


@pytest.mark.parametrize("key", list(DEPENDENT))
def test_checks_that_rely_on_a_wrong_forward_say_so_first(key):
    edits, owner, failing, score = DEPENDENT[key]
    card = check(EXERCISE, namespace=_ns(*edits))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == failing and card.score == score, {r.id: r.why for r in card.results}
    cause = failed[owner].why[0]
    for part in failing - {owner}:
        why = failed[part].why
        assert len(why) == 1 and why[0].startswith(
            f"your training forward is wrong (see the `{owner}` check: {cause})"), why
        assert "re-derive" not in why[0] and "counted twice" not in why[0]


@pytest.mark.parametrize(("edits", "score"), [
    ([(KEEP, "keep = self.rng.random(x.shape) < 1 - self.p")], 8),
    ([(KEEP, "keep = self.rng.random(x.shape) >= 1 - self.p")], 6),
    ([(KEEP, "keep = self.rng.random((len(x), 1)) >= self.p")], 5),  # gradcheck's 3-D x raises
])
def test_backward_is_judged_with_the_learners_own_mask(edits, score):
    card = check(EXERCISE, namespace=_ns(*edits))
    passed = {r.id for r in card.results if r.passed}
    assert {"eval", "backward"} <= passed and card.score == score


@pytest.mark.parametrize("entry", [5, 6, 0])
def test_the_gradient_check_refers_to_a_wrong_backward(entry):
    edits = {5: (BACK, "return grad_output * self._mask / (1 - self.p)"),
             6: (BACK, "return grad_output * (self._mask != 0) / self.p"),
             0: (BACK, "return grad_output * (self._mask != 0)")}[entry]
    card = check(EXERCISE, namespace=_ns(edits))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {"backward", "gradcheck"} and card.score == 6
    assert failed["gradcheck"].why == [
        f"your backward is wrong (see the `backward` check: {WRONG_BACKWARD[entry][1]}); this "
        "check relies on it, so fix that first, then this check will be meaningful"]


def test_eval_drawing_random_numbers_is_named():
    ns = _ns((RESET, "self._mask = None\n            self.rng.random(x.shape)\n"
                     "            return x"))
    result = _result(ns, "eval")
    assert "drew random numbers in eval mode" in result.message


def test_a_broken_backward_fails_the_gradient_check():
    result = _result(_ns((BACK, "return grad_output * self._mask * 2")), "gradcheck")
    assert result.status == "failed" and "Dropout(0.5)" in result.message


def test_a_missing_generator_is_explained():
    ns = _ns(("self.rng = np.random.default_rng(rng)", "self.seed = rng"))
    assert "has no Generator `rng`" in _result(ns, "eval").message


def test_a_training_forward_returning_none_is_told_so_not_blamed_on_the_generator():
    ns = _ns(("return x * self._mask", "self.out = x * self._mask"))
    for part in ("seeded_mask", "gradcheck"):
        result = _result(ns, part)
        assert result.status == "failed" and says(result, "nothing was returned"), result
        assert not says(result, "global state") and not says(result, "_FixedMask"), result
