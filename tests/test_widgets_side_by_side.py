"""SideBySide: bpkit's gradients equal PyTorch's (or the numerical ones without torch)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.widgets import SideBySide  # noqa: E402


@pytest.fixture
def no_torch(monkeypatch):
    """Make ``import torch`` raise ImportError, as on a machine without PyTorch."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_without_torch_the_reference_is_the_numerical_gradient(no_torch):
    app = SideBySide(steps=2, n_samples=30)
    assert app.state.source == "numerical"
    assert app.torch_grads is None
    assert "numerical" in app.figure.axes[1].get_title()
    for layer in app.layer_names:
        for step in range(3):
            ours, ref = app.grads[step], app.reference_grads(step, layer)
            assert sorted(ref) == [f"{layer}.bias", f"{layer}.weight"]
            assert max(abs(ours[k] - ref[k]).max() for k in ref) < 1e-6  # typically ~1e-9
    app.layer.value, app.step.value = "0", 2
    assert app.state.source == "numerical" and app.state.max_abs_diff < 1e-6


def test_requiring_torch_without_it_names_the_install_command(no_torch):
    with pytest.raises(ImportError, match=r"pip install"):
        SideBySide(reference="torch")


def test_numerical_reference_matches_an_independent_difference():
    app = SideBySide(reference="numerical", steps=1, n_samples=30, layer="4", step=1)
    # one entry of the last layer's weight by hand: (L(w + h) - L(w - h)) / 2h
    model = app.model
    model.load_state_dict(app.states[1])
    w = model[4].weight.data
    h = 1e-5
    w[1, 2] += h
    up = app.loss_fn(model(app.X), app.y)
    w[1, 2] -= 2 * h
    down = app.loss_fn(model(app.X), app.y)
    assert abs(app.state.reference_grad[1, 2] - (up - down) / (2 * h)) < 1e-12
    assert abs(app.state.bpkit_grad[1, 2] - (up - down) / (2 * h)) < 1e-7


def test_controls_change_the_state_and_the_picture():
    app = SideBySide(reference="numerical", steps=3, n_samples=30, layer="2")
    assert app.state.bpkit_grad.shape == (16, 16)
    before_image, before_redraws = app.image.value, app.redraws
    app.layer.value = "0"
    assert app.state.layer == "0" and app.state.bpkit_grad.shape == (16, 2)
    assert app.figure.axes[0].images[0].get_array().shape == (16, 2)
    assert app.redraws == before_redraws + 1 and app.image.value != before_image
    first = app.state
    app.step.value = 3
    assert app.state.step == 3
    assert app.state.loss < first.loss  # three SGD steps lower the loss
    assert not np.allclose(app.state.bpkit_grad, first.bpkit_grad)
    assert "after 3 SGD step" in app.figure._suptitle.get_text()
    np.testing.assert_array_equal(
        app.state.difference, app.state.bpkit_grad - app.state.reference_grad
    )


def test_bad_arguments_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="reference to be one of"):
        SideBySide(reference="jax")
    with pytest.raises(ValueError, match=r"layer to be one of \['0', '2', '4'\]"):
        SideBySide(reference="numerical", layer="1")
    with pytest.raises(ValueError, match=r"step in \[0, 5\]"):
        SideBySide(reference="numerical", step=6)
    with pytest.raises(ValueError, match="steps to be an int"):
        SideBySide(reference="numerical", steps=-1)


def test_with_torch_every_layer_and_step_agrees_to_1e_10():
    pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    app = SideBySide(steps=3, n_samples=30)
    assert app.state.source == "torch"
    assert "PyTorch" in app.figure.axes[1].get_title()
    for layer in app.layer_names:
        for step in range(4):
            ours, ref = app.grads[step], app.reference_grads(step, layer)
            assert max(abs(ours[k] - ref[k]).max() for k in ref) < 1e-10
            assert abs(ours[f"{layer}.weight"]).max() > 1e-6  # not trivially zero
    app.layer.value, app.step.value = "4", 3
    assert app.state.layer == "4" and app.state.step == 3
    assert app.state.max_abs_diff < 1e-10
