"""DropoutLab: the masks and averages come from the learner's Dropout class."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets.exercise_dropout import SHAPE, DropoutLab, average_output  # noqa: E402


class _Unscaled(bp.Module):
    """A dropout that forgets the 1/(1 - p)."""

    def __init__(self, p=0.5, *, rng=None):
        self.p, self.rng = p, np.random.default_rng(rng)

    def forward(self, x):
        if not self.training:
            return x
        return x * (self.rng.random(x.shape) >= self.p)


class _Stub(bp.Module):
    def __init__(self, p=0.5, *, rng=None):
        pass

    def forward(self, x):
        raise NotImplementedError()


def test_lab_runs_the_given_class_in_both_modes():
    app = DropoutLab(bp.Dropout, p=0.5, seed=3, passes=100)
    s = app.state
    expected = bp.Dropout(0.5, rng=3)(np.ones(SHAPE))
    np.testing.assert_array_equal(s.first, expected)  # same seed, same first mask
    assert s.zero_fraction == float(np.mean(expected == 0))
    assert abs(s.overall_mean - 1) < 0.05 and s.error == ""
    redraws, image = app.redraws, app.image.value
    app.mode.value = "eval"
    assert app.redraws == redraws + 1 and app.image.value != image
    assert app.state.zero_fraction == 0 and app.state.overall_mean == 1.0
    np.testing.assert_array_equal(app.state.mean, np.ones(SHAPE))
    assert "eval mode" in app.message.value


def test_lab_shows_a_missing_scale_as_a_mean_below_one():
    app = DropoutLab(_Unscaled, p=0.6, passes=200)
    assert abs(app.state.overall_mean - 0.4) < 0.05
    means = [ln for ln in app.figure.axes[1].lines if ln.get_gid() == "means"][0]
    assert len(means.get_ydata()) == SHAPE[0] * SHAPE[1]
    app.seed.value = 4
    assert app.state.seed == 4


def test_average_output_averages_the_passes():
    first, mean = average_output(bp.Dropout(0.5, rng=0), passes=400)
    assert set(np.unique(first)) <= {0.0, 2.0} and abs(mean.mean() - 1) < 0.03


def test_lab_reports_a_broken_class_and_refuses_bad_arguments():
    app = DropoutLab(_Stub)
    assert app.state.error == "NotImplementedError" and "NotImplementedError" in app.message.value
    with pytest.raises(TypeError, match="layer class"):
        DropoutLab(bp.Dropout(0.5))
    with pytest.raises(ValueError, match="p must be in"):
        DropoutLab(bp.Dropout, p=0.95)
    with pytest.raises(ValueError, match="mode must be"):
        DropoutLab(bp.Dropout, mode="test")


class _DividesByP(bp.Module):
    """The classic slip: scales by 1/p instead of 1/(1 - p) (inf at p = 0)."""

    def __init__(self, p=0.5, *, rng=None):
        self.p, self.rng = p, np.random.default_rng(rng)

    def forward(self, x):
        if not self.training:
            return x
        return x * (self.rng.random(x.shape) >= self.p) / self.p


class _InPlace(bp.Module):
    """Right values, but the mask is multiplied into the caller's x."""

    def __init__(self, p=0.5, *, rng=None):
        self.p, self.rng = p, np.random.default_rng(rng)

    def forward(self, x):
        if self.training:
            x *= (self.rng.random(x.shape) >= self.p) / (1 - self.p)
        return x


class _NoReturn(_InPlace):
    def forward(self, x):
        super().forward(x)


def test_lab_draws_an_infinite_mean_instead_of_crashing():
    app = DropoutLab(_DividesByP, p=0.0)
    assert app.state.error == "" and app.state.overall_mean == np.inf
    assert "is inf" in app.message.value
    assert app.figure.axes[1].get_ylim() == (0.0, 2.0)


def test_lab_flags_a_forward_that_writes_into_its_input_and_keeps_passes_independent():
    app = DropoutLab(_InPlace, p=0.5, passes=200)
    assert app.state.input_changed and "changed the input x" in app.message.value
    assert abs(app.state.overall_mean - 1.0) < 0.1  # each pass on fresh ones: no compounding
    app.mode.value = "eval"
    assert not app.state.input_changed and "changed the input" not in app.message.value


def test_lab_names_a_forward_without_return():
    app = DropoutLab(_NoReturn)
    assert app.state.error == "TypeError: forward returned None (is `return` missing?)"
