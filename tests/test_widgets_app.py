"""The widget base: a figure redrawn into a PNG of the figure's size, on every change."""

from __future__ import annotations

import io

import ipywidgets as widgets
from PIL import Image

from bpkit.widgets import WidgetApp


class _Line(WidgetApp):
    """A line whose slope is a slider's value."""

    def __init__(self, **kwargs):
        self.slope = widgets.FloatSlider(value=1.0, min=-2.0, max=2.0)
        super().__init__([self.slope], **kwargs)

    def update(self):
        self.state = {"slope": self.slope.value}

    def draw(self, figure):
        ax = figure.add_subplot()
        ax.plot([0, 1], [0, self.state["slope"]])
        ax.set_ylim(-2, 2)


def test_the_image_is_a_png_of_the_figure_at_the_apps_dpi():
    app = _Line(figsize=(4.0, 2.5), dpi=50)
    picture = Image.open(io.BytesIO(app.image.value))
    assert picture.format == "PNG" and picture.size == (200, 125)
    assert app.figure.dpi == 100  # shown in a notebook as any figure is; only the image is 50
    assert app.redraws == 1


def test_moving_a_control_redraws_a_different_image():
    app = _Line()
    first = app.image.value
    app.slope.value = -1.5
    assert app.redraws == 2 and app.state == {"slope": -1.5}
    assert app.image.value != first
    app.slope.value = 1.0  # the first picture again, pixel for pixel
    same = Image.open(io.BytesIO(app.image.value)).tobytes()
    assert same == Image.open(io.BytesIO(first)).tobytes()


def test_the_plain_text_view_says_what_the_widget_is():
    bundle = _Line()._repr_mimebundle_()
    assert bundle["text/plain"].startswith("_Line: an interactive widget")
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_step_controls_move_the_slider_one_step_and_stay_in_range():
    from bpkit.widgets._app import step_controls

    step, back, forward, reset = step_controls(3, value=2)
    assert (step.min, step.max, step.value) == (0, 3, 2)
    forward.click()
    forward.click()  # already at the end: stays
    assert step.value == 3
    back.click()
    assert step.value == 2
    reset.click()
    back.click()  # already at the start: stays
    assert step.value == 0
