"""Feedback in words: array diagnoses, short learner exceptions, and the card."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bpkit.gradcheck import check_module
from bpkit.grading import (
    Card,
    CheckResult,
    Feedback,
    compare,
    describe,
    gradcheck_feedback,
    short_exception,
)
from bpkit.layers import Linear

X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])


def _why(fb: Feedback) -> str:
    assert not fb.passed
    return " ".join(fb.why)


def test_compare_passes_on_the_right_answer():
    assert compare(X.copy(), X).passed
    assert compare(X.astype(np.float32), X, rtol=1e-6).passed


@pytest.mark.parametrize(
    "got, words",
    [
        (None, "`return`"),
        ("text", "NumPy array"),
        (X.T.copy(), "transposed"),
        (X.reshape(3, 2), "The values are right, only the shape differs"),
        (X[:, :2], "wrong shape. Your result has shape (2, 2), but (2, 3) is expected."),
        (-X, "sign flipped"),
        (X * 4, "4 times the right one, exactly the batch size N (4)"),
        (X / 4, "1/4 of the right one, one over the batch size N (4)"),
        (X * 2.5, "2.5 times"),
        (np.where(X > 3, np.nan, X), "NaN"),
    ],
)
def test_compare_says_what_is_wrong(got, words):
    assert words in _why(compare(got, X, batch_size=4))


def test_compare_finds_a_square_transpose_and_points_at_the_largest_difference():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "transpose" in _why(compare(a.T, a))
    b = a.copy()
    b[1, 0] += 0.5
    assert "largest difference 0.5 at index (1, 0)" in _why(compare(b, a))


def test_feedback_carries_expected_and_got_as_readable_text():
    fb = compare(-X, X, name="forward(x)", hint="look at the sign")
    assert fb.message == "forward(x) has wrong values"
    assert "shape (2, 3)" in fb.expected and "-0.5" in fb.got
    assert fb.why[-1] == "look at the sign"
    long = describe(np.arange(1000.0))
    assert long.startswith("array of shape (1000,), dtype float64:") and len(long) <= 300
    assert len(describe("x" * 1000)) == 300


def _results() -> list[CheckResult]:
    return [
        CheckResult("forward", "98_unit", "passed", 2, 2, title="forward pass"),
        CheckResult(
            "backward",
            "98_unit",
            "failed",
            0,
            3,
            message="dx has wrong values",
            expected="[1, 2]",
            got="[-1, -2]",
            why=["the sign is flipped"],
            hint="dx = dy W",
        ),
        CheckResult(
            "stub",
            "98_unit",
            "failed",
            0,
            1,
            attempted=False,
            message="not attempted: `Layer` is not defined yet",
        ),
        CheckResult(
            "crash", "98_unit", "error", 0, 1, message="your code raised ValueError: <bad> & worse"
        ),
    ]


def test_card_scores_and_plain_text():
    card = Card("98_unit", _results())
    assert (card.score, card.max_score) == (2.0, 7.0)
    assert not card.passed
    text = str(card)
    assert text.splitlines()[0] == "98_unit: 2/7 points"
    for words in [
        "[passed] forward",
        "2/2",
        "[failed] backward",
        "0/3",
        "expected: [1, 2]",
        "got:      [-1, -2]",
        "why: the sign is flipped",
        "hint: dx = dy W",
        "[not attempted] stub",
        "[error] crash",
    ]:
        assert words in text


def test_card_html_shows_every_check_escaped():
    page = Card("98_unit", _results())._repr_html_()
    assert "98_unit: 2/7 points" in page
    for words in [
        "forward pass",
        "2/2",
        "0/3",
        "the sign is flipped",
        "dx = dy W",
        "not attempted",
        "&lt;bad&gt; &amp; worse",
    ]:
        assert words in page
    assert "<bad>" not in page


def test_check_result_round_trips_through_a_dict():
    for result in _results():
        assert CheckResult.from_dict(result.to_dict()) == result


def _learner_module(tmp_path, source: str):
    path = tmp_path / "learner_code.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("learner_code_for_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def test_short_exception_points_at_the_learners_line_not_numpy_or_bpkit(tmp_path):
    module, path = _learner_module(
        tmp_path,
        "import numpy as np\n"
        "import bpkit as bp\n"
        "\n"
        "def forward(x):\n"
        "    w = np.ones((4, 2))\n"
        "    return x @ w\n"
        "\n"
        "def through_bpkit(x):\n"
        "    layer = bp.Linear(3, 2, rng=0)\n"
        "    return layer(x)\n",
    )
    try:
        module.forward(np.ones((5, 3)))
    except ValueError as exc:
        text = short_exception(exc)
    assert text.startswith("ValueError: matmul")
    assert "learner_code.py, line 6: return x @ w" in text
    assert len(text.splitlines()) == 2
    try:
        module.through_bpkit(np.ones((5, 4)))
    except ValueError as exc:
        text = short_exception(exc)
    assert "expected input of shape (N, 3), got (5, 4)" in text
    assert "line 10: return layer(x)" in text


def test_short_exception_skips_excluded_files(tmp_path):
    module, path = _learner_module(tmp_path, "def f():\n    raise KeyError('w')\n")
    try:
        module.f()
    except KeyError as exc:
        assert short_exception(exc, [str(path), __file__]) == "KeyError: 'w'"


class _FlippedWeight(Linear):
    """Linear whose weight gradient has the wrong sign."""

    def backward(self, grad_output):
        dx = super().backward(grad_output)
        self.weight.grad *= -1
        return dx


def test_gradcheck_feedback_passes_a_right_backward():
    report = check_module(Linear(3, 2, rng=0), np.random.default_rng(0).normal(size=(4, 3)))
    assert gradcheck_feedback(report).passed


def test_gradcheck_feedback_carries_the_checkers_diagnosis_and_values():
    report = check_module(_FlippedWeight(3, 2, rng=0), np.random.default_rng(0).normal(size=(4, 3)))
    fb = gradcheck_feedback(report, "Linear.backward")
    assert not fb.passed
    assert fb.message == (
        "Linear.backward: the gradient of 'weight' does not match the numerical gradient"
    )
    assert "sign flipped" in " ".join(fb.why)
    assert fb.expected.startswith("d/dweight at (") and "(numerical)" in fb.expected
    assert "relative error" in fb.got


def test_card_text_indents_every_line_of_a_message():
    message = "your code raised ValueError: boom\nin Cell In[3], line 2: raise ValueError('boom')"
    card = Card("98_unit", [CheckResult("crash", "98_unit", "error", 0, 1, message=message)])
    assert str(card).splitlines()[2:] == [
        "      your code raised ValueError: boom",
        "      in Cell In[3], line 2: raise ValueError('boom')",
    ]


def test_a_rounded_answer_is_called_close_not_one_times_the_right_answer():
    # return round(loss, 3): a ratio of 1.0001 is no "constant factor" worth naming
    right = 0.693147
    fb = compare(round(right, 3), right, name="the loss")
    assert not fb.passed
    text = _why(fb)
    assert "constant factor" not in text and "1 times" not in text
    assert "close, but not within the tolerance" in text
    # a real factor is still named
    fb = compare(np.array([2.0, 4.0]) * 3, np.array([2.0, 4.0]))
    assert "off by a constant factor. Your result is 3 times the right one" in _why(fb)


def test_compare_and_the_gradient_checker_say_the_same_thing_in_the_same_words():
    # dW divided by the batch size once too often, seen by both engines
    class _OverAveraged(Linear):
        def backward(self, grad_output):
            dx = super().backward(grad_output)
            self.weight.grad /= len(grad_output)
            return dx

    x = np.random.default_rng(0).normal(size=(4, 3))
    report = check_module(_OverAveraged(3, 2, rng=0), x)
    checker = next(f for f in report.findings if f.tensor == "weight")
    fb = compare(X / 4, X, batch_size=4)
    (finding,) = fb.findings
    for f in (checker, finding):  # structured: a kind and its numbers, no prose to parse
        assert (f.kind, f.size) == ("factor", ("batch size N", 4))
        assert f.factor == pytest.approx(0.25)
    words = ("off by a constant factor. {} is 1/4 of the {} one, one over the batch size N "
             "(4): it is divided by 4 once too often")
    assert words.format("The gradient of 'weight'", "numerical") in checker.message
    assert words.format("Your result", "right") in finding.message


@pytest.mark.parametrize(
    "got, kind, factor",
    [(-X, "sign", -1.0), (X * 2.5, "factor", 2.5), (X.T.copy(), "transposed", None),
     (None, "none", None), (X[:1], "wrong_shape", None)],
)
def test_compare_returns_structured_findings(got, kind, factor):
    fb = compare(got, X)
    assert [f.kind for f in fb.findings] == [kind]
    assert fb.why == [f.message for f in fb.findings]
    if factor is not None:
        assert fb.findings[0].factor == pytest.approx(factor)
