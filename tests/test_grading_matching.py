"""The matcher of the exercise checks: a reference, a table of named wrong answers, tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from bpkit.grading.feedback import CheckFailed, Feedback
from bpkit.grading.matching import (
    blame,
    earlier,
    evaluated,
    first_cause,
    match,
    named,
    same,
)

X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])


def test_a_right_answer_passes_and_the_table_is_not_even_computed():
    def table():
        raise AssertionError("the wrong answers were computed for a right answer")
        yield  # pragma: no cover

    assert match(X.copy(), X, table()).passed


def test_a_wrong_answer_in_the_table_is_named_instead_of_the_general_findings():
    wrong = [(X + 1, "added one"), (-X, "the sign of the chain rule's second factor")]
    fb = match(-X, X, wrong, name="forward(x)")
    assert not fb.passed and fb.message == "forward(x) has wrong values"
    assert fb.why == ["the sign of the chain rule's second factor"]  # not also "sign flipped"
    assert [f.kind for f in fb.findings] == ["mistake"]
    assert "-0.5" in fb.got  # what came is still shown


def test_an_answer_not_in_the_table_keeps_the_diagnosis_engines_findings():
    fb = match(X / 4, X, [(X + 1, "added one")], batch_size=4)
    assert [f.kind for f in fb.findings] == ["factor"]
    assert "one over the batch size N (4)" in fb.why[0]


def test_the_first_matching_entry_wins_and_none_entries_are_skipped():
    wrong = [(None, "not computable here"), (X * 2, "first"), (X * 2, "second")]
    assert named(X * 2, wrong) == "first"
    assert named(X * 3, wrong) is None


def test_wrong_answers_have_their_own_tolerances_and_can_be_matched_on_other_evidence():
    near = X * (1 + 1e-5)
    assert named(near, [(X, "x")], rtol=1e-6) is None
    assert named(near, [(X, "x")], rtol=1e-4) == "x"
    runs = [X * 2, X * 3]  # e.g. the learner's results on two cases
    fb = match(X * 2, X, [([X * 2, X * 4], "wrong on the second"), (runs, "both")],
               evidence=runs)
    assert fb.why == ["both"]
    fb = match(near, X, [(X, "x")], rtol=1e-7, wrong_rtol=1e-4)
    assert fb.why == ["x"]


@pytest.mark.parametrize(
    "a, b, equal",
    [
        (1.0, 1.0 + 1e-9, True),
        (1.0, 1.1, False),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan]), True),  # NaN where the formula's is
        (X, X.T, False),  # a shape is never "close" to another
        ((1.0, 2.0), (1.0, 2.0), True),
        ((1.0, 2.0), [1.0, 2.0], True),
        ((1.0, 2.0), (1.0,), False),
        ({"a": 1.0, "b": X}, {"b": X, "a": 1.0}, True),
        ({"a": 1.0}, {"a": 1.0, "b": 2.0}, False),
        (None, None, True),
        (None, 0.0, False),
        ("text", 1.0, False),
        (X, (X,), False),
    ],
)
def test_same_compares_numbers_arrays_and_their_containers(a, b, equal):
    assert same(a, b) is equal


def test_same_counts_entries_below_tiny_as_equal():
    errors, right = {"input": 3e-9, "weight": 0.4}, {"input": 2e-10, "weight": 0.4}
    assert not same(errors, right, rtol=1e-3, atol=0.0)
    assert same(errors, right, rtol=1e-3, atol=0.0, tiny=1e-6)
    assert not same({"input": 3e-3, "weight": 0.4}, right, rtol=1e-3, atol=0.0, tiny=1e-6)


def test_evaluated_computes_a_table_lazily_and_skips_what_does_not_apply():
    calls = []

    def first(x):
        calls.append("first")
        return x * 2

    def broken(x):
        raise IndexError("this formula needs a second axis")

    table = [(first, "doubled"), (None, "recognised elsewhere"), (broken, "broken"),
             (lambda x: np.log(x - x), "log of zero")]
    values = evaluated(table, X)
    assert calls == []  # nothing runs before it is needed
    assert named(X * 2, values) == "doubled" and calls == ["first"]
    assert [m for _, m in evaluated(table, X)] == ["doubled", "broken", "log of zero"]
    assert dict((m, v) for v, m in evaluated(table, X))["broken"] is None


def test_blame_puts_one_recognised_mistake_on_a_failure_a_check_wrote_itself():
    fb = blame(Feedback.fail("state['step'] is 0", why=["counts the steps"]), "off by one")
    assert fb.why == ["off by one"] and fb.findings[0].message == "off by one"


def test_earlier_names_the_cause_of_a_dependent_failure_once():
    cause = Feedback.fail("the loss is 4 times too large", why=["summed instead of averaged"])
    fb = earlier(cause, "loss", "your forward is wrong", "the gradient check failed")
    assert not fb.passed and fb.message == "the gradient check failed"
    assert fb.why == ["your forward is wrong (see the `loss` check: summed instead of "
                      "averaged); this check relies on it, so fix that first, then this check "
                      "will be meaningful"]
    assert [f.kind for f in fb.findings] == ["earlier"]
    bare = earlier(Feedback.fail("forward raised"), "loss", "your forward fails", "m")
    assert "see the `loss` check: forward raised" in bare.why[0]


def test_first_cause_refers_to_the_first_failing_part_or_leaves_the_failure_as_it_is():
    ran = []

    def part(id_, result):
        def check(ns):
            ran.append(id_)
            if isinstance(result, Exception):
                raise result
            return result
        return check

    fb = Feedback.fail("the gradient check failed", why=["re-derive this gradient"])
    ok = Feedback.ok("right")
    parts = [("a", part("a", ok), "a is wrong"),
             ("b", part("b", CheckFailed(Feedback.fail("b raised", why=["b's cause"]))),
              "b is wrong"),
             ("c", part("c", Feedback.fail("c failed")), "c is wrong")]
    got = first_cause({}, parts, fb)
    assert ran == ["a", "b"] and got.message == fb.message
    assert got.why[0].startswith("b is wrong (see the `b` check: b's cause)")
    broken = [("d", part("d", KeyError("x")), "d is wrong")]
    assert "see the `d` check: d raised an error" in first_cause({}, broken, fb).why[0]
    assert first_cause({}, parts[:1], fb) is fb
