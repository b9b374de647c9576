"""How much does ``check_model`` cost over a bare central-difference loop? Prints the ratio.

Both differentiate the cross-entropy of the MLP 2-70-70-70-2 (Tanh, 10,292 parameters,
batch 64) numerically with respect to every parameter, with h = 1e-6: per entry two forward
passes and two losses. The bare loop does only that; ``check_model`` also runs the analytic
pass, the accumulation and in-place checks, compares and diagnoses. The two are timed
alternately (in alternating order, after a short pause so BLAS threads settle), several
rounds, and the medians compared; the target is a ratio of at most 1.2.

Run: ``python benchmarks/gradcheck.py [rounds]``.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import bpkit as bp
from bpkit.gradcheck import check_model
from bpkit.layers import Linear, Tanh
from bpkit.losses import CrossEntropyLoss

TARGET = 1.2
H = 1e-6


def make_problem() -> tuple[bp.Sequential, CrossEntropyLoss, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    model = bp.Sequential(Linear(2, 70, rng=rng), Tanh(), Linear(70, 70, rng=rng), Tanh(),
                          Linear(70, 70, rng=rng), Tanh(), Linear(70, 2, rng=rng))
    X = rng.normal(size=(64, 2))
    y = rng.integers(0, 2, size=64)
    return model, CrossEntropyLoss(), X, y


def bare_loop(model: bp.Sequential, loss_fn: CrossEntropyLoss, X: np.ndarray,
              y: np.ndarray) -> list[np.ndarray]:
    """Central differences of the loss for every parameter entry, nothing else."""
    grads = []
    for p in model.parameters():
        flat = p.data.reshape(-1)
        grad = np.empty(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + H
            plus = loss_fn(model(X), y)
            flat[i] = old - H
            minus = loss_fn(model(X), y)
            flat[i] = old
            grad[i] = (plus - minus) / (2 * H)
        grads.append(grad)
    return grads


def checked(model: bp.Sequential, loss_fn: CrossEntropyLoss, X: np.ndarray,
            y: np.ndarray) -> bp.gradcheck.GradcheckReport:
    report = check_model(model, loss_fn, X, y, h=H)
    if not report.ok:
        raise AssertionError(f"the benchmark model should pass its gradient check:\n{report}")
    return report


def main(rounds: int = 5) -> float:
    model, loss_fn, X, y = make_problem()
    runners = {"bare": bare_loop, "check_model": checked}
    timings: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():  # warm-up
        run(model, loss_fn, X, y)
    for r in range(rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        for name in order:
            time.sleep(0.2)
            start = time.perf_counter()
            runners[name](model, loss_fn, X, y)
            timings[name].append(time.perf_counter() - start)
    bare = statistics.median(timings["bare"])
    full = statistics.median(timings["check_model"])
    ratio = full / bare
    print(f"MLP 2-70-70-70-2 (Tanh, {model.num_parameters():,} parameters), batch 64, "
          f"cross-entropy, h={H:g}; median of {rounds} interleaved rounds")
    print(f"  bare central differences : {bare * 1e3:8.1f} ms")
    print(f"  check_model              : {full * 1e3:8.1f} ms")
    print(f"  ratio                    : {ratio:8.3f}  (target <= {TARGET})  "
          f"{'OK' if ratio <= TARGET else 'ABOVE TARGET'}")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
