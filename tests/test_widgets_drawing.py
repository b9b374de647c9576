"""The drawing helpers widget apps share: log-axis decades and the two-panel layout."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib not installed")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402

from bpkit.widgets._drawing import decades, power_of_ten, surface_and_curve_axes  # noqa: E402


def test_power_of_ten_writes_the_exponent_as_superscript_text():
    assert power_of_ten(1e-8, 0) == "10⁻⁸"
    assert power_of_ten(1.0, 0) == "10⁰"
    assert power_of_ten(1e12, 0) == "10¹²"


def test_decades_labels_whole_decades_only_and_drops_minor_ticks():
    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_yscale("log")
    ax.set_ylim(1e-9, 1e1)
    decades(ax.yaxis, 6)
    figure.canvas.draw()
    shown = [v for v in ax.yaxis.get_majorticklocs() if 1e-9 <= v <= 1e1]
    assert 2 <= len(shown) <= 7
    assert all(float(np.log10(v)).is_integer() for v in shown)
    assert ax.yaxis.get_major_formatter()(1e-3, 0) == "10⁻³"
    assert not ax.yaxis.get_minorticklocs().size


def test_surface_and_curve_axes_are_two_panels_side_by_side_with_fixed_margins():
    figure = Figure(layout="constrained")
    left, right = surface_and_curve_axes(figure)
    # fixed margins: no constrained layout to recompute on every redraw
    assert not isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine)
    a, b = left.get_position(), right.get_position()
    assert a.x1 < b.x0 and a.width > b.width  # contours left, a little wider
