"""Tests of bpkit.gradcheck: numerical gradients, rel_error, the checks and their diagnoses.

Every diagnosis is tested with a deliberately broken layer or loss defined here.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpkit as bp
from bpkit.gradcheck import (
    GradcheckReport,
    TensorCheck,
    check_loss,
    check_model,
    check_module,
    numerical_gradient,
    rel_error,
)
from bpkit.module import Module, Parameter


# -- small layers and losses, correct and broken ---------------------------------------------
class Dense(Module):
    """A correct fully connected layer written out here, so the broken ones can vary it."""

    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.weight = Parameter(rng.normal(size=(n_out, n_in)), "weight")
        self.bias = Parameter(rng.normal(size=n_out), "bias")
        self._x = None

    def forward(self, x):
        self._x = x
        return x @ self.weight.data.T + self.bias.data

    def backward(self, g):
        self.weight.grad += g.T @ self._x
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class SignFlippedInput(Dense):
    def backward(self, g):
        super().backward(g)
        return -(g @ self.weight.data)


class NoReturn(Dense):
    def backward(self, g):
        super().backward(g)


class WrongShapeInput(Dense):
    def backward(self, g):
        return super().backward(g)[:, :-1]


class BiasKeepdims(Dense):
    def backward(self, g):
        self.weight.grad += g.T @ self._x
        self.bias.grad = g.sum(axis=0, keepdims=True)
        return g @ self.weight.data


class ForgetsWeight(Dense):
    def backward(self, g):
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class TransposedWeight(Dense):
    """Rebinds weight.grad to x^T dy: shape (in, out) instead of (out, in)."""

    def backward(self, g):
        self.weight.grad = self._x.T @ g
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class TransposedSquare(Dense):
    def backward(self, g):
        self.weight.grad += (g.T @ self._x).T
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class AveragesWeight(Dense):
    """Divides dW by the batch size although the upstream gradient already carries it."""

    def backward(self, g):
        self.weight.grad += g.T @ self._x / len(g)
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class AssignsWeight(Dense):
    """``=`` instead of ``+=``: right values, but two backward passes do not add up."""

    def backward(self, g):
        self.weight.grad = g.T @ self._x
        self.bias.grad += g.sum(axis=0)
        return g @ self.weight.data


class WrongColumn(Dense):
    def backward(self, g):
        dx = super().backward(g)
        self.weight.grad[:, 1] *= 3
        return dx


class NaNInput(Dense):
    bad = np.nan

    def backward(self, g):
        dx = super().backward(g)
        dx[0, 0] = self.bad
        return dx


class InfInput(NaNInput):
    bad = np.inf


class WrongLeaky(Module):
    """Leaky ReLU with slope 0.01 forward but 0.1 backward."""

    def forward(self, x):
        self._x = x
        return np.where(x > 0, x, 0.01 * x)

    def backward(self, g):
        return g * np.where(self._x > 0, 1.0, 0.1)


class InPlaceReLU(Module):
    """Writes into its input (forward) and into the upstream gradient (backward)."""

    def forward(self, x):
        self._mask = x > 0
        x[~self._mask] = 0
        return x

    def backward(self, g):
        g[~self._mask] = 0
        return g


class GlobalRandomDropout(Module):
    """Draws its mask from np.random instead of its own rng."""

    def forward(self, x):
        self._mask = np.random.rand(*x.shape) > 0.5
        return x * self._mask

    def backward(self, g):
        return g * self._mask


class RowSquares:
    """L = sum((p - t)^2) / N with a correct backward."""

    def __call__(self, pred, target):
        self._d = pred - target
        return float((self._d**2).sum() / len(pred))

    def backward(self):
        return 2 * self._d / len(self._d)


class RowSquaresNoMean(RowSquares):
    def backward(self):
        return 2 * self._d


class RowSquaresNoTwo(RowSquares):
    def backward(self):
        return self._d / len(self._d)


class RowSquaresTwiceMean(RowSquares):
    def backward(self):
        return 2 * self._d / len(self._d) ** 2


class RowSquaresSignFlipped(RowSquares):
    def backward(self):
        return -2 * self._d / len(self._d)


@pytest.fixture
def x():
    return np.random.default_rng(42).normal(size=(6, 4))


def kinds(report: GradcheckReport, tensor: str | None = "any") -> list[str]:
    return [f.kind for f in report.findings if tensor == "any" or f.tensor == tensor]


# -- rel_error -----------------------------------------------------------------------------
def test_rel_error_is_cs231n_definition():
    a = np.array([1.0, 2.0, 0.0])
    b = np.array([1.0, 2.2, 1e-10])
    # max(|a-b| / max(|a|+|b|, 1e-8)) = max(0, 0.2/4.2, 1e-10/1e-8)
    assert rel_error(a, b) == pytest.approx(0.2 / 4.2)
    assert rel_error(0.0, 1e-10) == pytest.approx(1e-2)
    assert rel_error(0.0, 1e-10, eps=1e-12) == pytest.approx(1.0)
    assert rel_error(3.0, 3.0) == 0.0
    assert isinstance(rel_error(a, b), float)
    assert rel_error(np.empty((0, 3)), np.empty((0, 3))) == 0.0


@pytest.mark.parametrize("a, b", [(np.inf, np.inf), ([1.0, np.inf], [1.0, 2.0]),
                                  ([np.nan, 1.0], [0.0, 1.0]), (-np.inf, np.inf)])
def test_rel_error_of_non_finite_values_is_nan_without_a_warning(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(rel_error(a, b))


def test_rel_error_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        rel_error(np.zeros((2, 3)), np.zeros((3, 2)))


# -- numerical_gradient --------------------------------------------------------------------
def test_numerical_gradient_of_scalar_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)


def test_numerical_gradient_with_grad_output():
    x = np.array([0.3, -1.2, 2.0])
    g = np.array([1.0, -2.0, 0.5])
    grad = numerical_gradient(lambda: np.sin(x), x, grad_output=g)
    np.testing.assert_allclose(grad, np.cos(x) * g, rtol=1e-8)


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(0).normal(size=(3, 5))
    before = x.copy()
    numerical_gradient(lambda: float(np.sum(np.tanh(x))), x, h=0.1)
    assert np.array_equal(x, before)  # bit for bit, although x + h - h != x in floats


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = []

    def f():
        calls.append(x.copy())
        if len(calls) == 3:  # the first call is f(x); the second perturbed one raises
            raise RuntimeError("boom")
        return float(x.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert np.array_equal(x, before)
    assert calls[2][0] != before[0]  # it really was perturbed when f raised


def test_numerical_gradient_non_contiguous_and_float32():
    base = np.random.default_rng(1).normal(size=(4, 3))
    xt = base.T  # a non-contiguous view: perturbations must reach base
    grad = numerical_gradient(lambda: float(np.sum(base**2)), xt)
    np.testing.assert_allclose(grad, 2 * xt, rtol=1e-7)
    x32 = np.array([1.0, 2.0], dtype=np.float32)
    g32 = numerical_gradient(lambda: float(np.sum(x32.astype(np.float64) ** 2)), x32, h=1e-2)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, [2.0, 4.0], rtol=1e-3)


def test_numerical_gradient_bad_input():
    x = np.ones(3)
    with pytest.raises(ValueError, match="grad_output"):
        numerical_gradient(lambda: x * 2, x)
    with pytest.raises(ValueError, match=r"grad_output has shape \(2,\).*\(3,\)"):
        numerical_gradient(lambda: x * 2, x, grad_output=np.ones(2))
    with pytest.raises(TypeError, match="floating"):
        numerical_gradient(lambda: 0.0, np.ones(3, dtype=int))
    with pytest.raises(ValueError, match="h must be > 0"):
        numerical_gradient(lambda: 0.0, x, h=0)


# -- check_module on correct layers ---------------------------------------------------------
def test_check_module_passes_correct_linear(x):
    report = check_module(bp.Linear(4, 3, rng=0), x)
    assert report.ok
    assert report.names == ["input", "weight", "bias"]
    assert report.diagnoses == []
    for entry in report.entries:
        assert entry.passed and entry.status == "pass"
        assert entry.max_rel_error < 1e-7
        assert entry.checked == entry.numerical.size
    w = report["weight"]
    assert isinstance(w, TensorCheck) and w.shape == (3, 4)
    assert w.analytic[w.worst_index] == w.analytic_value
    assert w.numerical[w.worst_index] == w.numerical_value


@pytest.mark.parametrize(
    "layer",
    [
        bp.ReLU(),
        bp.LeakyReLU(0.1),
        bp.Sigmoid(),
        bp.Tanh(),
        bp.GELU(),
        bp.LayerNorm(4),
        bp.BatchNorm1d(4),
        bp.Dropout(0.5, rng=3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_check_module_passes_library_layers(layer, x):
    report = check_module(layer, x)
    assert report.ok, str(report)


@pytest.mark.parametrize("layer", [bp.ReLU(), bp.Tanh(), bp.GELU(), bp.Dropout(0.5, rng=3)],
                         ids=lambda m: type(m).__name__)
def test_check_module_accepts_a_0d_input(layer):
    # NumPy ufuncs turn a 0-d array into a NumPy scalar; the check must take it as an array
    report = check_module(layer, np.array(0.5))
    assert report.ok, str(report)
    assert report["input"].shape == () and report["input"].checked == 1


def test_check_module_leaves_the_module_as_it_was(x):
    layer = Dense(4, 3)
    layer.weight.grad[...] = 7.0
    layer(np.ones((2, 4)))  # a cache from an earlier forward
    layer.eval()
    state = copy.deepcopy(vars(layer))
    x_before = x.copy()
    assert check_module(layer, x).ok
    assert np.array_equal(x, x_before)
    assert not layer.training
    assert np.array_equal(layer._x, state["_x"])
    for name in ("weight", "bias"):
        assert np.array_equal(getattr(layer, name).data, state[name].data)
        assert np.array_equal(getattr(layer, name).grad, state[name].grad)


def test_dropout_in_training_gets_the_same_mask_and_its_rng_is_untouched(x):
    layer = bp.Dropout(0.5, rng=5)
    twin = copy.deepcopy(layer)
    report = check_module(layer, x)
    assert report.ok, str(report)
    assert np.array_equal(layer.rng.random(4), twin.rng.random(4))


def test_check_module_is_reproducible(x):
    a = check_module(bp.Tanh(), x, rng=3)
    b = check_module(bp.Tanh(), x, rng=3)
    assert np.array_equal(a["input"].numerical, b["input"].numerical)
    c = check_module(bp.Tanh(), x)
    d = check_module(bp.Tanh(), x)
    assert np.array_equal(c["input"].numerical, d["input"].numerical)


def test_check_module_sample_checks_k_entries_per_tensor(x):
    report = check_module(bp.Linear(4, 5, rng=0), x, sample=3, rng=0)
    assert report.ok
    for entry in report.entries:
        assert entry.checked == 3
        assert np.count_nonzero(~np.isnan(entry.numerical)) == 3
    assert report["bias"].checked == 3  # size 5 -> 3 sampled
    assert check_module(bp.Linear(4, 2, rng=0), x, sample=3)["bias"].checked == 2


def test_check_module_uses_given_grad_output(x):
    g = np.zeros((6, 3))
    g[0, 0] = 1.0
    report = check_module(bp.Linear(4, 3, rng=0), x, grad_output=g)
    assert report.ok
    np.testing.assert_allclose(report["bias"].analytic, [1.0, 0.0, 0.0])


def test_check_module_bad_arguments(x):
    with pytest.raises(TypeError, match="Module"):
        check_module(lambda v: v, x)
    with pytest.raises(ValueError, match=r"grad_output has shape \(6, 2\).*\(6, 3\)"):
        check_module(bp.Linear(4, 3, rng=0), x, grad_output=np.ones((6, 2)))
    with pytest.raises(TypeError, match="floating"):
        check_module(bp.Linear(4, 3, rng=0), np.ones((6, 4), dtype=int))
    with pytest.raises(ValueError, match="sample"):
        check_module(bp.Linear(4, 3, rng=0), x, sample=0)
    with pytest.raises(ValueError, match="tol"):
        check_module(bp.Linear(4, 3, rng=0), x, tol=-1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_named_not_blamed_on_backward(x, bad):
    x = x.copy()
    x[1, 2] = bad
    match = r"contains NaN or inf at 1 of 24 entries"
    with pytest.raises(ValueError, match=r"check_module: x " + match):
        check_module(bp.Linear(4, 3, rng=0), x)
    with pytest.raises(ValueError, match=r"check_loss: pred " + match):
        check_loss(bp.MSELoss(), x, np.zeros_like(x))
    with pytest.raises(ValueError, match=r"check_model: X " + match):
        check_model(bp.Linear(4, 3, rng=0), bp.CrossEntropyLoss(), x, np.zeros(6, dtype=int))


# -- diagnoses ------------------------------------------------------------------------------
def test_diagnoses_sign_flip(x):
    report = check_module(SignFlippedInput(4, 3), x)
    assert not report.ok
    assert report["input"].status == "FAIL" and report["weight"].passed
    assert kinds(report) == ["sign"]
    assert "'input'" in report.diagnoses[0] and "sign flipped" in report.diagnoses[0]


def test_diagnoses_missing_return(x):
    report = check_module(NoReturn(4, 3), x)
    assert kinds(report) == ["none"]
    assert "return" in report.diagnoses[0]
    assert report["input"].analytic is None and not report["input"].passed


def test_diagnoses_wrong_shape(x):
    report = check_module(WrongShapeInput(4, 3), x)
    assert kinds(report, "input") == ["wrong_shape"]
    assert "(6, 3)" in report.diagnoses[0] and "(6, 4)" in report.diagnoses[0]


def test_diagnoses_right_values_wrong_shape(x):
    report = check_module(BiasKeepdims(4, 3), x)
    assert "wrong_shape" in kinds(report, "bias")
    message = next(f.message for f in report.findings if f.kind == "wrong_shape")
    assert "values are right" in message and "(1, 3)" in message


def test_diagnoses_all_zeros(x):
    report = check_module(ForgetsWeight(4, 3), x)
    assert kinds(report) == ["zeros"]
    assert "weight.grad +=" in report.diagnoses[0]


def test_diagnoses_transposed_shape(x):
    report = check_module(TransposedWeight(4, 3), x)
    assert "transposed" in kinds(report, "weight")
    assert "not_accumulated" in kinds(report, "weight")  # it also used `=`
    assert "wrong_shape" not in kinds(report)


def test_diagnoses_transposed_square(x):
    report = check_module(TransposedSquare(4, 4), x)
    assert kinds(report) == ["transposed"]
    assert "square" in report.diagnoses[0]


def test_diagnoses_factor_of_batch_size(x):
    report = check_module(AveragesWeight(4, 3), x)
    assert kinds(report) == ["factor"]
    assert "1/6" in report.diagnoses[0] and "batch size" in report.diagnoses[0]


@pytest.mark.parametrize(
    "loss, words",
    [
        (RowSquaresNoMean(), "exactly the batch size N (6)"),
        (RowSquaresTwiceMean(), "1/6 of the numerical one"),
        (RowSquaresNoTwo(), "half"),
    ],
)
def test_diagnoses_loss_factors(loss, words):
    rng = np.random.default_rng(0)
    report = check_loss(loss, rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    assert kinds(report) == ["factor"]
    assert words in report.diagnoses[0]


def test_diagnoses_not_accumulated(x):
    report = check_module(AssignsWeight(4, 3), x)
    assert all(e.passed for e in report.entries)  # the values are right ...
    assert not report.ok  # ... but `=` breaks accumulation
    assert kinds(report) == ["not_accumulated"]
    assert "+=" in report.diagnoses[0]


def test_diagnoses_some_entries_with_pattern(x):
    report = check_module(WrongColumn(4, 3), x)
    assert kinds(report) == ["some_entries"]
    assert "3 of 12" in report.diagnoses[0] and "column 1" in report.diagnoses[0]


def test_diagnoses_wrong_branch_of_activation(x):
    report = check_module(WrongLeaky(), x)
    assert kinds(report) == ["some_entries"]
    assert "negative" in report.diagnoses[0]


def test_diagnoses_kink_is_a_likely_false_alarm(x):
    xk = x.copy()
    xk[0, 0] = 0.0  # exactly at ReLU's kink
    xk[1, 1] = 3e-7  # within h = 1e-6 of it
    report = check_module(bp.ReLU(), xk)
    entry = report["input"]
    assert entry.kinks == 2 and entry.status == "kink" and entry.passed
    assert entry.max_rel_error > 1e-3  # the central difference really is off there
    assert report.ok
    assert kinds(report) == ["kink"]
    assert report.findings[0].severity == "warning"
    assert "false alarm" in report.diagnoses[0]


def test_a_real_error_is_not_excused_as_a_kink():
    # Both entries straddle the kink. At 3e-7 the (right) slope 1 is one side's slope: a
    # false alarm. At -3e-7 the wrong slope 0.1 matches neither side (0.01 or 1): a bug.
    report = check_module(WrongLeaky(), np.array([[3e-7, -3e-7, 2.0]]))
    assert not report.ok
    assert report["input"].kinks == 1 and report["input"].failing == 1
    assert kinds(report) == ["some_entries", "kink"]


@pytest.mark.parametrize("layer", [NaNInput, InfInput])
def test_diagnoses_nan(layer, x):
    report = check_module(layer(4, 3), x)
    assert kinds(report) == ["nan"]
    assert np.isnan(report["input"].max_rel_error) and not report["input"].passed


def test_diagnoses_in_place_changes(x):
    report = check_module(InPlaceReLU(), x)
    assert {"input_modified", "grad_output_modified"} <= set(kinds(report))
    assert report["input"].passed  # the values are right, computed on copies
    assert not report.ok


def test_diagnoses_nondeterministic_forward(x):
    report = check_module(GlobalRandomDropout(), x)
    assert "nondeterministic" in kinds(report)
    assert "rng" in report.diagnoses[0]


def test_float32_is_checked_in_float64_with_a_note(x):
    layer = bp.Linear(4, 3, rng=0).astype(np.float32)
    report = check_module(layer, x.astype(np.float32))
    assert report.ok
    assert kinds(report) == ["float32"] and report.findings[0].severity == "note"
    assert "float64" in report.diagnoses[0]
    assert layer.weight.data.dtype == np.float32 and layer.weight.grad.dtype == np.float32


# -- check_loss ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "loss, target",
    [
        (bp.MSELoss(), np.random.default_rng(1).normal(size=(5, 3))),
        (bp.CrossEntropyLoss(), np.array([0, 2, 1, 1, 0])),
        (bp.BCEWithLogitsLoss(), (np.random.default_rng(2).random((5, 3)) < 0.5).astype(float)),
        (bp.HingeLoss(), np.array([0, 2, 1, 1, 0])),
        (bp.MSELoss(reduction="sum"), np.zeros((5, 3))),
    ],
    ids=lambda v: type(v).__name__,
)
def test_check_loss_passes_library_losses(loss, target):
    pred = np.random.default_rng(0).normal(size=(5, 3))
    pred_before = pred.copy()
    report = check_loss(loss, pred, target)
    assert report.ok, str(report)
    assert report.names == ["pred"]
    assert np.array_equal(pred, pred_before)


def test_check_loss_large_logits_do_not_raise_false_alarms():
    pred = np.random.default_rng(0).normal(size=(4, 3)) * 300
    assert check_loss(bp.CrossEntropyLoss(), pred, np.array([0, 1, 2, 0])).ok


def test_check_loss_sign_flip():
    rng = np.random.default_rng(0)
    report = check_loss(RowSquaresSignFlipped(), rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    assert kinds(report) == ["sign"]
    # the example follows the course's convention: the gradient is prediction minus target
    assert "prediction minus target, y - t" in report.diagnoses[0]


# -- check_model ---------------------------------------------------------------------------
def make_mlp(seed: int = 0) -> bp.Sequential:
    rng = np.random.default_rng(seed)
    return bp.Sequential(
        bp.Linear(4, 8, rng=rng),
        bp.Tanh(),
        bp.Linear(8, 8, rng=rng),
        bp.ReLU(),
        bp.Linear(8, 3, rng=rng),
    )


def test_check_model_passes_and_leaves_everything_as_it_was(x):
    model = make_mlp()
    y = np.array([0, 1, 2, 0, 1, 2])
    loss = bp.CrossEntropyLoss()
    before = model.state_dict()
    x_before = x.copy()
    report = check_model(model, loss, x, y)
    assert report.ok, str(report)
    assert report.names == [name for name, _ in model.named_parameters()]
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(not np.any(p.grad) for p in model.parameters())
    assert np.array_equal(x, x_before)


def test_check_model_with_dropout_and_batchnorm(x):
    rng = np.random.default_rng(0)
    model = bp.Sequential(
        bp.Linear(4, 8, rng=rng),
        bp.BatchNorm1d(8),
        bp.Tanh(),
        bp.Dropout(0.3, rng=rng),
        bp.Linear(8, 2, rng=rng),
    )
    assert check_model(model, bp.MSELoss(), x, np.zeros((6, 2))).ok


def test_check_model_sample(x):
    report = check_model(
        make_mlp(), bp.CrossEntropyLoss(), x, np.zeros(6, dtype=int), sample=5, rng=1
    )
    assert report.ok
    assert [e.checked for e in report.entries] == [5, 5, 5, 5, 5, 3]


def test_check_model_names_a_common_cause(x):
    model = bp.Sequential(bp.Linear(4, 5, rng=0), bp.Tanh(), bp.Linear(5, 3, rng=1))
    report = check_model(model, RowSquaresNoMean(), x, np.zeros((6, 3)))
    assert not report.ok
    assert len(report.findings) == 1 and report.findings[0].tensor is None
    assert "loss's backward" in report.diagnoses[0]
    assert "batch size N (6)" in report.diagnoses[0]


def test_check_model_finds_the_broken_layer(x):
    model = bp.Sequential(bp.Linear(4, 5, rng=0), bp.Tanh(), AveragesWeight(5, 3))
    report = check_model(model, RowSquares(), x, np.zeros((6, 3)))
    assert [e.name for e in report.entries if not e.passed] == ["2.weight"]
    assert kinds(report, "2.weight") == ["factor"]


# -- the report ----------------------------------------------------------------------------
def test_report_str_and_html(x):
    report = check_module(SignFlippedInput(4, 3), x)
    text = str(report)
    assert text.startswith("Gradient check of SignFlippedInput")
    assert "FAILED" in text and "max rel error" in text and "Diagnoses:" in text
    assert repr(report) == text
    page = report._repr_html_()
    assert "<table>" in page and "sign flipped" in page


def test_report_rows_of_passing_tensors_show_the_bound_not_the_noise(x):
    # A passing tensor's largest error is rounding noise whose digits (and position) change
    # with the CPU and the BLAS: the table shows the bound, a failing row its numbers.
    report = check_module(SignFlippedInput(4, 3), x)
    rows = {line.split()[0]: line for line in str(report).splitlines()[2:4]}
    assert report["weight"].passed and not report["input"].passed
    assert "< 1e-07" in rows["weight"] and rows["weight"].split()[-4:] == ["-", "-", "-", "pass"]
    assert f"{report['input'].max_rel_error:.2e}" in rows["input"] and "FAIL" in rows["input"]
    assert report["weight"].max_rel_error < 1e-7  # the exact number is still there
    assert "&lt; 1e-07" in report._repr_html_()


def test_rel_error_below_eps_is_the_difference_in_units_of_eps():
    # What notebook 06 and exercise 06 teach: the floor divides, it does not excuse.
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)
    assert rel_error(0.0, 5e-9) == 0.5
    assert rel_error(1e-9, 2e-9) == pytest.approx(0.1, abs=1e-15)
    assert rel_error(0.0, 0.0) == 0.0


def test_worst_entry_of_equal_errors_is_the_first_not_a_rounding_accident():
    # Every entry of a gradient off by a factor has the same relative error up to rounding;
    # which one is largest by 1e-16 must not decide the row (it differs from CPU to CPU).
    class Halved(bp.Linear):
        def backward(self, grad_output):
            dx = super().backward(grad_output)
            self.weight.grad *= 0.5
            self.weight.grad[2, 1] *= 1 - 1e-8  # off by more than the noise, less than 1e-6
            return dx

    x = np.random.default_rng(1).standard_normal((5, 3))
    entry = check_module(Halved(3, 4, rng=0), x)["weight"]
    assert not entry.passed and abs(entry.max_rel_error - 1 / 3) < 1e-6
    assert entry.worst_index == (0, 0)
    assert entry.analytic_value == entry.analytic[0, 0]


def test_report_html_escapes_names():
    entry = TensorCheck(
        name="<b>w&",
        shape=(1,),
        analytic=np.zeros(1),
        numerical=np.zeros(1),
        errors=np.zeros(1),
        checked=1,
        max_rel_error=0.0,
        worst_index=(0,),
        analytic_value=0.0,
        numerical_value=0.0,
        passed=True,
    )
    page = GradcheckReport("Odd<Layer>", [entry])._repr_html_()
    assert "<b>w&" not in page and "&lt;b&gt;w&amp;" in page
    assert "Odd&lt;Layer&gt;" in page


def test_report_has_no_truth_value(x):
    report = check_module(SignFlippedInput(4, 3), x)
    with pytest.raises(TypeError, match="report.ok"):
        assert report


def test_report_getitem_names_what_exists(x):
    report = check_module(bp.Linear(4, 3, rng=0), x)
    with pytest.raises(KeyError, match="'input', 'weight', 'bias'"):
        report["weights"]


def test_reachable_as_bp_gradcheck():
    assert bp.gradcheck.check_module is check_module
    assert bp.rel_error is rel_error and bp.numerical_gradient is numerical_gradient


# -- properties ----------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    d_in=st.integers(1, 6),
    d_out=st.integers(1, 6),
    scale=st.floats(0.1, 10.0),
    seed=st.integers(0, 2**16),
)
def test_property_linear_passes(n, d_in, d_out, scale, seed):
    rng = np.random.default_rng(seed)
    layer = bp.Linear(d_in, d_out, rng=rng)
    report = check_module(layer, rng.normal(size=(n, d_in)) * scale, rng=rng)
    assert report.ok, str(report)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_property_numerical_gradient_restores_and_is_right(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    assert np.array_equal(x, before)
    assert rel_error(grad, np.cos(x)) < 1e-7


@settings(max_examples=20, deadline=None)
@given(layer=st.sampled_from([bp.Sigmoid, bp.Tanh, bp.GELU]), scale=st.floats(0.1, 40.0),
       seed=st.integers(0, 2**16))
def test_property_saturating_activations_raise_no_false_alarm(layer, scale, seed):
    # Far into saturation the outputs barely move under +-h: the rounding-noise floor must
    # keep those entries from failing.
    x = np.random.default_rng(seed).normal(size=(5, 4)) * scale
    report = check_module(layer(), x, rng=seed)
    assert report.ok, str(report)


def test_a_backward_returning_a_tuple_is_named_not_a_numpy_error():
    class Doubler(bp.Module):
        def forward(self, x):
            return x * 2

        def backward(self, grad_output):
            return grad_output * 2, None  # a learner's slip: the gradient and something else

    class Squared:
        def __call__(self, pred, target):
            self.diff = pred - target
            return float((self.diff ** 2).mean())

        def backward(self):
            return 2 * self.diff / self.diff.size, None

    with pytest.raises(TypeError, match=r"Doubler.backward returned tuple, not an array"):
        bp.check_module(Doubler(), np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Squared.backward\(\) returned tuple, not an array"):
        bp.check_loss(Squared(), np.ones((2, 3)), np.zeros((2, 3)))


# -- diagnoses that must not blame the wrong thing --------------------------------------------
class SGDStepInBackward(Dense):
    """Updates its own weights inside backward: the next forward differs, but not by chance."""

    def backward(self, g):
        dx = super().backward(g)
        self.weight.data -= 0.1 * self.weight.grad
        return dx


class ZeroGradInBackward(Dense):
    """Uses `+=`, but wipes the gradients at the start of every backward."""

    def backward(self, g):
        self.zero_grad()
        return super().backward(g)


class OneWrongEntry(Dense):
    def backward(self, g):
        dx = super().backward(g)
        dx[2, 1] += 1.0
        return dx


def test_diagnoses_an_update_inside_backward_is_not_blamed_on_random_numbers(x):
    for report in (check_module(SGDStepInBackward(4, 3), x),
                   check_model(bp.Sequential(SGDStepInBackward(4, 3)), RowSquares(), x,
                               np.zeros((6, 3)))):
        assert report.findings[0].kind == "nondeterministic"
        message = report.diagnoses[0]
        assert "self.weight.data -= lr * self.weight.grad" in message
        assert "optimizer" in message and "fix this first" in message


def test_diagnoses_zero_grad_inside_backward_is_named_not_only_the_equals_sign(x):
    report = check_module(ZeroGradInBackward(4, 3), x)
    assert kinds(report) == ["not_accumulated", "not_accumulated"]
    assert "zero_grad()" in report.diagnoses[0] and "inside forward or backward" in (
        report.diagnoses[0])


def test_diagnoses_a_few_wrong_entries_do_not_blame_a_branch_for_negative_inputs(x):
    report = check_module(OneWrongEntry(4, 3), x)
    assert x[2, 1] < 0 and kinds(report) == ["some_entries"]
    assert "branch" not in report.diagnoses[0]
    assert "1 of 24" in report.diagnoses[0]


def test_diagnoses_a_factor_shared_by_some_layers_only_is_not_pinned_on_the_loss(x):
    model = bp.Sequential(AveragesWeight(4, 5), bp.Tanh(), AveragesWeight(5, 3, seed=1))
    report = check_model(model, RowSquares(), x, np.zeros((6, 3)))
    assert [e.name for e in report.entries if not e.passed] == ["0.weight", "2.weight"]
    message = report.diagnoses[0]
    assert not message.startswith("Every parameter gradient") and "loss's backward" not in message
    assert message.startswith("The failing parameter gradients (0.weight, 2.weight) are all")
    assert "each failing layer's backward has this mistake itself" in message


def test_checks_leave_a_nested_model_in_mixed_modes_exactly_as_it_was():
    from model_state import assert_unchanged, mixed_model, state_of

    model = mixed_model()
    rng = np.random.default_rng(14)
    X, y = rng.standard_normal((8, 2)), rng.integers(0, 2, 8)
    before = state_of(model)
    report = check_module(model, X)
    assert_unchanged(model, before)
    assert report.ok  # Dropout in training mode drew the same mask at every evaluation
    assert check_model(model, bp.CrossEntropyLoss(), X, y).ok
    assert_unchanged(model, before)
