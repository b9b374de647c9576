"""How much does ``bp.fit`` cost over the bare hand-written loop? Prints the time ratio.

Both train the digits MLP 64-128-64-10 (ReLU, Adam, cross-entropy, batch 32) for one epoch
at a time on the same engine. ``fit`` runs with its progress bar on (writing to a
throw-away text stream instead of the terminal), so the bar's cost is counted. The two are
timed alternately, several rounds, and the medians compared; the target is a ratio of at
most 1.5.

Run: ``python benchmarks/train.py [rounds]``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time

import numpy as np

import bpkit as bp
from bpkit.layers import Linear, ReLU
from bpkit.losses import CrossEntropyLoss
from bpkit.optim import Adam

TARGET = 1.5


def make_model(seed: int) -> tuple[bp.Sequential, Adam]:
    rng = np.random.default_rng(seed)
    model = bp.Sequential(Linear(64, 128, rng=rng), ReLU(), Linear(128, 64, rng=rng), ReLU(),
                          Linear(64, 10, rng=rng))
    return model, Adam(model.parameters(), lr=1e-3)


def bare_epoch(model: bp.Sequential, opt: Adam, loss_fn: CrossEntropyLoss, X: np.ndarray,
               y: np.ndarray, rng: np.random.Generator) -> None:
    """The loop of the engine contract, written out by hand."""
    order = rng.permutation(len(X))
    for start in range(0, len(X), 32):
        idx = order[start : start + 32]
        logits = model(X[idx])
        loss_fn(logits, y[idx])
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()


def fit_epoch(model: bp.Sequential, opt: Adam, loss_fn: CrossEntropyLoss, X: np.ndarray,
              y: np.ndarray, rng: np.random.Generator) -> None:
    with contextlib.redirect_stderr(io.StringIO()):  # tqdm writes to sys.stderr
        bp.fit(model, loss_fn, opt, X, y, epochs=1, batch_size=32, rng=rng, progress=True)


def main(rounds: int = 15) -> float:
    X, y = bp.load_digits()
    X = bp.Standardizer().fit_transform(X)
    loss_fn = CrossEntropyLoss()
    timings: dict[str, list[float]] = {"bare": [], "fit": []}
    runners = {"bare": bare_epoch, "fit": fit_epoch}
    models = {name: make_model(0) for name in runners}
    rngs = {name: np.random.default_rng(1) for name in runners}
    for name, run in runners.items():  # warm-up
        run(*models[name], loss_fn, X, y, rngs[name])
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(*models[name], loss_fn, X, y, rngs[name])
            timings[name].append(time.perf_counter() - start)
    bare, fitted = statistics.median(timings["bare"]), statistics.median(timings["fit"])
    ratio = fitted / bare
    print(f"digits MLP 64-128-64-10, batch 32, one epoch ({len(X)} samples), median of "
          f"{rounds} rounds")
    print(f"  bare loop : {bare * 1e3:8.1f} ms")
    print(f"  bp.fit    : {fitted * 1e3:8.1f} ms  (progress bar on)")
    print(f"  ratio     : {ratio:8.2f}  (target <= {TARGET})  "
          f"{'OK' if ratio <= TARGET else 'ABOVE TARGET'}")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
