"""DepthExplorer: depth, initialisation, activation and batch norm change what the figure shows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import DepthExplorer  # noqa: E402
from bpkit.widgets.depth_explorer import (  # noqa: E402
    ACTIVATIONS,
    INITS,
    layer_statistics,
    make_deep_mlp,
)


def _line(app: DepthExplorer, gid: str):
    found = [a for ax in app.figure.axes for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


@pytest.fixture(scope="module")
def shared() -> DepthExplorer:
    """One app for the tests that only read the state of a setting (building one is slow)."""
    return DepthExplorer(depth=10, init="Xavier", activation="tanh")


def _set(app: DepthExplorer, depth: int, init: str, activation: str,
         batchnorm: bool = False) -> DepthExplorer:
    """Move the controls as a learner would (each change recomputes and redraws)."""
    for control, value in ((app.batchnorm, batchnorm), (app.depth, depth), (app.init, init),
                           (app.activation, activation)):
        if control.value != value:
            control.value = value
    s = app.state
    assert (s.depth, s.init, s.activation, s.batchnorm) == (depth, init, activation, batchnorm)
    return app


def _bar_heights(app: DepthExplorer) -> np.ndarray:
    ax = app.figure.axes[2]
    return np.array([p.get_height() for p in ax.patches])


def test_make_deep_mlp_architecture_and_init():
    model = make_deep_mlp(3, INITS["zero"], bp.Tanh, batchnorm=True, rng=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh"] * 3 + ["Linear"]
    assert all(np.all(m.weight.data == 0) for m in model if isinstance(m, bp.Linear))
    a = make_deep_mlp(4, INITS["Kaiming"], bp.ReLU, rng=5)
    b = make_deep_mlp(4, INITS["Kaiming"], bp.ReLU, rng=5)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert np.array_equal(pa.data, pb.data)
    w = a[0].weight.data
    assert abs(w.std() - np.sqrt(2 / 64)) < 0.1 * np.sqrt(2 / 64)


def test_layer_statistics_matches_monitor():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((32, 64)), rng.integers(0, 10, 32)
    model = make_deep_mlp(4, INITS["Xavier"], bp.ReLU, rng=0)
    stats = layer_statistics(model, X, y)
    monitor = bp.Monitor(model)
    recorded = monitor.record(X)
    relu_names = [n for n in recorded["act_std"] if n.endswith("ReLU")]
    assert np.allclose(stats.act_std, [recorded["act_std"][n] for n in relu_names])
    assert np.allclose(stats.dead_fraction, [recorded["dead_fraction"][n] for n in relu_names])
    norms = monitor.grad_norms()
    hidden = [norms[f"{2 * i}:Linear.weight"] for i in range(4)]
    assert np.allclose(stats.grad_norm, hidden)


def test_tanh_small_init_activations_shrink_with_depth(shared):
    app = _set(shared, 10, "small N(0, 0.01²)", "tanh")
    std = app.state.act_std
    assert std.shape == (10,)
    assert std[-1] < 1e-3 * std[0]
    assert np.all(np.diff(std) < 0)


def test_relu_kaiming_keeps_std_roughly_constant(shared):
    app = _set(shared, 20, "Kaiming", "ReLU")
    std = app.state.act_std
    assert std.max() / std.min() < 2


def test_zero_init_gives_zero_hidden_gradients(shared):
    app = _set(shared, 5, "zero", "tanh")
    assert np.all(app.state.grad_norm == 0)
    hidden = [m.weight.grad for m in app.state.model if isinstance(m, bp.Linear)][:-1]
    assert len(hidden) == 5 and all(np.all(g == 0) for g in hidden)
    for act in ACTIVATIONS.values():  # the same for every activation (no need to redraw)
        stats = layer_statistics(make_deep_mlp(5, INITS["zero"], act, rng=0), app.X, app.y)
        assert np.all(stats.grad_norm == 0), act.__name__
    # the message says so in words, not "ratio first/last nan"
    assert "nan" not in app.message.value
    assert "no ratio: the last layer gets no gradient" in app.message.value


def test_batchnorm_normalises_every_layer(shared):
    app = _set(shared, 15, "large N(0, 1)", "ReLU")
    assert app.state.pre_std[-1] > 1e6  # exploding without batch norm
    app.batchnorm.value = True
    assert app.state.batchnorm
    assert np.allclose(app.state.pre_std, 1.0, atol=1e-3)
    assert any(isinstance(m, bp.BatchNorm1d) for m in app.state.model)


def test_large_init_saturates_tanh(shared):
    app = _set(shared, 10, "large N(0, 1)", "tanh")
    assert app.state.saturated_fraction.min() > 0.5
    app.init.value = "Xavier"
    assert app.state.saturated_fraction.max() < 0.2


def test_sigmoid_gradients_vanish_towards_the_input(shared):
    app = _set(shared, 20, "Xavier", "sigmoid")
    g = app.state.grad_norm
    assert g[0] < 1e-6 * g[-1]


def test_controls_change_state_and_figure():
    app = DepthExplorer(depth=6, init="Xavier", activation="tanh")
    redraws = app.redraws
    image = app.image.value
    old_std = _line(app, "act_std").get_ydata().copy()
    assert len(old_std) == 6 and len(_bar_heights(app)) == 6
    app.depth.value = 12
    assert app.state.depth == 12 and len(app.state.act_std) == 12
    assert len(_line(app, "act_std").get_ydata()) == 12
    assert len(_bar_heights(app)) == 12
    assert app.redraws == redraws + 1
    assert app.image.value != image
    app.activation.value = "ReLU"
    assert app.state.activation == "ReLU"
    assert isinstance(app.state.model[1], bp.ReLU)
    app.init.value = "small N(0, 0.01²)"
    assert app.state.init == "small N(0, 0.01²)"
    assert app.state.act_std[-1] < 1e-10
    assert app.redraws == redraws + 3
    assert "12 ×" in app.message.value
    assert len(app.figure.axes) == 3


def test_same_settings_same_numbers(shared):
    a = DepthExplorer(depth=8, init="Kaiming", activation="ReLU")
    b = _set(shared, 8, "Kaiming", "ReLU")
    assert np.array_equal(a.state.act_std, b.state.act_std)
    assert np.array_equal(a.state.grad_norm, b.state.grad_norm)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"depth": 1}, "depth"), ({"depth": 21}, "depth"), ({"init": "he"}, "init"),
     ({"activation": "gelu"}, "activation")],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthExplorer(**kwargs)
