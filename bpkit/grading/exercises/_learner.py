"""Shared by the layer exercises (03, 04, 09, 10): take the learner's class from the notebook.

A learner who imports, assigns or subclasses bpkit's own layer would pass every check
without writing anything, so `layer_class` refuses that first, then anything that is not
a class subclassing ``bp.Module``; each refusal is a card saying what to write instead.
"""

from __future__ import annotations

from typing import Any

from bpkit.grading.feedback import CheckFailed, Feedback
from bpkit.module import Module

__all__ = ["layer_class"]


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
