"""The functions with closed-form gradients that exercise 06 and its widget share."""

from __future__ import annotations

import numpy as np

from bpkit._known_gradients import CASES
from bpkit.grading.exercises import ex06_gradient_checker


def _central(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


def test_every_case_states_its_gradient_exactly():
    assert len(CASES) == 4 and len({c.name for c in CASES}) == 4
    for case in CASES:
        x = case.x.copy()
        exact = case.grad(x)
        assert exact.shape == x.shape, case.name
        np.testing.assert_allclose(exact, _central(case.f, x), rtol=1e-6, atol=1e-8,
                                   err_msg=case.name)
        np.testing.assert_array_equal(x, case.x)  # f and grad leave the point alone


def test_the_exercise_checks_grade_on_the_same_cases():
    assert ex06_gradient_checker.CASES is CASES
