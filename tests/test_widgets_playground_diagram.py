"""The Playground's network diagram and its "Step through one update" mode, without a browser.

The diagram is checked through its PNG pixels and its plain state (``sizes``, ``trace``,
``phase``); every number of a traced update is checked against central differences of the
loss (``bp.numerical_gradient``) and against ``bp.check_model``.
"""

from __future__ import annotations

import asyncio
import copy
import io

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import Playground  # noqa: E402
from bpkit.widgets._playground_diagram import (  # noqa: E402
    MAX_WIDTH,
    NODE,
    SMALL_NODE,
    diagram_layout,
    draw_links,
    explain,
    link_style,
    trace_update,
)


def _pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _num(v: float) -> str:
    """What the panel prints for a number (4 significant digits, a true minus)."""
    return f"{float(v):.4g}".replace("-", "−")


def _linears(model: bp.Module) -> list[bp.Linear]:
    return [m for m in model if isinstance(m, bp.Linear)]


# -- drawing --------------------------------------------------------------------------------


def test_links_are_coloured_by_sign_and_drawn_thicker_with_their_size():
    from PIL import Image, ImageDraw

    colours, widths = link_style(np.array([0.1, -1.5, 0.0, 3.0]), 1.0)
    assert widths.tolist() == [1, MAX_WIDTH, 1, MAX_WIDTH]
    assert colours[0, 2] > colours[0, 0]  # positive: blue
    assert colours[1, 0] > colours[1, 2]  # negative: orange
    picture = Image.new("RGB", (60, 40), (255, 255, 255))
    start, end = np.array([[10, 0], [30, 0]]), np.array([[10, 59], [30, 59]])
    draw_links(ImageDraw.Draw(picture), start, end, colours[:2], widths[:2])
    img = np.asarray(picture)
    inked = np.any(img[:, 30] != 255, axis=1)
    thin, thick = inked[:20].sum(), inked[20:].sum()
    assert thin == 1 and MAX_WIDTH - 1 <= thick <= MAX_WIDTH + 1
    assert tuple(img[10, 30]) == tuple(colours[0]) and tuple(img[30, 30]) == tuple(colours[1])


def test_the_diagram_shows_each_units_heatmap_and_links_by_the_sign_of_their_weights():
    app = Playground()
    assert app.diagram.sizes == [2, 4, 2, 1]
    lay = diagram_layout(app.diagram.sizes)
    x, ys = lay.x, lay.ys
    img = _pixels(app.diagram.image.value)
    assert img.shape == (lay.height, lay.width, 3) and lay.node == NODE
    unit = _pixels(app.unit_images[0][1].value)  # layer 1, unit 2, as its own image shows it
    np.testing.assert_array_equal(img[ys[1][1]:ys[1][1] + NODE, x[1]:x[1] + NODE], unit)
    feature = _pixels(app.feature_images["x2"].value)
    np.testing.assert_array_equal(img[ys[0][1]:ys[0][1] + NODE, x[0]:x[0] + NODE], feature)

    first = _linears(app.model)[0].weight
    row, col = ys[0][0] + NODE // 2, x[0] + NODE + 3  # just right of input x1: its links
    for sign in (+1.0, -1.0):
        first.data[...] = sign * 2.0
        app.render()
        r, g, b = _pixels(app.diagram.image.value)[row, col].astype(int)
        assert (b > r) if sign > 0 else (r > b)
    first.data[...] = 0.02
    app.render()
    thin = np.any(_pixels(app.diagram.image.value)[:, col] != 255, axis=1).sum()
    first.data[...] = 2.0
    app.render()
    thick = np.any(_pixels(app.diagram.image.value)[:, col] != 255, axis=1).sum()
    assert thick > thin


def test_the_diagram_follows_the_network_and_changes_while_playing():
    app = Playground()
    app.add_layer_button.click()
    app.units_plus[0].click()
    assert app.diagram.sizes == [2, 5, 2, 2, 1]
    app.feature_buttons["x1^2"].value = True
    assert app.diagram.sizes == [3, 5, 2, 2, 1] and app.diagram.names == ["x1", "x2", "x1^2"]
    before = app.diagram.image.value
    asyncio.run(app.run(frames=2))
    assert app.epoch == 2 and app.diagram.image.value != before

    big = Playground(hidden=[9, 3])  # more than 8 units: each heatmap at half size
    lay = diagram_layout(big.diagram.sizes)
    assert lay.node == SMALL_NODE and _pixels(big.diagram.image.value).shape[:2] == (
        lay.height, lay.width)
    unit = _pixels(big.unit_images[0][4].value)[::2, ::2]  # the same 25 x 25 grid points
    top, left = lay.ys[1][4], lay.x[1]
    np.testing.assert_array_equal(
        _pixels(big.diagram.image.value)[top:top + SMALL_NODE, left:left + SMALL_NODE], unit)


# -- selecting a unit or a link --------------------------------------------------------------


def test_a_selected_unit_or_link_shows_its_value_gradient_and_last_update():
    app = Playground()
    assert "last update: none yet" in app.diagram.info.value  # the output's bias, epoch 0
    app.step()
    layer0 = _linears(app.model)[0]
    lr = float(app.lr.value)
    # plain SGD, no penalty: the last update is -lr times the last mini-batch's gradient
    np.testing.assert_allclose(app.last_update[0], -lr * layer0.weight.grad, rtol=1e-9)
    np.testing.assert_allclose(app.last_update[1], -lr * layer0.bias.grad, rtol=1e-9)

    image = app.diagram.image.value
    app.diagram.unit_select.value = (1, 2)  # layer 1, unit 3: its bias
    assert app.diagram.selection == ("unit", 1, 2)
    info = app.diagram.info.value
    assert f"b = {_num(layer0.bias.data[2])}" in info
    assert f"dL/db = {_num(layer0.bias.grad[2])}" in info
    assert f"Δb = {_num(app.last_update[1][2])}" in info
    assert app.diagram.image.value != image  # the selected unit is framed

    app.diagram.link_select.value = 1  # the link from input x2 into it
    assert app.diagram.selection == ("link", 0, 2, 1)
    info = app.diagram.info.value
    assert f"w = {_num(layer0.weight.data[2, 1])}" in info
    assert f"dL/dw = {_num(layer0.weight.grad[2, 1])}" in info
    assert f"Δw = {_num(app.last_update[0][2, 1])}" in info

    app.diagram.unit_select.value = (0, 0)
    assert app.diagram.selection == ("unit", 0, 0) and "no weight or bias" in (
        app.diagram.info.value)
    assert [label for label, _ in app.diagram.link_select.options] == ["(the unit itself)"]


# -- one update, step by step ----------------------------------------------------------------


def test_step_through_shows_forward_loss_backward_then_update_and_takes_the_step():
    app = Playground(hidden=[3, 2])
    app.step()
    epoch, history = app.epoch, copy.deepcopy(app.history)
    trace = app.step_through()
    assert [(p.kind, p.column) for p in trace.phases] == [
        ("forward", 0), ("forward", 1), ("forward", 2), ("forward", 3), ("loss", None),
        ("backward", 3), ("backward", 2), ("backward", 1), ("backward", 0), ("update", None)]
    assert len(trace.rows) == app.batch_size.value and app.diagram.trace is trace
    assert app.epoch == epoch and app.history == history  # one update, not an epoch
    for layer, m in enumerate(_linears(app.model)):
        np.testing.assert_array_equal(m.weight.data, trace.weight_after[layer])
        np.testing.assert_array_equal(m.bias.data, trace.bias_after[layer])
    np.testing.assert_array_equal(trace.X, app.transform(app.X_train[trace.rows]))

    images = {app.diagram.image.value}
    labels = {app.diagram.phase_label.value}
    assert app.diagram.prev_button.disabled and not app.diagram.next_button.disabled
    for _ in trace.phases[1:]:
        app.diagram.next_button.click()
        images.add(app.diagram.image.value)
        labels.add(app.diagram.phase_label.value)
    assert app.diagram.phase == len(trace.phases) - 1 and app.diagram.next_button.disabled
    assert len(images) == len(labels) == len(trace.phases)  # each phase its own picture
    app.diagram.prev_button.click()
    assert app.diagram.phase == len(trace.phases) - 2
    app.diagram.done_button.click()
    assert app.diagram.trace is None and app.diagram.phase_label.value == ""
    app.step_through()
    app.step()  # training again ends the step-through
    assert app.diagram.trace is None


def test_step_through_on_one_chosen_point_and_a_point_out_of_range():
    app = Playground()
    trace = app.step_through(point=7)
    assert trace.rows.tolist() == [7] and trace.X.shape == (1, 2)
    with pytest.raises(ValueError, match="point"):
        app.step_through(point=len(app.X_train))
    app.diagram.mode.value = "point"
    app.diagram.point.value = 10**5
    app.diagram.start_button.click()
    assert "Step-through failed" in app.message.value and "point" in app.message.value
    app.diagram.point.value = 3
    app.diagram.start_button.click()
    assert app.diagram.trace.rows.tolist() == [3]


CASES = {
    "binary tanh + L2": dict(hidden=[3, 2], activation="tanh", regularization="l2",
                             reg_rate=0.01),
    "binary sigmoid": dict(hidden=[4], activation="sigmoid"),
    "binary relu + L1": dict(hidden=[5, 3], activation="relu", regularization="l1",
                             reg_rate=0.003),
    "regression": dict(dataset="plane", hidden=[3], activation="tanh"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_traced_gradient_is_the_numerical_gradient(case):
    settings = dict(CASES[case])
    app = Playground(settings.pop("dataset", "circle"), batch_size=6, seed=3, **settings)
    app.step()
    model, loss_fn = copy.deepcopy(app.model), copy.deepcopy(app.loss_fn)  # before the update
    trace = app.step_through()
    X, t = trace.X, trace.targets
    assert bp.check_model(model, loss_fn, X, t).ok
    layers = list(model)

    def loss_from(column: int, a: np.ndarray) -> float:
        h = a
        for m in layers[2 * column:]:  # what follows column `column`
            h = m(h)
        return float(loss_fn(h, t))

    for c, a in enumerate(trace.a):
        a = a.copy()
        numeric = bp.numerical_gradient(lambda c=c, a=a: loss_from(c, a), a, h=1e-6)
        np.testing.assert_allclose(trace.grad_a[c], numeric, rtol=1e-5, atol=1e-9)
    for layer, m in enumerate(_linears(model)):
        for p, traced in ((m.weight, trace.weight_grad[layer]), (m.bias, trace.bias_grad[layer])):
            numeric = bp.numerical_gradient(lambda: float(loss_fn(model(X), t)), p.data, h=1e-6)
            np.testing.assert_allclose(traced, numeric, rtol=1e-5, atol=1e-9)
        # dL/dz = dL/da * f'(z), and the update is plain SGD on gradient + penalty
        np.testing.assert_allclose(trace.grad_z[layer], trace.grad_a[layer + 1]
                                   * trace.local[layer] if layer + 1 < len(trace.a) - 1
                                   else trace.grad_a[-1], rtol=1e-12)
        rate = float(app.reg_rate.value)
        w = trace.weight_before[layer]
        penalty = {"none": 0 * w, "l1": rate * np.sign(w), "l2": rate * w}[
            app.regularization.value]
        np.testing.assert_allclose(trace.weight_penalty[layer], penalty, atol=1e-15)
        np.testing.assert_allclose(trace.weight_after[layer] - w,
                                   -app.opt.lr * (trace.weight_grad[layer] + penalty),
                                   rtol=1e-9, atol=1e-15)


def test_more_classes_trace_through_cross_entropy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.argmax(np.column_stack([X[:, 0], X[:, 1], -X.sum(axis=1)]), axis=1)
    app = Playground(X=X, y=y, hidden=[3])
    model, loss_fn = copy.deepcopy(app.model), copy.deepcopy(app.loss_fn)
    trace = app.step_through()
    assert trace.sizes == [2, 3, 3] and trace.loss_name == "CrossEntropyLoss"
    assert bp.check_model(model, loss_fn, trace.X, trace.targets).ok
    numeric = bp.numerical_gradient(lambda: float(loss_fn(model(trace.X), trace.targets)),
                                    _linears(model)[1].weight.data, h=1e-6)
    np.testing.assert_allclose(trace.weight_grad[1], numeric, rtol=1e-5, atol=1e-9)
    backward = [p.kind for p in trace.phases].index("backward")
    assert "CrossEntropyLoss.backward()" in explain(trace, backward, ("unit", 2, 1))[0]


def test_the_chain_rule_is_written_with_the_traced_numbers():
    app = Playground(hidden=[3, 2], seed=5)
    app.step()
    trace = app.step_through()
    p = trace.point
    backward_1 = next(i for i, ph in enumerate(trace.phases)
                      if ph.kind == "backward" and ph.column == 1)
    text = "\n".join(explain(trace, backward_1, ("unit", 1, 2)))
    g_next, w_next = trace.grad_z[1][p], trace.weight_before[1][:, 2]
    for g, w in zip(g_next, w_next, strict=True):
        assert _num(g).lstrip("−") in text and _num(w).lstrip("−") in text
    assert np.isclose(g_next @ w_next, trace.grad_a[1][p, 2], rtol=1e-12)
    a = trace.a[1][p, 2]
    assert "1 − a² = 1 − " in text and np.isclose(trace.local[0][p, 2], 1 - a * a)
    assert f"= {_num(trace.grad_a[1][p, 2])}" in text
    assert f"= {_num(trace.grad_z[0][p, 2])}" in text  # dL/dz of the unit
    assert f"[training point {trace.rows[p]}]" in text
    before = next(i for i, ph in enumerate(trace.phases)
                  if ph.kind == "backward" and ph.column == 3)
    assert "not reached yet" in explain(trace, before, ("unit", 1, 2))[0]

    update = len(trace.phases) - 1
    text = "\n".join(explain(trace, update, ("link", 1, 0, 2)))
    w0, w1 = trace.weight_before[1][0, 2], trace.weight_after[1][0, 2]
    assert "dL/dw = Σ_n" in text and f"= {_num(trace.weight_grad[1][0, 2])}" in text
    assert f"w: {_num(w0)} → {_num(w1)}" in text
    assert f"Δw = −lr · g = −{_num(trace.lr)}" in text  # plain SGD, said with its numbers
    forward = "\n".join(explain(trace, 2, ("unit", 2, 0)))
    assert f"= {_num(trace.z[1][p, 0])}" in forward and "Tanh(z)" in forward


def test_trace_update_refuses_a_network_it_cannot_show():
    model = bp.Sequential(bp.Linear(2, 3, rng=0), bp.Linear(3, 1, rng=1))
    opt = bp.optim.SGD(model.parameters(), lr=0.1)
    X, t = np.ones((4, 2)), np.ones((4, 1))
    with pytest.raises(ValueError, match="Linear layers with one parameter-free activation"):
        trace_update(model, bp.MSELoss(), X, t, opt)
    good = bp.Sequential(bp.Linear(2, 3, rng=0), bp.Tanh(), bp.Linear(3, 1, rng=1))
    with pytest.raises(ValueError, match="point must be a row of X, 0 to 3"):
        trace_update(good, bp.MSELoss(), X, t, bp.optim.SGD(good.parameters(), lr=0.1),
                     point=4)


def test_an_update_colours_the_links_by_their_change():
    app = Playground()
    trace = app.step_through()
    last = len(trace.phases) - 1
    app.diagram.show_phase(last)
    update_img = _pixels(app.diagram.image.value)
    assert trace.phases[last].links[0].shape == (4, 2)
    app.diagram.show_phase(0)  # forward, inputs only: every link faded
    col = diagram_layout(app.diagram.sizes).x[1] - 3  # just left of layer 1: links into it
    faded = _pixels(app.diagram.image.value)[:, col]
    inked = faded[np.any(faded != 255, axis=1)]
    assert (inked == 225).all()
    assert not (update_img[:, col][np.any(update_img[:, col] != 255, axis=1)] == 225).all()
