"""Exercise 05 (softmax cross-entropy): right answers score 13, every mistake is named.

The checks run in-process on a namespace built from the solution notebook's own cells, with
one answer replaced by a wrong one, and the tests assert the diagnosis the learner reads.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pytest
from exercise_helpers import assert_named, cell, first_result, namespace, says, solution

import bpkit as bp
from bpkit.grading import check, checks_for, release_notebook
from bpkit.grading.exercises.ex05_softmax_cross_entropy import WRONG

EXERCISE = "05_softmax_cross_entropy"
ANSWERS = ("answer-softmax", "answer-loss")


def _ns(nb: dict | None = None, replace: str = "") -> dict:
    """The solution's softmax and loss class (or those of ``nb``), then ``replace``."""
    nb = nb or solution(EXERCISE)
    return namespace(*(cell(nb, cell_id) for cell_id in ANSWERS), replace)


_result = partial(first_result, EXERCISE)


def test_solution_scores_thirteen_points():
    card = check(EXERCISE, namespace=_ns())
    assert card.score == card.max_score == 13
    assert sum(c.points for c in checks_for(EXERCISE)) == 13


def test_untouched_student_copy_is_not_attempted():
    card = check(EXERCISE, namespace=_ns(release_notebook(solution(EXERCISE))))
    assert card.score == 0
    assert {r.label for r in card.results} == {"not attempted"}


def _loss_class(forward=None, backward=None) -> type:
    """A loss whose forward returns ``forward(z, labels)`` and backward ``backward(z, labels)``;
    the missing one is right (bpkit's)."""

    class Loss:
        def __call__(self, logits, labels):
            return self.forward(logits, labels)

        def forward(self, logits, labels):
            self._z, self._labels = logits.copy(), labels.copy()
            if forward is None:
                return bp.CrossEntropyLoss()(logits, labels)
            return forward(logits, labels)

        def backward(self):
            if backward is None:
                ref = bp.CrossEntropyLoss()
                ref(self._z, self._labels)
                return ref.backward()
            return backward(self._z, self._labels)

    return Loss


CASES = [(part, i) for part, items in WRONG.items() for i in range(len(items))]


@pytest.mark.parametrize(("part", "index"), CASES)
def test_every_recognised_wrong_answer_is_named_by_its_own_words(part, index):
    wrong, meaning = WRONG[part][index]
    ns = _ns()
    if part.startswith("softmax"):
        ns["softmax"] = wrong
    elif part.startswith("loss"):
        ns["SoftmaxCrossEntropy"] = _loss_class(forward=wrong)
    else:
        ns["SoftmaxCrossEntropy"] = _loss_class(backward=wrong)
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0
    assert result.why[0] == meaning, (result.message, result.why)


def test_wrong_answers_are_told_apart():
    sentences = [meaning for items in WRONG.values() for _, meaning in items]
    assert len(set(sentences)) >= 6
    for part, items in WRONG.items():
        # one sentence per mistake; only two forms of the same mistake share one
        assert len({meaning for _, meaning in items}) >= len(items) - 1, part


FORWARD_RETURN = "return float(-log_p_true.mean())"
COPY = "grad = p.copy()  # the cache stays as forward left it"


@pytest.mark.parametrize(
    ("part", "old", "new", "diagnosis"),
    [
        ("softmax", "e = np.exp(z - z.max(axis=1, keepdims=True))",
         "z -= z.max(axis=1, keepdims=True)\n    e = np.exp(z)",
         "changed the caller's logits z in place"),
        ("loss", "shifted = logits - logits.max(axis=1, keepdims=True)",
         "logits -= logits.max(axis=1, keepdims=True)\n        shifted = logits",
         "changed the caller's logits in place"),
        ("loss", FORWARD_RETURN, "return -log_p_true", "returned one loss per sample"),
        ("loss_stable", FORWARD_RETURN,
         "p = softmax(logits)\n        return float(-np.log(p[rows, labels] + 1e-12).mean())",
         "the loss is capped near 27.63"),
        ("backward", COPY, "grad = p", "backward changed what forward cached"),
        ("backward", "return grad / n", "grad / n", "`return` statement missing"),
        ("softmax", "return e / e.sum(axis=1, keepdims=True)", "return e / e.sum(axis=1)",
         "forgot keepdims=True"),
        ("gradcheck", "return grad / n", "return grad", "batch size"),
        ("gradcheck", "return grad / n", "return -grad / n", "sign"),
    ],
)
def test_source_level_mistakes_are_named(part, old, new, diagnosis):
    nb = solution(EXERCISE)
    cell_id = "answer-softmax" if part == "softmax" else "answer-loss"
    source = cell(nb, cell_id)
    assert source.count(old) == 1
    result = _result(_ns(replace=source.replace(old, new)), part)
    assert result.status == "failed" and result.points == 0
    assert says(result, diagnosis), (result.message, result.why)


def test_a_missing_keepdims_is_explained_as_a_shape_error_on_a_non_square_batch():
    source = cell(solution(EXERCISE), "answer-softmax").replace(
        "z - z.max(axis=1, keepdims=True)", "z - z.max(axis=1)")
    result = _result(_ns(replace=source), "softmax")
    assert "raised a shape error for logits of shape (4, 3)" in result.message
    assert "keepdims=True" in result.why[0]


def test_bpkit_softmax_and_loss_are_refused():
    result = _result(_ns(replace="softmax = bp.softmax"), "softmax")
    assert result.status == "failed" and "bpkit's own (bp.softmax)" in result.message
    for impostor in ("SoftmaxCrossEntropy = bp.CrossEntropyLoss",
                     "class SoftmaxCrossEntropy(bp.CrossEntropyLoss):\n    pass"):
        card = check(EXERCISE, ["loss", "backward", "gradcheck"],
                     namespace=_ns(replace=impostor))
        assert card.score == 0
        assert all("bpkit's own loss" in r.message for r in card.results)


def test_an_exception_in_the_learners_code_is_reported_not_raised():
    source = cell(solution(EXERCISE), "answer-loss").replace(
        "p, labels = self._cache", "p, labels = self.cache")
    result = _result(_ns(replace=source), "backward")
    assert result.status == "error" and "AttributeError" in result.message


def test_checks_leave_the_learners_arrays_alone():
    ns = _ns()
    ns["z_mine"] = np.array([[1000.0, 0.0], [-3.0, 2.0]])
    ns["labels_mine"] = np.array([1, 0])
    loss = ns["SoftmaxCrossEntropy"]()
    loss(ns["z_mine"], ns["labels_mine"])
    ns["my_loss"] = loss
    before = copy.deepcopy({k: v for k, v in ns.items() if isinstance(v, np.ndarray)})
    grad = loss.backward()
    assert check(EXERCISE, namespace=ns).score == 13
    for name, value in before.items():
        np.testing.assert_array_equal(ns[name], value)
    np.testing.assert_array_equal(loss.backward(), grad)


def test_a_summed_loss_in_forward_is_blamed_on_forward_not_on_a_right_backward():
    source = cell(solution(EXERCISE), "answer-loss").replace(
        FORWARD_RETURN, "return float(-log_p_true.sum())")
    card = check(EXERCISE, namespace=_ns(replace=source))
    by_id = {r.id: r for r in card.results}
    assert by_id["backward"].passed
    grad = by_id["gradcheck"]
    assert grad.status == "failed" and len(grad.why) == 1
    assert says(grad, "your forward (the loss value) is wrong (see the `loss` check: summed "
                      "over the batch instead of taking the mean")
    assert "divided" not in grad.why[0]
    assert by_id["loss"].why[0] in grad.why[0]


@pytest.mark.parametrize(
    ("cell_id", "old", "new", "parts"),
    [
        ("answer-softmax", "z - z.max(axis=1, keepdims=True)", "z - z.max(axis=0, keepdims=True)",
         ("softmax",)),
        ("answer-loss", "logits - logits.max(axis=1, keepdims=True)",
         "logits - logits.max(axis=0, keepdims=True)", ("loss", "gradcheck")),
    ],
)
def test_the_maximum_of_each_column_is_named(cell_id, old, new, parts):
    source = cell(solution(EXERCISE), cell_id)
    assert source.count(old) == 1
    for part in parts:
        result = _result(_ns(replace=source.replace(old, new)), part)
        assert result.status == "failed"
        assert says(result, "subtracted the maximum of each column"), (result.message,
                                                                       result.why)


def test_logits_changed_in_place_cost_only_the_loss_check():
    source = cell(solution(EXERCISE), "answer-loss").replace(
        "shifted = logits - logits.max(axis=1, keepdims=True)",
        "logits -= logits.max(axis=1, keepdims=True)\n        shifted = logits")
    card = check(EXERCISE, namespace=_ns(replace=source))
    failed = {r.id for r in card.results if not r.passed}
    # bp.check_loss itself fails on a forward that writes into its input: that check says why
    assert failed == {"loss", "gradcheck"} and card.score == 9, [(r.id, r.why)
                                                                  for r in card.results]
    grad = next(r for r in card.results if r.id == "gradcheck")
    assert says(grad, "your forward writes into its logits (see the `loss` check: input "
                      "modified in place")


def test_a_backward_right_but_for_a_wrong_softmax_refers_to_the_softmax_check():
    source = cell(solution(EXERCISE), "answer-softmax").replace(
        "z - z.max(axis=1, keepdims=True)", "z - z.max(axis=0, keepdims=True)")
    for part in ("backward", "gradcheck"):
        result = _result(_ns(replace=source), part)
        assert result.status == "failed" and len(result.why) == 1
        assert result.why[0].startswith(
            "backward's p comes from your softmax, which is wrong (see the `softmax` check: "
            "subtracted the maximum of each column"), (part, result.why)


SOFTMAX_RETURN = "return e / e.sum(axis=1, keepdims=True)"
CACHE = "self._cache = (softmax(logits), labels)"
SUBTRACT_ONE = "grad[np.arange(n), labels] -= 1"


@pytest.mark.parametrize(
    ("cell_id", "old", "new", "score", "named"),
    [
        # softmax's mistakes: backward and gradcheck refer to the softmax check's sentence
        ("answer-softmax", SOFTMAX_RETURN, "return e", 4,
         {"softmax": "not normalised: e = np.exp(z - m) still has to be divided",
          "softmax_stable": "not normalised: e = np.exp(z - m)",
          "backward": "see the `softmax` check: not normalised",
          "gradcheck": "see the `softmax` check: not normalised"}),
        ("answer-softmax", SOFTMAX_RETURN, "return e / np.exp(z).sum(axis=1, keepdims=True)", 4,
         {"softmax": "by the sum of the unshifted e^z",
          "softmax_stable": "by the sum of the unshifted e^z",
          "backward": "see the `softmax` check: divided the shifted"}),
        ("answer-softmax", "z - z.max(axis=1, keepdims=True)", "z - z.mean(axis=1, keepdims=True)",
         11, {"softmax_stable": "subtracted the row mean"}),
        # the loss: a missing true logit is the loss of the predicted class
        ("answer-loss", "log_p_true = shifted[rows, labels] - log_sum", "log_p_true = -log_sum", 7,
         {"loss": "-log p of the largest logit (the predicted class)",
          "loss_stable": "-log p of the largest logit",
          "gradcheck": "your forward (the loss value) is wrong (see the `loss` check: the loss "
                       "is -log p of the largest logit"}),
        ("answer-loss", "np.exp(shifted).sum(axis=1)", "np.exp(shifted).sum(axis=0)", 4,
         {part: "a statistic over axis 0 (one per class, shape (C,))"
          for part in ("loss", "loss_stable", "backward", "gradcheck")}),
        # backward's mistakes: right formula, wrong p cached, or 1 subtracted in the wrong place;
        # the gradient check (no pattern of its own) names the same mistake
        ("answer-loss", CACHE, "self._cache = (shifted, labels)", 8,
         {"backward": "backward used the shifted logits z - m as p",
          "gradcheck": "backward used the shifted logits z - m as p"}),
        ("answer-loss", CACHE, "self._cache = (logits, labels)", 8,
         {"backward": "backward used the logits as p",
          "gradcheck": "backward used the logits as p"}),
        ("answer-loss", CACHE, "self._cache = (np.exp(shifted), labels)", 8,
         {"backward": "backward used e^(z - m), not divided by its row sum",
          "gradcheck": "backward used e^(z - m)"}),
        ("answer-loss", SUBTRACT_ONE, "grad -= 1", 8,
         {"backward": "subtracted 1 from every entry", "gradcheck": "subtracted 1 from every"}),
        ("answer-loss", SUBTRACT_ONE, "grad[labels] -= 1", 8,
         {"backward": "grad[labels] -= 1 subtracts 1 from whole rows",
          "gradcheck": "grad[labels] -= 1 subtracts 1 from whole rows"}),
        ("answer-loss", SUBTRACT_ONE, "grad[np.arange(n), labels] += 1", 8,
         {"backward": "added 1 at the true class", "gradcheck": "added 1 at the true class"}),
    ],
)
def test_more_wrong_answers_are_named_where_they_are(cell_id, old, new, score, named):
    source = cell(solution(EXERCISE), cell_id)
    assert source.count(old) == 1
    card = check(EXERCISE, namespace=_ns(replace=source.replace(old, new)))
    assert_named(card, score, named)
