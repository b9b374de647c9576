"""How fast does the Playground redraw while playing? Prints redraws/s against the 5/s target.

The issue asks that the default network (features x1, x2; hidden layers 4 and 2, tanh; SGD,
batch 10; the circle, 200 training points) redraws at least 5 times a second while playing.
This script plays it for a number of frames on an asyncio loop exactly as the **Play**
button does (one epoch, a redraw of every image, a sleep; frames are capped at
``MIN_FRAME_S`` = 50 ms, so at most 20 redraws/s) and reports:

- redraws/s while playing, and its ratio to the 5/s target;
- the cost of one frame without the cap: the epoch and the redraw, medians over rounds;
- the same for the largest network (6 hidden layers of 16 units, all seven features);
- the reference measured in the same run: drawing the output heatmap with matplotlib
  (``imshow`` + ``savefig`` to PNG at 80 dpi, as the other widgets do), which is what the
  renderer replaces, and its ratio to the Playground's complete redraw.

The kernel-to-browser traffic is not included (no browser here): each frame sends one PNG
per image, about 10-30 kB for the default network.

Run: ``python benchmarks/playground.py [frames]``.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import time

TARGET = 5.0  # redraws per second while playing


def _median_time(run, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matplotlib_redraw(app) -> None:
    """The reference: the output heatmap drawn with matplotlib and saved as a PNG."""
    from matplotlib.figure import Figure

    with_grid = app.model(app._F_grid)[:, 0].reshape(50, 50)
    figure = Figure(figsize=(2.5, 2.5))
    ax = figure.add_subplot()
    ax.imshow(with_grid, extent=app.extent, cmap="RdBu")
    ax.scatter(app.X_train[:, 0], app.X_train[:, 1], c=app.y_train, s=8, edgecolors="white")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)


def main(frames: int = 60) -> float:
    from bpkit.widgets import Playground

    app = Playground()
    asyncio.run(app.run(frames=3))  # warm-up
    start, epochs = time.perf_counter(), app.epoch
    done = asyncio.run(app.run(frames=frames))
    elapsed = time.perf_counter() - start
    rate, played = done / elapsed, app.epoch - epochs
    epoch_s = _median_time(lambda: app.step(), 20) - _median_time(app.render, 20)
    render_s = _median_time(app.render, 20)
    big = Playground(hidden=[16] * 6, activation="relu",
                     features=["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"])
    big_render = _median_time(big.render, 10)
    big_frame = _median_time(lambda: big.step(), 10)
    reference = _median_time(lambda: matplotlib_redraw(app), 10)

    print(f"Playground, default network (2-4-2-1 tanh, SGD, batch 10, "
          f"{len(app.X_train)} training points)")
    print(f"  playing   : {done} frames ({played} epochs) in {elapsed:.2f} s = "
          f"{rate:.1f} redraws/s (capped at {1 / 0.05:.0f}/s)")
    print(f"  target    : {TARGET:.0f} redraws/s; ratio {rate / TARGET:.2f}  "
          f"{'OK' if rate >= TARGET else 'BELOW TARGET'}")
    print(f"  one frame : epoch {epoch_s * 1e3:.1f} ms + redraw {render_s * 1e3:.1f} ms "
          f"(uncapped {1 / (epoch_s + render_s):.0f} frames/s)")
    print(f"  largest   : 6 x 16 ReLU units, 7 features: frame {big_frame * 1e3:.1f} ms "
          f"(redraw {big_render * 1e3:.1f} ms, {1 / big_frame:.0f} frames/s)")
    print(f"  reference : output heatmap with matplotlib savefig {reference * 1e3:.0f} ms = "
          f"{reference / render_s:.0f} x the whole network's redraw")
    return rate


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
