"""The base of bpkit's widget apps: controls, plain state, and a figure redrawn on change.

A widget app keeps everything a test needs in plain attributes: the ipywidgets controls
(set ``app.some_slider.value = ...`` or call ``app.some_button.click()``), the state computed
from them (``app.state``, a plain object), and the matplotlib ``Figure`` it draws
(``app.figure``), so pytest can drive it without a browser or a kernel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

__all__ = ["WidgetApp", "step_controls"]


def step_controls(n: int, value: int = 0) -> tuple[Any, Any, Any, Any]:
    """A ``step`` IntSlider over 0..n and the Back, Next and Reset buttons that move it."""
    import ipywidgets as widgets

    step = widgets.IntSlider(
        value=value, min=0, max=n, step=1, description="step", continuous_update=False
    )
    back = widgets.Button(description="Back", icon="step-backward")
    forward = widgets.Button(description="Next", icon="step-forward")
    reset = widgets.Button(description="Reset", icon="undo")

    def go(k: int) -> None:
        step.value = min(max(k, 0), step.max)

    back.on_click(lambda _b: go(step.value - 1))
    forward.on_click(lambda _b: go(step.value + 1))
    reset.on_click(lambda _b: go(0))
    return step, back, forward, reset


class WidgetApp:
    """Controls plus a figure, recomputed and redrawn whenever a control's value changes.

    Subclasses create their controls, call ``super().__init__(controls, ...)`` and implement
    ``update()`` (compute ``self.state`` from the controls; no drawing) and ``draw(figure)``
    (draw ``self.state`` into the cleared figure). ``refresh()`` runs both and shows the
    figure in ``self.output``. ``redraws`` counts the redraws (tests and benchmarks use it).
    """

    def __init__(
        self,
        controls: Sequence[Any],
        *,
        figsize: tuple[float, float] = (9.0, 4.0),
        rows: Sequence[Sequence[Any]] | None = None,
        footer: Sequence[Any] = (),
        auto_refresh: bool = True,
        dpi: int = 80,
    ) -> None:
        import ipywidgets as widgets
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.controls = list(controls)
        self.figure = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(self.figure)  # draws in memory; becomes self.figure.canvas
        self.image = widgets.Image(format="png")
        self.message = widgets.HTML(value="")
        self.redraws = 0
        self.dpi = dpi
        layout_rows = rows if rows is not None else [self.controls]
        self.box = widgets.VBox(
            [widgets.HBox(list(row)) for row in layout_rows]
            + [self.image, self.message, *footer]
        )
        for control in self.controls:
            if hasattr(control, "value"):
                control.observe(self._on_change, names="value")
        if auto_refresh:
            self.refresh()

    # -- to implement -------------------------------------------------------------------
    def update(self) -> None:
        """Compute ``self.state`` from the controls (no drawing)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update")

    def draw(self, figure: Any) -> None:
        """Draw ``self.state`` into ``figure`` (already cleared)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement draw")

    # -- machinery ------------------------------------------------------------------------
    def _on_change(self, change: dict) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute the state and redraw the figure."""
        self.update()
        self.figure.clear()
        self.draw(self.figure)
        self.redraws += 1
        self._show()

    def _show(self) -> None:
        # One Agg draw, then a fast PNG encoding: about half the time of figure.savefig,
        # which draws the figure twice (once to lay it out).
        from PIL import Image

        figure, canvas = self.figure, self.figure.canvas
        shown_dpi = figure.dpi  # what `app.figure` shows with in a notebook: keep it
        figure.dpi = self.dpi
        try:
            canvas.draw()
            width, height = canvas.get_width_height()
            pixels = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw",
                                      "RGBA", 0, 1)
        finally:
            figure.dpi = shown_dpi
        buffer = io.BytesIO()
        pixels.save(buffer, format="png", compress_level=1)
        self.image.value = buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """Show the live widget in Jupyter, and a plain sentence where widgets cannot run."""
        bundle = dict(self.box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = (
            f"{type(self).__name__}: an interactive widget. Run this notebook in JupyterLab "
            "to use it."
        )
        return bundle
