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
  renderer replaces, and its ratio to the Playground's complete redraw;
- the PNG encoders side by side: the renderer encodes with Pillow; the script also plays
  and redraws with the PNG writer bpkit used before (NumPy + ``zlib``, kept here as
  ``zlib_png_bytes``), interleaved in the same run, so the two can be compared on a busy
  machine. With Pillow, a frame (an epoch and a redraw) must fit in the 50 ms of the
  cap of 20 redraws/s;
- the network diagram (issue 18): with it, the default network must keep 20 redraws/s
  and a network of 6 hidden layers of 8 tanh units 10/s. Both are played for ``frames``
  frames; as playing is capped at 20/s, the default network is judged by its uncapped
  frame rate (an epoch and a redraw must fit in the cap's 50 ms), the 6 x 8 one by its
  playing rate. The reference in the same run is the redraw without the diagram (its
  ``draw`` replaced by a no-op, taking turns with the real one): the ratio is what the
  diagram costs.

The kernel-to-browser traffic is not included (no browser here): each frame sends one PNG
per image, about 10-30 kB for the default network.

Run: ``python benchmarks/playground.py [frames]``.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import struct
import sys
import time
import zlib

import numpy as np

TARGET = 5.0  # redraws per second while playing


def _median_time(run, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def zlib_png_bytes(rgb: np.ndarray, level: int = 1) -> bytes:
    """The PNG writer the renderer used before Pillow: filter 0 on every row, one IDAT."""
    rgb = np.asarray(rgb)
    height, width = rgb.shape[:2]
    raw = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # column 0: filter type 0
    raw[:, 1:] = rgb.reshape(height, 3 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + chunk(b"IEND", b""))


def compare_encoders(app, frames: int, rounds: int = 20) -> dict[str, tuple[float, float]]:
    """Per encoder: (redraws/s while playing ``frames`` frames, median redraw in s).

    The encoders take turns: play with one, then the other, then redraws alternately.
    """
    from bpkit.widgets import _playground_render as render

    encoders = {"pillow": render.png_bytes, "zlib": zlib_png_bytes}
    rates: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in encoders}
    try:
        for name, encoder in encoders.items():
            render.png_bytes = encoder
            start = time.perf_counter()
            done = asyncio.run(app.run(frames=frames))
            rates[name] = done / (time.perf_counter() - start)
        for _ in range(rounds):
            for name, encoder in encoders.items():
                render.png_bytes = encoder
                start = time.perf_counter()
                app.render()
                times[name].append(time.perf_counter() - start)
    finally:
        render.png_bytes = encoders["pillow"]
    return {name: (rates[name], statistics.median(times[name])) for name in encoders}


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


DIAGRAM_TARGETS = {"default": 20.0, "6 x 8": 10.0}  # redraws/s with the network diagram


def diagram_rates(frames: int, rounds: int = 15) -> list[str]:
    """Lines of the report on the network diagram: rates with it, redraw cost without it."""
    from bpkit.widgets import Playground

    lines = []
    for name, hidden in (("default", [4, 2]), ("6 x 8", [8] * 6)):
        app = Playground(hidden=hidden)
        asyncio.run(app.run(frames=2))  # warm-up
        start = time.perf_counter()
        done = asyncio.run(app.run(frames=frames))
        rate = done / (time.perf_counter() - start)
        frame_s = _median_time(lambda app=app: app.step(), rounds)
        draw = app.diagram.draw
        with_s, without_s = [], []
        try:
            for _ in range(rounds):  # taking turns, so both see the same load
                app.diagram.draw = draw
                with_s.append(_median_time(app.render, 1))
                app.diagram.draw = lambda *args, **kwargs: None
                without_s.append(_median_time(app.render, 1))
        finally:
            app.diagram.draw = draw
        w, wo = statistics.median(with_s), statistics.median(without_s)
        target = DIAGRAM_TARGETS[name]
        judged = 1 / frame_s if name == "default" else rate
        lines.append(
            f"  diagram   : {name:7s}: playing {rate:.1f} redraws/s, frame {frame_s * 1e3:.1f} ms "
            f"(uncapped {1 / frame_s:.0f}/s); target {target:.0f}/s, ratio {judged / target:.2f} "
            f"{'OK' if judged >= target else 'BELOW TARGET'}")
        lines.append(f"              redraw {w * 1e3:.1f} ms with the diagram, {wo * 1e3:.1f} ms "
                     f"without (x{w / wo:.2f})")
    return lines


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
    encoders = compare_encoders(app, frames)

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
    (p_rate, p_s), (z_rate, z_s) = encoders["pillow"], encoders["zlib"]
    uncapped = 1 / (epoch_s + p_s)
    print(f"  encoders  : redraw with Pillow {p_s * 1e3:.1f} ms, NumPy+zlib {z_s * 1e3:.1f} ms "
          f"(ratio {p_s / z_s:.2f}); playing {p_rate:.1f} vs {z_rate:.1f} redraws/s")
    print(f"  Pillow    : uncapped {uncapped:.0f} frames/s against the cap of 20/s  "
          f"{'OK' if uncapped >= 20 else 'BELOW 20/s'}")
    for line in diagram_rates(frames):
        print(line)
    return rate


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
