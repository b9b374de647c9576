"""Drawing helpers several widget apps share: log-axis decades and the two-panel layout.

Each app module draws its own figure; what more than one of them draws the same way lives
here, so no app imports another app's private helpers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["decades", "power_of_ten", "surface_and_curve_axes"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value: float, _position: int) -> str:
    """A log-axis tick label such as 10⁻⁸ in plain text (mathtext is slow to lay out)."""
    return "10" + str(round(np.log10(value))).translate(_SUPERSCRIPT)


def decades(axis: Any, numticks: int) -> None:
    """Label about ``numticks`` whole decades of a log axis; no minor ticks (fast redraws)."""
    from matplotlib import ticker

    axis.set_major_locator(ticker.LogLocator(numticks=numticks))
    axis.set_major_formatter(ticker.FuncFormatter(power_of_ten))
    axis.set_minor_locator(ticker.NullLocator())


def surface_and_curve_axes(figure: Any) -> tuple[Any, Any]:
    """A figure's two panels: contours on the left, a curve per step on the right."""
    figure.set_layout_engine("none")  # fixed margins: faster redraws than constrained
    margins = {"left": 0.06, "right": 0.985, "bottom": 0.12, "top": 0.91, "wspace": 0.22}
    left, right = figure.subplots(1, 2, width_ratios=[1.15, 1.0], gridspec_kw=margins)
    return left, right
