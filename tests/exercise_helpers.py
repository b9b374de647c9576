"""Helpers for the tests of the exercise checks: the solution's answers, run as the learner's.

The tests build the learner's namespace from a solution notebook's own answer cells, with
some text replaced to make one mistake, run a check on it and read what the card says.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

import bpkit as bp
from bpkit.grading import check
from bpkit.grading._files import read_notebook
from bpkit.grading.feedback import Card, CheckResult

__all__ = [
    "MODEL_HELPERS",
    "assert_named",
    "cell",
    "edited",
    "first_result",
    "joined_answers",
    "namespace",
    "says",
    "solution",
]

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"

#: a softmax layer and a weight scaler for the wrong ``make_model`` answers of exercises 07
#: and 11 (run in the learner's namespace).
MODEL_HELPERS = """
class Softmax(bp.Module):
    def forward(self, x):
        return bp.softmax(x)

    def backward(self, grad_output):
        raise NotImplementedError


def big(model):
    for p in model.parameters():
        if p.name == "weight":
            p.data *= 30
    return model
"""


def solution(exercise: str) -> dict:
    """The solution notebook of ``exercise`` (``solutions/<exercise>.ipynb``)."""
    return read_notebook(SOLUTIONS / f"{exercise}.ipynb")


def cell(nb: dict, cell_id: str) -> str:
    """The source of the cell of ``nb`` whose id is ``cell_id``."""
    return next(c["source"] for c in nb["cells"] if c.get("id") == cell_id)


def edited(source: str, edits: Iterable[tuple[str, str]]) -> str:
    """``source`` with each ``(old, new)`` of ``edits`` applied; each old text occurs once."""
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


def namespace(*sources: str) -> dict:
    """A namespace holding ``np`` and ``bp`` in which each of ``sources`` ran, in order."""
    ns: dict = {"np": np, "bp": bp}
    for source in sources:
        exec(source, ns)
    return ns


def joined_answers(nb: dict, answers: Iterable[str], old: str | tuple = "",
                   new: str | tuple = "") -> str:
    """The cells ``answers`` of ``nb`` as one source, with ``old`` replaced by ``new``.

    ``old`` and ``new`` may be tuples of texts, replaced pair by pair; an empty ``old``
    changes nothing.
    """
    source = "\n\n".join(cell(nb, cell_id) for cell_id in answers)
    olds, news = (old, new) if isinstance(old, tuple) else ((old,), (new,))
    return edited(source, [(o, n) for o, n in zip(olds, news, strict=True) if o])


def first_result(exercise: str, ns: dict, part: str) -> CheckResult:
    """The result of the check ``part`` of ``exercise`` run on the namespace ``ns``."""
    return check(exercise, part, namespace=ns).results[0]


def assert_named(card: Card, score: float, named: dict[str, str]) -> None:
    """Assert that ``card`` scores ``score`` and that each check of ``named`` failed with
    one reason containing its words (``{check id: words}``)."""
    assert card.score == score, [(r.id, r.why) for r in card.results]
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) >= set(named), sorted(failed)
    for part, words in named.items():
        result = failed[part]
        assert result.status == "failed" and len(result.why) == 1, (part, result.why)
        assert words in result.why[0], (part, result.why)


def says(result: CheckResult, text: str) -> bool:
    """True when ``text`` is in the result's message or in one of its reasons."""
    return any(text in line for line in [result.message, *result.why])
