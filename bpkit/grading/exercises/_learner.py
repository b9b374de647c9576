"""Shared by the exercise checks: take the learner's class or function from the notebook.

A learner who imports, assigns or subclasses bpkit's own layer would pass every check
without writing anything, so `layer_class` (exercises 03, 04, 09, 10) refuses that first,
then anything that is not a class subclassing ``bp.Module``; each refusal is a card saying
what to write instead. `with_globals` runs a learner's function with some of the names it
calls replaced by right ones (exercises 06, 07: one part checked on its own, or a helper
shown to be the cause), without touching the learner's namespace. `naming` turns an error
the learner's code raises, recognised by a clue in its text, into a card that names the
mistake (exercises 03, 04).
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bpkit.grading.feedback import CheckFailed, Feedback, short_exception
from bpkit.module import Module

__all__ = ["layer_class", "names_used", "naming", "with_globals"]


def layer_class(ns: dict[str, Any], name: str, own: type) -> type:
    """The learner's class ``ns[name]``; CheckFailed if it is (or subclasses) bpkit's ``own``
    or is not a class that subclasses bp.Module."""
    cls = ns[name]
    if cls is own or (isinstance(cls, type) and issubclass(cls, own)):
        raise CheckFailed(Feedback.fail(
            f"`{name}` is bpkit's own layer (bp.{own.__name__}), not yours",
            why=[f"write your own class {name}(bp.Module) with forward and backward; do not "
                 f"import, assign or subclass bp.{own.__name__}"],
        ))
    if not isinstance(cls, type) or not issubclass(cls, Module):
        raise CheckFailed(Feedback.fail(
            f"`{name}` must be a class that subclasses bp.Module",
            got=cls.__name__ if isinstance(cls, type) else type(cls).__name__,
            why=[f"keep the class statement given: class {name}(bp.Module):"],
        ))
    return cls


@contextmanager
def naming(errors: type[Exception] | tuple[type[Exception], ...], clue: str, message: str,
           why: str, exclude_files: Sequence[str] = ()) -> Iterator[None]:
    """Run the block; an error of type ``errors`` whose text holds ``clue`` ends the check
    as a failure (``message``, the one reason ``why``, the learner's line); any other error
    passes through. ``exclude_files`` as for `short_exception` (the check's own module)."""
    try:
        yield
    except errors as exc:
        if clue not in str(exc):
            raise
        raise CheckFailed(Feedback.fail(message, got=short_exception(exc, exclude_files),
                                        why=[why])) from None


def names_used(fn: Any) -> set[str]:
    """The global and attribute names the code of the learner's function ``fn`` uses
    (its nested functions' and lambdas' included); empty when ``fn`` is not a function."""
    if not isinstance(fn, types.FunctionType):
        return set()
    return set(fn.__code__.co_names).union(
        *(getattr(c, "co_names", ()) for c in fn.__code__.co_consts))


def with_globals(fn: Any, replacements: dict[str, Any]) -> Any:
    """A copy of the learner's function ``fn`` that finds ``replacements`` (name -> object)
    among its globals; ``fn`` itself when it is not a plain function or calls none of them.
    The learner's namespace is not changed."""
    if not isinstance(fn, types.FunctionType) or not names_used(fn) & set(replacements):
        return fn
    scope = dict(fn.__globals__)
    scope.update(replacements)
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy
