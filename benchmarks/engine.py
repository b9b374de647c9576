"""How fast is one bpkit training step? Medians against hand-written NumPy and PyTorch.

One step = zero_grad, forward, softmax cross-entropy (mean), backward down to the input
gradient (what ``model.backward`` returns), and an SGD update, on an MLP with ReLU hidden
layers. It is timed for bpkit and five references from ``_reference.py``:

- the BLAS floor: only the step's matrix products (3 per layer) on preallocated arrays;
- PyTorch's products (wide MLP only, where PyTorch is installed): the floor's products run
  by PyTorch's own BLAS (MKL in its CPU wheels), to show whether PyTorch's whole step can
  be beaten by any step that has to run NumPy's products;
- the NumPy bound (wide MLP only): the whole step with every array preallocated (``out=``),
  the fewest NumPy calls and memory passes that compute it: about the best a NumPy step
  can do when the arrays are large;
- a hand-written NumPy step with the same math;
- PyTorch CPU (where installed), with ``requires_grad=True`` on the input.

The targets (ratios of medians in one run): bpkit at most 1.10x the hand-written NumPy
step at every configuration; at most 0.8x PyTorch at the teaching sizes and 1.25x on the
wide MLP. The floor and the bound are information: what any NumPy step must pay.

Every library runs in the same process, interleaved: in each round the order is shuffled,
and before each library's block of steps the script sleeps 120 ms, because OpenBLAS and
OpenMP thread pools keep spinning after a call (OpenBLAS for about 0.1 s) and would slow
whatever runs next. Each step is timed on its own; the table shows medians over all
rounds. BLAS threads are set with threadpoolctl (and ``torch.set_num_threads``) to 1,
then 2.

Run: ``python benchmarks/engine.py [--quick] [--rounds N] [--markdown FILE]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _reference import (
    BlasFloor,
    NumpyBound,
    TorchFloor,
    TorchStep,
    init_params,
    make_data,
    numpy_step,
)
from threadpoolctl import threadpool_info, threadpool_limits

import bpkit as bp
from bpkit.layers import Linear, ReLU
from bpkit.losses import CrossEntropyLoss
from bpkit.optim import SGD

LR = 1e-2
LIBRARIES = ("bpkit", "floor", "torch floor", "bound", "numpy", "torch")
VS_NUMPY = 1.10        # bpkit / hand-written NumPy, every configuration and thread count
WIDE_VS_TORCH = 1.25   # bpkit / PyTorch on the wide MLP
SMALL_VS_TORCH = 0.8   # bpkit / PyTorch at the teaching sizes


@dataclass(frozen=True)
class Config:
    """One benchmarked model: layer sizes, batch size, dtype; ``wide`` picks the targets."""

    sizes: tuple[int, ...]
    batch: int
    dtype: Any
    wide: bool

    def label(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"{sizes}, batch {self.batch}, {np.dtype(self.dtype).name}"


CONFIGS = (
    Config((784, 512, 512, 10), 256, np.float32, wide=True),
    Config((784, 512, 512, 10), 256, np.float64, wide=True),
    Config((2, 16, 16, 2), 200, np.float32, wide=False),
    Config((2, 16, 16, 2), 200, np.float64, wide=False),
    Config((2, 64, 64, 3), 300, np.float32, wide=False),
    Config((2, 64, 64, 3), 300, np.float64, wide=False),
)


# -- the four steps ------------------------------------------------------------------------
def bpkit_model(params: list[tuple[np.ndarray, np.ndarray]], dtype: Any) -> bp.Sequential:
    """A bpkit MLP (Linear, ReLU, ..., Linear) holding copies of ``params``."""
    layers: list[bp.Module] = []
    for i, (w, b) in enumerate(params):
        linear = Linear(w.shape[1], w.shape[0], rng=0, dtype=dtype)
        linear.weight.data[...] = w
        linear.bias.data[...] = b
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(ReLU())
    return bp.Sequential(*layers)


def bpkit_step(model: bp.Sequential, x: np.ndarray, y: np.ndarray, lr: float
               ) -> Callable[[], tuple[float, np.ndarray]]:
    """The engine contract's training step; the returned function gives (loss, dL/dx)."""
    loss_fn = CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=lr)

    def step() -> tuple[float, np.ndarray]:
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad()
        grad_x = model.backward(loss_fn.backward())
        opt.step()
        return loss, grad_x

    return step


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def make_steps(config: Config, with_torch: bool) -> dict[str, Callable[[], Any]]:
    """Each library's step for ``config``, all starting from the same weights and batch."""
    x, y = make_data(config.sizes, config.batch, config.dtype)
    params = init_params(config.sizes, config.dtype)
    floor = BlasFloor(config.sizes, config.batch, config.dtype)
    steps: dict[str, Callable[[], Any]] = {
        "bpkit": bpkit_step(bpkit_model(params, config.dtype), x, y, LR),
        "floor": floor.step,
    }
    if config.wide:  # at the teaching sizes per-call overhead rules and out= saves nothing
        steps["bound"] = NumpyBound(params, x, y, LR).step
        if with_torch:
            steps["torch floor"] = TorchFloor(floor).step
    reference = [(w.copy(), b.copy()) for w, b in params]
    steps["numpy"] = lambda: numpy_step(reference, x, y, LR)
    if with_torch:
        steps["torch"] = TorchStep(params, x, y, LR).step
    # The comparison is only fair if the steps compute the same thing: check the first one.
    loss, grad_x = steps["bpkit"]()
    ref_loss, ref_grad_x = steps["numpy"]()
    tol = 1e-4 if config.dtype == np.float32 else 1e-10
    if abs(loss - ref_loss) > tol * abs(ref_loss) or not np.allclose(grad_x, ref_grad_x,
                                                                     rtol=tol, atol=tol):
        raise AssertionError(f"{config.label()}: bpkit and the NumPy reference disagree")
    return steps


# -- timing --------------------------------------------------------------------------------
def torch_num_threads() -> int:
    import torch

    return torch.get_num_threads()


def set_threads(n: int, with_torch: bool) -> None:
    if with_torch:
        import torch

        torch.set_num_threads(n)


def time_config(config: Config, with_torch: bool, rounds: int, block_seconds: float,
                pause: float, rng: random.Random) -> dict[str, float]:
    """Median seconds per step of each library, from ``rounds`` shuffled, paused blocks.

    Every round builds the steps afresh (new arrays: how they happen to sit in memory moves
    the small models' times by several percent) and runs each library's block in a shuffled
    order. A block is one untimed step, then enough timed steps for about ``block_seconds``
    of bpkit (at least one, at most 400), each timed on its own.
    """
    samples: dict[str, list[float]] = {}
    per_block = 0
    for _ in range(rounds):
        steps = make_steps(config, with_torch)
        if not per_block:
            start = time.perf_counter()
            steps["bpkit"]()
            one = time.perf_counter() - start
            per_block = max(1, min(400, int(block_seconds / max(one, 1e-6))))
        order = list(steps)
        rng.shuffle(order)
        for name in order:
            step = steps[name]
            time.sleep(pause)
            step()  # not timed: wakes the thread pool the way the previous block left it
            for _ in range(per_block):
                t0 = time.perf_counter()
                step()
                samples.setdefault(name, []).append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in samples.items()}


# -- report --------------------------------------------------------------------------------
def machine_line(with_torch: bool) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.MULTILINE)
        if found:
            cpu = found.group(1).strip()
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')}, "
        f"{i.get('threading_layer', '?')})"
        for i in threadpool_info() if i.get("user_api") == "blas"
    ]
    parts = [
        f"{cpu}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__} with {', '.join(blas) or 'unknown BLAS'}",
    ]
    if with_torch:
        import torch

        found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        parts.append(f"torch {torch.__version__} ({found.group(1) if found else '?'})")
    else:
        parts.append("torch not installed")
    parts.append(datetime.date.today().isoformat())
    return "; ".join(parts)


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.2f} ms"


def fmt_ratio(ratio: float | None, target: float | None) -> str:
    """``ratio`` with PASS/MISS against ``target`` (at most), or alone without one."""
    if ratio is None:
        return "n/a"
    if target is None:
        return f"{ratio:.2f}"
    return f"{ratio:.2f} {'PASS' if ratio <= target else 'MISS'} (≤ {target:g})"


def table(results: list[tuple[Config, int, dict[str, float]]]) -> tuple[str, int, int]:
    """The Markdown table, and the numbers of targets passed and missed."""
    head = ("| configuration | BLAS threads | bpkit | BLAS floor | PyTorch products | NumPy bound "
            "| NumPy | PyTorch | bpkit / floor | PyTorch products / floor | bound / floor "
            "| bpkit / NumPy | bpkit / PyTorch |")
    lines = [head, "|" + "---|" * 13]
    passed = missed = 0
    for config, threads, med in results:
        bpkit = med["bpkit"]
        ratio = {name: (bpkit / med[name] if name in med else None) for name in LIBRARIES}
        # Information, no target: bpkit, PyTorch's products and the best possible NumPy step
        # against NumPy's products alone.
        info = [fmt_ratio(ratio["floor"], None)] + [
            fmt_ratio(med[name] / med["floor"] if name in med else None, None)
            for name in ("torch floor", "bound")]
        cells = [*info, fmt_ratio(ratio["numpy"], VS_NUMPY),
                 fmt_ratio(ratio["torch"], WIDE_VS_TORCH if config.wide else SMALL_VS_TORCH)]
        passed += sum("PASS" in c for c in cells)
        missed += sum("MISS" in c for c in cells)
        times = [fmt_time(med.get(name)) for name in LIBRARIES]
        lines.append(f"| {config.label()} | {threads} | " + " | ".join(times + cells) + " |")
    return "\n".join(lines), passed, missed


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (one step per library and configuration); "
                        "its numbers mean little")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 15)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 15)
    block_seconds, pause = (0.0, 0.0) if args.quick else (0.1, 0.12)
    with_torch = not args.no_torch and torch_available()
    rng = random.Random(0)

    load_before = os.getloadavg()[0]
    torch_threads = torch_num_threads() if with_torch else 0
    results = []
    for threads in (1, 2):
        set_threads(threads, with_torch)
        with threadpool_limits(limits=threads):
            for config in CONFIGS:
                medians = time_config(config, with_torch, rounds, block_seconds, pause, rng)
                results.append((config, threads, medians))
    if with_torch:
        set_threads(torch_threads, with_torch)
    text, passed, missed = table(results)
    report = "\n".join([
        f"Machine: {machine_line(with_torch)}",
        f"Median time of one training step, {rounds} interleaved rounds; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        text,
        "",
        f"Targets: {passed} passed, {missed} missed.",
    ])
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        report += ("\nNote: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set and may select a slower "
                   "BLAS kernel; see benchmarks/README.md.")
    print(report)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(report + "\n")
    return report


if __name__ == "__main__":
    main()
