"""RegularizationExplorer: weight decay and dropout change the trained net and its curves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.widgets import RegularizationExplorer  # noqa: E402
from bpkit.widgets.regularization import (  # noqa: E402
    digits_subset,
    make_dropout_mlp,
    train_curves,
    weight_norm,
)

EPOCHS = 40


@pytest.fixture(scope="module")
def app() -> RegularizationExplorer:
    return RegularizationExplorer(epochs=EPOCHS)


def _line(app: RegularizationExplorer, gid: str):
    found = [line for ax in app.figure.axes for line in ax.lines if line.get_gid() == gid]
    assert found, f"no line with gid {gid!r}"
    return found[0]


def test_digits_subset_is_fixed_standardised_and_sized():
    X_train, y_train, X_val, y_val = digits_subset()
    assert X_train.shape == (100, 64) and X_val.shape == (500, 64)
    assert set(y_train) == set(range(10))
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(digits_subset()[2], X_val)


def test_more_weight_decay_gives_smaller_weights():
    data = digits_subset()
    norms = []
    for wd in (0.0, 1e-3, 1e-2, 1e-1):
        model = make_dropout_mlp(0.0, rng=0)
        train_curves(model, *data, weight_decay=wd, epochs=15)
        norms.append(weight_norm(model))
    assert norms == sorted(norms, reverse=True) and norms[-1] < 0.8 * norms[0]


def test_the_unregularised_net_overfits(app):
    s = app.state
    assert s.weight_decay == 0.0 and s.p == 0.0
    assert s.train_accuracy[-1] == 1.0
    assert s.val_accuracy[-1] < 0.95
    assert s.gap > 0.3
    assert len(s.train_loss) == len(s.val_accuracy) == EPOCHS
    assert s.best_val_loss == s.val_loss.min() == s.val_loss[s.best_epoch - 1]


def test_weight_decay_checkbox_switches_decay_and_shrinks_gap_and_norm(app):
    before = app.state
    app.weight_decay.value = 1e-2
    assert app.state.weight_decay == 0.0  # the checkbox is off: the slider alone does nothing
    redraws = app.redraws
    app.use_decay.value = True
    assert app.redraws == redraws + 1
    after = app.state
    assert after.weight_decay == pytest.approx(1e-2)
    assert after.weight_norm < before.weight_norm
    assert after.gap < before.gap
    assert not np.array_equal(_line(app, "val_loss").get_ydata(), before.val_loss)
    np.testing.assert_array_equal(_line(app, "val_loss").get_ydata(), after.val_loss)
    app.use_decay.value = False
    assert app.state.weight_decay == 0.0
    np.testing.assert_array_equal(app.state.val_loss, before.val_loss)


def test_dropout_changes_the_curves(app):
    app.p.value = 0.0
    none = app.state
    image = app.image.value
    app.p.value = 0.5
    assert app.state.p == 0.5
    assert not np.allclose(app.state.train_loss, none.train_loss)
    assert not np.allclose(app.state.val_loss, none.val_loss)
    assert app.image.value != image
    app.p.value = 0.0


def test_same_settings_give_the_same_curves():
    a = RegularizationExplorer(weight_decay=1e-3, p=0.2, epochs=20)
    b = RegularizationExplorer(weight_decay=1e-3, p=0.2, epochs=20)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(getattr(a.state, name), getattr(b.state, name))
    assert a.state.best_epoch == b.state.best_epoch
    assert a.state.gap == b.state.gap


def test_epochs_slider_sets_the_curve_length_and_best_epoch_marker(app):
    app.epochs.value = 20
    assert len(app.state.val_loss) == 20
    assert len(_line(app, "train_accuracy").get_xdata()) == 20
    marker = _line(app, "best_epoch")
    assert marker.get_xdata()[0] == app.state.best_epoch
    app.epochs.value = EPOCHS


def test_bad_settings_are_rejected_naming_the_argument():
    with pytest.raises(ValueError, match="weight_decay"):
        RegularizationExplorer(weight_decay=0.5)
    with pytest.raises(ValueError, match="expected p in"):
        RegularizationExplorer(p=0.9)
    with pytest.raises(ValueError, match="epochs"):
        RegularizationExplorer(epochs=5)
