"""Tests for bpkit.train: fit, evaluate, predict, History, callbacks, the NaN stop."""

from __future__ import annotations

import numpy as np
import pytest

import bpkit as bp
from bpkit import train
from bpkit.layers import BatchNorm1d, Dropout, Linear, ReLU, Tanh
from bpkit.losses import BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, MSELoss
from bpkit.optim import SGD, Adam, CosineAnnealingLR, StepLR


def mlp(sizes, seed=0, act=ReLU):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(act())
    return bp.Sequential(*layers)


@pytest.fixture(scope="module")
def digits():
    X, y = bp.load_digits()
    Xtr, Xva, ytr, yva = bp.train_test_split(X, y, test_size=0.25, rng=2, stratify=True)
    scaler = bp.Standardizer().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xva), ytr, yva


@pytest.fixture
def blobs():
    X, y = bp.make_blobs(120, centers=3, noise=0.4, rng=0)
    return X, y


class Recorder(train.Callback):
    """Logs every hook call and keeps a copy of the parameters after every step / epoch."""

    def __init__(self):
        self.events = []
        self.after_step = []
        self.epoch_states = {}

    def on_train_begin(self, history, model):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, model):
        self.events.append(f"epoch_begin {epoch}")

    def on_before_step(self, model, optimizer):
        self.events.append("before_step")

    def on_after_step(self, model, optimizer):
        self.events.append("after_step")
        self.after_step.append(model.state_dict())

    def on_epoch_end(self, epoch, history, model):
        self.events.append(f"epoch_end {epoch}")
        self.epoch_states[epoch] = model.state_dict()
        return False

    def on_train_end(self, history, model):
        self.events.append("train_end")


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# -- the headline: digits ---------------------------------------------------------------------
def test_fit_on_digits_reaches_97_percent_validation_accuracy(digits):
    Xtr, Xva, ytr, yva = digits
    model = mlp([64, 128, 64, 10], seed=1)
    opt = Adam(model.parameters(), lr=3e-3)
    history = bp.fit(model, CrossEntropyLoss(), opt, Xtr, ytr, epochs=15, batch_size=32,
                     validation_data=(Xva, yva), rng=1, progress=False,
                     scheduler=CosineAnnealingLR(opt, T_max=15))
    assert history.val_accuracy[-1] >= 0.97
    assert history.loss[-1] < history.loss[0] / 10
    assert history.epochs == list(range(1, 16))
    assert len(history.loss) == len(history.accuracy) == len(history.val_loss) == 15
    np.testing.assert_allclose(history.lr[0], 3e-3)
    assert history.lr[-1] < history.lr[0] / 10  # the schedule was stepped once per epoch
    scores = bp.evaluate(model, CrossEntropyLoss(), Xva, yva)
    assert scores["accuracy"] == pytest.approx(history.val_accuracy[-1])
    assert scores["loss"] == pytest.approx(history.val_loss[-1])
    assert np.mean(bp.predict(model, Xva) == yva) == pytest.approx(scores["accuracy"])


# -- bookkeeping -----------------------------------------------------------------------------
def test_fit_is_reproducible_for_a_seed(blobs):
    X, y = blobs
    runs = []
    for _ in range(2):
        model = mlp([2, 8, 3], seed=3)
        h = bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=3,
                   batch_size=16, rng=5, progress=False)
        runs.append((h.loss, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert_same_state(runs[0][1], runs[1][1])


def test_history_loss_is_the_mean_over_the_epoch_with_a_hand_written_loop(blobs):
    X, y = blobs
    model, ref = mlp([2, 8, 3], seed=4), mlp([2, 8, 3], seed=4)
    h = bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.2), X, y, epochs=2,
               batch_size=50, rng=9, progress=False)
    loss_fn, opt, rng = CrossEntropyLoss(), SGD(ref.parameters(), lr=0.2), np.random.default_rng(9)
    for epoch in range(2):
        total = correct = 0.0
        for Xb, yb in bp.batches(X, y, 50, rng=rng):
            out = ref(Xb)
            total += loss_fn(out, yb) * len(Xb)
            correct += np.sum(out.argmax(axis=1) == yb)
            opt.zero_grad()
            ref.backward(loss_fn.backward())
            opt.step()
        assert h.loss[epoch] == pytest.approx(total / len(X), rel=1e-12)
        assert h.accuracy[epoch] == pytest.approx(correct / len(X), rel=1e-12)
    assert_same_state(model.state_dict(), ref.state_dict())


def test_regression_records_no_accuracy_and_float32_stays_float32():
    X, y = bp.make_sine(64, rng=0)
    X, y = X.astype(np.float32), y.astype(np.float32)
    model = mlp([1, 16, 1], act=Tanh).astype(np.float32)
    h = bp.fit(model, MSELoss(), Adam(model.parameters(), lr=1e-2), X, y, epochs=3,
               batch_size=16, validation_data=(X, y), rng=0, progress=False)
    assert h.accuracy == [] and h.val_accuracy == [] and len(h.val_loss) == 3
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    assert "accuracy" not in bp.evaluate(model, MSELoss(), X, y)
    assert bp.predict(model, X).shape == (64, 1)


def test_binary_and_hinge_losses_count_as_classification(blobs):
    X, y = bp.make_moons(80, rng=0)
    model = mlp([2, 8, 1])
    h = bp.fit(model, BCEWithLogitsLoss(), Adam(model.parameters(), lr=1e-2), X,
               y[:, None].astype(np.float64), epochs=2, batch_size=20, rng=0, progress=False)
    assert len(h.accuracy) == 2
    X, y = blobs
    model = mlp([2, 8, 3])
    h = bp.fit(model, HingeLoss(), Adam(model.parameters(), lr=1e-2), X, y, epochs=2,
               batch_size=20, rng=0, progress=False)
    assert len(h.accuracy) == 2


def test_callback_hooks_are_called_in_order(blobs):
    X, y = blobs
    model, rec = mlp([2, 4, 3]), Recorder()
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
           batch_size=50, rng=0, progress=False, callbacks=[rec])
    step = ["before_step", "after_step"]
    expected = (["train_begin", "epoch_begin 1"] + step * 3 + ["epoch_end 1", "epoch_begin 2"]
                + step * 3 + ["epoch_end 2", "train_end"])
    assert rec.events == expected


def test_a_callback_returning_true_stops_training(blobs):
    class StopAfterTwo(train.Callback):
        def on_epoch_end(self, epoch, history, model):
            return epoch == 2

    X, y = blobs
    model = mlp([2, 4, 3])
    h = bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=10,
               batch_size=50, rng=0, progress=False, callbacks=[StopAfterTwo()])
    assert h.epochs == [1, 2]


def test_fit_trains_in_train_mode_and_restores_modes(blobs):
    X, y = blobs
    rng = np.random.default_rng(0)
    model = bp.Sequential(Linear(2, 8, rng=rng), ReLU(), Dropout(0.5, rng=rng),
                          Linear(8, 3, rng=rng))
    seen = []

    class Mode(train.Callback):
        def on_before_step(self, model, optimizer):
            seen.append(model[2].training)

    model.eval()
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=1,
           batch_size=60, rng=0, progress=False, callbacks=[Mode()])
    assert seen == [True, True]
    assert not any(m.training for m in model.modules())


# -- progress bar ----------------------------------------------------------------------------
def test_progress_off_writes_nothing_and_on_writes_the_bar(blobs, capfd):
    X, y = blobs
    model = mlp([2, 4, 3])
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
           batch_size=30, validation_data=(X, y), rng=0, progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
           batch_size=30, validation_data=(X, y), rng=0, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "epoch 2/2" in err and "8/8" in err and "val_acc=" in err and "loss=" in err


# -- divergence ------------------------------------------------------------------------------
def test_nan_loss_stops_with_epoch_batch_and_advice_keeping_parameters():
    # linear regression on unscaled pixels (0..16) with lr=1: the iterates grow geometrically
    X, y = bp.load_digits()
    y = y[:, None].astype(np.float64)
    model, rec = mlp([64, 1]), Recorder()
    with pytest.raises(bp.TrainingDiverged) as err:
        bp.fit(model, MSELoss(), SGD(model.parameters(), lr=1.0), X, y, epochs=3,
               batch_size=64, rng=0, progress=False, callbacks=[rec])
    e = err.value
    assert isinstance(e, FloatingPointError)
    message = str(e)
    assert "the loss is inf" in message or "the loss is nan" in message
    assert f"epoch {e.epoch} of 3" in message and f"batch {e.batch} of 29" in message
    assert "(lr=1)" in message and "smaller" in message
    steps_done = (e.epoch - 1) * 29 + e.batch - 1
    assert len(rec.after_step) == steps_done >= 1
    assert_same_state(model.state_dict(), rec.after_step[-1])  # the last good parameters
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())
    assert len(e.history) == e.epoch - 1


def test_parameters_overflowing_in_the_step_are_restored(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    before = model.state_dict()
    with pytest.raises(bp.TrainingDiverged, match="optimizer step at epoch 1 of 1, batch 1 of 2"):
        bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=1e308), X * 1e3, y, epochs=1,
               batch_size=60, rng=0, progress=False)
    assert_same_state(model.state_dict(), before)


def test_nan_in_the_data_is_named_and_batchnorm_buffers_are_restored(blobs):
    X, y = blobs
    X = X.copy()
    X[70, 1] = np.nan
    rng = np.random.default_rng(0)
    model = bp.Sequential(Linear(2, 4, rng=rng), BatchNorm1d(4), ReLU(), Linear(4, 3, rng=rng))
    rec = Recorder()
    with pytest.raises(bp.TrainingDiverged, match="input batch itself contains NaN") as err:
        bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=1,
               batch_size=20, rng=0, progress=False, callbacks=[rec])
    assert err.value.batch == len(rec.after_step) + 1 >= 2
    # the forward pass had already put NaN into the running statistics: they are restored
    assert_same_state(model.state_dict(), rec.after_step[-1])
    assert np.all(np.isfinite(model[1].running_mean))


# -- early stopping --------------------------------------------------------------------------
def test_early_stopping_restores_the_best_parameters(blobs):
    X, y = blobs
    y_wrong = (y + 1) % 3  # validation labels training can only get worse at
    model, rec = mlp([2, 16, 3], seed=2), Recorder()
    stopper = train.EarlyStopping(patience=3)
    h = bp.fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=3e-2), X, y, epochs=40,
               batch_size=30, validation_data=(X, y_wrong), rng=0, progress=False,
               callbacks=[stopper, rec])
    best = int(np.argmin(h.val_loss)) + 1
    assert stopper.best_epoch == best and stopper.best == min(h.val_loss)
    assert stopper.stopped_epoch == best + 3 == h.epochs[-1] < 40
    assert_same_state(model.state_dict(), rec.epoch_states[best])
    assert bp.evaluate(model, CrossEntropyLoss(), X, y_wrong)["loss"] == pytest.approx(
        h.val_loss[best - 1], rel=1e-12)


def test_early_stopping_on_accuracy_and_without_restoring(blobs):
    X, y = blobs
    model, rec = mlp([2, 8, 3]), Recorder()
    stopper = train.EarlyStopping(monitor="accuracy", patience=2, min_delta=0.5,
                                  restore_best=False)
    h = bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=10,
               batch_size=30, rng=0, progress=False, callbacks=[stopper, rec])
    assert h.epochs == [1, 2, 3] and stopper.best_epoch == 1  # nothing beats best + 0.5
    assert_same_state(model.state_dict(), rec.epoch_states[3])


def test_early_stopping_errors(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    with pytest.raises(ValueError, match="pass validation_data"):
        bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
               batch_size=30, rng=0, progress=False, callbacks=[train.EarlyStopping()])
    with pytest.raises(ValueError, match="monitor"):
        train.EarlyStopping(monitor="val_acc")
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(patience=0)


# -- live plot -------------------------------------------------------------------------------
def test_live_plot_keeps_a_figure_outside_notebooks(blobs):
    X, y = blobs
    model, live = mlp([2, 4, 3]), train.LivePlot()
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=3,
           batch_size=30, validation_data=(X, y), rng=0, progress=False, callbacks=[live])
    assert live.display_handle is None
    axes = live.figure.axes
    assert len(axes) == 2  # loss and accuracy panels
    assert all(len(ax.get_lines()) == 2 for ax in axes)  # train and validation curves
    assert len(axes[0].get_lines()[0].get_xdata()) == 3


def test_live_plot_updates_one_display_in_a_notebook(blobs, monkeypatch):
    display_mod = pytest.importorskip("IPython.display")
    calls = []

    class Handle:
        def update(self, obj):
            calls.append(("update", type(obj).__name__))

    def fake_display(obj, display_id=False):
        calls.append(("display", type(obj).__name__))
        return Handle()

    monkeypatch.setattr(train, "_in_notebook", lambda: True)
    monkeypatch.setattr(display_mod, "display", fake_display)
    X, y = blobs
    model = mlp([2, 4, 3])
    bp.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
           batch_size=30, rng=0, progress=False, callbacks=[train.LivePlot()])
    assert calls == [("display", "Image"), ("update", "Image")]


# -- evaluate, predict, accuracy -------------------------------------------------------------
def test_evaluate_uses_eval_mode_restores_modes_and_averages_per_sample(blobs):
    X, y = blobs
    rng = np.random.default_rng(0)
    model = bp.Sequential(Linear(2, 8, rng=rng), Dropout(0.5, rng=rng), Linear(8, 3, rng=rng))
    a = bp.evaluate(model, CrossEntropyLoss(), X, y)
    b = bp.evaluate(model, CrossEntropyLoss(), X, y, batch_size=7)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-12) and a["accuracy"] == b["accuracy"]
    assert model.training and model[1].training
    summed = bp.evaluate(model, CrossEntropyLoss(reduction="sum"), X, y, batch_size=50)
    assert summed["loss"] == pytest.approx(a["loss"], rel=1e-12)


def test_predict_and_predict_proba():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    multi = mlp([2, 5, 4])
    logits = multi(X)
    labels = bp.predict(multi, X)
    assert labels.dtype == np.int64 and labels.tolist() == logits.argmax(axis=1).tolist()
    probs = bp.predict_proba(multi, X)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probs.argmax(axis=1), labels)
    binary = mlp([2, 5, 1])
    z = binary(X)
    np.testing.assert_allclose(bp.predict_proba(binary, X), 1 / (1 + np.exp(-z)))
    big = bp.Sequential(Linear(1, 1, bias=False, rng=0))
    big.layers[0].weight.data[...] = 1.0
    np.testing.assert_array_equal(bp.predict_proba(big, np.array([[-800.0], [800.0]])),
                                  [[0.0], [1.0]])


def test_accuracy_reads_every_output_form():
    assert bp.accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), np.array([0, 1, 1])) \
        == pytest.approx(2 / 3)
    assert bp.accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.eye(2)) == 1.0  # one-hot
    assert bp.accuracy(np.array([[1.5], [-0.5], [0.2]]), np.array([[1.0], [0.0], [0.0]])) \
        == pytest.approx(2 / 3)
    assert bp.accuracy(np.array([0.3, -2.0]), np.array([1, -1])) == 1.0  # +-1 labels
    assert bp.accuracy(np.array([2, 0, 1]), np.array([2, 1, 1])) == pytest.approx(2 / 3)
    assert bp.accuracy(np.array([0.9, 0.2]) > 0.5, np.array([1, 1])) == 0.5
    with pytest.raises(ValueError, match="same number of samples"):
        bp.accuracy(np.zeros((3, 2)), np.zeros(2))


def test_fit_rejects_bad_arguments(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    opt = SGD(model.parameters(), lr=0.1)
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs"):
        bp.fit(model, loss, opt, X, y, epochs=0, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="same number of rows"):
        bp.fit(model, loss, opt, X, y[:-1], epochs=1, batch_size=8, progress=False)
    with pytest.raises(TypeError, match="validation_data"):
        bp.fit(model, loss, opt, X, y, epochs=1, batch_size=8, validation_data=X,
               progress=False)
    with pytest.raises(TypeError, match=r"callbacks\[0\]"):
        bp.fit(model, loss, opt, X, y, epochs=1, batch_size=8, callbacks=[print],
               progress=False)
    with pytest.raises(TypeError, match="Module"):
        bp.fit(lambda x: x, loss, opt, X, y, epochs=1, batch_size=8, progress=False)


def test_fit_rejects_empty_validation_data_before_training(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    before = model.state_dict()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"fit: validation_data needs at least one sample"):
        bp.fit(model, CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=8,
               validation_data=(X[:0], y[:0]), progress=False)
    assert_same_state(model.state_dict(), before)  # not a single step was taken


def test_fit_says_callbacks_is_a_list_when_given_one_callback(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"list of Callbacks, got one EarlyStopping.*\[\.\.\.\]"):
        bp.fit(model, CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=8,
               callbacks=bp.EarlyStopping("loss"), progress=False)


def test_history_as_dict_repr_and_plot(blobs):
    X, y = blobs
    model = mlp([2, 4, 3])
    opt = SGD(model.parameters(), lr=0.1)
    h = bp.fit(model, CrossEntropyLoss(), opt, X, y, epochs=4, batch_size=30, rng=0,
               progress=False, scheduler=StepLR(opt, step_size=2, gamma=0.5))
    assert h.lr == [0.1, 0.1, 0.05, 0.05]
    d = h.as_dict()
    assert d["loss"] == h.loss and d["val_loss"] == [] and len(h) == 4
    assert "epochs=4" in repr(h)
    fig = h.plot()  # conftest selects the Agg backend and closes figures
    assert len(fig.axes) == 2
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1]  # no validation curves


def test_evaluate_and_predict_leave_a_nested_model_in_mixed_modes_exactly_as_it_was():
    from model_state import assert_unchanged, mixed_model, state_of

    model = mixed_model()
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((30, 2)), rng.integers(0, 2, 30)
    before = state_of(model)
    scores = train.evaluate(model, CrossEntropyLoss(), X, y, batch_size=7)
    assert_unchanged(model, before)
    classes = train.predict(model, X, batch_size=7)
    assert_unchanged(model, before)
    probs = train.predict_proba(model, X)
    assert_unchanged(model, before)
    model.eval()  # what they computed is the eval-mode model's
    out = model(X)
    assert scores["accuracy"] == float(np.mean(out.argmax(axis=1) == y))
    np.testing.assert_array_equal(classes, out.argmax(axis=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)


def test_fit_gives_every_module_its_mode_back_and_undoes_a_diverging_step_exactly():
    from model_state import mixed_model

    model = mixed_model()
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((32, 2)), rng.integers(0, 2, 32)
    modes = [(name, m.training) for name, m in model.named_modules()]
    train.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=2,
              batch_size=8, rng=0, progress=False)
    assert [(name, m.training) for name, m in model.named_modules()] == modes
    X[20, 0] = np.nan  # its batch's forward puts NaN into the running statistics
    with pytest.raises(train.TrainingDiverged, match="the loss is nan"):
        train.fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y,
                  epochs=1, batch_size=8, rng=0, progress=False)
    assert [(name, m.training) for name, m in model.named_modules()] == modes
    for name, value in model.state_dict().items():  # all finite: the step was undone
        assert np.all(np.isfinite(value)), name


def test_confusion_matrix_counts_rows_true_columns_predicted():
    m = train.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 0] = 1
    expected[2, 2] = 2
    np.testing.assert_array_equal(m, expected)
    # scores are reduced with argmax
    scores = np.eye(3)[[0, 1, 1, 2, 0, 2]]
    np.testing.assert_array_equal(train.confusion_matrix([0, 0, 1, 2, 2, 2], scores),
                                  expected[:3, :3])
    with pytest.raises(ValueError, match="beyond n_classes=2"):
        train.confusion_matrix([0, 2], [0, 1], n_classes=2)
