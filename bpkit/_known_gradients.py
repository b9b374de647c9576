"""Functions of an array with their gradients in closed form, for testing gradient checkers.

Exercise 06's checks (`bpkit.grading.exercises.ex06_gradient_checker`) grade a learner's
``numerical_gradient`` on them, and the notebook's `GradientCheckerLab` widget draws its
error curves on the same functions; both import them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CASES", "Case"]


@dataclass
class Case:
    """A function of an array with its gradient in closed form.

    Shape:
        ``x`` the point (any shape); ``f(x)`` a float; ``grad(x)`` the shape of ``x``.
    """

    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    x: np.ndarray


_RNG = np.random.default_rng(606)
_A = _RNG.standard_normal((4, 4))
_W = _RNG.standard_normal((3, 2))
_G = _RNG.standard_normal((4, 2))


def _lse(x: np.ndarray) -> float:
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))


def _softmax_all(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


#: the functions ``numerical_gradient`` is checked on, each with its exact gradient.
CASES: tuple[Case, ...] = (
    Case("sum(x sin x), x of shape (6,)", lambda x: float(np.sum(x * np.sin(x))),
         lambda x: np.sin(x) + x * np.cos(x), np.linspace(-2.0, 2.5, 6)),
    Case("x^T A x / 2 (A not symmetric), x of shape (4,)",
         lambda x: float(x @ _A @ x / 2), lambda x: (_A + _A.T) @ x / 2,
         _RNG.standard_normal(4)),
    Case("log-sum-exp of all entries, x of shape (3, 4)", _lse, _softmax_all,
         _RNG.standard_normal((3, 4))),
    Case("sum(tanh(x W) * G), x of shape (4, 3)",
         lambda x: float(np.sum(np.tanh(x @ _W) * _G)),
         lambda x: ((1 - np.tanh(x @ _W) ** 2) * _G) @ _W.T, _RNG.standard_normal((4, 3))),
)
