"""The engine benchmark compares like with like, and runs end to end (no timing here).

``benchmarks/engine.py`` divides bpkit's step time by the references' in
``benchmarks/_reference.py``; those ratios only mean something if every step computes the
same thing: the same loss, the same input gradient and the same updated parameters.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["engine.py"]  # the benchmark scripts that take --quick


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


reference = _load("_reference", "_reference.py")  # the name engine.py imports it by
engine = _load("bpkit_benchmarks_engine", "engine.py")

CONFIGS = {c.label(): c for c in engine.CONFIGS}


def tolerance(config) -> dict:
    return {"rtol": 2e-4, "atol": 1e-6} if config.dtype == np.float32 else {"rtol": 1e-9,
                                                                              "atol": 1e-12}


def bpkit_params(model) -> list[tuple[np.ndarray, np.ndarray]]:
    linears = [layer for layer in model if hasattr(layer, "weight")]
    return [(m.weight.data, m.bias.data) for m in linears]


def assert_same_params(got, expected, tol) -> None:
    assert len(got) == len(expected)
    for (w, b), (w_ref, b_ref) in zip(got, expected, strict=True):
        assert w.dtype == w_ref.dtype and b.dtype == b_ref.dtype
        np.testing.assert_allclose(w, w_ref, **tol)
        np.testing.assert_allclose(b, b_ref, **tol)


def setup(config):
    x, y = reference.make_data(config.sizes, config.batch, config.dtype)
    params = reference.init_params(config.sizes, config.dtype)
    return x, y, params


def assert_steps_agree(config, other, other_params, steps: int = 3) -> None:
    """Run bpkit's step and ``other`` side by side: after every step the same loss, input
    gradient (``other`` returns (loss, dL/dx) as NumPy) and parameters (``other_params()``).
    Several steps: the update is applied and gradients do not pile up."""
    x, y, params = setup(config)
    model = engine.bpkit_model(params, config.dtype)
    step = engine.bpkit_step(model, x, y, engine.LR)
    tol = tolerance(config)
    for _ in range(steps):
        loss, grad_x = step()
        other_loss, other_grad_x = other()
        assert isinstance(loss, float) and isinstance(other_loss, float)
        assert loss == pytest.approx(other_loss, rel=tol["rtol"])
        assert grad_x.shape == x.shape and grad_x.dtype == x.dtype == other_grad_x.dtype
        np.testing.assert_allclose(grad_x, other_grad_x, **tol)
        assert_same_params(bpkit_params(model), other_params(), tol)


# -- the hand-written NumPy step ------------------------------------------------------------
@pytest.mark.parametrize("label", list(CONFIGS))
def test_numpy_reference_matches_bpkit_step(label):
    config = CONFIGS[label]
    x, y, params = setup(config)
    ref = [(w.copy(), b.copy()) for w, b in params]
    assert_steps_agree(config, lambda: reference.numpy_step(ref, x, y, engine.LR), lambda: ref)
    # the parameters really moved: the step is not a no-op on either side
    assert not np.allclose(ref[0][0], params[0][0], rtol=0, atol=0)


def test_numpy_reference_is_plain_gradient_descent():
    # Independent of bpkit: the gradient it uses is the numerical gradient of its loss.
    config = engine.Config((3, 5, 4), 6, np.float64, wide=False)
    x, y, params = setup(config)

    def loss_of(ps):
        copy = [(w.copy(), b.copy()) for w, b in ps]
        return reference.numpy_step(copy, x, y, lr=1e-300)[0]

    stepped = [(w.copy(), b.copy()) for w, b in params]
    lr = 0.5
    reference.numpy_step(stepped, x, y, lr)
    h = 1e-6
    for (w, _), (w_new, _) in zip(params, stepped, strict=True):
        numerical = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + h
            up = loss_of(params)
            w[idx] = old - h
            down = loss_of(params)
            w[idx] = old
            numerical[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose((w - w_new) / lr, numerical, rtol=1e-6, atol=1e-9)


# -- the BLAS floor -------------------------------------------------------------------------
@pytest.mark.parametrize("label", list(CONFIGS))
def test_blas_floor_runs_exactly_the_products_of_a_step(label):
    config = CONFIGS[label]
    floor = reference.BlasFloor(config.sizes, config.batch, config.dtype)
    n = config.batch
    pairs = list(zip(config.sizes[:-1], config.sizes[1:], strict=True))
    forward = [(n, fan_in, fan_out) for fan_in, fan_out in pairs]
    backward = []
    for fan_in, fan_out in reversed(pairs):
        backward += [(fan_out, n, fan_in), (n, fan_out, fan_in)]  # dW = dz^T a, da = dz W
    assert floor.products() == forward + backward
    floor.step()
    tol = tolerance(config)
    for layer in floor.layers:
        for array in layer.values():
            assert array.dtype == config.dtype
        np.testing.assert_allclose(layer["z"], layer["a"] @ layer["w"].T, **tol)
        np.testing.assert_allclose(layer["dw"], layer["dz"].T @ layer["a"], **tol)
        np.testing.assert_allclose(layer["da"], layer["dz"] @ layer["w"], **tol)


@pytest.mark.parametrize("label", list(CONFIGS))
def test_torch_floor_runs_the_floors_products_in_pytorch(label):
    pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    config = CONFIGS[label]
    floor = reference.BlasFloor(config.sizes, config.batch, config.dtype)
    torch_floor = reference.TorchFloor(floor)
    floor.step()
    torch_floor.step()
    # another BLAS sums in another order: entries near zero differ by rounding of the sum
    scale = 1e-5 if config.dtype == np.float32 else 1e-13
    outputs = torch_floor.outputs()
    assert len(outputs) == len(floor.layers)
    for ours, theirs in zip(floor.layers, outputs, strict=True):
        for key in ("z", "dw", "da"):
            assert theirs[key].dtype == config.dtype and theirs[key].shape == ours[key].shape
            np.testing.assert_allclose(theirs[key], ours[key], rtol=scale * 10,
                                       atol=scale * np.abs(ours[key]).max())
    # it works on copies: the floor's arrays are not PyTorch's
    assert not np.shares_memory(outputs[0]["z"], floor.layers[0]["z"])


# -- the NumPy bound -----------------------------------------------------------------------
@pytest.mark.parametrize("label", list(CONFIGS))
def test_numpy_bound_matches_bpkit_step(label):
    config = CONFIGS[label]
    x, y, params = setup(config)
    bound = reference.NumpyBound(params, x, y, engine.LR)
    # its preallocated arrays are reused: later steps must stay right too
    assert_steps_agree(config, bound.step, lambda: bound.params)
    # it updated its own copies, not the parameters it was given
    assert not np.allclose(bound.params[0][0], params[0][0], rtol=0, atol=0)


# -- PyTorch ----------------------------------------------------------------------------------
@pytest.mark.parametrize("label", list(CONFIGS))
def test_torch_reference_matches_bpkit_step(label):
    pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    config = CONFIGS[label]
    x, y, params = setup(config)
    torch_step = reference.TorchStep(params, x, y, engine.LR)

    def step():
        loss, grad_x = torch_step.step()
        assert grad_x is not None, "PyTorch did not compute the input gradient"
        return loss, grad_x.numpy()

    assert_steps_agree(config, step, torch_step.params, steps=2)


# -- the report -----------------------------------------------------------------------------
def test_table_marks_targets():
    # targets: bpkit <= 1.10x NumPy everywhere; <= 1.25x PyTorch on the wide MLP, <= 0.8x at
    # the teaching sizes; bpkit / floor and the other floor ratios are information only
    wide, small = engine.CONFIGS[0], engine.CONFIGS[2]
    assert wide.wide and not small.wide
    results = [
        (wide, 1, {"bpkit": 1.10, "floor": 1.0, "torch floor": 0.9, "numpy": 1.0,
                   "torch": 0.9}),  # NumPy at the limit
        (wide, 2, {"bpkit": 1.30, "floor": 1.0, "numpy": 1.0, "torch": 1.0}),  # both missed
        (small, 1, {"bpkit": 1.0, "floor": 0.2, "bound": 0.7, "numpy": 0.95,
                    "torch": 1.25}),  # PyTorch at the limit
        (small, 2, {"bpkit": 1.0, "floor": 0.2, "numpy": 1.0, "torch": 1.2}),  # 0.83 > 0.8
    ]
    text, passed, missed = engine.table(results)
    rows = text.splitlines()[2:]
    assert "1.10 PASS (≤ 1.1)" in rows[0] and "1.22 PASS (≤ 1.25)" in rows[0]
    assert "| 900.00 ms |" in rows[0] and "| 0.90 |" in rows[0]  # PyTorch's products
    assert "| 1.10 |" in rows[0]  # bpkit / floor, shown without a target
    assert "1.30 MISS (≤ 1.1)" in rows[1] and "1.30 MISS (≤ 1.25)" in rows[1]
    assert "1.05 PASS (≤ 1.1)" in rows[2] and "0.80 PASS (≤ 0.8)" in rows[2]
    assert "| 3.50 |" in rows[2] and "| 5.00 |" in rows[2]  # bound / floor, bpkit / floor
    assert "1.00 PASS (≤ 1.1)" in rows[3] and "0.83 MISS (≤ 0.8)" in rows[3]
    assert (passed, missed) == (5, 3)
    # without PyTorch its column says so and no target is marked
    text, passed, missed = engine.table([(small, 1, {"bpkit": 1.0, "floor": 0.2,
                                                     "numpy": 0.8})])
    assert "n/a" in text and "1.25 MISS (≤ 1.1)" in text and (passed, missed) == (0, 1)


def test_every_size_is_timed_in_float32_and_float64():
    sizes = {config.sizes for config in engine.CONFIGS}
    assert {(2, 16, 16, 2), (2, 64, 64, 3), (784, 512, 512, 10)} <= sizes
    for size in sizes:
        dtypes = {np.dtype(c.dtype) for c in engine.CONFIGS if c.sizes == size}
        assert dtypes == {np.dtype(np.float32), np.dtype(np.float64)}, size


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick(script, tmp_path):
    out_file = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--markdown", str(out_file)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Machine:" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 784") or
            line.startswith("| 2-")]
    assert len(rows) == 2 * len(engine.CONFIGS)  # every configuration, 1 and 2 threads
    assert out_file.read_text(encoding="utf-8").strip() == proc.stdout.strip()


def test_playground_benchmark_runs_and_reports_its_rate(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "playground.py"), "4"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "redraws/s" in proc.stdout and "target    : 5 redraws/s" in proc.stdout
