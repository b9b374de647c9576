"""Exercise 01 (the chain rule): more slips a learner makes, each named on the card.

Each case is a derivative written as a learner might write it (one answer of the right
set replaced), run through the real check; the card must name the slip, not just report
"largest difference". The table walk and the first mistakes are in test_exercises.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpkit.grading import check

EXERCISE = "01_chain_rule"
RIGHT = {
    "d_sin_square": "np.cos(x**2) * 2 * x",
    "d_x_gauss": "(1 - 2 * x**2) * np.exp(-x**2)",
    "d_softplus": "1 / (1 + np.exp(-x))",
    "d_three_links": "np.cos(np.log(1 + x**2)) / (1 + x**2) * 2 * x",
}


def _ns(name: str = "", body: str = "") -> dict:
    """The right derivatives, the one called ``name`` given the body ``body`` instead."""
    ns: dict = {"np": np, "math": math}
    for fn, expr in RIGHT.items():
        source = body if fn == name else f"    return {expr}\n"
        exec(f"def {fn}(x):\n{source}", ns)
    return ns


def test_the_right_answers_still_score_nine():
    assert check(EXERCISE, namespace=_ns()).score == 9


V = "np.log(1 + x**2)"
POINTS = {"sin_square": 2, "x_gauss": 2, "softplus": 2, "three_links": 3}


@pytest.mark.parametrize(
    ("part", "body", "words"),
    [
        ("sin_square", "    return np.cos(x**2) * x**2\n",
         "multiplied by the inner value u = x² itself"),
        ("sin_square", "    return 2 * np.sin(x) * np.cos(x)\n",
         "the derivative of sin(x)², the square of sin"),
        ("sin_square", "    return 2 * np.cos(x**2)\n",
         "the x of the inner derivative is missing"),
        ("sin_square", "    u = x**2\n    np.cos(u) * 2 * x\n",
         "is a `return` statement missing?"),
        ("x_gauss", "    return (1 - 2 * x) * np.exp(-x**2)\n",
         "a factor x is missing in the second term"),
        ("softplus", "    return np.exp(x) / np.log(1 + np.exp(x))\n",
         "divided by log(1 + e^x), the forward value"),
        ("softplus", "    return 1 / 1 + np.exp(-x)\n", "Python divides before it adds"),
        ("softplus", "    return np.exp(x) / (1 + np.exp(x))**2\n",
         "that is the derivative of the sigmoid"),
        ("three_links", f"    return np.cos({V}) * (1 / 1 + x**2) * 2 * x\n",
         "Python divides before it adds"),
        ("three_links", f"    return np.cos({V}) / (1 + x**2) * 2\n",
         "the x of the innermost link is missing"),
        ("three_links", f"    return np.cos({V}) / {V} * 2 * x\n",
         "divided by v = log(1 + x²)"),
        ("three_links", f"    return -np.cos({V}) / (1 + x**2) * 2 * x\n",
         "sign error: d sin(v)/dv = +cos(v)"),
    ],
)
def test_a_slip_is_named_and_costs_only_its_part(part, body, words):
    card = check(EXERCISE, namespace=_ns(f"d_{part}", body))
    result = next(r for r in card.results if r.id == part)
    assert result.status == "failed" and result.points == 0
    assert len(result.why) == 1 and words in result.why[0], result.why
    assert all(r.passed for r in card.results if r.id != part)
    assert card.score == 9 - POINTS[part]
