"""Playground: every control does what it says, without a browser.

Controls are set through their ``.value`` or ``.click()``, exactly as the front end does;
the tests then look at the plain state (``app.model``, ``app.epoch``, ``app.history``) and
at the PNG bytes of the images.
"""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import Playground  # noqa: E402
from bpkit.widgets import _playground_render as render  # noqa: E402
from bpkit.widgets.playground import (  # noqa: E402
    CLASSIFICATION_SETS,
    REGRESSION_SETS,
    make_playground_data,
)


def _sizes(app: Playground) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in app.model if isinstance(m, bp.Linear)]


def _weights(app: Playground) -> list[np.ndarray]:
    return [p.data.copy() for p in app.model.parameters()]


def _decode_png(data: bytes) -> np.ndarray:
    """Read back a PNG image as a browser would: an (H, W, 3) uint8 array."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every chunk (a truncated or corrupt file raises here)
        assert image.format == "PNG" and image.mode == "RGB"
        return np.asarray(image)


# -- the renderer -------------------------------------------------------------------------------


def test_png_bytes_round_trips_pixels_and_rejects_other_arrays():
    rgb = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_decode_png(render.png_bytes(rgb)), rgb)
    unit = np.random.default_rng(1).integers(0, 256, size=(6, 4, 3, 3), dtype=np.uint8)[:, :, 1]
    np.testing.assert_array_equal(_decode_png(render.png_bytes(unit)), unit)  # a strided view
    flat = np.zeros((40, 40, 3), dtype=np.uint8)
    assert len(render.png_bytes(flat, level=1)) < len(render.png_bytes(flat, level=0))
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\)"):
        render.png_bytes(rgb.astype(np.float64))


def test_diverging_colours_run_from_orange_through_white_to_blue():
    c = render.diverging(np.array([-1.0, 0.0, 1.0, 5.0, np.nan]), lighten=0.0)
    assert tuple(c[0]) == render.ORANGE and tuple(c[1]) == render.WHITE
    assert tuple(c[2]) == render.BLUE and tuple(c[3]) == render.BLUE  # clipped
    assert tuple(c[4]) == (160, 160, 160)


def test_line_chart_draws_each_series_in_its_colour():
    img = render.line_chart([np.array([1.0, 0.5, 0.1]), np.array([0.02, 0.02, 0.02])],
                            [(255, 0, 0), (0, 0, 255)], 50, 20)
    assert img.shape == (20, 50, 3)
    red = np.all(img == (255, 0, 0), axis=2)
    blue = np.all(img == (0, 0, 255), axis=2)
    assert red.any(axis=0).all()  # connected: every column has the first curve
    assert red[0].any() and red[:, -1].nonzero()[0].max() > 15  # from the top to the bottom
    assert blue.any(axis=0).all() and not blue[:-3].any()  # the flat series stays low


# -- data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION_SETS + REGRESSION_SETS)
def test_every_data_set_fills_the_plane_and_is_seeded(name):
    X, y = make_playground_data(name, 0.2, rng=3)
    assert X.shape == (400, 2) and X.dtype == np.float64 and y.shape == (400,)
    assert np.abs(X).max() < 3.5 and np.abs(X).max() > 1.5
    if name in REGRESSION_SETS:
        assert y.dtype == np.float64
    else:
        assert y.dtype == np.int64 and set(y.tolist()) == {0, 1}
    X2, y2 = make_playground_data(name, 0.2, rng=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_data_controls_change_the_points_and_restart_training():
    app = Playground()
    app.step(2)
    X, image = app.X_train.copy(), app.output_image.value
    app.dataset.value = "xor"
    assert app.epoch == 0 and len(app.history["epoch"]) == 1
    assert not np.array_equal(app.X_train, X) and app.output_image.value != image
    X = app.X_train.copy()
    app.noise.value = 30
    assert not np.array_equal(app.X_train, X)
    assert len(app.X_train) == 200 and len(app.X_test) == 200
    app.ratio.value = 70
    assert len(app.X_train) == 280 and len(app.X_test) == 120
    assert abs(app.y_test.mean() - app.y_train.mean()) < 0.01  # stratified
    X = app.X_train.copy()
    app.regenerate_button.click()
    assert app.seed.value == 1 and not np.array_equal(app.X_train, X)
    X = app.X_train.copy()
    app.seed.value = 5
    X5 = app.X_train.copy()
    assert not np.array_equal(X5, X)
    app.seed.value = 1
    app.seed.value = 5
    np.testing.assert_array_equal(app.X_train, X5)  # same seed, same data


def test_batch_size_changes_the_training_but_keeps_the_weights():
    a, b = Playground(batch_size=10), Playground(batch_size=10)
    b.batch_size.value = 25
    np.testing.assert_array_equal(_weights(a)[0], _weights(b)[0])
    a.step()
    b.step()
    assert not np.allclose(_weights(a)[0], _weights(b)[0])


def test_task_switches_between_classification_and_regression():
    app = Playground()
    assert isinstance(app.loss_fn, bp.BCEWithLogitsLoss) and _sizes(app)[-1] == (2, 1)
    app.task.value = "regression"
    assert app.dataset.value == "plane" and isinstance(app.loss_fn, bp.MSELoss)
    assert "test_accuracy" not in app.history
    app.dataset.value = "circle"  # a classification set brings the task back
    assert app.task.value == "classification"
    app.dataset.value = "sine"
    assert app.task.value == "regression" and app.y_train.dtype == np.float64


def test_regression_learns_the_plane():
    app = Playground("plane", lr=0.01)
    start = app.history["test_loss"][-1]
    app.step(20)
    assert app.history["test_loss"][-1] < start / 5
    assert isinstance(app.model[len(app.model) - 1], bp.Linear)  # a linear output unit


# -- features and network ---------------------------------------------------------------------


def test_feature_toggles_set_the_input_size_and_the_last_one_stays_on():
    app = Playground()
    assert app.features == ["x1", "x2"] and _sizes(app)[0] == (2, 4)
    app.feature_buttons["x1^2"].value = True
    app.feature_buttons["sin x2"].value = True
    assert app.features == ["x1", "x2", "x1^2", "sin x2"] and _sizes(app)[0] == (4, 4)
    F = app.transform(np.array([[2.0, 3.0]]))
    np.testing.assert_allclose(F, [[2.0, 3.0, 4.0, np.sin(3.0)]])
    for name in ["x1", "x2", "x1^2"]:
        app.feature_buttons[name].value = False
    assert app.features == ["sin x2"] and app.message.value == ""
    app.feature_buttons["sin x2"].value = False  # the last one: refused
    assert app.feature_buttons["sin x2"].value is True and app.features == ["sin x2"]
    assert "At least one input feature must stay on" in app.message.value
    assert _sizes(app)[0] == (1, 4)


def test_layer_and_unit_buttons_shape_the_network_and_its_view():
    app = Playground()
    assert app.hidden == [4, 2] and _sizes(app) == [(2, 4), (4, 2), (2, 1)]
    app.add_layer_button.click()
    assert app.hidden == [4, 2, 2] and _sizes(app)[-1] == (2, 1)
    assert [len(images) for images in app.unit_images] == [4, 2, 2]
    app.units_plus[2].click()
    app.units_minus[0].click()
    assert app.hidden == [3, 2, 3] and _sizes(app) == [(2, 3), (3, 2), (2, 3), (3, 1)]
    assert len(app.network_box.children) == 3
    for _ in range(5):
        app.remove_layer_button.click()
    assert app.hidden == [] and _sizes(app) == [(2, 1)]  # a linear model
    assert "No hidden layer left" in app.message.value
    for _ in range(7):
        app.add_layer_button.click()
    assert len(app.hidden) == 6 and "At most 6 hidden layers" in app.message.value
    for _ in range(20):
        app.units_plus[0].click()
    assert app.hidden[0] == 16 and "1 to 16 units" in app.message.value
    app.units_minus[0].click()  # a change that works clears the old complaint
    assert app.hidden[0] == 15 and app.message.value == ""
    app.remove_layer_button.click()
    app.add_layer_button.click()
    app.add_layer_button.click()
    assert "At most 6 hidden layers" in app.message.value
    app.remove_layer_button.click()
    assert len(app.hidden) == 5 and app.message.value == ""


def test_activation_picks_the_hidden_layers_class():
    app = Playground()
    for key, cls in [("relu", bp.ReLU), ("sigmoid", bp.Sigmoid), ("linear", bp.Identity),
                     ("tanh", bp.Tanh)]:
        image = app.unit_images[0][0].value
        app.activation.value = key
        hidden = [m for m in app.model if not isinstance(m, bp.Linear)]
        assert len(hidden) == 2 and all(type(m) is cls for m in hidden)
        assert app.unit_images[0][0].value != image


def test_learning_rate_and_optimiser_apply_without_resetting_the_weights():
    app = Playground()
    app.step(3)
    weights = _weights(app)
    app.lr.value = 0.3
    assert app.opt.lr == 0.3 and app.epoch == 3
    app.optimizer.value = "adam"
    assert isinstance(app.opt, bp.optim.Adam) and app.opt.lr == 0.3
    for w, p in zip(weights, app.model.parameters(), strict=True):
        np.testing.assert_array_equal(w, p.data)
    assert app.opt.params[0] is app.model.parameters()[0]
    app.optimizer.value = "momentum"
    assert isinstance(app.opt, bp.optim.SGD) and app.opt.momentum == 0.9


def test_regularisation_adds_its_gradient_and_its_penalty():
    plain, l2, l1 = Playground(), Playground(), Playground()
    l2.regularization.value, l2.reg_rate.value = "l2", 0.1
    l1.regularization.value, l1.reg_rate.value = "l1", 0.1
    w = [m.weight.data for m in l2.model if isinstance(m, bp.Linear)]
    assert l2.penalty() == pytest.approx(0.05 * sum((v**2).sum() for v in w))
    assert l1.penalty() == pytest.approx(0.1 * sum(np.abs(v).sum() for v in w))
    for app in (plain, l2, l1):
        app.step(30)

    def norm(app):
        return sum(np.abs(m.weight.data).sum() for m in app.model if isinstance(m, bp.Linear))

    assert norm(l2) < norm(plain) and norm(l1) < norm(plain)
    assert l2.history["penalty"][-1] > 0 and plain.history["penalty"][-1] == 0
    assert "L2 penalty" in l2.stats.value and "objective" in l2.stats.value


def test_the_penalty_gradient_is_rate_sign_w_for_l1_and_rate_w_for_l2():
    app = Playground(batch_size=30, ratio=10)  # 40 training points: two batches
    first = [m for m in app.model if isinstance(m, bp.Linear)][0]
    for kind, expected in [("l1", lambda w: 0.3 * np.sign(w)), ("l2", lambda w: 0.3 * w)]:
        app.regularization.value, app.reg_rate.value = kind, 0.3
        app.model.zero_grad()
        app._add_penalty_gradient()
        np.testing.assert_allclose(first.weight.grad, expected(first.weight.data))
        np.testing.assert_array_equal(first.bias.grad, 0)  # biases are not penalised


# -- training and playing ---------------------------------------------------------------------


def test_step_advances_the_counter_history_curves_and_images():
    app = Playground()
    assert app.epoch == 0 and app.history["epoch"] == [0]
    images = (app.output_image.value, app.unit_images[0][0].value, app.curve_image.value)
    redraws = app.redraws
    assert "after the first epoch" in app.grad_flow.value  # no gradient yet
    app.step_button.click()
    assert app.epoch == 1 and app.history["epoch"] == [0, 1]
    assert app.redraws == redraws + 1
    assert ">1</b>" in app.epoch_label.value
    assert len(app.history["train_loss"]) == len(app.history["test_loss"]) == 2
    after = (app.output_image.value, app.unit_images[0][0].value, app.curve_image.value)
    assert all(a != b for a, b in zip(images, after, strict=True))
    assert len(app.grad_norms) == 3 and all(g > 0 for g in app.grad_norms)
    assert app.grad_flow.value.count("→") == 3


def test_the_default_network_learns_the_circle():
    app = Playground()
    for _ in range(30):
        app.step(5)
        if app.history["test_accuracy"][-1] > 0.9:
            break
    assert app.history["test_accuracy"][-1] > 0.9, app.history["test_accuracy"][-5:]
    assert app.epoch <= 150
    assert app.history["train_loss"][-1] < app.history["train_loss"][0] / 2


def test_reset_restores_the_initial_weights_and_clears_the_history():
    app = Playground(seed=4)
    start = _weights(app)
    app.step(3)
    app.reset_button.click()
    assert app.epoch == 0 and app.history["epoch"] == [0]
    for w, p in zip(start, app.model.parameters(), strict=True):
        np.testing.assert_array_equal(w, p.data)


def test_show_test_points_toggles_their_black_rings():
    app = Playground()
    black = np.all(_decode_png(app.output_image.value) == 0, axis=2).sum()
    app.show_test.value = False
    assert black > 0 and np.all(_decode_png(app.output_image.value) == 0, axis=2).sum() == 0


def test_play_trains_in_the_background_and_pause_stops_it():
    app = Playground()

    async def scenario():
        app.play_button.click()
        assert app.playing and "Pause" in app.play_button.description
        assert ">playing<" in app.epoch_label.value
        for _ in range(200):
            await asyncio.sleep(0.01)
            if app.epoch >= 3:
                break
        app.play_button.click()  # pause
        stopped_at = app.epoch
        await asyncio.sleep(0.2)
        return stopped_at

    stopped_at = asyncio.run(scenario())
    assert stopped_at >= 3 and not app.playing
    assert app.epoch == stopped_at and "Play" in app.play_button.description
    assert f">{stopped_at}</b>" in app.epoch_label.value and ">paused<" in app.epoch_label.value


def test_run_plays_a_bounded_number_of_frames():
    app = Playground(epochs_per_frame=2)
    redraws = app.redraws
    assert asyncio.run(app.run(frames=3)) == 3
    assert app.epoch == 6 and app.redraws == redraws + 3 and not app.playing


def test_play_without_an_event_loop_explains_what_to_do():
    app = Playground()
    app.play_button.click()
    assert not app.playing and "step()" in app.message.value


def test_divergence_stops_training_and_restores_the_weights():
    app = Playground("plane", lr=10.0, hidden=[16, 16], activation="relu")

    async def play_until_it_diverges():
        app.play_button.click()
        for _ in range(500):
            await asyncio.sleep(0.01)
            if not app.playing:
                break

    asyncio.run(play_until_it_diverges())
    assert app.diverged and "diverged" in app.message.value
    assert not app.playing and "Play" in app.play_button.description
    assert all(np.all(np.isfinite(p.data)) for p in app.model.parameters())
    epoch = app.epoch
    app.step()
    assert app.epoch == epoch  # stays stopped until reset
    app.reset()
    assert not app.diverged and app.message.value == ""


# -- configuration, saving, custom data -------------------------------------------------------


def test_json_round_trip_reproduces_the_setup_and_the_weights():
    app = Playground("spiral", seed=3, noise=20, ratio=60, batch_size=7,
                     features=["x1", "x2", "sin x1"], hidden=[6, 3, 5], activation="relu",
                     lr=0.01, optimizer="adam", regularization="l2", reg_rate=0.001)
    app.units_plus[1].click()
    text = app.to_json()
    assert json.loads(text)["hidden"] == [6, 4, 5]
    twin = Playground.from_json(text)
    assert twin.config == app.config and _sizes(twin) == _sizes(app)
    for a, b in zip(_weights(app), _weights(twin), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(app.X_test, twin.X_test)
    app.step(2)
    twin.step(2)
    for a, b in zip(_weights(app), _weights(twin), strict=True):
        np.testing.assert_array_equal(a, b)


def test_export_and_import_buttons_move_a_setup_between_apps():
    source = Playground("moons", hidden=[5], activation="sigmoid", seed=9)
    source.export_button.click()
    target = Playground()
    target.config_text.value = source.config_text.value
    target.import_button.click()
    assert target.config == source.config and _sizes(target) == _sizes(source)
    for a, b in zip(_weights(source), _weights(target), strict=True):
        np.testing.assert_array_equal(a, b)
    target.config_text.value = '{"hidden": [99]}'
    target.import_button.click()
    assert "Import failed" in target.message.value and "units" in target.message.value
    assert target.config == source.config  # nothing changed
    with pytest.raises(ValueError, match="not valid JSON"):
        Playground.from_json("{hidden")
    with pytest.raises(ValueError, match="unknown keys"):
        target.load_json('{"depth": 3}')


def test_save_and_load_round_trip_through_bp_save(tmp_path):
    app = Playground(hidden=[3])
    app.step(4)
    app.save_path.value = str(tmp_path / "net.npz")
    app.save_button.click()
    assert "Saved the model" in app.message.value
    twin = Playground.from_json(app.to_json())
    bp.load(twin.model, tmp_path / "net.npz")
    for a, b in zip(_weights(app), _weights(twin), strict=True):
        np.testing.assert_array_equal(a, b)
    app.save_path.value = str(tmp_path / "missing" / "net.npz")
    app.save_button.click()
    assert "Saving failed" in app.message.value


def test_custom_data_classification_and_regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(120, 2)) * 10 + 50
    y = (X[:, 0] > 50).astype(np.int64) + (X[:, 1] > 50)  # three classes
    app = Playground(X=X, y=y, hidden=[8])
    assert app.dataset.value == "custom" and app.task.value == "classification"
    assert app.noise.disabled and not Playground().noise.disabled
    assert isinstance(app.loss_fn, bp.CrossEntropyLoss) and _sizes(app)[-1] == (8, 3)
    assert app.extent[0] < 41 and app.extent[1] > 59  # the view follows the data
    image = app.output_image.value
    app.step(3)
    assert app.output_image.value != image and app.epoch == 3
    twin = Playground.from_json(app.to_json(), X=X, y=y)
    assert twin.config == app.config
    with pytest.raises(ValueError, match="pass X= and y="):
        Playground.from_json(app.to_json())
    target = X[:, 0] * 0.1
    reg = Playground(X=X, y=target)
    assert reg.task.value == "regression" and isinstance(reg.loss_fn, bp.MSELoss)
    reg.task.value = "classification"  # real targets cannot be classes
    assert reg.task.value == "regression" and "real numbers" in reg.message.value


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.zeros((10, 3)), "y": np.zeros(10, dtype=int)},
         r"X to be a float array of shape \(N, 2\), got float64 array of shape \(10, 3\)"),
        ({"X": np.zeros((10, 2), dtype=int), "y": np.zeros(10, dtype=int)},
         "X to be a float array"),
        ({"X": [[0.0, 1.0]] * 10, "y": np.zeros(10, dtype=int)}, "got list"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(9, dtype=int)},
         r"y to be a numeric array of shape \(10,\)"),
        ({"X": np.zeros((10, 2))}, "both X and y"),
        ({"X": np.full((10, 2), np.nan), "y": np.arange(10) % 2}, "finite"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(10)}, None),  # fine: regression
        ({"X": np.zeros((10, 2)), "y": np.zeros(10), "task": "classification"},
         "integer class indices"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(10, dtype=int)}, "at least two classes"),
        ({"X": np.zeros((10, 2)), "y": np.arange(10) % 2, "task": "ranking"}, "task"),
    ],
)
def test_bad_custom_data_gets_a_clear_error_naming_the_argument(kwargs, match):
    if match is None:
        Playground(**kwargs)
        return
    with pytest.raises(ValueError, match=match):
        Playground(**kwargs)


def test_bad_settings_are_refused_naming_the_setting():
    for kwargs, match in [({"dataset": "swirl"}, "dataset"), ({"hidden": [0]}, "units"),
                          ({"hidden": [2] * 7}, "at most 6"), ({"lr": 0.5}, "lr"),
                          ({"features": []}, "at least one feature"),
                          ({"features": ["x3"]}, "each feature"),
                          ({"activation": "gelu"}, "activation"),
                          ({"task": "regression"}, "task 'classification'"),
                          ({"noise": 80}, "noise")]:
        with pytest.raises(ValueError, match=match):
            Playground(**kwargs)


def test_a_diverging_epoch_puts_back_exactly_the_weights_it_started_from():
    app = Playground("plane", lr=10.0, hidden=[16, 16], activation="relu")
    for _ in range(200):
        start = [p.data.copy() for p in app.model.parameters()]
        app.step()
        if app.diverged:
            break
    assert app.diverged
    for p, kept in zip(app.model.parameters(), start, strict=True):
        np.testing.assert_array_equal(p.data, kept)
