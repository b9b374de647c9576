"""Tests for bpkit.diagnostics.Monitor against hand-computed cases, alone and inside fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bpkit as bp
from bpkit.diagnostics import Monitor
from bpkit.layers import BatchNorm1d, Dropout, Linear, ReLU, Sigmoid, Tanh
from bpkit.losses import CrossEntropyLoss
from bpkit.optim import SGD, Adam


def set_linear(layer, weight, bias):
    layer.weight.data[...] = weight
    layer.bias.data[...] = bias
    return layer


def dead_half_model():
    """Linear(3, 4) + ReLU where units 0 and 2 are negative for every non-negative input."""
    lin = set_linear(Linear(3, 4, rng=0),
                     [[-1, -1, -1], [1, 0, 0], [-2, 0, -1], [0, 1, 1]],
                     [-0.5, 0.1, -0.1, 0.0])
    return bp.Sequential(lin, ReLU(), Linear(4, 2, rng=1))


X_POS = np.array([[0.0, 1.0, 2.0], [1.0, 0.5, 0.0], [3.0, 0.0, 1.0]])


def test_layer_names_follow_the_sequential_index_and_class():
    inner = bp.Sequential(Linear(4, 4, rng=0), ReLU())
    model = bp.Sequential(Linear(2, 4, rng=0), Tanh(), inner, Linear(4, 1, rng=0))
    mon = Monitor(model)
    assert [n for n, _ in mon.layers] == ["0:Linear", "1:Tanh", "2.0:Linear", "2.1:ReLU",
                                         "3:Linear"]
    assert [n for n, _ in mon.named_parameters] == [
        "0:Linear.weight", "0:Linear.bias", "2.0:Linear.weight", "2.0:Linear.bias",
        "3:Linear.weight", "3:Linear.bias"]


def test_record_counts_dead_relu_units_and_activation_statistics():
    model = dead_half_model()
    mon = Monitor(model)
    got = mon.record(X_POS)
    pre = X_POS @ model[0].weight.data.T + model[0].bias.data
    post = np.maximum(pre, 0)
    assert got["dead_fraction"] == {"1:ReLU": 0.5}
    assert mon.history["dead_fraction"]["1:ReLU"] == [0.5]
    assert mon.history["act_mean"]["0:Linear"] == [pytest.approx(pre.mean())]
    assert mon.history["act_std"]["1:ReLU"] == [pytest.approx(post.std())]
    np.testing.assert_allclose(mon.activations["1:ReLU"], post)
    np.testing.assert_allclose(mon.activations["2:Linear"], model(X_POS))
    assert "0:Linear" not in mon.history["dead_fraction"]  # only ReLU layers are counted
    summary = mon.summary()
    assert summary["layers"]["1:ReLU"]["dead_fraction"] == 0.5
    assert any(w.startswith("layer 1:ReLU: 50% dead units") for w in summary["warnings"])


def test_a_unit_alive_for_one_sample_is_not_dead():
    lin = set_linear(Linear(1, 2, rng=0), [[1.0], [-1.0]], [0.0, 0.0])
    mon = Monitor(bp.Sequential(lin, ReLU()))
    mon.record(np.array([[1.0], [2.0], [3.0]]))
    assert mon.history["dead_fraction"]["1:ReLU"] == [0.5]
    mon.record(np.array([[1.0], [-2.0], [3.0]]))  # unit 1 fires for the second sample
    assert mon.history["dead_fraction"]["1:ReLU"] == [0.5, 0.0]


def test_saturation_of_tanh_and_sigmoid_uses_the_same_rule():
    ident = set_linear(Linear(1, 1, rng=0), [[1.0]], [0.0])
    x = np.array([[-3.0], [0.0], [0.5], [3.0]])  # tanh: -0.995, 0, 0.46, 0.995
    mon = Monitor(bp.Sequential(ident, Tanh()))
    mon.record(x)
    assert mon.history["saturated_fraction"]["1:Tanh"] == [0.5]
    # sigmoid 0.98 is |2s - 1| = 0.96 < 0.97: not saturated; 0.99 and 0.005 are
    z = np.log(np.array([0.98, 0.99, 0.005, 0.5]) / (1 - np.array([0.98, 0.99, 0.005, 0.5])))
    mon = Monitor(bp.Sequential(ident, Sigmoid()))
    mon.record(z[:, None])
    assert mon.history["saturated_fraction"]["1:Sigmoid"] == [0.5]
    loose = Monitor(bp.Sequential(ident, Sigmoid()), saturation=0.9)
    loose.record(z[:, None])
    assert loose.history["saturated_fraction"]["1:Sigmoid"] == [0.75]


def test_grad_norms_and_update_ratios_match_hand_computation():
    model = dead_half_model()
    mon = Monitor(model)
    loss_fn = CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=0.1)
    loss_fn(model(X_POS), np.array([0, 1, 1]))
    opt.zero_grad()
    model.backward(loss_fn.backward())
    w = model[2].weight
    old, grad = w.data.copy(), w.grad.copy()
    norms = mon.before_step()
    assert norms["2:Linear.weight"] == pytest.approx(np.linalg.norm(grad))
    assert mon.grad_norms() == norms
    opt.step()
    ratios = mon.after_step()
    expected = math.log10(0.1 * np.linalg.norm(grad) / np.linalg.norm(old))
    assert ratios["2:Linear.weight"] == pytest.approx(expected)
    assert mon.history["update_ratio"]["2:Linear.weight"] == [ratios["2:Linear.weight"]]
    assert mon.history["grad_norm"]["0:Linear.bias"] == [norms["0:Linear.bias"]]
    assert mon.steps == 1
    # dead units get no gradient: rows 0 and 2 of the first weight are exactly zero
    np.testing.assert_array_equal(model[0].weight.grad[[0, 2]], 0.0)


def test_update_ratio_edge_cases():
    lin = Linear(2, 1, rng=0)
    lin.bias.data[...] = 0.0
    model = bp.Sequential(lin)
    mon = Monitor(model)
    opt = SGD(model.parameters(), lr=0.1)
    model(np.ones((1, 2)))
    model.backward(np.ones((1, 1)))
    opt.lr = 0.0  # a zero update: log10(0) = -inf
    mon.before_step()
    opt.step()
    ratios = mon.after_step()
    assert ratios["0:Linear.weight"] == -math.inf
    assert math.isnan(ratios["0:Linear.bias"])  # zero data norm: undefined
    with pytest.raises(RuntimeError, match="before_step"):
        mon.after_step()


def test_record_changes_nothing_the_model_keeps():
    rng = np.random.default_rng(0)
    model = bp.Sequential(Linear(3, 5, rng=rng), BatchNorm1d(5), ReLU(), Dropout(0.5, rng=rng),
                          Linear(5, 2, rng=rng))
    X = rng.normal(size=(16, 3))
    before = model.state_dict()
    twin = np.random.default_rng(0)
    twin.bit_generator.state = model[3].rng.bit_generator.state
    mon = Monitor(model)
    mon.record(X)  # train mode: BatchNorm uses the batch, Dropout drops
    mon.record(X, training=False)
    after = model.state_dict()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    assert model.training and model[1].training
    assert model[3].rng.random() == twin.random()
    # in train mode BatchNorm's output is standardised over the batch
    assert abs(mon.history["act_mean"]["1:BatchNorm1d"][0]) < 1e-12
    assert mon.history["act_std"]["1:BatchNorm1d"][0] == pytest.approx(1.0, abs=1e-3)


def test_monitor_as_fit_callback_records_without_changing_training():
    X, y = bp.make_spiral(90, n_classes=3, rng=0)

    def make():
        rng = np.random.default_rng(1)
        return bp.Sequential(Linear(2, 16, rng=rng), ReLU(), Dropout(0.2, rng=rng),
                             Linear(16, 3, rng=rng))

    results = []
    for use_monitor in (False, True):
        model = make()
        mon = Monitor(model, X=X[:32], every=2)
        bp.fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=1e-2), X, y, epochs=3,
               batch_size=20, rng=0, progress=False, callbacks=[mon] if use_monitor else [])
        results.append((model.state_dict(), mon))
    for key in results[0][0]:
        np.testing.assert_array_equal(results[0][0][key], results[1][0][key], err_msg=key)
    mon = results[1][1]
    steps = 3 * 5
    assert mon.steps == steps
    assert len(mon.history["grad_norm"]["0:Linear.weight"]) == math.ceil(steps / 2)
    assert len(mon.history["update_ratio"]["3:Linear.bias"]) == math.ceil(steps / 2)
    assert len(mon.history["dead_fraction"]["1:ReLU"]) == 1 + 3  # before training + per epoch
    with pytest.raises(ValueError, match="different model"):
        bp.fit(make(), CrossEntropyLoss(), SGD(make().parameters(), lr=0.1), X, y, epochs=1,
               batch_size=30, progress=False, callbacks=[Monitor(make())])


def test_summary_warns_about_learning_rates_and_vanishing_gradients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = rng.integers(0, 3, size=64)

    def one_step(lr, scale_first=1.0):
        r = np.random.default_rng(1)
        model = bp.Sequential(Linear(4, 8, rng=r), Tanh(), Linear(8, 3, rng=r))
        model[0].weight.data *= scale_first
        mon = Monitor(model)
        opt = SGD(model.parameters(), lr=lr)
        loss_fn = CrossEntropyLoss()
        mon.record(X)
        loss_fn(model(X), y)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        mon.before_step()
        opt.step()
        mon.after_step()
        return mon.summary()["warnings"]

    assert any("0:Linear.weight: log10 update/data ratio" in w and "too high" in w
               for w in one_step(lr=10.0))
    assert any("2:Linear.weight" in w and "too low" in w for w in one_step(lr=1e-6))
    big = one_step(lr=1e-3, scale_first=1e4)  # tanh saturates: the first layer's gradient dies
    assert any(w.startswith("layer 1:Tanh:") and "saturated" in w for w in big)
    assert any(w.startswith("parameter 0:Linear.weight: gradient norm") and "vanish" in w
               for w in big)


def test_table_and_plot_helpers_take_the_monitor_data():
    model = dead_half_model()
    mon = Monitor(model)
    mon.record(X_POS)
    loss_fn = CrossEntropyLoss()
    for _ in range(3):
        loss_fn(model(X_POS), np.array([0, 1, 1]))
        model.zero_grad()
        model.backward(loss_fn.backward())
        mon.before_step()
        for p in model.parameters():
            p.data -= 0.1 * p.grad
        mon.after_step()
    text = mon.table()
    assert "1:ReLU" in text and "0:Linear.weight" in text and "warning: layer 1:ReLU" in text
    # conftest selects the Agg backend and closes figures
    fig = bp.plot.plot_grad_flow(mon.history["grad_norm"])
    assert len(fig.axes[0].get_lines()) == len(mon.named_parameters)
    fig = bp.plot.plot_update_ratios(mon.history["update_ratio"])
    assert len(fig.axes[0].get_lines()) == len(mon.named_parameters) + 1  # + the -3 guide
    fig = bp.plot.plot_activation_histograms(mon.activations)
    assert len(fig.axes) == 3


def test_monitor_rejects_non_modules():
    with pytest.raises(TypeError, match="Module"):
        Monitor(lambda x: x)
    with pytest.raises(ValueError, match="saturation"):
        Monitor(dead_half_model(), saturation=1.5)


def test_record_of_an_empty_batch_says_so_and_records_nothing():
    mon = Monitor(dead_half_model())
    with pytest.raises(ValueError, match=r"Monitor.record needs a batch of at least one sample, "
                                         r"got X of shape \(0, 3\)"):
        mon.record(X_POS[:0])
    assert all(values == {} for values in mon.history.values())


@pytest.mark.parametrize("training", [None, True, False])
def test_record_leaves_a_nested_model_in_mixed_modes_exactly_as_it_was(training):
    from model_state import assert_unchanged, mixed_model, state_of

    model = mixed_model()
    mon = Monitor(model)
    before = state_of(model)
    recorded = mon.record(np.random.default_rng(13).standard_normal((16, 2)), training)
    assert_unchanged(model, before)
    assert set(recorded["act_mean"]) == {name for name, _ in mon.layers}
