"""What a learner's function returned, checked before an exercise widget uses it, and how
an error from the learner's code is shown.

A forgotten ``return``, a tuple such as ``dx, None`` or an array of the wrong shape would
otherwise surface as NumPy's own error (or, worse, be flattened into a plausible picture);
these helpers raise a sentence that names the function and what came back instead.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

__all__ = ["ERROR_COLOUR", "error_html", "returned_array", "returned_number", "short_error", "what"]

#: The red of every error an exercise widget shows (GitHub's "danger" red).
ERROR_COLOUR = "#cf222e"


def what(value: Any) -> str:
    """``value`` in words for an error: "None (is `return` missing?)" or "a tuple"."""
    return "None (is `return` missing?)" if value is None else f"a {type(value).__name__}"


def returned_array(value: Any, who: str, expected: str = "", shape: tuple[int, ...] | None = None,
                   given: str = "the input") -> np.ndarray:
    """``value``, what ``who`` returned, as a float64 array.

    Shape:
        ``shape`` if given (a ValueError names both shapes and ``given``, e.g. "x").

    A TypeError for None or a tuple, ending "; expected ``expected``" when that is given.
    """
    if value is None or isinstance(value, tuple):
        raise TypeError(f"{who} returned {what(value)}" + (f"; expected {expected}"
                                                            if expected else ""))
    array = np.asarray(value, dtype=np.float64)
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{who} returned shape {array.shape} for {given} of shape {shape}; "
                         f"expected {tuple(shape)}")
    return array


def returned_number(value: Any, who: str, expected: str) -> float:
    """``value``, what ``who`` returned, as a float; a TypeError naming None, a container or
    an array instead, ending "; expected ``expected``"."""
    if value is None or isinstance(value, (tuple, list, dict, str)):
        raise TypeError(f"{who} returned {what(value)}; expected {expected}")
    if np.ndim(value) > 0:
        raise TypeError(f"{who} returned an array of shape {np.shape(value)}; expected "
                        f"{expected}")
    return float(value)


def short_error(exc: BaseException) -> str:
    """An exception from the learner's code as one line: "ValueError: ..." (or just the name)."""
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def error_html(lead: str, error: str, after: str = "") -> str:
    """An error from the learner's code as a widget shows it, in red:
    ``lead: <code>error</code>after``, every part HTML-escaped.

    ``error`` is usually :func:`short_error`'s line, e.g. ``error_html("Your layer",
    "ValueError: boom")``.
    """
    return (f"<span style='color:{ERROR_COLOUR}'>{html.escape(lead)}: "
            f"<code>{html.escape(error)}</code>{html.escape(after)}</span>")
