"""Optimisers and learning-rate schedules: closed-form updates, PyTorch parity, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpkit import optim
from bpkit.layers import Linear
from bpkit.module import Parameter, Sequential

OPTIMISERS = [optim.SGD, optim.RMSprop, optim.Adam, optim.AdamW]


def make_params(seed: int = 0, dtype=np.float64) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    return [Parameter(rng.normal(size=(3, 4)).astype(dtype), "w"),
            Parameter(rng.normal(size=(4,)).astype(dtype), "b")]


def grads_for(params: list[Parameter], steps: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=p.shape) for p in params] for _ in range(steps)]


def run(opt: optim.Optimizer, grads: list[list[np.ndarray]]) -> None:
    for step_grads in grads:
        for p, g in zip(opt.params, step_grads, strict=True):
            p.grad[...] = g
        opt.step()


def build(cls, params, **kw):
    lr = kw.pop("lr", 0.05)
    return cls(params, lr=lr, **kw)


# -- closed-form updates, written out with plain formulas ---------------------------------
def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p = p.copy()
    buf = None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def rmsprop_reference(p, grads, lr, alpha, eps, weight_decay, momentum, centered):
    p = p.copy()
    v = np.zeros_like(p)
    a = np.zeros_like(p)
    b = np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        if centered:
            a = alpha * a + (1 - alpha) * g
            s = np.sqrt(np.maximum(v - a**2, 0)) + eps
        else:
            s = np.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / s
            p = p - lr * b
        else:
            p = p - lr * g / s
    return p


def adam_reference(p, grads, lr, betas, eps, weight_decay, amsgrad, decoupled):
    beta1, beta2 = betas
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


hyper = st.floats(0.0, 0.95)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), lr=st.floats(1e-3, 1.0), momentum=hyper, dampening=hyper,
       weight_decay=st.floats(0.0, 0.5), nesterov=st.booleans())
def test_sgd_matches_closed_form(seed, lr, momentum, dampening, weight_decay, nesterov):
    if nesterov and (momentum == 0 or dampening != 0):
        dampening, momentum = 0.0, max(momentum, 0.5)
    p = Parameter(np.random.default_rng(seed).normal(size=(5,)))
    grads = [g[0] for g in grads_for([p], 4, seed + 1)]
    expected = sgd_reference(p.data, grads, lr, momentum, dampening, weight_decay, nesterov)
    opt = optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov)
    run(opt, [[g] for g in grads])
    np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-12)


def test_sgd_first_momentum_step_is_undamped():
    # PyTorch starts the buffer at the gradient itself, without (1 - dampening).
    p = Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad[...] = [1.0, 2.0]
    opt.step()
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], [1.0, 2.0])
    np.testing.assert_allclose(p.data, [0.9, -2.2])
    opt.step()  # b = 0.9 * g + 0.5 * g = 1.4 g
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], [1.4, 2.8])
    np.testing.assert_allclose(p.data, [0.9 - 0.14, -2.2 - 0.28])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 0.1), alpha=st.floats(0.0, 0.999),
       eps=st.floats(1e-10, 1e-3), weight_decay=st.floats(0.0, 0.5), momentum=hyper,
       centered=st.booleans())
def test_rmsprop_matches_closed_form(seed, lr, alpha, eps, weight_decay, momentum, centered):
    p = Parameter(np.random.default_rng(seed).normal(size=(5,)))
    grads = [g[0] for g in grads_for([p], 4, seed + 1)]
    expected = rmsprop_reference(p.data, grads, lr, alpha, eps, weight_decay, momentum,
                                 centered)
    opt = optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered)
    run(opt, [[g] for g in grads])
    np.testing.assert_allclose(p.data, expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99),
       beta2=st.floats(0.0, 0.9999), eps=st.floats(1e-10, 1e-3),
       weight_decay=st.floats(0.0, 0.5), amsgrad=st.booleans(), decoupled=st.booleans())
def test_adam_and_adamw_match_closed_form(seed, lr, beta1, beta2, eps, weight_decay, amsgrad,
                                          decoupled):
    p = Parameter(np.random.default_rng(seed).normal(size=(5,)))
    grads = [g[0] for g in grads_for([p], 4, seed + 1)]
    expected = adam_reference(p.data, grads, lr, (beta1, beta2), eps, weight_decay, amsgrad,
                              decoupled)
    cls = optim.AdamW if decoupled else optim.Adam
    opt = cls([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
              amsgrad=amsgrad)
    run(opt, [[g] for g in grads])
    np.testing.assert_allclose(p.data, expected, rtol=1e-9, atol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr():
    # After bias correction m_hat / sqrt(v_hat) = g / |g|: every weight moves by lr (up to eps).
    p = Parameter(np.array([1.0, 1.0, 1.0]))
    opt = optim.Adam([p], lr=0.01, eps=0.0)
    p.grad[...] = [1e-4, -3.0, 250.0]
    opt.step()
    np.testing.assert_allclose(p.data, [0.99, 1.01, 0.99], rtol=1e-13)


def test_adamw_decays_the_weight_not_the_gradient():
    # With a zero gradient Adam's L2 term still feeds its moments; AdamW just shrinks p.
    p = Parameter(np.array([2.0]))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.1 * 0.5)], rtol=1e-15)
    q = Parameter(np.array([2.0]))
    optim.Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, [2.0 - 0.1], rtol=1e-6)  # sign step on g = 0.5 * 2


# -- PyTorch parity ---------------------------------------------------------------------------
SGD_CASES = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd)
    for m in (0.0, 0.9) for d in (0.0, 0.3) for n in (False, True) for wd in (0.0, 0.1)
    if not (n and (m == 0 or d != 0))
]
RMSPROP_CASES = [
    dict(alpha=0.9, momentum=m, centered=c, weight_decay=wd)
    for m in (0.0, 0.8) for c in (False, True) for wd in (0.0, 0.1)
]
ADAM_CASES = [dict(amsgrad=a, weight_decay=wd) for a in (False, True) for wd in (0.0, 0.1)]
TORCH_CASES = (
    [("SGD", kw) for kw in SGD_CASES]
    + [("RMSprop", kw) for kw in RMSPROP_CASES]
    + [("Adam", kw) for kw in ADAM_CASES]
    + [("AdamW", kw) for kw in ADAM_CASES]
)
STATE_NAMES = {"SGD": ["momentum_buffer"], "RMSprop": ["square_avg", "grad_avg",
               "momentum_buffer"], "Adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
               "AdamW": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]}


@pytest.mark.parametrize("name, kw", TORCH_CASES, ids=lambda v: str(v))
def test_matches_torch_over_ten_steps(name, kw):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    params = make_params(3)
    t_params = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in params]
    lr = 0.01 if name != "SGD" else 0.1
    ours = getattr(optim, name)(params, lr=lr, **kw)
    theirs = getattr(torch.optim, name)(t_params, lr=lr, **kw)
    for step_grads in grads_for(params, 10, seed=4):
        for p, tp, g in zip(params, t_params, step_grads, strict=True):
            p.grad[...] = g
            tp.grad = torch.tensor(g)
        ours.step()
        theirs.step()
    for i, (p, tp) in enumerate(zip(params, t_params, strict=True)):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
        for buf in STATE_NAMES[name]:
            if buf in theirs.state[tp]:
                np.testing.assert_allclose(ours.state[i][buf], theirs.state[tp][buf].numpy(),
                                           rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
    lambda o: optim.StepLR(o, step_size=1),
    lambda o: optim.ExponentialLR(o, gamma=0.9),
    lambda o: optim.CosineAnnealingLR(o, T_max=10),
    lambda o: optim.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    lambda o: optim.CosineAnnealingLR(o, T_max=1, eta_min=0.01),
], ids=["step", "step1", "exp", "cos", "cos-eta", "cos-T1"])
def test_scheduler_lr_sequence_matches_torch(make):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    from torch.optim import lr_scheduler

    p = make_params()[0]
    ours_opt = optim.SGD([p], lr=0.5)
    ours = make(ours_opt)
    tp = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    theirs_opt = torch.optim.SGD([tp], lr=0.5)
    same_in_torch = {  # the same arguments to torch's classes
        optim.StepLR: lambda: lr_scheduler.StepLR(theirs_opt, ours.step_size, ours.gamma),
        optim.ExponentialLR: lambda: lr_scheduler.ExponentialLR(theirs_opt, ours.gamma),
        optim.CosineAnnealingLR: lambda: lr_scheduler.CosineAnnealingLR(
            theirs_opt, ours.T_max, ours.eta_min),
    }
    theirs = same_in_torch[type(ours)]()
    # 2 * T_max epochs for the cosine (past the minimum, back up to base_lr), and more.
    epochs = 3 * getattr(ours, "T_max", 10)
    got, want = [ours.get_last_lr()[0]], [theirs.get_last_lr()[0]]
    for _ in range(epochs):
        theirs_opt.step()
        ours.step()
        theirs.step()
        got.append(ours.get_last_lr()[0])
        want.append(theirs.get_last_lr()[0])
        assert ours.last_epoch == theirs.last_epoch
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# -- schedules without torch ----------------------------------------------------------------
def test_schedules_follow_their_formulas_and_set_opt_lr():
    opt = optim.SGD(make_params(), lr=0.8)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(5):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert sched.last_epoch == 5 and sched.get_last_lr() == [0.2]

    opt = optim.Adam(make_params(), lr=1.0)
    cos = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    seq = [cos.lr_at(t) for t in range(9)]
    np.testing.assert_allclose(seq, [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2
                                     for t in range(9)])
    assert seq[4] == pytest.approx(0.1) and seq[8] == pytest.approx(1.0)


def test_scheduled_lr_is_used_by_the_next_step():
    p = Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.ExponentialLR(opt, gamma=0.5)
    sched.step()
    p.grad[...] = 1.0
    opt.step()
    assert p.data[0] == 0.5


def test_scheduler_state_dict_resumes():
    opt = optim.SGD(make_params(), lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    saved = {k: np.asarray(v) for k, v in sched.state_dict().items()}  # as np.load gives them
    opt2 = optim.SGD(make_params(), lr=1.0)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(saved)
    assert opt2.lr == opt.lr and sched2.last_epoch == 4
    sched.step()
    sched2.step()
    assert opt2.lr == opt.lr


def test_scheduler_state_dict_accepts_numpy_scalars_and_names_missing_keys():
    opt = optim.SGD(make_params(), lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    sched.load_state_dict({"base_lr": np.float64(1.0), "last_epoch": np.int64(4)})
    assert sched.last_epoch == 4 and type(sched.last_epoch) is int and opt.lr == 0.25
    with pytest.raises(KeyError, match=r"StepLR.load_state_dict: missing \['last_epoch'\]"):
        sched.load_state_dict({"base_lr": 1.0})
    assert sched.last_epoch == 4 and opt.lr == 0.25


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.StepLR(o, step_size=0), "StepLR: step_size must be a positive integer"),
    (lambda o: optim.StepLR(o, step_size=2, gamma=-0.1), "StepLR: gamma must be > 0"),
    (lambda o: optim.ExponentialLR(o, gamma=0), "ExponentialLR: gamma must be > 0"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=2.5), "CosineAnnealingLR: T_max must be"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=-1), "eta_min must be >= 0"),
])
def test_scheduler_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make(optim.SGD(make_params(), lr=0.1))


def test_scheduler_needs_a_bpkit_optimizer():
    with pytest.raises(TypeError, match="StepLR expected a bpkit Optimizer, got list"):
        optim.StepLR([], step_size=1)


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", OPTIMISERS)
@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_lr_must_be_positive(cls, lr):
    with pytest.raises(ValueError, match=f"{cls.__name__}: lr must be > 0"):
        cls(make_params(), lr=lr)


@pytest.mark.parametrize("cls, arg", [
    (optim.SGD, "momentum"), (optim.SGD, "dampening"), (optim.SGD, "weight_decay"),
    (optim.RMSprop, "momentum"), (optim.RMSprop, "weight_decay"), (optim.RMSprop, "eps"),
    (optim.Adam, "weight_decay"), (optim.Adam, "eps"),
    (optim.AdamW, "weight_decay"), (optim.AdamW, "eps"),
])
def test_negative_hyper_parameter_is_refused(cls, arg):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {arg} must be >= 0, got -0.5"):
        cls(make_params(), lr=0.1, **{arg: -0.5})


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("betas, bad", [((1.0, 0.999), "betas\\[0\\]"),
                                        ((0.9, -0.1), "betas\\[1\\]"),
                                        ((0.9, 1.5), "betas\\[1\\]")])
def test_betas_must_be_in_unit_interval(cls, betas, bad):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {bad} must be in \\[0, 1\\)"):
        cls(make_params(), betas=betas)


def test_betas_must_be_a_pair():
    with pytest.raises(ValueError, match="Adam: betas must be a pair"):
        optim.Adam(make_params(), betas=0.9)


@pytest.mark.parametrize("alpha", [1.0, -0.01])
def test_rmsprop_alpha_in_unit_interval(alpha):
    with pytest.raises(ValueError, match="RMSprop: alpha must be in \\[0, 1\\)"):
        optim.RMSprop(make_params(), alpha=alpha)


@pytest.mark.parametrize("kw", [dict(momentum=0.0), dict(momentum=0.9, dampening=0.1)])
def test_nesterov_needs_momentum_and_no_dampening(kw):
    with pytest.raises(ValueError, match="SGD: nesterov=True requires momentum > 0"):
        optim.SGD(make_params(), lr=0.1, nesterov=True, **kw)


def test_hyper_parameter_must_be_a_number():
    with pytest.raises(TypeError, match="SGD: lr must be a number, got str"):
        optim.SGD(make_params(), lr="0.1")
    with pytest.raises(TypeError, match="Adam: amsgrad must be True or False"):
        optim.Adam(make_params(), amsgrad="yes")


def test_empty_params_refused():
    with pytest.raises(ValueError, match="SGD got an empty parameter list"):
        optim.SGD([], lr=0.1)


def test_non_parameter_item_named_by_index():
    params = make_params()
    with pytest.raises(TypeError, match=r"Adam: params\[1\] is a ndarray, expected a Parameter"):
        optim.Adam([params[0], params[1].data])


def test_duplicate_parameter_refused():
    p, q = make_params()
    with pytest.raises(ValueError, match=r"params\[2\] is the same Parameter as params\[0\]"):
        optim.SGD([p, q, p], lr=0.1)


def test_passing_the_model_itself_suggests_parameters():
    model = Linear(2, 3, rng=0)
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        optim.SGD(model, lr=0.1)


def test_lr_is_settable_but_not_negative():
    opt = optim.RMSprop(make_params(), lr=0.1)
    opt.lr = 0.0  # schedules may reach 0
    assert opt.lr == 0.0
    with pytest.raises(ValueError, match="RMSprop: lr must be >= 0"):
        opt.lr = -1e-3
    assert opt.lr == 0.0


def test_hyper_parameters_have_pytorch_names_and_defaults():
    adam = optim.Adam(make_params())
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay, adam.amsgrad) == (
        1e-3, (0.9, 0.999), 1e-8, 0.0, False)
    assert optim.AdamW(make_params()).weight_decay == 1e-2
    rms = optim.RMSprop(make_params())
    assert (rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered) == (
        1e-2, 0.99, 1e-8, 0.0, False)
    assert repr(optim.SGD(make_params(), lr=0.5, momentum=0.9)) == (
        "SGD(lr=0.5, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)")


# -- in place, zero_grad, dtype -------------------------------------------------------------
ALL_OPTIONS = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1)),
    (optim.SGD, dict(lr=0.1)),
    (optim.RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.01)),
    (optim.Adam, dict(amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(amsgrad=True)),
]


@pytest.mark.parametrize("cls, kw", ALL_OPTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_step_updates_data_in_place_and_leaves_grad_alone(cls, kw):
    params = make_params()
    arrays = [p.data for p in params]
    opt = cls(params, **kw)
    grads = grads_for(params, 1, seed=1)[0]
    run(opt, [grads])
    for p, a, g in zip(params, arrays, grads, strict=True):
        assert p.data is a  # a model holding the array sees the update
        np.testing.assert_array_equal(p.grad, g)


def test_zero_grad_zeroes_every_gradient_in_place():
    params = make_params()
    grads = [p.grad for p in params]
    for p in params:
        p.grad += 1.0
    optim.SGD(params, lr=0.1).zero_grad()
    for p, g in zip(params, grads, strict=True):
        assert p.grad is g and not g.any()


@pytest.mark.parametrize("cls, kw", ALL_OPTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_float32_stays_float32(cls, kw):
    params = make_params(dtype=np.float32)
    opt = cls(params, **kw)
    run(opt, grads_for(params, 3, seed=2))
    for i, p in enumerate(params):
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
        for value in opt.state.get(i, {}).values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


@pytest.mark.parametrize("cls, kw", ALL_OPTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_state_follows_model_astype(cls, kw):
    model = Sequential(Linear(3, 4, rng=0), Linear(4, 2, rng=1))
    opt = cls(model.parameters(), **kw)
    run(opt, grads_for(model.parameters(), 2, seed=3))
    model.astype(np.float32)
    run(opt, grads_for(model.parameters(), 2, seed=4))
    for i, p in enumerate(model.parameters()):
        assert p.data.dtype == np.float32
        for value in opt.state.get(i, {}).values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_astype_converts_state_now():
    params = make_params()
    opt = optim.Adam(params, amsgrad=True)
    run(opt, grads_for(params, 2, seed=5))
    before = {k: v.copy() for k, v in opt.state[0].items() if isinstance(v, np.ndarray)}
    assert opt.astype(np.float32) is opt
    for name, value in before.items():
        assert opt.state[0][name].dtype == np.float32
        np.testing.assert_allclose(opt.state[0][name], value, rtol=1e-6)
    with pytest.raises(TypeError, match="Adam.astype needs a floating dtype"):
        opt.astype(np.int32)


# -- state_dict -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kw", ALL_OPTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_state_dict_round_trips_through_npz_without_pickle(cls, kw, tmp_path):
    params = make_params()
    opt = cls(params, **kw)
    run(opt, grads_for(params, 3, seed=6))
    opt.lr = opt.lr / 2
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    params2 = [Parameter(p.data) for p in params]
    opt2 = cls(params2, **kw)
    opt2.load_state_dict(loaded)
    assert repr(opt2) == repr(opt)
    later = grads_for(params, 3, seed=7)
    run(opt, later)
    run(opt2, later)
    for p, q in zip(params, params2, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_is_a_copy():
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    run(opt, grads_for(params, 1, seed=8))
    sd = opt.state_dict()
    sd["state.0.momentum_buffer"][...] = 123.0
    assert not (opt.state[0]["momentum_buffer"] == 123.0).any()


def test_load_state_dict_errors_leave_optimiser_unchanged():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, grads_for(params, 2, seed=9))
    before = repr(opt), {k: v.copy() for k, v in opt.state[0].items()
                         if isinstance(v, np.ndarray)}
    good = opt.state_dict()
    bad_shape = dict(good, **{"state.0.exp_avg": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"'state.0.exp_avg' has shape \(4, 3\), but parameter "
                                         r"0 has shape \(3, 4\)"):
        opt.load_state_dict(dict(bad_shape, lr=0.5))
    with pytest.raises(ValueError, match="saved from 'SGD', not from Adam"):
        opt.load_state_dict(dict(good, optimizer="SGD"))
    with pytest.raises(ValueError, match="refers to parameter 5"):
        opt.load_state_dict(dict(good, **{"state.5.exp_avg": np.zeros(3)}))
    with pytest.raises(KeyError, match="unexpected key 'state.0.momentum_buffer'"):
        opt.load_state_dict(dict(good, **{"state.0.momentum_buffer": np.zeros((3, 4))}))
    partial = {k: v for k, v in good.items() if k != "state.1.exp_avg_sq"}
    with pytest.raises(KeyError, match=r"state of parameter 1 lacks \['exp_avg_sq'\]"):
        opt.load_state_dict(partial)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.load_state_dict(dict(good, lr=-1.0))
    assert repr(opt) == before[0]
    for name, value in before[1].items():
        np.testing.assert_array_equal(opt.state[0][name], value)


# -- it trains ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kw", [
    (optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.RMSprop, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.05)), (optim.AdamW, dict(lr=0.05, weight_decay=1e-4)),
])
def test_fits_a_linear_regression(cls, kw):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    model = Linear(3, 1, rng=1)
    opt = cls(model.parameters(), **kw)

    def loss_and_grad():
        err = model(X) - y
        return float(np.mean(err**2)), 2 * err / len(X)

    first, _ = loss_and_grad()
    for _ in range(300):
        loss, grad = loss_and_grad()
        opt.zero_grad()
        model.backward(grad)
        opt.step()
    assert loss < 1e-3 * first
