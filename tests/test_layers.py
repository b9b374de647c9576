"""Tests for bpkit.layers: gradients, PyTorch agreement, errors, dtypes and stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import numerical_gradient, rel_error, upstream
from hypothesis import given, settings
from hypothesis import strategies as st

import bpkit as bp
from bpkit.layers import (
    GELU,
    BatchNorm1d,
    Dropout,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)

SEEDS = st.integers(0, 2**32 - 1)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values with 0.05 <= |x| <= 3, so finite differences never cross a kink at 0."""
    return rng.uniform(0.05, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def spread(rng: np.random.Generator, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Values whose standard deviation along ``axis`` is 0.5 to 3 (normalising layers are
    ill-conditioned for nearly constant slices, where finite differences break down)."""
    z = rng.normal(size=shape)
    z = (z - z.mean(axis=axis, keepdims=True)) / z.std(axis=axis, keepdims=True)
    scale_shape = list(shape)
    scale_shape[axis] = 1
    return z * rng.uniform(0.5, 3, size=scale_shape) + rng.normal(size=scale_shape)


def randomise(layer: bp.Module, rng: np.random.Generator) -> bp.Module:
    """Give every parameter random values (BatchNorm/LayerNorm start at ones and zeros)."""
    for p in layer.parameters():
        p.data[...] = rng.normal(size=p.shape)
    return layer


def make_case(kind: str, rng: np.random.Generator, n: int, d: int):
    """A float64 layer of ``kind`` and an input for it, away from any kink."""
    if kind == "Linear":
        return Linear(d, d + 1, rng=rng), rng.normal(size=(n, d))
    if kind == "Linear-nobias":
        return Linear(d, 2, bias=False, rng=rng), rng.normal(size=(n, d))
    if kind == "ReLU":
        return ReLU(), away_from_zero(rng, (n, d))
    if kind == "LeakyReLU":
        return LeakyReLU(0.2), away_from_zero(rng, (n, d))
    if kind == "Sigmoid":
        return Sigmoid(), rng.uniform(-4, 4, size=(n, d))
    if kind == "Tanh":
        return Tanh(), rng.uniform(-3, 3, size=(n, d))
    if kind == "GELU":
        return GELU(), rng.uniform(-4, 4, size=(n, d))
    if kind == "GELU-tanh":
        return GELU(approximate="tanh"), rng.uniform(-4, 4, size=(n, d))
    if kind == "Dropout":
        return Dropout(0.3, rng=int(rng.integers(2**31))), rng.normal(size=(n, d))
    if kind == "Dropout-eval":
        return Dropout(0.3, rng=0).eval(), rng.normal(size=(n, d))
    if kind == "BatchNorm1d":
        return randomise(BatchNorm1d(d), rng), spread(rng, (n, d), axis=0)
    if kind == "BatchNorm1d-noaffine":
        return BatchNorm1d(d, affine=False), spread(rng, (n, d), axis=0)
    if kind == "BatchNorm1d-eval":
        layer = randomise(BatchNorm1d(d), rng).eval()
        layer.running_mean[...] = rng.normal(size=d)
        layer.running_var[...] = rng.uniform(0.5, 2, size=d)
        return layer, rng.normal(size=(n, d))
    if kind == "LayerNorm":
        return randomise(LayerNorm(d + 1), rng), spread(rng, (n, 2, d + 1), axis=-1)
    if kind == "LayerNorm-noaffine":
        return LayerNorm(d + 1, elementwise_affine=False), spread(rng, (n, d + 1), axis=-1)
    if kind == "Flatten":
        return Flatten(), rng.normal(size=(n, 2, d))
    if kind == "Identity":
        return Identity(), rng.normal(size=(n, d))
    raise AssertionError(kind)


KINDS = [
    "Linear", "Linear-nobias", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "GELU-tanh",
    "Dropout", "Dropout-eval", "BatchNorm1d", "BatchNorm1d-noaffine", "BatchNorm1d-eval",
    "LayerNorm", "LayerNorm-noaffine", "Flatten", "Identity",
]  # fmt: skip
# One instance of every layer class, for the checks every layer must pass.
ALL_LAYERS = [
    lambda: Linear(3, 2, rng=0),
    ReLU,
    LeakyReLU,
    Sigmoid,
    Tanh,
    GELU,
    lambda: GELU(approximate="tanh"),
    lambda: Dropout(0.5, rng=0),
    lambda: BatchNorm1d(3),
    lambda: LayerNorm(3),
    Flatten,
    Identity,
]
LAYER_IDS = [
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "GELU-tanh", "Dropout",
    "BatchNorm1d", "LayerNorm", "Flatten", "Identity",
]  # fmt: skip


def forward_fn(layer: bp.Module):
    """layer.forward, re-seeding a Dropout's generator so every call draws the same mask."""
    if isinstance(layer, Dropout):
        state = layer.rng.bit_generator.state

        def forward(x):
            layer.rng.bit_generator.state = state
            return layer.forward(x)

        return forward
    return layer.forward


# -- gradients -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, n=st.integers(3, 5), d=st.integers(2, 4))
def test_gradients_match_finite_differences(kind, seed, n, d):
    rng = np.random.default_rng(seed)
    layer, x = make_case(kind, rng, n, d)
    forward = forward_fn(layer)
    out = forward(x)
    dy = upstream(rng, out.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape

    def f():
        return np.sum(forward(x) * dy)

    assert rel_error(dx, numerical_gradient(f, x)) < 1e-7
    for p in layer.parameters():
        assert rel_error(p.grad, numerical_gradient(f, p.data)) < 1e-7, p.name


@pytest.mark.parametrize("make", ALL_LAYERS, ids=LAYER_IDS)
def test_backward_leaves_inputs_and_grad_output_untouched(make):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.normal(size=(4, 3))
    x_copy = x.copy()
    out = layer(x)
    dy = rng.normal(size=out.shape)
    dy_copy = dy.copy()
    layer.backward(dy)
    layer.backward(dy)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dy, dy_copy)


@pytest.mark.parametrize("make", [lambda: Linear(3, 2, rng=0), lambda: BatchNorm1d(3),
                                  lambda: LayerNorm(3)], ids=["Linear", "BatchNorm1d", "LayerNorm"])
def test_parameter_gradients_accumulate(make):
    rng = np.random.default_rng(1)
    layer = make()
    out = layer(rng.normal(size=(5, 3)))
    dy = rng.normal(size=out.shape)
    dx1 = layer.backward(dy)
    once = [p.grad.copy() for p in layer.parameters()]
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for p, g in zip(layer.parameters(), once, strict=True):
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-12)
    layer.zero_grad()
    assert all(not p.grad.any() for p in layer.parameters())


# -- agreement with PyTorch ----------------------------------------------------------------
def torch_twin(layer: bp.Module, torch):
    """The PyTorch module computing the same function, with our parameters copied in."""
    nn = torch.nn
    if isinstance(layer, Linear):
        twin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    elif isinstance(layer, BatchNorm1d):
        twin = nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                              affine=layer.affine)
    elif isinstance(layer, LayerNorm):
        twin = nn.LayerNorm(layer.normalized_shape, eps=layer.eps,
                            elementwise_affine=layer.elementwise_affine)
    elif isinstance(layer, LeakyReLU):
        twin = nn.LeakyReLU(layer.negative_slope)
    elif isinstance(layer, GELU):
        twin = nn.GELU(approximate=layer.approximate)
    elif isinstance(layer, Flatten):
        twin = nn.Flatten(layer.start_dim, layer.end_dim)
    else:
        twin = {ReLU: nn.ReLU, Sigmoid: nn.Sigmoid, Tanh: nn.Tanh, Identity: nn.Identity,
                Dropout: nn.Identity}[type(layer)]()
    twin = twin.double()
    with torch.no_grad():
        for name, p in layer.named_parameters():
            getattr(twin, name).copy_(torch.from_numpy(p.data))
    twin.train(layer.training)
    return twin


TORCH_KINDS = [k for k in KINDS if k != "Dropout"]  # a train-mode mask cannot be matched


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_forward_and_gradients_match_pytorch(kind):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    rng = np.random.default_rng(7)
    layer, x = make_case(kind, rng, 6, 4)
    x = x * 2  # reach beyond the kink-free range too: both must agree everywhere
    twin = torch_twin(layer, torch)
    if isinstance(layer, BatchNorm1d) and not layer.training:
        twin.running_mean.copy_(torch.from_numpy(layer.running_mean))
        twin.running_var.copy_(torch.from_numpy(layer.running_var))
    out = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    tout = twin(tx)
    dy = rng.normal(size=out.shape)
    tout.backward(torch.from_numpy(dy))
    dx = layer.backward(dy)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(twin, name).grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)


def test_batchnorm_running_statistics_and_eval_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    rng = np.random.default_rng(3)
    layer = randomise(BatchNorm1d(5, momentum=0.2), rng)
    twin = torch_twin(layer, torch)
    for _ in range(4):
        x = rng.normal(size=(8, 5)) * 3 + 2
        np.testing.assert_allclose(layer(x), twin(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean, twin.running_mean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, twin.running_var.numpy(), rtol=1e-13)
    layer.eval()
    twin.eval()
    x = rng.normal(size=(3, 5))
    np.testing.assert_allclose(layer(x), twin(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_pytorch_over_a_wide_range(approximate):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    x = np.linspace(-12, 12, 4801)
    layer = GELU(approximate)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.gelu(tx, approximate=approximate)
    tout.backward(torch.ones_like(tx))
    np.testing.assert_allclose(layer(x), tout.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), tx.grad.numpy(), rtol=0,
                               atol=1e-13)


def test_exact_gelu_uses_an_accurate_erf():
    x = np.concatenate([np.linspace(-10, 10, 2001), [0.0, 1e-8, -1e-8, math.sqrt(2)]])
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = GELU()(x)
    assert np.max(np.abs(got - expected) / np.maximum(np.abs(x), 1)) < 1e-15
    assert GELU()(np.array([0.0]))[0] == 0.0
    # far left tail: Phi(x) is tiny but keeps its relative accuracy
    assert GELU()(np.array([-8.0]))[0] == pytest.approx(-8 * 0.5 * math.erfc(8 / math.sqrt(2)),
                                                         rel=1e-13)


# -- behaviour of particular layers --------------------------------------------------------
def test_linear_computes_x_wt_plus_b_with_pytorch_shapes():
    layer = Linear(3, 2, rng=0)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(layer(x), x @ layer.weight.data.T + layer.bias.data)
    bound = 1 / math.sqrt(3)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound


def test_linear_same_seed_same_weights():
    a, b = Linear(4, 3, rng=5), Linear(4, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_relu_and_leaky_relu_values_and_gradient_at_zero():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ReLU()(x), [[0.0, 0.0, 3.0]])
    relu = ReLU()
    relu(x)
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0]])
    leaky = LeakyReLU(0.1)
    np.testing.assert_allclose(leaky(x), [[-0.2, 0.0, 3.0]])
    np.testing.assert_allclose(leaky.backward(np.ones_like(x)), [[0.1, 0.1, 1.0]])


def test_batchnorm_train_uses_batch_statistics_and_updates_running_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3)) * 4 + 5
    bn = BatchNorm1d(3, momentum=0.1)
    out = bn(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5))
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    bn.eval()
    before = bn.running_mean.copy()
    out = bn(x[:1])
    np.testing.assert_allclose(out, (x[:1] - bn.running_mean) / np.sqrt(bn.running_var + 1e-5))
    np.testing.assert_array_equal(bn.running_mean, before)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval_and_saves_nothing():
    bn = BatchNorm1d(2, track_running_stats=False).eval()
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(np.abs(bn(x)), 1, rtol=1e-5)
    assert bn.running_mean is None and bn.running_var is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    assert list(BatchNorm1d(2).state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert BatchNorm1d(2, affine=False).parameters() == []


def test_batchnorm_refuses_single_sample_batches_in_training():
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3.*more than one sample.*\(1, 3\)"):
        bn(np.ones((1, 3)))
    assert bn.eval()(np.ones((1, 3))).shape == (1, 3)


def test_batchnorm_without_running_stats_refuses_single_samples_in_eval_mode_too():
    # like PyTorch: with batch statistics one sample normalises to 0, so the output would
    # be the bias whatever the input (a model evaluated one sample at a time, silently useless)
    for train in (True, False):
        bn = BatchNorm1d(3, track_running_stats=False).train(train)
        with pytest.raises(ValueError, match=r"BatchNorm1d\(3, .*track_running_stats=False\) "
                                             r"needs more than one sample per feature, got "
                                             r"input of shape \(1, 3\)"):
            bn(np.array([[1.0, 2.0, 3.0]]))
    assert BatchNorm1d(3, track_running_stats=False).eval()(np.ones((2, 3))).shape == (2, 3)


def test_layernorm_normalises_each_row_over_the_last_dimension():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6)) * 3 + 1
    out = LayerNorm(6)(x)
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1, rtol=1e-5)
    assert LayerNorm((6,)).normalized_shape == (6,)


def test_flatten_merges_dimensions_and_backward_restores_the_shape():
    x = np.zeros((2, 3, 4, 5))
    layer = Flatten()
    assert layer(x).shape == (2, 60)
    assert layer.backward(np.ones((2, 60))).shape == (2, 3, 4, 5)
    assert Flatten(start_dim=2)(x).shape == (2, 3, 20)
    assert Flatten(0, -2)(x).shape == (24, 5)
    assert Flatten()(np.zeros((0, 3, 2))).shape == (0, 6)


def test_identity_returns_its_input():
    x = np.ones((2, 2))
    layer = Identity()
    assert layer(x) is x
    g = np.ones((2, 2))
    assert layer.backward(g) is g


# -- Dropout -------------------------------------------------------------------------------
def test_dropout_same_seed_gives_same_mask_and_any_dtype_the_same_mask():
    x = np.ones((50, 40))
    a = Dropout(0.3, rng=11)(x)
    b = Dropout(0.3, rng=np.random.default_rng(11))(x)
    c = Dropout(0.3, rng=11)(x.astype(np.float32))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a != 0, c != 0)
    assert not np.array_equal(a, Dropout(0.3, rng=12)(x))


def test_dropout_zeroes_p_of_the_entries_scales_the_rest_and_keeps_the_mean():
    x = np.full((400, 500), 2.0)
    layer = Dropout(0.25, rng=0)
    out = layer(x)
    kept = out != 0
    assert abs(1 - kept.mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[kept], 2.0 / 0.75)
    assert abs(out.mean() - 2.0) < 0.02
    grad = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(grad, out / 2.0)


def test_dropout_is_the_identity_in_eval_mode_and_with_p_zero():
    x = np.random.default_rng(0).normal(size=(5, 4))
    layer = Dropout(0.5, rng=0).eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))
    np.testing.assert_array_equal(Dropout(0.0, rng=0)(x), x)
    model = bp.Sequential(Linear(4, 4, rng=0), Dropout(0.5, rng=0))
    model.eval()
    np.testing.assert_array_equal(model(x), model(x))


# -- dtypes --------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ALL_LAYERS, ids=LAYER_IDS)
def test_float32_in_gives_float32_out_and_gradients(make):
    layer = make().astype(np.float32)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer(x)
        dx = layer.backward(np.ones_like(out))
    assert out.dtype == np.float32 and dx.dtype == np.float32
    for p in layer.parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    for name, b in layer.named_buffers():
        assert b.dtype == np.float32, name
    layer.eval()
    assert layer(x).dtype == np.float32


def test_layers_with_parameters_refuse_a_different_input_dtype():
    x32 = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match=r"Linear\(in_features=3, out_features=2\) has float64 "
                                        r"parameters but got float32 input.*astype"):
        Linear(3, 2, rng=0)(x32)
    with pytest.raises(TypeError, match="BatchNorm1d.*float64.*float32"):
        BatchNorm1d(3)(x32)
    with pytest.raises(TypeError, match="LayerNorm.*float32.*float64"):
        LayerNorm(3, dtype=np.float32)(np.ones((2, 3)))


def test_dtype_errors_name_what_the_layer_holds_and_a_conversion_that_works():
    # BatchNorm1d(affine=False) has running statistics, no parameters; big-endian float64
    # input only needs its byte order converted (the message used to suggest np.>f8)
    with pytest.raises(TypeError, match=r"BatchNorm1d\(3, .*affine=False\) has float64 running "
                                        r"statistics but got float32 input"):
        BatchNorm1d(3, affine=False)(np.ones((2, 3), dtype=np.float32))
    for layer in (Linear(3, 2, rng=0), BatchNorm1d(3), LayerNorm(3)):
        x = np.ones((2, 3), dtype=">f8")
        with pytest.raises(TypeError) as info:
            layer(x)
        assert "non-native byte order ('>f8'); convert the input with x.astype(np.float64)" in (
            str(info.value)
        )
        assert layer(x.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("make", [lambda d: Linear(3, 2, rng=0, dtype=d),
                                  lambda d: BatchNorm1d(3, affine=False, dtype=d),
                                  lambda d: LayerNorm(3, elementwise_affine=False, dtype=d)],
                         ids=["Linear", "BatchNorm1d", "LayerNorm"])
def test_a_non_floating_dtype_argument_is_refused_naming_the_layer(make):
    # BatchNorm1d(affine=False, dtype=int) used to build integer running statistics, then
    # refuse every float input asking for x.astype(np.int64)
    with pytest.raises(TypeError, match=r"(Linear\(in_features=3, out_features=2\)|"
                                        r"BatchNorm1d\(3\)|LayerNorm\(3\)): dtype must be a "
                                        r"floating dtype .*got int64"):
        make(np.int64)
    assert make("float32")(np.ones((2, 3), dtype=np.float32)).dtype == np.float32


def test_dtype_argument_creates_parameters_in_that_dtype():
    assert Linear(2, 2, rng=0, dtype=np.float32).weight.dtype == np.float32
    bn = BatchNorm1d(2, dtype=np.float32)
    assert bn.weight.dtype == bn.running_var.dtype == np.float32
    assert LayerNorm(2, dtype=np.float32).bias.dtype == np.float32
    assert Linear(2, 2, rng=0).weight.dtype == np.float64


# -- numerical stability -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturating_activations_are_finite_and_silent_at_large_inputs(dtype):
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype)
    for layer in (Sigmoid(), Tanh(), GELU(), GELU("tanh")):
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                    divide="raise"):
            warnings.simplefilter("error")
            out = layer(x)
            dx = layer.backward(np.ones_like(x))
        assert np.isfinite(out).all() and np.isfinite(dx).all(), type(layer).__name__
    s = Sigmoid()
    np.testing.assert_array_equal(s(x)[0, [0, 2, 4]], [0.0, 0.5, 1.0])


def test_sigmoid_is_accurate_in_both_tails():
    x = np.array([-30.0, -5.0, 5.0, 30.0])
    expected = np.array([1 / (1 + math.exp(-v)) for v in x])
    np.testing.assert_allclose(Sigmoid()(x), expected, rtol=1e-15)


# -- errors --------------------------------------------------------------------------------
def test_linear_wrong_feature_count_names_layer_and_shapes():
    with pytest.raises(ValueError) as info:
        Linear(3, 2, rng=0)(np.ones((5, 4)))
    assert str(info.value) == (
        "Linear(in_features=3, out_features=2) expected input of shape (N, 3), got (5, 4)"
    )


@pytest.mark.parametrize(
    "layer, shape, pattern",
    [
        (Linear(3, 2, rng=0), (3,), r"Linear\(in_features=3, out_features=2\).*\(N, 3\).*\(3,\)"),
        (BatchNorm1d(3), (4, 2), r"BatchNorm1d\(3, .*\(N, 3\), got \(4, 2\)"),
        (BatchNorm1d(3), (4, 3, 2), r"BatchNorm1d\(3, .*\(N, 3\), got \(4, 3, 2\)"),
        (LayerNorm(3), (4, 2), r"LayerNorm\(\(3,\), .*\(\*, 3\), got \(4, 2\)"),
        (Flatten(), (4,), r"Flatten\(start_dim=1, end_dim=-1\) cannot flatten.*\(4,\)"),
    ],
    ids=["linear-ndim", "batchnorm-features", "batchnorm-ndim", "layernorm", "flatten"],
)
def test_wrong_input_shape_names_layer_and_shapes(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        layer(np.ones(shape))


@pytest.mark.parametrize("make", ALL_LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("bad", [np.ones((2, 3), dtype=np.int64), np.ones((2, 3), dtype=bool),
                                 np.array([[None] * 3] * 2), "x"], ids=["int", "bool", "object",
                                                                       "str"])
def test_non_float_input_is_refused_with_a_type_error(make, bad):
    layer = make()
    with pytest.raises(TypeError, match=type(layer).__name__):
        layer(bad)


@pytest.mark.parametrize("make", ALL_LAYERS, ids=LAYER_IDS)
def test_backward_before_forward_is_a_runtime_error(make):
    layer = make()
    with pytest.raises(RuntimeError, match=type(layer).__name__ + r".*backward called before "
                                                                   r"forward"):
        layer.backward(np.ones((2, 3)))


@pytest.mark.parametrize("make", ALL_LAYERS, ids=LAYER_IDS)
def test_grad_output_of_the_wrong_shape_is_refused(make):
    layer = make()
    out = layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match=type(layer).__name__ + r".*backward expected "
                                         r"grad_output of shape .*got \(4, 7\)"):
        layer.backward(np.ones((4, 7)))
    with pytest.raises(TypeError, match="grad_output.*list"):
        layer.backward(np.ones(out.shape).tolist())


def test_astype_clears_the_forward_cache():
    layer = Linear(3, 2, rng=0)
    layer(np.ones((2, 3)))
    layer.astype(np.float32)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 2), dtype=np.float32))


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda: Dropout(1.0), ValueError, r"Dropout: p must be in \[0, 1\), got 1.0"),
        (lambda: Dropout(-0.1), ValueError, "p must be in"),
        (lambda: Dropout(float("nan")), ValueError, "p must be finite"),
        (lambda: Dropout("0.5"), TypeError, "p must be a number"),
        (lambda: Dropout(0.5, rng="seed"), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: LeakyReLU(float("inf")), ValueError, "negative_slope must be finite"),
        (lambda: LeakyReLU("0.1"), TypeError, "negative_slope must be a number"),
        (lambda: BatchNorm1d(3, eps=0), ValueError, r"BatchNorm1d\(3\): eps must be > 0"),
        (lambda: BatchNorm1d(3, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
        (lambda: BatchNorm1d(3, momentum=-0.1), ValueError, "momentum must be >= 0"),
        (lambda: BatchNorm1d(0), ValueError, "num_features must be a positive integer"),
        (lambda: LayerNorm(3, eps=-1e-5), ValueError, "eps must be > 0"),
        (lambda: LayerNorm((2, 3)), ValueError, "last dimension"),
        (lambda: GELU("fast"), ValueError, "approximate must be 'none' or 'tanh'"),
        (lambda: Linear(0, 2), ValueError, "in_features must be a positive integer"),
        (lambda: Linear(2, 2.5), ValueError, "out_features must be a positive integer"),
        (lambda: Flatten("1"), TypeError, "start_dim must be an int"),
    ],
)
def test_invalid_hyper_parameters_are_refused(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


# -- display -------------------------------------------------------------------------------
def test_reprs_follow_pytorch():
    assert repr(Linear(2, 3, rng=0)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(ReLU()) == "ReLU()"
    assert repr(LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(Sigmoid()) == "Sigmoid()" and repr(Tanh()) == "Tanh()"
    assert repr(GELU()) == "GELU(approximate='none')"
    assert repr(Dropout()) == "Dropout(p=0.5)"
    assert repr(BatchNorm1d(16)) == "BatchNorm1d(16, eps=1e-05, momentum=0.1)"
    assert repr(BatchNorm1d(4, affine=False)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=False)"
    )
    assert repr(LayerNorm(16)) == "LayerNorm((16,), eps=1e-05, elementwise_affine=True)"
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(Identity()) == "Identity()"


def test_layers_are_exported_from_the_package():
    for name in LAYER_IDS:
        if name != "GELU-tanh":
            assert getattr(bp, name) is getattr(bp.layers, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
def test_relu_forward_is_max_with_zero_for_every_shape_and_special_value(dtype, shape):
    # the result must be exactly np.maximum(x, 0), a fresh writable array, for any input
    # shape (NaN stays NaN, like PyTorch)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    if x.size >= 5:
        x.flat[:5] = [np.nan, -np.inf, np.inf, -0.0, 0.0]
    relu = bp.ReLU()
    out = relu(x)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    assert out.flags.writeable and not np.shares_memory(out, x)
    out[...] = 5  # writing into one output changes neither the next output nor the input
    np.testing.assert_array_equal(relu(x), np.maximum(x, 0))


@pytest.mark.parametrize("make", [bp.ReLU, bp.LeakyReLU, bp.Sigmoid, bp.Tanh, bp.GELU,
                                  lambda: bp.GELU(approximate="tanh"), bp.Identity],
                         ids=["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "GELU-tanh",
                              "Identity"])
@pytest.mark.parametrize("value", [-1.5, 0.25])
def test_elementwise_layers_take_a_single_number_as_a_0d_array(make, value):
    # the docstrings promise any shape (*): a 0-d array is one, and gives what a 1-element
    # array gives
    layer = make()
    out = layer(np.array(value))
    grad = layer.backward(np.array(2.0))
    ref_layer = make()
    ref_out = ref_layer(np.array([value]))
    ref_grad = ref_layer.backward(np.array([2.0]))
    assert np.shape(out) == () and np.shape(grad) == ()
    np.testing.assert_allclose(out, ref_out[0], rtol=1e-15)
    np.testing.assert_allclose(grad, ref_grad[0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_numpy_float_scalar_is_taken_as_a_0d_array_of_its_dtype(dtype):
    # np.float32(2) (e.g. an element picked out of an array) is a number like np.array(2.0)
    for make in (bp.ReLU, bp.Tanh, bp.Sigmoid):
        out = make()(dtype(-0.5))
        assert np.shape(out) == () and np.asarray(out).dtype == dtype
        np.testing.assert_allclose(out, make()(np.array(-0.5, dtype)))
