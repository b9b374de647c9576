"""The Playground's fast renderer: heatmaps, points and curves as RGB arrays, encoded to PNG.

matplotlib's ``savefig`` costs 0.3-1 s per figure on a small machine, too slow to redraw a
network of heatmaps several times a second. These helpers paint straight into ``uint8``
arrays of shape (H, W, 3) with NumPy, and Pillow (which matplotlib depends on) encodes
them as PNG: a few milliseconds per frame for the whole network.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

__all__ = [
    "BLUE",
    "CLASS_COLORS",
    "ORANGE",
    "WHITE",
    "blend_classes",
    "diverging",
    "draw_points",
    "line_chart",
    "png_bytes",
    "upsample",
]

ORANGE = (245, 147, 34)  # negative values and class 0 (TensorFlow Playground's colours)
BLUE = (8, 119, 189)  # positive values and class 1
WHITE = (232, 234, 235)  # zero
#: Colours of classes 0, 1, 2, ... (orange and blue first, then matplotlib's tab10).
CLASS_COLORS = np.array(
    [ORANGE, BLUE, (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
     (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)],
    dtype=np.float64,
)
_LIGHTEN = 0.45  # heatmaps are mixed with this much white so the points stand out


def png_bytes(rgb: np.ndarray, level: int = 1) -> bytes:
    """Encode an RGB image as PNG bytes (8 bits per channel) with Pillow.

    Shape:
        rgb (H, W, 3) uint8 -> a PNG file's bytes.

    ``level`` is zlib's compression level (1 is fast and ample for flat heatmaps).
    """
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"png_bytes expected a uint8 array of shape (H, W, 3), got "
                         f"{rgb.dtype} {rgb.shape}")
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="png", compress_level=level)
    return buffer.getvalue()


def _diverging_table(lighten: float) -> np.ndarray:
    """The 257 colours of ``diverging`` for t = -1 ... 1 (index round((t + 1) 128))."""
    t = np.linspace(-1.0, 1.0, 257)[:, None]
    white, orange, blue = (np.array(c, dtype=np.float64) for c in (WHITE, ORANGE, BLUE))
    rgb = white + np.where(t < 0, -t * (orange - white), t * (blue - white))
    return np.round((1 - lighten) * rgb + lighten * 255.0).astype(np.uint8)


_TABLES = {_LIGHTEN: _diverging_table(_LIGHTEN), 0.0: _diverging_table(0.0)}


def diverging(t: np.ndarray, lighten: float = _LIGHTEN) -> np.ndarray:
    """Map values in [-1, 1] to colours: orange at -1, near-white at 0, blue at +1.

    Shape:
        t (...) -> (..., 3) uint8. Values outside [-1, 1] are clipped; NaN shows as grey.

    colour = WHITE + |t| (END - WHITE), END = ORANGE for t < 0 and BLUE for t > 0, then
    mixed with ``lighten`` of white; looked up in a table of 257 levels.
    """
    table = _TABLES.get(lighten)
    if table is None:
        table = _TABLES[lighten] = _diverging_table(lighten)
    t = np.asarray(t, dtype=np.float64)
    bad = ~np.isfinite(t)
    index = np.round((np.clip(np.where(bad, 0.0, t), -1.0, 1.0) + 1.0) * 128.0)
    rgb = table[index.astype(np.intp)]
    if bad.any():
        rgb[bad] = 160
    return rgb


def blend_classes(probs: np.ndarray, lighten: float = _LIGHTEN) -> np.ndarray:
    """Colour each pixel by its class probabilities: sum_k p_k colour_k, lightened.

    Shape:
        probs (..., C) with C <= 10, rows summing to 1 -> (..., 3) uint8.
    """
    probs = np.asarray(probs, dtype=np.float64)
    rgb = probs @ CLASS_COLORS[: probs.shape[-1]]
    rgb = (1 - lighten) * rgb + lighten * 255.0
    return np.clip(np.nan_to_num(rgb, nan=160.0), 0, 255).astype(np.uint8)


def upsample(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge an image by repeating every pixel ``factor`` times in both directions.

    Shape:
        (H, W, 3) -> (factor H, factor W, 3).
    """
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def draw_points(
    img: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    fill: np.ndarray,
    ring: Sequence[int],
) -> None:
    """Paint points in place: a 3x3 square of ``fill`` inside a 5x5 ring of ``ring``.

    Shape:
        img (H, W, 3) uint8; rows, cols (P,) pixel centres; fill (P, 3) uint8.

    Points whose square leaves the image are clipped at its border.
    """
    height, width = img.shape[:2]
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    for radius, colour in ((2, None), (1, fill)):
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                if radius == 2 and abs(dr) < 2 and abs(dc) < 2:
                    continue  # the ring only
                r, c = rows + dr, cols + dc
                keep = (r >= 0) & (r < height) & (c >= 0) & (c < width)
                img[r[keep], c[keep]] = ring if colour is None else colour[keep]


def line_chart(
    series: Sequence[np.ndarray],
    colors: Sequence[Sequence[int]],
    width: int,
    height: int,
    y_max: float | None = None,
) -> np.ndarray:
    """Draw curves over a common x axis (their index) into an image, y from 0 at the bottom.

    Shape:
        each series (T,) with the same T >= 1 -> (height, width, 3) uint8.

    Column j shows index j (T - 1) / (width - 1) (linear interpolation); row 0 is
    ``y_max`` (default: the largest finite value), the last row 0. Consecutive columns are
    joined by vertical strokes, so steep curves stay connected.
    """
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    img[-1, :] = 200  # the x axis
    if not series or len(series[0]) == 0:
        return img
    values = [np.asarray(s, dtype=np.float64) for s in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    top = y_max if y_max is not None else (float(finite.max()) if finite.size else 1.0)
    top = top if top > 0 else 1.0
    n = len(values[0])
    x = np.linspace(0.0, n - 1.0, width)
    rows = np.arange(height)[:, None]
    for v, colour in zip(values, colors, strict=True):
        v = np.where(np.isfinite(v), v, top)
        y = np.interp(x, np.arange(n), v) if n > 1 else np.full(width, v[0])
        r = np.clip(np.round((1.0 - y / top) * (height - 2)), 0, height - 2).astype(np.int64)
        prev = np.concatenate([r[:1], r[:-1]])
        lo, hi = np.minimum(r, prev), np.maximum(r, prev)
        mask = (rows >= lo[None, :]) & (rows <= hi[None, :])
        img[mask] = colour
    return img
