"""Weight initialisations: gains, fans, the spread of the values drawn, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpkit import init
from bpkit.layers import Linear
from bpkit.module import Parameter

SHAPE = (300, 500)  # (out, in): fan_in = 500, fan_out = 300; 150,000 draws


# -- gains and fans -------------------------------------------------------------------------
def test_gain_table():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("selu") == 0.75


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
    ("leaky_relu", None), ("leaky_relu", 0), ("leaky_relu", 0.2), ("leaky_relu", 3),
])
def test_gain_equals_torch(nonlinearity, param):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_unknown_nonlinearity_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'; expected one of linear, "
                                         "sigmoid, tanh, relu, leaky_relu, selu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="kaiming_normal: unknown nonlinearity 'Relu'"):
        init.kaiming_normal(np.zeros((2, 2)), nonlinearity="Relu", rng=0)


def test_fans_follow_pytorch():
    assert init.calculate_fan_in_and_fan_out(np.zeros((3, 5))) == (5, 3)
    assert init.calculate_fan_in_and_fan_out(Linear(7, 2, rng=0).weight) == (7, 2)
    assert init.calculate_fan_in_and_fan_out(np.zeros((4, 3, 2, 5))) == (30, 40)


@pytest.mark.parametrize("fill", [init.xavier_uniform, init.xavier_normal,
                                  init.kaiming_uniform, init.kaiming_normal])
def test_fans_need_two_dimensions(fill):
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(out, in\), got shape \(4,\)"):
        fill(Parameter(np.zeros(4)), rng=0)


@pytest.mark.parametrize("fill", [init.kaiming_uniform, init.kaiming_normal])
def test_bad_mode(fill):
    with pytest.raises(ValueError, match=f"{fill.__name__}: mode must be 'fan_in' or 'fan_out', "
                                         "got 'fan_avg'"):
        fill(np.zeros((3, 3)), mode="fan_avg", rng=0)


# -- the spread of what is drawn ------------------------------------------------------------
def uniform_bound_std(values: np.ndarray, bound: float) -> None:
    """U(-b, b): inside the bounds, reaching close to them, std b / sqrt(3)."""
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.999 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(values.mean()) < 0.01 * bound


def normal_std(values: np.ndarray, std: float) -> None:
    assert values.std() == pytest.approx(std, rel=0.01)
    assert abs(values.mean()) < 0.01 * std


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform_bound(gain):
    w = init.xavier_uniform(np.empty(SHAPE), gain=gain, rng=0)
    uniform_bound_std(w, gain * math.sqrt(6 / (500 + 300)))


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_xavier_normal_std(gain):
    w = init.xavier_normal(np.empty(SHAPE), gain=gain, rng=0)
    normal_std(w, gain * math.sqrt(2 / (500 + 300)))


@pytest.mark.parametrize("fill", [init.xavier_uniform, init.xavier_normal])
def test_xavier_gain_must_not_be_negative(fill):
    # Before: xavier_normal failed inside NumPy ("scale < 0"); xavier_uniform went on quietly.
    w = np.zeros((3, 4))
    with pytest.raises(ValueError, match=rf"{fill.__name__}: gain must be >= 0, got -1.0"):
        fill(w, gain=-1.0, rng=0)
    assert not w.any()


@pytest.mark.parametrize("mode, fan", [("fan_in", 500), ("fan_out", 300)])
@pytest.mark.parametrize("nonlinearity, a, gain", [
    ("relu", 0.0, math.sqrt(2)), ("leaky_relu", 0.0, math.sqrt(2)),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("tanh", 0.0, 5 / 3), ("linear", 0.0, 1.0),
])
def test_kaiming_spread(mode, fan, nonlinearity, a, gain):
    w = init.kaiming_uniform(np.empty(SHAPE), a=a, mode=mode, nonlinearity=nonlinearity, rng=1)
    uniform_bound_std(w, gain * math.sqrt(3 / fan))
    w = init.kaiming_normal(np.empty(SHAPE), a=a, mode=mode, nonlinearity=nonlinearity, rng=2)
    normal_std(w, gain / math.sqrt(fan))


@pytest.mark.parametrize("name, kw", [
    ("xavier_uniform", dict(gain=2.0)),
    ("kaiming_uniform", dict(a=0.1, mode="fan_out", nonlinearity="leaky_relu")),
    ("kaiming_uniform", dict(mode="fan_in", nonlinearity="relu")),
])
def test_uniform_bounds_equal_torchs(name, kw):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    theirs = torch.empty(SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, name + "_")(theirs, generator=torch.Generator().manual_seed(0), **kw)
    ours = getattr(init, name)(np.empty(SHAPE), rng=0, **kw)
    assert np.abs(ours).max() == pytest.approx(theirs.abs().max().item(), rel=1e-3)


@pytest.mark.parametrize("name, kw", [
    ("xavier_normal", dict(gain=0.5)),
    ("kaiming_normal", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal", dict(nonlinearity="tanh")),
])
def test_normal_std_equals_torchs(name, kw):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    theirs = torch.empty(SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, name + "_")(theirs, generator=torch.Generator().manual_seed(0), **kw)
    ours = getattr(init, name)(np.empty(SHAPE), rng=0, **kw)
    assert ours.std() == pytest.approx(theirs.std().item(), rel=0.02)


def test_kaiming_keeps_relu_activations_from_vanishing_where_xavier_does_not():
    # The reason He initialisation exists: through 10 ReLU layers of width 256, the mean
    # square of the pre-activations stays put with Kaiming and halves per layer with Xavier.
    x = np.random.default_rng(0).normal(size=(512, 256))

    def last_over_first(fill) -> float:
        rng = np.random.default_rng(1)
        h, mean_squares = x, []
        for _ in range(10):
            z = h @ fill(np.empty((256, 256)), rng=rng).T
            mean_squares.append(np.mean(z**2))
            h = np.maximum(z, 0)
        return float(mean_squares[-1] / mean_squares[0])

    kaiming = last_over_first(lambda w, rng: init.kaiming_normal(w, nonlinearity="relu",
                                                                  rng=rng))
    xavier = last_over_first(init.xavier_normal)
    assert 0.5 < kaiming < 2.0
    assert xavier < 0.01  # about 2**-9


# -- the API: in place, returned, reproducible, dtype kept ----------------------------------
RANDOM_FILLS = [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform,
                init.kaiming_normal, init.uniform, init.normal]


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_fills_parameter_in_place_and_returns_it(fill):
    p = Parameter(np.zeros((4, 3)))
    data, grad = p.data, p.grad
    assert fill(p, rng=0) is p
    assert p.data is data and p.grad is grad
    assert p.data.any() and not p.grad.any()


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_same_seed_same_values(fill):
    a = fill(np.empty((4, 3)), rng=7)
    b = fill(np.empty((4, 3)), rng=np.random.default_rng(7))
    c = fill(np.empty((4, 3)), rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_float32_stays_float32(fill):
    p = Parameter(np.zeros((4, 3), dtype=np.float32))
    fill(p, rng=0)
    assert p.data.dtype == np.float32
    w = fill(np.zeros((4, 3), dtype=np.float32), rng=0)
    assert w.dtype == np.float32


def test_shared_generator_advances():
    rng = np.random.default_rng(0)
    a = init.kaiming_uniform(np.empty((3, 3)), rng=rng)
    b = init.kaiming_uniform(np.empty((3, 3)), rng=rng)
    assert not np.array_equal(a, b)


def test_refuses_integer_arrays_and_other_objects():
    with pytest.raises(TypeError, match="xavier_uniform expected a floating-point array, "
                                        "got dtype int64"):
        init.xavier_uniform(np.zeros((3, 3), dtype=np.int64), rng=0)
    with pytest.raises(TypeError, match="zeros expected a Parameter or a numpy array, got list"):
        init.zeros([[1.0, 2.0]])
    with pytest.raises(TypeError, match="normal: rng must be a numpy.random.Generator"):
        init.normal(np.zeros(3), rng="seed")


def test_constant_fills():
    p = Parameter(np.ones((2, 3)))
    assert init.zeros(p) is p and not p.data.any()
    assert (init.ones(p).data == 1).all()
    assert (init.constant(p, 0.25).data == 0.25).all()
    b = init.constant(np.empty(5, dtype=np.float32), 0.1)
    assert b.dtype == np.float32 and (b == np.float32(0.1)).all()


def test_uniform_and_normal_parameters():
    u = init.uniform(np.empty(100_000), a=-2.0, b=3.0, rng=0)
    assert u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.02)
    n = init.normal(np.empty(100_000), mean=1.0, std=0.5, rng=0)
    assert n.mean() == pytest.approx(1.0, abs=0.01) and n.std() == pytest.approx(0.5, rel=0.01)
    with pytest.raises(ValueError, match="uniform: needs a <= b, got a=1.0, b=0.0"):
        init.uniform(np.empty(3), a=1.0, b=0.0, rng=0)
    with pytest.raises(ValueError, match="normal: std must be >= 0, got -1.0"):
        init.normal(np.empty(3), std=-1.0, rng=0)


def test_linear_weight_can_be_reinitialised():
    layer = Linear(64, 32, rng=0)
    init.kaiming_normal(layer.weight, nonlinearity="relu", rng=1)
    init.zeros(layer.bias)
    assert layer.weight.data.std() == pytest.approx(math.sqrt(2 / 64), rel=0.1)
    out = layer(np.ones((2, 64)))
    assert out.shape == (2, 32)
