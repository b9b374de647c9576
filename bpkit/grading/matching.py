"""One matcher for exercise checks: a reference, a table of named wrong answers, tolerances.

An exercise's check computes the right value (the reference) and the values of the mistakes
learners commonly make (its table of wrong answers, each with the sentence that names it),
and hands both to `match` with the learner's value. `match` compares the value with the
reference (`bpkit.grading.compare`, whose findings are the gradient checker's); when it is
wrong and equals one of the wrong answers, that sentence replaces the general findings: a
named mistake says more than "sign flipped" or "largest difference 0.3".

`same` is the one closeness test the checks use (arrays, numbers, and tuples, lists and
dicts of them), `named` finds a wrong answer without a reference (when a check words its own
failure), `evaluated` computes a table's values lazily, `blame` puts a recognised
mistake on a failure a check built itself, and `earlier` words the failure of a check that
depends on another one (a gradient check of a wrong forward measures the forward's mistake);
`first_cause` finds that other one among the checks a failure may come from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from bpkit._diagnoses import Finding
from bpkit.grading.feedback import CheckFailed, Feedback, compare

__all__ = ["Wrong", "blame", "earlier", "evaluated", "first_cause", "match", "named", "same"]

#: a table of wrong answers: (value, the sentence that names the mistake) pairs; a value of
#: None is skipped (the wrong formula could not be computed for this input).
Wrong = Iterable[tuple[Any, str]]

_GOT = object()  # "the wrong answers are compared with ``got`` itself"


def same(a: Any, b: Any, *, rtol: float = 1e-6, atol: float = 1e-8, tiny: float = 0.0
         ) -> bool:
    """Whether ``a`` equals ``b`` within the tolerances, entry by entry.

    Numbers and arrays must have the same shape and satisfy
    ``|a - b| <= atol + rtol * |b|`` everywhere; NaN equals NaN (a wrong formula that gives
    NaN where the learner's does is the same formula), and two entries both below ``tiny``
    in magnitude are equal (e.g. relative errors that all mean "correct"). Tuples and lists
    are equal entry by entry, dicts key by key; None equals only None. Anything that is not
    numeric is unequal.

    Shape:
        ``a`` and ``b``: any, the same.
    """
    if isinstance(b, Mapping):
        return (isinstance(a, Mapping) and set(a) == set(b)
                and all(same(a[k], b[k], rtol=rtol, atol=atol, tiny=tiny) for k in b))
    if isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and len(a) == len(b)
                and all(same(u, v, rtol=rtol, atol=atol, tiny=tiny)
                        for u, v in zip(a, b, strict=True)))
    if a is None or b is None:
        return a is None and b is None
    try:
        u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if u.shape != v.shape:
        return False
    with np.errstate(all="ignore"):
        ok = np.isclose(u, v, rtol=rtol, atol=atol, equal_nan=True)
        if tiny:
            ok |= (np.abs(u) < tiny) & (np.abs(v) < tiny)
    return bool(np.all(ok))


def named(got: Any, wrong: Wrong, *, rtol: float = 1e-6, atol: float = 1e-8,
          tiny: float = 0.0) -> str | None:
    """The sentence of the first wrong answer that ``got`` equals (see `same`), or None.

    The table is read in order and only as far as needed, with floating-point warnings off
    (a wrong formula may overflow where the right one does not).
    """
    with np.errstate(all="ignore"):
        for value, meaning in wrong:
            if value is not None and same(got, value, rtol=rtol, atol=atol, tiny=tiny):
                return meaning
    return None


def evaluated(table: Sequence[tuple[Callable[..., Any] | None, str]], *args: Any
              ) -> Iterator[tuple[Any, str]]:
    """The values of a table of wrong formulas on ``args``, computed one at a time.

    ``table`` pairs a function (or None, for a mistake recognised elsewhere) with its
    sentence; a function that raises ValueError or IndexError on these ``args`` (a formula
    that does not apply to this shape) gives None, which `named` skips.
    """
    for formula, meaning in table:
        if formula is None:
            continue
        try:
            with np.errstate(all="ignore"):
                value = formula(*args)
        except (ValueError, IndexError):
            value = None
        yield value, meaning


def blame(feedback: Feedback, meaning: str) -> Feedback:
    """``feedback`` with the recognised mistake ``meaning`` as its one reason."""
    feedback.why = [meaning]
    feedback.findings = [Finding("mistake", None, meaning)]
    return feedback


def earlier(cause: Feedback, check_id: str, what: str, message: str) -> Feedback:
    """The failure of a check that relies on what the check ``check_id`` found wrong as
    ``cause`` (``what``, e.g. "your forward is wrong"): its one reason names that cause once
    and says to fix it first; ``message`` is the check's own message.

    E.g. a gradient check compares the learner's backward with numerical derivatives of
    their own forward; when that forward is wrong, the check says so rather than blame a
    backward that may well be right.
    """
    first = cause.why[0] if cause.why else cause.message
    meaning = (f"{what} (see the `{check_id}` check: {first}); this check relies on "
               f"it, so fix that first, then this check will be meaningful")
    return Feedback(False, message, cause.expected, cause.got, [meaning],
                    [Finding("earlier", None, meaning)])


def first_cause(
    ns: dict[str, Any],
    parts: Sequence[tuple[str, Callable[[dict[str, Any]], Feedback], str]],
    fb: Feedback,
) -> Feedback:
    """``fb``, a failed check, referring (`earlier`) to the first of ``parts`` that fails on
    the learner's namespace ``ns`` too, or ``fb`` itself when every part passes.

    ``parts`` are (check id, the check, what is wrong when it fails), in the order the
    learner should fix them; a part that raises counts as failing (its own check reports
    the error).
    """
    for check_id, part, what in parts:
        try:
            cause = part(ns)
        except CheckFailed as exc:
            cause = exc.feedback
        except Exception:  # noqa: BLE001 - the part's own check reports the error
            cause = Feedback.fail(f"{check_id} raised an error")
        if not cause.passed:
            return earlier(cause, check_id, what, fb.message)
    return fb


def match(
    got: Any,
    reference: Any,
    wrong: Wrong = (),
    *,
    name: str = "the result",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    batch_size: int | None = None,
    evidence: Any = _GOT,
    wrong_rtol: float | None = None,
    wrong_atol: float | None = None,
    tiny: float = 0.0,
) -> Feedback:
    """Compare ``got`` with ``reference``; when wrong, name the wrong answer it equals.

    ``wrong`` is the check's table of (value, sentence) pairs, read lazily and only when
    ``got`` is wrong. The wrong answers are compared with ``evidence`` (default ``got``;
    e.g. the learner's results on every case, against each mistake's results on every case)
    within ``wrong_rtol``/``wrong_atol`` (default ``rtol``/``atol``) and ``tiny`` (see
    `same`). The first one that fits becomes the only reason; otherwise the reasons are
    `compare`'s findings (sign, a constant factor such as ``batch_size``, transposed, ...).

    Shape:
        ``got`` and ``reference``: any shape, compared as by `compare`.
    """
    fb = compare(got, reference, name=name, rtol=rtol, atol=atol, batch_size=batch_size)
    if fb.passed:
        return fb
    meaning = named(got if evidence is _GOT else evidence, wrong,
                    rtol=rtol if wrong_rtol is None else wrong_rtol,
                    atol=atol if wrong_atol is None else wrong_atol, tiny=tiny)
    return fb if meaning is None else blame(fb, meaning)
