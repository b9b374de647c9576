"""ActivationBackwardExplorer (exercise 04): driven by the learner's layers, without a browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.grading._files import read_notebook  # noqa: E402
from bpkit.widgets.exercise_activations import (  # noqa: E402
    GRID,
    ActivationBackwardExplorer,
    backward_curve,
)

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "04_activations.ipynb"
REFERENCES = {"ReLU": bp.ReLU, "Sigmoid": bp.Sigmoid, "Tanh": bp.Tanh}


def _layers() -> dict:
    """The solution notebook's ReLU, Sigmoid and Tanh classes."""
    nb = read_notebook(SOLUTION)
    ns: dict = {"np": np, "bp": bp}
    for cell in nb["cells"]:
        if cell.get("id") in ("answer-relu", "answer-sigmoid", "answer-tanh"):
            exec(cell["source"], ns)
    return {name: ns[name] for name in REFERENCES}


class _NoUpstream(bp.Module):
    """A sigmoid whose backward forgot the upstream gradient."""

    def forward(self, x):
        self._out = 1 / (1 + np.exp(-x))
        return self._out

    def backward(self, grad_output):
        return self._out * (1 - self._out)


class _InPlace(bp.Module):
    """A ReLU whose backward writes into grad_output."""

    def forward(self, x):
        self._x = x
        return np.maximum(x, 0)

    def backward(self, grad_output):
        grad_output[self._x <= 0] = 0
        return grad_output


class _Stub(bp.Module):
    def forward(self, x):
        raise NotImplementedError()


def _line(app, gid: str, panel: int):
    found = [ln for ln in app.figure.axes[panel].lines if ln.get_gid() == gid]
    return found[0] if found else None


def test_your_layers_match_the_slope_of_your_forward_and_redraw_on_change():
    app = ActivationBackwardExplorer(_layers(), references=REFERENCES)
    s = app.state
    assert (s.label, s.upstream, s.error) == ("ReLU", 1.0, "")
    assert s.agree and not s.upstream_changed and s.max_difference < 1e-6
    assert s.x.shape == (GRID,) and 0.0 in s.x
    np.testing.assert_array_equal(s.dx, (s.x > 0).astype(float))  # 0 at the kink
    np.testing.assert_array_equal(s.y, s.reference)
    assert _line(app, "yours", 0) is not None and _line(app, "reference", 0) is not None
    np.testing.assert_array_equal(_line(app, "your-backward", 1).get_ydata(), s.dx)
    assert "✔" in app.message.value and "left unchanged" in app.message.value

    redraws, image = app.redraws, app.image.value
    app.activation.value = "Sigmoid"
    assert app.redraws == redraws + 1 and app.image.value != image
    s = app.state
    assert s.label == "Sigmoid" and s.agree
    np.testing.assert_allclose(s.dx, s.y * (1 - s.y), rtol=1e-12)
    app.upstream.value = -1.5
    np.testing.assert_allclose(app.state.dx, -1.5 * s.y * (1 - s.y), rtol=1e-12)
    app.x_max.value = 8.0
    assert app.state.x[0] == -8.0 and app.state.agree


def test_a_forgotten_upstream_factor_shows_once_the_upstream_is_not_one():
    app = ActivationBackwardExplorer({"sigmoid": _NoUpstream})
    assert app.state.agree  # g = 1 hides the mistake
    app.upstream.value = 2.0
    assert not app.state.agree and app.state.max_difference > 0.2
    assert "✘ your backward is off" in app.message.value
    assert "backward of g = 2: differ" in app.figure.axes[1].get_title()


def test_the_in_place_trap_is_reported():
    app = ActivationBackwardExplorer({"relu": _InPlace})
    assert app.state.upstream_changed and app.state.agree  # right values, wrong manners
    assert "in-place trap" in app.message.value
    _, _, changed = backward_curve(_layers()["ReLU"], np.linspace(-1, 1, 5), 1.0)
    assert not changed


def test_an_unwritten_layer_is_shown_not_raised_and_bad_arguments_are_refused():
    app = ActivationBackwardExplorer({"stub": _Stub, **_layers()})
    assert app.state.error == "NotImplementedError" and not app.state.agree
    assert np.isnan(app.state.dx).all() and "NotImplementedError" in app.message.value
    app.activation.value = "Tanh"
    assert app.state.error == "" and app.state.agree
    with pytest.raises(ValueError, match="at least one layer"):
        ActivationBackwardExplorer({})
    with pytest.raises(TypeError, match="must be a layer class"):
        ActivationBackwardExplorer({"relu": bp.ReLU()})
    with pytest.raises(ValueError, match=r"x_max in \[1, 10\]"):
        ActivationBackwardExplorer(_layers(), x_max=50.0)


class _ForwardForgetsReturn(bp.Module):
    def forward(self, x):
        self._out = np.tanh(x)

    def backward(self, grad_output):
        return grad_output * (1 - self._out**2)


class _BackwardTuple(bp.Module):
    def forward(self, x):
        self._out = np.tanh(x)
        return self._out

    def backward(self, grad_output):
        return (grad_output * (1 - self._out**2),)


class _NotAModule:
    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, grad_output):
        return grad_output


@pytest.mark.parametrize(("cls", "expected"), [
    (_ForwardForgetsReturn, "forward returned None (is `return` missing?)"),
    (_BackwardTuple, "backward returned a tuple"),
    (_NotAModule, "make it a subclass of bp.Module"),
])
def test_a_none_a_tuple_or_a_plain_class_is_named(cls, expected):
    app = ActivationBackwardExplorer({"mine": cls})
    assert expected in app.state.error and not app.state.agree
    assert expected.split(" (")[0] in app.message.value
