"""Every plot renders under Agg, holds the artists it promises, and respects ``ax=``."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.contour import ContourSet
from matplotlib.image import AxesImage
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

from bpkit import plot, train
from bpkit.layers import Linear
from bpkit.scalar import Value


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    """A plotting function must never call plt.show()."""

    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", refuse)


def _rng():
    return np.random.default_rng(0)


class Recorder:
    """A model that records its inputs and its mode, with a Module-like train/eval."""

    def __init__(self, fn):
        self.fn = fn
        self.training = True
        self.seen_training = []
        self.inputs = []

    def __call__(self, x):
        self.seen_training.append(self.training)
        self.inputs.append(x)
        return self.fn(x)

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)


def _scatters(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


# --- import hygiene -------------------------------------------------------------------------


def test_import_bpkit_pulls_in_no_plotting_widget_or_torch_modules():
    code = (
        "import sys, bpkit, bpkit.plot\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'ipywidgets', 'torch', 'IPython', 'ipykernel') "
        "or m.startswith('jupyter')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_public_name_is_exported_sorted():
    assert list(plot.__all__) == sorted(plot.__all__)
    for name in plot.__all__:
        assert hasattr(plot, name)


# --- plot_history ---------------------------------------------------------------------------


def _history(n=6, accuracy=True):
    e = np.arange(n)
    return SimpleNamespace(
        epochs=list(range(1, n + 1)),
        loss=list(1.0 / (1 + e)),
        val_loss=list(1.2 / (1 + e)),
        accuracy=list(0.5 + 0.05 * e) if accuracy else [],
        val_accuracy=list(0.45 + 0.05 * e) if accuracy else [],
    )


def test_plot_history_draws_train_and_validation_per_panel():
    fig = plot.plot_history(_history())
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert [ln.get_label() for ln in loss_ax.lines] == ["train loss", "validation loss"]
    assert [ln.get_label() for ln in acc_ax.lines] == ["train accuracy", "validation accuracy"]
    np.testing.assert_allclose(loss_ax.lines[0].get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), _history().val_loss)


def test_plot_history_accepts_a_dict_and_skips_metrics_without_values():
    h = vars(_history(accuracy=False))
    fig = plot.plot_history(h)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 2


def test_plot_history_draws_into_given_axes():
    fig, axs = plt.subplots(1, 2)
    assert plot.plot_history(_history(), ax=axs) is fig
    assert len(axs[0].lines) == 2 and len(axs[1].lines) == 2
    # one axes: the second metric goes on a twin y axis of the same figure
    fig1, ax = plt.subplots()
    assert plot.plot_history(_history(), ax=ax) is fig1
    assert len(ax.lines) == 2
    assert len(fig1.axes) == 2 and len(fig1.axes[1].lines) == 2


def test_plot_history_takes_a_single_number_or_0d_array_as_one_epoch():
    fig = plot.plot_history({"loss": np.array(0.5), "val_loss": 0.7})
    (ax,) = fig.axes
    assert [list(line.get_ydata()) for line in ax.lines] == [[0.5], [0.7]]


def test_plot_history_says_in_the_title_where_a_diverged_run_turns_nan():
    history = {"loss": [1.0, 0.5, np.nan, np.nan], "val_loss": [1.0, np.inf, np.nan, np.nan],
               "accuracy": [0.5, 0.6, 0.6, 0.6]}
    loss_ax, acc_ax = plot.plot_history(history).axes
    assert loss_ax.get_title() == ("Loss\n(train loss is NaN/inf from epoch 3; validation loss "
                                   "is NaN/inf from epoch 2)")
    assert acc_ax.get_title() == "Accuracy"
    fig, ax = plt.subplots()
    plot.plot_history({"loss": [1.0, np.nan], "accuracy": [0.5, 0.6]}, ax=ax)
    assert ax.get_title() == "Loss and accuracy\n(train loss is NaN/inf from epoch 2)"


def test_plot_history_without_values_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        plot.plot_history({"loss": [], "val_loss": []})


# --- plot_decision_boundary -----------------------------------------------------------------


def _blobs(n, rng):
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _binary_linear():
    layer = Linear(2, 1, rng=0)
    layer.weight.data[:] = [[3.0, 3.0]]
    layer.bias.data[:] = 0.0
    return layer


def test_decision_boundary_binary_has_shading_boundary_and_train_test_points():
    rng = _rng()
    X, y = _blobs(50, rng)
    Xt, yt = _blobs(20, rng)
    fig = plot.plot_decision_boundary(_binary_linear(), X, y, X_test=Xt, y_test=yt,
                                      resolution=40)
    ax = fig.axes[0]
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 2  # shading by probability and the p = 0.5 line
    train, test = _scatters(ax)
    assert train.get_label() == "train" and test.get_label() == "test"
    np.testing.assert_allclose(train.get_offsets(), X)
    np.testing.assert_allclose(test.get_offsets(), Xt)
    assert len(train.get_facecolors()) == len(X)  # filled
    assert len(test.get_facecolors()) == 0  # hollow
    assert len(test.get_edgecolors()) == len(Xt)
    assert "train accuracy 100.0%" in ax.get_title() and "test 100.0%" in ax.get_title()


def test_decision_boundary_points_take_their_class_colour():
    rng = _rng()
    X, y = _blobs(30, rng)
    fig = plot.plot_decision_boundary(_binary_linear(), X, y, resolution=20)
    (train,) = _scatters(fig.axes[0])
    from matplotlib.colors import to_rgba

    expected = np.array([to_rgba(plot.PALETTE[k]) for k in y])
    np.testing.assert_allclose(train.get_facecolors(), expected)


def test_decision_boundary_multiclass_shades_argmax_with_alpha_by_certainty():
    rng = _rng()
    X = rng.normal(size=(60, 2))
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    y = (X @ W.T).argmax(axis=1)

    def model(Z):
        return 4 * Z @ W.T

    fig, ax = plt.subplots()
    assert plot.plot_decision_boundary(model, X, y, ax=ax, resolution=30) is fig
    (image,) = ax.images
    assert isinstance(image, AxesImage)
    rgba = image.get_array()
    assert rgba.shape == (30, 30, 4)
    # the grid's argmax classes are exactly the three class colours
    from matplotlib.colors import to_rgb

    colours = {tuple(np.round(c, 6)) for c in rgba[..., :3].reshape(-1, 3)}
    assert colours == {tuple(np.round(to_rgb(plot.PALETTE[k]), 6)) for k in range(3)}
    assert rgba[..., 3].min() < rgba[..., 3].max()  # less certain is more transparent
    assert len(_scatters(ax)) == 1  # no test set given: train points only


def test_decision_boundary_runs_the_model_in_eval_mode_and_restores_it():
    rng = _rng()
    X, y = _blobs(10, rng)
    model = Recorder(lambda Z: Z[:, :1] + Z[:, 1:])
    plot.plot_decision_boundary(model, X, y, resolution=5)
    assert model.seen_training and not any(model.seen_training)
    assert model.training is True


def test_decision_boundary_feeds_features_and_the_model_dtype():
    rng = _rng()
    X, y = _blobs(10, rng)
    model = Linear(3, 1, rng=0).astype(np.float32)
    inputs = []

    def features(P):
        inputs.append(P.shape)
        return np.column_stack([P, P[:, 0] ** 2])

    seen = Recorder(model)
    seen.dtype = np.float32
    plot.plot_decision_boundary(seen, X, y, resolution=7, features=features)
    assert (49, 2) in inputs
    assert all(x.shape[1] == 3 and x.dtype == np.float32 for x in seen.inputs)


def test_decision_boundary_rejects_bad_input():
    with pytest.raises(ValueError, match=r"plot_decision_boundary expected X of shape \(N, 2\)"):
        plot.plot_decision_boundary(_binary_linear(), np.zeros((4, 3)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="y of length 4"):
        plot.plot_decision_boundary(_binary_linear(), np.zeros((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="integer class labels"):
        plot.plot_decision_boundary(_binary_linear(), np.zeros((2, 2)), np.array([0.5, 1.0]))


def test_decision_boundary_without_points_or_with_nan_says_so():
    with pytest.raises(ValueError, match="at least one point"):
        plot.plot_decision_boundary(_binary_linear(), np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"finite X and X_test, got NaN/inf in 1 row"):
        plot.plot_decision_boundary(_binary_linear(), np.array([[0.0, np.nan], [1.0, 1.0]]),
                                    np.array([0, 1]))


# --- plot_regression_fit --------------------------------------------------------------------


def test_regression_fit_draws_data_and_model_curve():
    x = np.linspace(-1, 1, 15)[:, None]
    layer = Linear(1, 1, rng=0)
    fig = plot.plot_regression_fit(layer, x, 2 * x[:, 0])
    ax = fig.axes[0]
    (data,) = _scatters(ax)
    (curve,) = ax.lines
    assert len(data.get_offsets()) == 15
    xs, ys = curve.get_xdata(), curve.get_ydata()
    assert xs.min() < -1 and xs.max() > 1
    expected = layer.weight.data[0, 0] * xs + layer.bias.data[0]
    np.testing.assert_allclose(ys, expected)


def test_regression_fit_respects_ax_and_rejects_2d_inputs():
    fig, ax = plt.subplots()
    assert plot.plot_regression_fit(lambda z: z, np.arange(4.0), np.arange(4.0), ax=ax) is fig
    with pytest.raises(ValueError, match=r"X of shape \(N,\) or \(N, 1\)"):
        plot.plot_regression_fit(lambda z: z, np.zeros((4, 2)), np.zeros(4))


def test_regression_fit_without_points_or_with_nan_says_so():
    with pytest.raises(ValueError, match="plot_regression_fit expected at least one point"):
        plot.plot_regression_fit(lambda z: z, np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match=r"finite X, got NaN/inf in 1 row"):
        plot.plot_regression_fit(lambda z: z, np.array([0.0, np.nan, 1.0]), np.ones(3))


def test_regression_fit_of_a_single_point_draws_a_curve_around_it():
    fig = plot.plot_regression_fit(lambda z: 2 * z, np.array([[3.0]]), np.array([6.0]))
    (curve,) = fig.axes[0].lines
    xs = curve.get_xdata()
    assert xs.min() < 3 < xs.max()
    assert fig.axes[0].get_title() == "Regression fit (MSE 0)"


# --- diagnostics ----------------------------------------------------------------------------


def test_grad_flow_draws_one_line_per_layer_on_a_log_scale():
    norms = {f"{i}.weight": list(10.0 ** -np.arange(i, i + 5)) for i in range(4)}
    fig = plot.plot_grad_flow(norms)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == list(norms)
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[2].get_ydata(), norms["2.weight"])


def test_grad_flow_snapshot_draws_one_bar_per_layer():
    norms = {"0": 1e-1, "2": 1e-3, "4": 1e-5}
    fig, ax = plt.subplots()
    assert plot.plot_grad_flow(norms, ax=ax) is fig
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], [1e-1, 1e-3, 1e-5])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "2", "4"]
    assert ax.get_yscale() == "log"


def test_grad_flow_all_zero_stays_linear_and_mixed_input_is_an_error():
    fig = plot.plot_grad_flow({"a": 0.0, "b": 0.0})
    assert fig.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="mix"):
        plot.plot_grad_flow({"a": 1.0, "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.plot_grad_flow({})


def test_activation_histograms_one_histogram_per_layer_in_a_row():
    rng = _rng()
    acts = {f"tanh{i}": np.tanh(rng.normal(size=(32, 8)) * (i + 1)) for i in range(3)}
    fig = plot.plot_activation_histograms(acts, bins=20)
    assert len(fig.axes) == 3
    ys = [a.get_position().y0 for a in fig.axes]
    assert max(ys) - min(ys) < 1e-9  # one row
    for a, (name, v) in zip(fig.axes, acts.items(), strict=True):
        assert len(a.patches) == 20
        assert sum(p.get_height() for p in a.patches) == v.size
        assert a.get_title().startswith(name)


def test_activation_histograms_use_given_axes_and_leave_out_non_finite():
    fig, axs = plt.subplots(1, 2)
    out = plot.plot_activation_histograms({"a": np.array([0.0, np.nan, 1.0]),
                                           "b": np.ones(4)}, axes=axs)
    assert out is fig and len(fig.axes) == 2
    assert sum(p.get_height() for p in axs[0].patches) == 2
    assert "1 non-finite" in axs[0].get_title()
    with pytest.raises(ValueError, match="needs 2 axes"):
        plot.plot_activation_histograms({"a": np.ones(2), "b": np.ones(2)}, axes=axs[:1])


def test_update_ratios_one_line_per_parameter_and_the_guide_at_minus_3():
    ratios = {"0.weight": [-3.2, -3.1, -3.0], "0.bias": [-4.0, -3.9, -3.8], "2.weight": [-2.5] * 3}
    fig, ax = plt.subplots()
    assert plot.plot_update_ratios(ratios, ax=ax) is fig
    labels = [ln.get_label() for ln in ax.lines]
    assert labels[:3] == list(ratios)
    guides = [ln for ln in ax.lines if ln.get_label() == "1e-3 guide"]
    assert len(guides) == 1 and np.all(np.asarray(guides[0].get_ydata()) == -3)
    assert len(ax.lines) == 4


# --- loss surfaces --------------------------------------------------------------------------


def _bowl(x, y):
    return x**2 + 3 * y**2


def test_loss_surface_grid_evaluates_f_on_a_meshgrid():
    X, Y, Z = plot.loss_surface_grid(_bowl, (-1, 1), (-2, 2), 5)
    assert X.shape == Y.shape == Z.shape == (5, 5)
    np.testing.assert_allclose(X[0], np.linspace(-1, 1, 5))
    np.testing.assert_allclose(Y[:, 0], np.linspace(-2, 2, 5))
    np.testing.assert_allclose(Z, X**2 + 3 * Y**2)
    with pytest.raises(ValueError, match="vectorised"):
        plot.loss_surface_grid(lambda x, y: 1.0, (-1, 1), (-1, 1), 5)


def test_loss_surface_draws_contours_and_one_line_per_path_with_start_and_end():
    t = np.linspace(0, 1, 8)[:, None]
    paths = {"SGD": np.hstack([1 - t, 1 - t]), "Adam": np.hstack([-(1 - t), 1 - t])}
    fig = plot.plot_loss_surface(_bowl, (-1.5, 1.5), (-1.5, 1.5), paths=paths, resolution=40)
    ax = fig.axes[0]
    assert sum(isinstance(c, ContourSet) for c in ax.collections) == 1
    assert [ln.get_label() for ln in ax.lines] == ["SGD", "Adam"]
    np.testing.assert_allclose(np.column_stack(ax.lines[1].get_data()), paths["Adam"])
    marks = {c.get_label(): c for c in _scatters(ax)}
    np.testing.assert_allclose(marks["start"].get_offsets(), [[1, 1], [-1, 1]])
    np.testing.assert_allclose(marks["end"].get_offsets(), [[0, 0], [0, 0]])
    assert ax.get_xlim() == (-1.5, 1.5)


def test_loss_surface_log_levels_diverging_paths_and_errors():
    fig, ax = plt.subplots()
    diverged = np.array([[0.5, 0.5], [5.0, 5.0], [np.inf, np.nan]])
    out = plot.plot_loss_surface(_bowl, (-1, 1), (-1, 1), paths={"big lr": diverged}, ax=ax,
                                 log=True, levels=12, resolution=30)
    assert out is fig
    (cs,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    levels = np.asarray(cs.levels)
    np.testing.assert_allclose(levels[1:] / levels[:-1], levels[1] / levels[0])  # geometric
    marks = {c.get_label(): c for c in _scatters(ax)}
    np.testing.assert_allclose(marks["end"].get_offsets(), [[5.0, 5.0]])  # last finite point
    assert ax.get_xlim() == (-1, 1)
    with pytest.raises(ValueError, match=r"path 'p' of shape \(T, 2\)"):
        plot.plot_loss_surface(_bowl, (-1, 1), (-1, 1), paths={"p": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="positive"):
        plot.plot_loss_surface(lambda x, y: -_bowl(x, y), (-1, 1), (-1, 1), log=True)


# --- images and confusion matrices ----------------------------------------------------------


def test_show_images_one_image_axes_per_image_mistakes_in_red():
    rng = _rng()
    images = rng.uniform(0, 16, size=(13, 64))
    labels = np.arange(13) % 10
    preds = labels.copy()
    preds[[1, 7]] = (preds[[1, 7]] + 1) % 10
    fig = plot.show_images(images, labels, preds, n_cols=5)
    with_images = [a for a in fig.axes if a.images]
    assert len(with_images) == 13
    np.testing.assert_allclose(with_images[3].images[0].get_array(), images[3].reshape(8, 8))
    red = [i for i, a in enumerate(with_images) if a.title.get_color() == plot.PALETTE[3]]
    assert red == [1, 7]
    assert with_images[1].get_title() == f"{preds[1]} (true {labels[1]})"
    assert with_images[0].get_title() == "0"


def test_show_images_into_given_axes_and_rejects_wrong_sizes():
    fig, axs = plt.subplots(2, 2)
    assert plot.show_images(np.zeros((3, 4, 4)), labels=[1, 2, 3], shape=(4, 4), axes=axs) is fig
    assert sum(bool(a.images) for a in axs.ravel()) == 3
    with pytest.raises(ValueError, match=r"images of shape \(N, 64\)"):
        plot.show_images(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="labels of length 3"):
        plot.show_images(np.zeros((3, 64)), labels=[1, 2])


def test_show_images_of_no_images_draws_an_empty_grid():
    fig = plot.show_images(np.zeros((0, 64)), labels=[])
    assert not any(a.images for a in fig.axes)
    fig = plot.show_images(np.zeros((0, 8, 8)))
    assert not any(a.images for a in fig.axes)


def test_confusion_matrix_is_also_reachable_from_plot():
    assert plot.confusion_matrix is train.confusion_matrix  # notebook 11 calls bp.plot's


def test_plot_confusion_matrix_annotates_every_cell():
    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 2, 2, 2, 1, 0, 1])
    fig = plot.plot_confusion_matrix(y_true, y_pred, n_classes=3)
    ax = fig.axes[0]
    assert len(ax.texts) == 9
    m = plot.confusion_matrix(y_true, y_pred, 3)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    assert all(cells[i, j] == str(m[i, j]) for i in range(3) for j in range(3))
    np.testing.assert_array_equal(ax.images[0].get_array(), m)


def test_plot_confusion_matrix_normalize_divides_rows_and_respects_ax():
    fig, ax = plt.subplots()
    out = plot.plot_confusion_matrix([0, 0, 0, 1], [0, 0, 1, 1], n_classes=3, ax=ax,
                                     normalize=True)
    assert out is fig
    values = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(values, [[2 / 3, 1 / 3, 0], [0, 1, 0], [0, 0, 0]])
    assert sorted(t.get_text() for t in ax.texts).count("0.67") == 1
    assert len(ax.texts) == 9


# --- draw_graph -----------------------------------------------------------------------------


def _neuron():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o, [x1, x2, w1, w2, b]


def _all_values(root):
    seen, stack = {}, [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen[id(v)] = v
            stack.extend(v.children)
    return list(seen.values())


def _boxes_texts_arrows(ax):
    value_texts = [t for t in ax.texts if "data" in t.get_text()]
    op_texts = [t for t in ax.texts if "data" not in t.get_text()]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    return value_texts, op_texts, boxes, circles, arrows


def test_draw_graph_one_box_per_value_one_circle_per_op_one_arrow_per_edge():
    o, _ = _neuron()
    values = _all_values(o)
    ops = [v for v in values if v.children]
    fig = plot.draw_graph(o)
    ax = fig.axes[0]
    value_texts, op_texts, boxes, circles, arrows = _boxes_texts_arrows(ax)
    assert len(value_texts) == len(boxes) == len(values) == 10
    assert len(op_texts) == len(circles) == len(ops) == 5
    # an arrow from each operand into its op, and one from each op to its result
    assert len(arrows) == sum(len(v.children) for v in ops) + len(ops)
    assert sorted(t.get_text() for t in op_texts) == sorted(v.op for v in ops)
    texts = {t.get_text() for t in value_texts}
    assert "o | data 0.7071 | grad 1.0000" in texts
    assert "w1 | data -3.0000 | grad 1.0000" in texts


def test_draw_graph_shares_repeated_operands_and_labels_unlabelled_values():
    a = Value(3.0, label="a")
    c = a * a
    fig = plot.draw_graph(c)
    value_texts, _, _, circles, arrows = _boxes_texts_arrows(fig.axes[0])
    assert len(value_texts) == 2 and len(circles) == 1
    assert len(arrows) == 2  # a -> (*) drawn once, (*) -> c
    assert "data 9.0000 | grad 0.0000" in {t.get_text() for t in value_texts}


def test_draw_graph_top_to_bottom_stacks_label_data_grad():
    o, leaves = _neuron()
    fig = plot.draw_graph(o, rankdir="TB")
    ax = fig.axes[0]
    assert "o\ndata 0.7071\ngrad 1.0000" in {t.get_text() for t in ax.texts}
    y = {t.get_text().split("\n")[0]: t.get_position()[1] for t in ax.texts}
    assert y["x1"] > y["n"] > y["o"]  # leaves on top, the root at the bottom


def test_draw_graph_lays_out_leaves_before_results():
    o, leaves = _neuron()
    ax = plot.draw_graph(o).axes[0]
    x = {t.get_text().split(" | ")[0]: t.get_position()[0] for t in ax.texts}
    assert x["x1"] < x["n"] < x["o"]
    assert x["w1"] < x["*"]


def test_draw_graph_highlight_marks_the_given_nodes():
    o, (x1, *_rest) = _neuron()
    ax = plot.draw_graph(o, highlight={x1, o}).axes[0]
    _, _, boxes, _, _ = _boxes_texts_arrows(ax)
    widths = sorted(b.get_linewidth() for b in boxes)
    assert widths[-2] == widths[-1] > widths[-3]
    from matplotlib.colors import to_rgba

    thick = [b for b in boxes if b.get_linewidth() == widths[-1]]
    assert all(np.allclose(b.get_edgecolor(), to_rgba(plot.PALETTE[1])) for b in thick)
    ax1 = plot.draw_graph(o, highlight=o).axes[0]  # a single Value
    widths1 = sorted(b.get_linewidth() for b in _boxes_texts_arrows(ax1)[2])
    assert widths1[-1] > widths1[-2]


def test_draw_graph_into_given_axes_and_size_grows_with_the_graph():
    o, _ = _neuron()
    fig, axs = plt.subplots(1, 2, figsize=(8, 3))
    ax = axs[0]
    assert plot.draw_graph(o, ax=ax) is fig
    assert len(ax.texts) == 15
    # scaled to fit the axes, the text still inside its box, as drawn
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    value_texts, _, boxes, _, _ = _boxes_texts_arrows(ax)
    for box, text in zip(boxes, value_texts, strict=True):
        b, t = box.get_window_extent(renderer), text.get_window_extent(renderer)
        assert frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1
        assert frame.y0 - 1 <= b.y0 and b.y1 <= frame.y1 + 1
        assert b.x0 <= t.x0 and t.x1 <= b.x1 and b.y0 <= t.y0 and t.y1 <= b.y1
    small = plot.draw_graph(Value(1.0) + Value(2.0)).get_size_inches()
    big = plot.draw_graph(o).get_size_inches()
    assert big[0] > small[0]


def _mlp_graph(rng, n_in=3, n_hidden=4):
    xs = [Value(float(v), label=f"x{i}") for i, v in enumerate(rng.normal(size=n_in))]
    out = Value(0.0, label="out")
    for j in range(n_hidden):
        act = Value(0.0, label=f"b{j}")
        for i, x in enumerate(xs):
            act = act + Value(float(rng.normal()), label=f"w{j}{i}") * x
        out = out + act.tanh() * Value(float(rng.normal()), label=f"v{j}")
    return out


def test_draw_graph_boxes_do_not_overlap_and_hold_their_text_at_100_nodes():
    root = _mlp_graph(_rng(), n_in=4, n_hidden=5)
    n_values = len(_all_values(root))
    assert 90 <= n_values <= 130
    fig = plot.draw_graph(root)
    ax = fig.axes[0]
    value_texts, _, boxes, _, arrows = _boxes_texts_arrows(ax)
    assert len(boxes) == len(value_texts) == n_values
    renderer = fig.canvas.get_renderer()
    extents = [b.get_window_extent(renderer) for b in boxes]
    for i, a in enumerate(extents):
        for b in extents[i + 1:]:
            assert not a.overlaps(b), "two value boxes overlap"
    for box, text in zip(extents, value_texts, strict=True):
        t = text.get_window_extent(renderer)
        assert box.x0 <= t.x0 and t.x1 <= box.x1, "text spills out of its box"


def test_draw_graph_refuses_huge_graphs_and_non_values():
    v = Value(0.0)
    for i in range(30):
        v = v + i
    with pytest.raises(ValueError, match="max_nodes=20"):
        plot.draw_graph(v, max_nodes=20)
    with pytest.raises(TypeError, match="expected a Value"):
        plot.draw_graph(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        plot.draw_graph(v, rankdir="XY")


def test_draw_graph_of_a_single_leaf():
    ax = plot.draw_graph(Value(1.5, label="a")).axes[0]
    assert [t.get_text() for t in ax.texts] == ["a | data 1.5000 | grad 0.0000"]
    assert not [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def test_decision_boundary_leaves_a_nested_model_in_mixed_modes_exactly_as_it_was():
    from model_state import assert_unchanged, mixed_model, state_of

    from bpkit.module import preserved

    rng = _rng()
    X, y = _blobs(20, rng)
    model = mixed_model()
    before = state_of(model)
    fig = plot.plot_decision_boundary(model, X, y, resolution=6)
    # a frozen BatchNorm1d stays in eval mode; buffers and Dropout generators untouched
    assert_unchanged(model, before)
    with preserved(model):  # the figure is the eval-mode model's
        model.eval()
        expected = float(np.mean(model(X).argmax(axis=1) == y))
    assert fig.axes[0].get_title() == f"Decision boundary (train accuracy {expected:.1%})"
