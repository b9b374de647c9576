"""Data: seeded toy sets, the digits set shipped with bpkit, MNIST files, splitting, batching.

Every maker takes ``rng`` (a ``numpy.random.Generator`` or an int seed; ``None`` draws a
fresh, unseeded generator) so the same seed always gives the same points. Classification
makers return ``X`` float64 of shape ``(n_samples, 2)`` and integer labels ``y`` (int64) of
shape ``(n_samples,)``, rows in random order.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from bpkit import _checks

__all__ = [
    "Standardizer",
    "batches",
    "load_digits",
    "load_mnist",
    "make_blobs",
    "make_checkerboard",
    "make_circles",
    "make_moons",
    "make_sine",
    "make_spiral",
    "make_xor",
    "one_hot",
    "train_test_split",
]


# -- helpers ---------------------------------------------------------------------------------
def _split_counts(n: int, k: int) -> list[int]:
    """``n`` items over ``k`` groups as evenly as possible (the first groups get the rest)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _finish(
    X: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise of standard deviation ``noise`` and shuffle the rows."""
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(X))
    return X[order].astype(np.float64), y[order].astype(np.int64)


def _maker_args(n_samples: Any, noise: Any, where: str, minimum: int = 1) -> tuple[int, float]:
    n = _checks.positive_int(n_samples, "n_samples", where)
    if n < minimum:
        raise ValueError(f"{where}: n_samples must be at least {minimum}, got {n_samples!r}")
    return n, _checks.non_negative(noise, "noise", where)


# -- toy data sets ---------------------------------------------------------------------------
def make_moons(
    n_samples: int = 200, *, noise: float = 0.1, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (two classes), plus Gaussian noise.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, 1}.

    Class 0 lies on (cos t, sin t), class 1 on (1 - cos t, 0.5 - sin t), t evenly spaced in
    [0, pi]; then N(0, noise^2) is added to each coordinate. Class 0 gets the extra point
    when ``n_samples`` is odd.
    """
    n, noise = _maker_args(n_samples, noise, "make_moons")
    rng = _checks.as_rng(rng, "make_moons")
    n0, n1 = _split_counts(n, 2)
    t0, t1 = np.linspace(0.0, np.pi, n0), np.linspace(0.0, np.pi, n1)
    X = np.concatenate(
        [np.column_stack([np.cos(t0), np.sin(t0)]),
         np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])]
    )
    y = np.repeat([0, 1], [n0, n1])
    return _finish(X, y, noise, rng)


def make_circles(
    n_samples: int = 200,
    *,
    noise: float = 0.05,
    factor: float = 0.5,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle (class 1) inside a large one (class 0), plus Gaussian noise.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, 1}.

    Class 0: (cos t, sin t); class 1: factor * (cos t, sin t), t evenly spaced on [0, 2 pi).
    """
    where = "make_circles"
    n, noise = _maker_args(n_samples, noise, where)
    factor = _checks.in_unit_interval(factor, "factor", where)
    rng = _checks.as_rng(rng, where)
    n0, n1 = _split_counts(n, 2)
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate(
        [np.column_stack([np.cos(t0), np.sin(t0)]),
         factor * np.column_stack([np.cos(t1), np.sin(t1)])]
    )
    y = np.repeat([0, 1], [n0, n1])
    return _finish(X, y, noise, rng)


def make_spiral(
    n_samples: int = 300,
    n_classes: int = 3,
    *,
    noise: float = 0.2,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: the CS231n "spiral" data set.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, ..., n_classes - 1}.

    For class k with m points: r = linspace(0, 1, m), t = linspace(4k, 4(k + 1), m) +
    noise * N(0, 1), and X = (r sin t, r cos t). Here ``noise`` perturbs the *angle*, as in
    the CS231n notes (https://cs231n.github.io/neural-networks-case-study/). Each arm turns
    through 4 radians, so arms k and k' start 4 (k - k') radians apart; with 11 or more
    classes two arms nearly coincide (44 rad is within 0.02 rad of 7 turns).
    """
    where = "make_spiral"
    k = _checks.positive_int(n_classes, "n_classes", where)
    n, noise = _maker_args(n_samples, noise, where)
    if n < k:
        raise ValueError(
            f"{where}: n_samples ({n}) must be at least n_classes ({k}) so every class has "
            "a point"
        )
    rng = _checks.as_rng(rng, where)
    parts, labels = [], []
    for cls, m in enumerate(_split_counts(n, k)):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * cls, 4.0 * (cls + 1), m) + noise * rng.standard_normal(m)
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(m, cls))
    return _finish(np.concatenate(parts), np.concatenate(labels), 0.0, rng)


def make_xor(
    n_samples: int = 200, *, noise: float = 0.1, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The XOR pattern: points uniform in the square [-1, 1]^2, labelled by quadrant.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, 1}.

    y = 1 where exactly one coordinate is positive (x0 > 0 xor x1 > 0), computed before
    N(0, noise^2) is added to each coordinate (so noise blurs the boundary).
    """
    n, noise = _maker_args(n_samples, noise, "make_xor")
    rng = _checks.as_rng(rng, "make_xor")
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] > 0) ^ (X[:, 1] > 0)
    return _finish(X, y, noise, rng)


def make_blobs(
    n_samples: int = 300,
    *,
    centers: int | Any = 3,
    noise: float = 0.5,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one class per centre.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, ..., n_centers - 1}.

    ``centers`` is a number k (centres evenly spaced on the circle of radius 2, the first
    at (2, 0)) or an array of shape (k, 2). Each point is its centre plus N(0, noise^2) per
    coordinate (``noise`` plays the part of scikit-learn's ``cluster_std``).
    """
    where = "make_blobs"
    n, noise = _maker_args(n_samples, noise, where)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = _checks.positive_int(centers, "centers", where)
        angles = 2 * np.pi * np.arange(k) / k
        points = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    else:
        points = np.asarray(centers, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise ValueError(
                f"{where}: centers must be a positive int or an array of shape (k, 2), got "
                f"shape {points.shape}"
            )
        if not np.all(np.isfinite(points)):
            raise ValueError(f"{where}: centers must be finite")
        k = len(points)
    if n < k:
        raise ValueError(f"{where}: n_samples ({n}) must be at least the number of centres ({k})")
    rng = _checks.as_rng(rng, where)
    y = np.repeat(np.arange(k), _split_counts(n, k))
    return _finish(points[y], y, noise, rng)


def make_checkerboard(
    n_samples: int = 400,
    *,
    n_tiles: int = 4,
    noise: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A checkerboard: points uniform in [-1, 1]^2 labelled by the colour of their tile.

    Shape:
        X (n_samples, 2) float64, y (n_samples,) int64 in {0, 1}.

    The square is cut into n_tiles x n_tiles tiles; with i, j = floor((x + 1) / 2 * n_tiles)
    the label is (i + j) mod 2. N(0, noise^2) is added afterwards.
    """
    where = "make_checkerboard"
    n, noise = _maker_args(n_samples, noise, where)
    tiles = _checks.positive_int(n_tiles, "n_tiles", where)
    rng = _checks.as_rng(rng, where)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    cell = np.minimum(np.floor((X + 1.0) / 2.0 * tiles), tiles - 1).astype(np.int64)
    y = (cell[:, 0] + cell[:, 1]) % 2
    return _finish(X, y, noise, rng)


def make_sine(
    n_samples: int = 100, *, noise: float = 0.1, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D regression set: y = sin(x) + noise, x uniform in [-pi, pi].

    Shape:
        X (n_samples, 1) float64 sorted ascending (handy for line plots),
        y (n_samples, 1) float64.

    y = sin(x) + N(0, noise^2).
    """
    n, noise = _maker_args(n_samples, noise, "make_sine")
    rng = _checks.as_rng(rng, "make_sine")
    x = np.sort(rng.uniform(-np.pi, np.pi, size=n))
    y = np.sin(x) + noise * rng.standard_normal(n)
    return x.reshape(n, 1), y.reshape(n, 1)


# -- real data -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits_table() -> np.ndarray:
    resource = importlib.resources.files("bpkit") / "datasets" / "digits.csv.gz"
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    table.setflags(write=False)
    return table


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits (1797 images of 8x8 pixels), shipped inside bpkit.

    Shape:
        X (1797, 64) float64 with integer values 0..16 (reshape a row to (8, 8) to view it),
        y (1797,) int64 in {0, ..., 9}.

    Data: E. Alpaydin and C. Kaynak (1998), "Optical Recognition of Handwritten Digits",
    UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0; the copy
    scikit-learn distributes (BSD-3). See ``bpkit/datasets/DIGITS_LICENSE.txt``.
    Each call returns fresh arrays.
    """
    table = _digits_table()
    return table[:, :64].copy(), table[:, 64].astype(np.int64)


_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_SOURCES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/ (the mirror torchvision uses) or "
    "http://yann.lecun.com/exdb/mnist/; Fashion-MNIST files use the same names"
)


def _read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions (gzip or plain)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (it does not start with two zero bytes)")
    if data[2] != 0x08:
        raise ValueError(
            f"{path}: expected IDX data type 0x08 (unsigned byte), got 0x{data[2]:02x}"
        )
    if data[3] != ndim:
        raise ValueError(
            f"{path}: expected an IDX file with {ndim} dimension(s) (magic number "
            f"0x{0x800 + ndim:08x}), got {data[3]} (magic number "
            f"0x{int.from_bytes(data[:4], 'big'):08x})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise ValueError(
            f"{path}: the header promises shape {shape} ({expected} bytes in all), but the "
            f"file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: str, stem: str) -> str | None:
    for name in (stem, stem + ".gz"):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_mnist(
    path: str | os.PathLike[str], kind: str = "train", *, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST (or Fashion-MNIST) from the IDX files you downloaded into folder ``path``.

    Shape:
        X (N, 784) in ``dtype`` with values 0..255 (N = 60000 for "train", 10000 for
        "test"), y (N,) int64.

    ``kind`` is "train" (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``) or
    "test" (``t10k-...``); each file may also be gzipped (``.gz``). Pass
    ``dtype=np.float32`` to halve the memory (the training images take 376 MB as float64).
    """
    where = "load_mnist"
    if kind not in _IDX_NAMES:
        raise ValueError(f"{where}: kind must be 'train' or 'test', got {kind!r}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{where}: dtype must be a floating dtype, got {dtype}")
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{where}: {folder!r} is not a folder. Download {_IDX_NAMES[kind][0]}.gz and "
            f"{_IDX_NAMES[kind][1]}.gz from {_MNIST_SOURCES}, put them in one folder and pass "
            "its path."
        )
    images_name, labels_name = _IDX_NAMES[kind]
    images_path, labels_path = _find_idx(folder, images_name), _find_idx(folder, labels_name)
    missing = [n for n, p in ((images_name, images_path), (labels_name, labels_path)) if p is None]
    if missing:
        raise FileNotFoundError(
            f"{where}: no " + " or ".join(f"{m}[.gz]" for m in missing) + f" in {folder!r}. "
            f"Download them from {_MNIST_SOURCES} and put them (gzipped or not) in that folder."
        )
    images = _read_idx(images_path, 3)
    labels = _read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise ValueError(
            f"{where}: {images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels"
        )
    return images.reshape(len(images), -1).astype(dtype), labels.astype(np.int64)


# -- splitting, batching, encoding -----------------------------------------------------------
def _stratified_test_indices(
    y: np.ndarray, n_test: int, rng: np.random.Generator
) -> np.ndarray:
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = n_test * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    # Hand the rows still to place to the classes with the largest remainders.
    for c in np.argsort(-(quota - take), kind="stable")[: n_test - take.sum()]:
        take[c] += 1
    chosen = [
        rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))
    ]
    return np.concatenate(chosen)


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    test_size: float | int = 0.25,
    rng: np.random.Generator | int | None = None,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into training and test parts: ``X_train, X_test, y_train, y_test``.

    Shape:
        X (N, ...), y (N, ...) -> X_train (N - n_test, ...), X_test (n_test, ...), likewise y.

    ``test_size`` is a fraction in (0, 1) (n_test = ceil(test_size * N), where a product such
    as 0.07 * 100 = 7.000000000000001 counts as the whole number it stands for) or a row count.
    With ``stratify=True`` each class of ``y`` (integer labels, shape (N,)) gets its share of
    the test rows (largest-remainder rounding), so class proportions match in both parts.
    """
    where = "train_test_split"
    X, y = _checks.paired(X, y, where)
    n = len(X)
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0 < test_size < 1:
        exact = float(test_size) * n
        # 0.07 * 100 is 7.000000000000001 in floating point: 7 rows, not ceil() = 8
        n_test = round(exact) if math.isclose(exact, round(exact)) else math.ceil(exact)
    else:
        raise ValueError(
            f"{where}: test_size must be a fraction in (0, 1) or a number of rows, "
            f"got {test_size!r}"
        )
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"{where}: test_size={test_size!r} leaves {n_test} of {n} rows for testing; both "
            "parts need at least one row"
        )
    rng = _checks.as_rng(rng, where)
    if stratify:
        if y.ndim != 1 or y.dtype.kind not in "iub":
            raise ValueError(
                f"{where}: stratify=True needs integer class labels of shape (N,), got "
                f"dtype {y.dtype} and shape {y.shape}"
            )
        test = rng.permutation(_stratified_test_indices(y, n_test, rng))
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        train = rng.permutation(np.flatnonzero(mask))
    else:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def batches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate over mini-batches ``(X_batch, y_batch)``, in random order if ``shuffle``.

    Shape:
        X (N, ...), y (N, ...) -> ceil(N / batch_size) pairs of (B, ...); the last batch
        holds the remaining N mod batch_size rows when that is not zero.

    Arguments are checked when ``batches`` is called, not when iteration starts.
    """
    where = "batches"
    X, y = _checks.paired(X, y, where)
    size = _checks.positive_int(batch_size, "batch_size", where)
    order = _checks.as_rng(rng, where).permutation(len(X)) if shuffle else None
    return _batch_iter(X, y, size, order)


def _batch_iter(
    X: np.ndarray, y: np.ndarray, size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(X), size):
        if order is None:
            yield X[start : start + size], y[start : start + size]
        else:
            idx = order[start : start + size]
            yield X[idx], y[idx]


def one_hot(y: np.ndarray, num_classes: int | None = None, *, dtype: Any = np.float64
            ) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    Shape:
        y (N,) -> (N, num_classes); out[n, y[n]] = 1, every other entry 0.

    ``num_classes=None`` uses max(y) + 1. Unlike ``torch.nn.functional.one_hot`` (int64),
    the result is float64 by default so it can be used directly as a regression target.
    """
    where = "one_hot"
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(
            f"{where} expected integer class labels of shape (N,), got dtype {y.dtype} and "
            f"shape {y.shape}"
        )
    if len(y) and y.min() < 0:
        raise ValueError(f"{where}: class labels must be >= 0, got {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if len(y) else 0
    else:
        num_classes = _checks.positive_int(num_classes, "num_classes", where)
        if len(y) and y.max() >= num_classes:
            raise ValueError(
                f"{where}: label {int(y.max())} is out of range for num_classes={num_classes} "
                f"(labels must be in 0..{num_classes - 1})"
            )
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


class Standardizer:
    """Scale each feature to mean 0 and standard deviation 1, using statistics of the data
    it was fitted on (fit on the training set, then transform test data the same way).

    Shape:
        X (N, D) -> (N, D); ``mean`` and ``std`` (D,).

    transform(X) = (X - mean) / std. Features with (near) zero variance get std = 1, so they
    are only centred. Float32 input gives float32 output; integer input gives float64.
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        """Compute the per-feature mean and standard deviation of ``X``; returns ``self``."""
        X = self._check(X, fitted=False)
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean, self.std = mean, np.where(std > tiny, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return (X - mean) / std (a new array)."""
        X = self._check(X, fitted=True)
        return (X - self.mean.astype(X.dtype)) / self.std.astype(X.dtype)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Undo ``transform``: Z * std + mean."""
        Z = self._check(Z, fitted=True, method="inverse_transform")
        return Z * self.std.astype(Z.dtype) + self.mean.astype(Z.dtype)

    def _check(self, X: Any, fitted: bool, method: str = "transform") -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind in "iub":
            X = X.astype(np.float64)
        elif X.dtype.kind != "f":
            raise TypeError(f"Standardizer expected a numeric array, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"Standardizer expected input of shape (N, D), got {X.shape}")
        if fitted:
            if self.mean is None:
                raise RuntimeError(f"Standardizer.{method} called before fit")
            if X.shape[1] != len(self.mean):
                raise ValueError(
                    f"Standardizer was fitted on {len(self.mean)} features; expected input of "
                    f"shape (N, {len(self.mean)}), got {X.shape}"
                )
        elif len(X) == 0:
            raise ValueError("Standardizer.fit needs at least one row, got shape "
                             f"{X.shape}")
        return X

    def __repr__(self) -> str:
        state = "unfitted" if self.mean is None else f"features={len(self.mean)}"
        return f"Standardizer({state})"
