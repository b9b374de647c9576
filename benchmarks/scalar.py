"""Speed of bpkit's scalar ``Value`` against a micrograd-style engine on micrograd's moons demo.

One training step = forward (100 points through an MLP 2-16-16-1 built from scalars), the
max-margin loss with 1e-4 L2, backward and an SGD update: about 66k nodes. Both engines run
the same step on the same data and initial weights, interleaved in one process, so machine
load affects both alike. Prints the median time of each and the speed-up.

Usage: python benchmarks/scalar.py [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _micrograd_style import RefMLP, RefValue  # noqa: E402

from bpkit.scalar import ScalarMLP, Value, topological_order  # noqa: E402


def moons_1337() -> tuple[np.ndarray, np.ndarray]:
    """The 100 points of micrograd's demo (scikit-learn's make_moons, noise 0.1, seed 1337)."""
    rs = np.random.RandomState(1337)
    t = np.linspace(0, np.pi, 50)
    X = np.vstack(
        [np.append(np.cos(t), 1 - np.cos(t)), np.append(np.sin(t), 1 - np.sin(t) - 0.5)]
    ).T
    y = np.hstack([np.zeros(50, dtype=np.intp), np.ones(50, dtype=np.intp)])
    order = np.arange(100)
    rs.shuffle(order)
    X, y = X[order], y[order]
    X += rs.normal(scale=0.1, size=X.shape)
    return X, y * 2 - 1


def make_step(value_cls, model, X, y):
    """A function running one demo step (forward, loss, backward, SGD) and returning the loss."""
    params = model.parameters()
    rows = [[float(v) for v in row] for row in X]
    labels = [float(v) for v in y]

    def step(k: int):
        inputs = [[value_cls(v) for v in row] for row in rows]
        scores = [model(x) for x in inputs]
        losses = [(1 + -yi * s).relu() for yi, s in zip(labels, scores, strict=True)]
        total = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in params)
        for p in params:
            p.grad = 0.0
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            p.data -= lr * p.grad
        return total

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    X, y = moons_1337()
    ours = make_step(Value, ScalarMLP(2, [16, 16, 1], rng=random.Random(1337)), X, y)
    ref = make_step(RefValue, RefMLP(2, [16, 16, 1], random.Random(1337)), X, y)

    first = ours(0)
    first_ref = ref(0)
    print(f"nodes per step: {len(topological_order(first))}")
    print(f"step-0 loss: bpkit {first.data!r}, reference {first_ref.data!r}")

    # Wall time is what a learner waits for; CPU time (this process only) is steadier when
    # other programs share the machine. Both are reported.
    wall: dict[str, list[float]] = {"bpkit": [], "reference": []}
    cpu: dict[str, list[float]] = {"bpkit": [], "reference": []}
    for k in range(1, args.repeats + 1):
        for name, step in (("bpkit", ours), ("reference", ref)):
            # Free the other engine's garbage first (closure graphs are cyclic and wait for
            # the collector), so neither step pays for the other's clean-up.
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            step(k)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)

    for label, times in (("wall", wall), ("cpu", cpu)):
        med = {name: statistics.median(ts) for name, ts in times.items()}
        print(
            f"{label:>4}: bpkit {med['bpkit'] * 1e3:7.1f} ms/step, micrograd-style "
            f"{med['reference'] * 1e3:7.1f} ms/step, speed-up "
            f"{med['reference'] / med['bpkit']:.2f}x (target >= 2x)"
        )


if __name__ == "__main__":
    main()
