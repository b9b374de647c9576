"""Tests for bpkit.losses: values, gradients, PyTorch agreement, errors, dtypes, stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import numerical_gradient, rel_error
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import bpkit as bp
from bpkit.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HingeLoss,
    Loss,
    MSELoss,
    log_softmax,
    softmax,
)

SEEDS = st.integers(0, 2**32 - 1)
REDUCTIONS = ["mean", "sum"]
LOSSES = [MSELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss]


def make_case(cls, rng: np.random.Generator, n: int, c: int):
    """Float64 predictions and matching targets for the loss ``cls``."""
    pred = rng.normal(size=(n, c)) * 2
    if cls is MSELoss:
        return pred, rng.normal(size=(n, c))
    if cls is BCEWithLogitsLoss:
        target = rng.uniform(size=(n, c))
        target[0] = rng.integers(0, 2, size=c)  # hard 0/1 labels and probabilities
        return pred, target
    return pred, rng.integers(0, c, size=n)


# -- gradients -----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 5), c=st.integers(2, 5))
def test_gradients_match_finite_differences(cls, reduction, seed, n, c):
    rng = np.random.default_rng(seed)
    pred, target = make_case(cls, rng, n, c)
    loss = cls(reduction=reduction)
    if cls is HingeLoss:  # keep every margin away from the kink at 0
        margins = pred - pred[np.arange(n), target][:, None] + 1.0
        margins[np.arange(n), target] = 1.0
        assume(np.abs(margins).min() > 0.01)
    value = loss(pred, target)
    grad = loss.backward()
    assert isinstance(value, float)
    assert grad.shape == pred.shape and grad.dtype == pred.dtype
    numeric = numerical_gradient(lambda: loss(pred, target), pred)
    assert rel_error(grad, numeric) < 1e-7


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_sum_is_n_times_mean_for_per_sample_losses(cls):
    rng = np.random.default_rng(4)
    pred, target = make_case(cls, rng, 6, 3)
    mean_loss, sum_loss = cls(), cls(reduction="sum")
    count = pred.size if cls in (MSELoss, BCEWithLogitsLoss) else pred.shape[0]
    assert sum_loss(pred, target) == pytest.approx(count * mean_loss(pred, target), rel=1e-13)
    np.testing.assert_allclose(sum_loss.backward(), count * mean_loss.backward(), rtol=1e-13)


# -- agreement with PyTorch ----------------------------------------------------------------
def torch_loss(cls, pred, target, reduction, torch):
    F = torch.nn.functional
    if cls is MSELoss:
        return F.mse_loss(pred, torch.from_numpy(target), reduction=reduction)
    if cls is BCEWithLogitsLoss:
        return F.binary_cross_entropy_with_logits(pred, torch.from_numpy(target),
                                                  reduction=reduction)
    labels = torch.from_numpy(target)
    if cls is CrossEntropyLoss:
        return F.cross_entropy(pred, labels, reduction=reduction)
    # PyTorch's multi-margin loss divides each sample's hinge sum by the number of classes
    return F.multi_margin_loss(pred, labels, margin=1.0, reduction=reduction) * pred.shape[1]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_value_and_gradient_match_pytorch(cls, reduction):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    rng = np.random.default_rng(9)
    pred, target = make_case(cls, rng, 8, 4)
    pred *= 3
    loss = cls(reduction=reduction)
    value = loss(pred, target)
    tpred = torch.tensor(pred, requires_grad=True)
    tvalue = torch_loss(cls, tpred, target, reduction, torch)
    tvalue.backward()
    assert value == pytest.approx(tvalue.item(), rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(loss.backward(), tpred.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_softmax_and_log_softmax_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    x = np.random.default_rng(1).normal(size=(3, 4, 5)) * 10
    for axis in (0, 1, -1):
        t = torch.from_numpy(x)
        np.testing.assert_allclose(softmax(x, axis=axis), torch.softmax(t, dim=axis).numpy(),
                                   rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(log_softmax(x, axis=axis),
                                   torch.log_softmax(t, dim=axis).numpy(), rtol=1e-13)


# -- values users can check by hand --------------------------------------------------------
def test_hinge_loss_reproduces_the_cs231n_example():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    loss = HingeLoss()
    assert loss(scores, labels) == pytest.approx((2.9 + 0.0 + 12.9) / 3)
    expected = np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3
    np.testing.assert_allclose(loss.backward(), expected)
    assert HingeLoss(margin=0.0)(scores, labels) == pytest.approx((1.9 + 0 + 10.9) / 3)


def test_cross_entropy_of_uniform_logits_is_log_c():
    assert CrossEntropyLoss()(np.zeros((4, 10)), [0, 3, 9, 2]) == pytest.approx(math.log(10))


def test_mse_and_bce_values():
    assert MSELoss()(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == pytest.approx(2.5)
    assert MSELoss("sum")(np.array([[1.0], [2.0]]), [[0.0], [0.0]]) == pytest.approx(5.0)
    x = np.array([0.3, -1.2])
    t = np.array([1.0, 0.0])
    sig = 1 / (1 + np.exp(-x))
    expected = -np.mean(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    assert BCEWithLogitsLoss()(x, t) == pytest.approx(expected, rel=1e-14)
    assert BCEWithLogitsLoss()(x, np.array([1, 0])) == pytest.approx(expected, rel=1e-14)


def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log():
    x = np.random.default_rng(0).normal(size=(4, 6)) * 5
    np.testing.assert_allclose(softmax(x).sum(axis=1), 1)
    np.testing.assert_allclose(softmax(x, axis=0).sum(axis=0), 1)
    np.testing.assert_allclose(np.exp(log_softmax(x)), softmax(x), rtol=1e-14)
    assert softmax(x.astype(np.float32)).dtype == np.float32


# -- numerical stability -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_stay_finite_and_silent(dtype):
    logits = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, 1e3]], dtype=dtype)
    labels = np.array([1, 2])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        ce = CrossEntropyLoss()
        value = ce(logits, labels)
        grad = ce.backward()
        bce = BCEWithLogitsLoss()
        bce_value = bce(logits, np.ones_like(logits))
        bce_grad = bce.backward()
        lsm = log_softmax(logits)
        sm = softmax(logits)
    assert value == pytest.approx(1000.0, rel=1e-6)  # 2000 for the first row, 0 for the second
    assert math.isfinite(bce_value) and np.isfinite(bce_grad).all()
    assert np.isfinite(grad).all() and np.isfinite(lsm).all() and np.isfinite(sm).all()
    assert lsm[0, 1] == pytest.approx(-2000.0)
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])


# -- dtypes and the no-surprises contract --------------------------------------------------
@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_float32_predictions_give_float32_gradients(cls):
    pred, target = make_case(cls, np.random.default_rng(0), 5, 3)
    loss = cls()
    value = loss(pred.astype(np.float32), target)  # float64 targets do not upcast
    grad = loss.backward()
    assert type(value) is float
    assert grad.dtype == np.float32


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_inputs_are_not_modified_and_backward_returns_a_fresh_array(cls):
    pred, target = make_case(cls, np.random.default_rng(2), 5, 3)
    pred_copy, target_copy = pred.copy(), target.copy()
    loss = cls()
    loss(pred, target)
    first = loss.backward()
    first_copy = first.copy()
    first[...] = 123.0
    np.testing.assert_array_equal(loss.backward(), first_copy)
    np.testing.assert_array_equal(pred, pred_copy)
    np.testing.assert_array_equal(target, target_copy)


def test_a_float32_model_trains_in_float32_end_to_end():
    rng = np.random.default_rng(0)
    model = bp.Sequential(bp.Linear(2, 8, rng=rng), bp.ReLU(), bp.Linear(8, 3, rng=rng))
    model.astype(np.float32)
    x = rng.normal(size=(10, 2)).astype(np.float32)
    loss = CrossEntropyLoss()
    loss(model(x), rng.integers(0, 3, size=10))
    dx = model.backward(loss.backward())
    assert dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_losses_are_plain_classes_returning_floats():
    for cls in LOSSES:
        assert cls.__bases__ == (Loss,)
        assert not issubclass(cls, bp.Module)
    assert repr(CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"
    assert repr(HingeLoss(margin=2.0, reduction="sum")) == "HingeLoss(margin=2.0, reduction='sum')"
    for name in ("BCEWithLogitsLoss", "CrossEntropyLoss", "HingeLoss", "Loss", "MSELoss",
                 "log_softmax", "softmax"):
        assert getattr(bp, name) is getattr(bp.losses, name)


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MSELoss, BCEWithLogitsLoss])
def test_mismatched_shapes_name_the_loss_and_both_shapes(cls):
    with pytest.raises(ValueError, match=cls.__name__ + r".*\(4, 1\).*got \(4,\)"):
        cls()(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [np.zeros((3, 2), dtype=np.int64), np.zeros((3, 2), dtype=bool),
                                 np.array([[None, None]] * 3)], ids=["int", "bool", "object"])
def test_non_float_predictions_are_refused(cls, bad):
    with pytest.raises(TypeError, match=cls.__name__ + r".*floating"):
        cls()(bad, np.zeros(3, dtype=np.int64) if cls in (CrossEntropyLoss, HingeLoss)
              else np.zeros((3, 2)))


@pytest.mark.parametrize("cls", [CrossEntropyLoss, HingeLoss])
def test_class_label_errors(cls):
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=cls.__name__ + r": class index 4 at position 1 is out "
                                         r"of range; with 4 classes the labels must be in "
                                         r"\[0, 3\]"):
        cls()(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"class index -1 at position 2"):
        cls()(logits, np.array([0, 1, -1]))
    for dtype in (np.int8, np.int32):
        with pytest.raises(ValueError, match=r"class index -2 at position 0"):
            cls()(logits, np.array([-2, 1, 1], dtype=dtype))
    with pytest.raises(ValueError, match=r"class index 200 at position 1"):
        cls()(logits, np.array([0, 200, 1], dtype=np.uint8))
    labels = np.array([3, 0, 2])
    scores = np.random.default_rng(0).normal(size=(3, 4))
    for dtype in (np.int8, np.uint16, np.int32, np.uint64):
        assert cls()(scores, labels.astype(dtype)) == cls()(scores, labels)
    assert cls()(scores, [3, 0, 2]) == cls()(scores, labels)
    with pytest.raises(TypeError, match=r"integer class indices.*float64.*astype"):
        cls()(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"class indices of shape \(3,\).*got \(2,\)"):
        cls()(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"class indices of shape \(3,\).*got \(3, 1\)"):
        cls()(logits, np.array([[0], [1], [2]]))
    with pytest.raises(ValueError, match=r"expected predictions of shape \(N, C\).*got \(4,\)"):
        cls()(np.zeros(4), np.array([0, 1, 2, 3]))


def test_bce_targets_must_be_probabilities():
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss expected targets in \[0, 1\]"):
        BCEWithLogitsLoss()(np.zeros(3), np.array([-1.0, 1.0, 0.0]))
    with pytest.raises(TypeError, match="numeric target"):
        MSELoss()(np.zeros(2), np.array(["a", "b"]))


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_backward_before_forward_and_bad_reduction(cls):
    with pytest.raises(RuntimeError, match=cls.__name__ + r".backward called before forward"):
        cls().backward()
    with pytest.raises(ValueError, match=cls.__name__ + r": reduction must be 'mean' or 'sum'"):
        cls(reduction="none")


def test_empty_predictions_and_negative_margin_are_refused():
    with pytest.raises(ValueError, match="empty prediction"):
        MSELoss()(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="HingeLoss: margin must be >= 0"):
        HingeLoss(margin=-1.0)


@pytest.mark.parametrize("cls", [CrossEntropyLoss, HingeLoss])
@pytest.mark.parametrize("dtype", [">i8", ">i4", ">i2"])
def test_class_labels_in_non_native_byte_order_work_like_native_ones(cls, dtype):
    # Labels read from big-endian files (np.frombuffer(..., ">i4")) are valid integer labels;
    # the range check must not misread their bytes (it used to crash with an IndexError).
    scores = np.random.default_rng(0).normal(size=(4, 3))
    labels = np.array([0, 2, 1, 1])
    loss, ref = cls(), cls()
    assert loss(scores, labels.astype(dtype)) == ref(scores, labels)
    np.testing.assert_array_equal(loss.backward(), ref.backward())
    with pytest.raises(ValueError, match=r"class index 5 at position 1 is out of range"):
        cls()(scores, np.array([0, 5, 1, 1], dtype=dtype))
    with pytest.raises(ValueError, match=r"class index -1 at position 2 is out of range"):
        cls()(scores, np.array([0, 1, -1, 1], dtype=dtype))
    # a negative label whose swapped bytes would look like a valid class is refused too
    many = np.zeros((2, 300))
    with pytest.raises(ValueError, match=r"class index -256 at position 0 is out of range"):
        cls()(many, np.array([-256, 0], dtype=">i2"))


def test_mse_in_float32_stays_accurate_over_many_elements():
    # a float32 sum of a million squares must not drift (PyTorch's is accurate to ~1e-7)
    pred = np.full(10**6, 0.1, np.float32)
    target = np.zeros(10**6, np.float32)
    exact = float(np.mean(pred.astype(np.float64) ** 2))
    assert bp.MSELoss()(pred, target) == pytest.approx(exact, rel=1e-6)
    assert bp.MSELoss(reduction="sum")(pred, target) == pytest.approx(exact * 10**6, rel=1e-6)
