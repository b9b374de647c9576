"""Tests for bpkit.data: toy sets, digits, MNIST files, splitting, batching, encoding."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpkit as bp
from bpkit import data

MAKERS_2D = [
    data.make_moons,
    data.make_circles,
    data.make_spiral,
    data.make_xor,
    data.make_blobs,
    data.make_checkerboard,
]


# -- toy sets --------------------------------------------------------------------------------
@pytest.mark.parametrize("maker", MAKERS_2D, ids=lambda f: f.__name__)
def test_toy_sets_are_shaped_typed_and_reproducible(maker):
    X, y = maker(101, rng=7)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    X2, y2 = maker(101, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = maker(101, rng=8)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("maker", MAKERS_2D, ids=lambda f: f.__name__)
def test_toy_sets_reject_bad_arguments(maker):
    with pytest.raises(ValueError, match="n_samples"):
        maker(0, rng=0)
    with pytest.raises(ValueError, match="noise"):
        maker(10, noise=-0.1, rng=0)
    with pytest.raises(TypeError, match="rng"):
        maker(10, rng="seed")


def test_moons_without_noise_lie_on_the_two_half_circles():
    X, y = data.make_moons(50, noise=0.0, rng=0)
    assert np.bincount(y).tolist() == [25, 25]
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0)
    assert outer[:, 1].min() >= -1e-12 and inner[:, 1].max() <= 0.5 + 1e-12


def test_circles_radii_follow_factor():
    X, y = data.make_circles(40, noise=0.0, factor=0.3, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    with pytest.raises(ValueError, match="factor"):
        data.make_circles(10, factor=1.5)


def test_spiral_is_the_cs231n_construction():
    n, k = 30, 4
    X, y = data.make_spiral(n * k, n_classes=k, noise=0.0, rng=0)
    assert np.bincount(y).tolist() == [n] * k
    for cls in range(k):
        pts = X[y == cls]
        r = np.hypot(pts[:, 0], pts[:, 1])
        order = np.argsort(r)
        np.testing.assert_allclose(r[order], np.linspace(0, 1, n), atol=1e-12)
        # X = (r sin t, r cos t) with t = linspace(4k, 4(k+1)); check the outermost point
        t_end = 4.0 * (cls + 1)
        np.testing.assert_allclose(pts[order[-1]], [np.sin(t_end), np.cos(t_end)], atol=1e-12)


def test_spiral_noise_perturbs_the_angle_not_the_radius():
    X, y = data.make_spiral(60, n_classes=2, noise=0.5, rng=1)
    radii = np.sort(np.hypot(X[y == 0, 0], X[y == 0, 1]))
    np.testing.assert_allclose(radii, np.linspace(0, 1, 30), atol=1e-12)
    with pytest.raises(ValueError, match="n_classes"):
        data.make_spiral(2, n_classes=3)


def test_xor_and_checkerboard_labels_follow_their_rule_without_noise():
    X, y = data.make_xor(200, noise=0.0, rng=3)
    np.testing.assert_array_equal(y, (X[:, 0] > 0) != (X[:, 1] > 0))
    X, y = data.make_checkerboard(300, n_tiles=2, noise=0.0, rng=3)
    np.testing.assert_array_equal(y, (X[:, 0] > 0) != (X[:, 1] > 0))


def test_blobs_centres_given_or_evenly_spaced():
    X, y = data.make_blobs(300, centers=[[5.0, 5.0], [-5.0, 0.0]], noise=0.1, rng=0)
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [5, 5], atol=0.05)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [-5, 0], atol=0.05)
    X, y = data.make_blobs(40, centers=4, noise=0.0, rng=0)
    np.testing.assert_allclose(X[y == 1], np.tile([0.0, 2.0], (10, 1)), atol=1e-12)
    with pytest.raises(ValueError, match="centers"):
        data.make_blobs(10, centers=np.zeros((3, 3)))


def test_sine_regression_set():
    X, y = data.make_sine(64, noise=0.0, rng=2)
    assert X.shape == (64, 1) and y.shape == (64, 1)
    assert np.all(np.diff(X[:, 0]) >= 0) and np.all(np.abs(X) <= np.pi)
    np.testing.assert_allclose(y, np.sin(X))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1), noise=st.floats(0, 1))
def test_moons_any_size_balanced(n, seed, noise):
    X, y = data.make_moons(n, noise=noise, rng=seed)
    assert X.shape == (n, 2)
    assert abs(int(np.sum(y == 0)) - int(np.sum(y == 1))) <= 1


# -- digits ----------------------------------------------------------------------------------
def test_load_digits_shape_values_and_fresh_copies():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    assert sorted(np.unique(y).tolist()) == list(range(10))
    assert np.all(np.bincount(y) >= 170)
    # the first image of the UCI test set is a zero
    assert y[0] == 0 and X[0, :8].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    X[0, 0] = 99
    assert data.load_digits()[0][0, 0] == 0


def test_digits_licence_ships_next_to_the_data():
    import importlib.resources

    text = (importlib.resources.files("bpkit") / "datasets" / "DIGITS_LICENSE.txt").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text and "scikit-learn" in text


# -- MNIST -----------------------------------------------------------------------------------
def _write_idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, gz)
    X, y = data.load_mnist(tmp_path, kind="test")
    assert X.shape == (5, 784) and X.dtype == np.float64
    np.testing.assert_array_equal(X, images.reshape(5, -1))
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 4, 1, 5]
    X32, _ = data.load_mnist(str(tmp_path), kind="test", dtype=np.float32)
    assert X32.dtype == np.float32


def test_load_mnist_missing_files_say_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load_mnist(tmp_path)
    message = str(err.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "https://" in message
    with pytest.raises(FileNotFoundError, match="not a folder"):
        data.load_mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="kind"):
        data.load_mnist(tmp_path, kind="validation")


def test_load_mnist_checks_magic_numbers_and_sizes(tmp_path):
    images = np.zeros((2, 4, 4))
    _write_idx(tmp_path / "train-images-idx3-ubyte", images, False)
    # labels written with images' dimensionality: wrong magic number
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((2, 1, 1)), False)
    with pytest.raises(ValueError, match="magic number 0x00000801"):
        data.load_mnist(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3), False)
    with pytest.raises(ValueError, match="2 images but .* 3 labels"):
        data.load_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 5) + b"\0")
    with pytest.raises(ValueError, match="header promises"):
        data.load_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.load_mnist(tmp_path)


# -- splitting -------------------------------------------------------------------------------
def test_train_test_split_partitions_rows_reproducibly():
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.arange(20)
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.25, rng=0)
    assert Xtr.shape == (15, 2) and Xte.shape == (5, 2)
    np.testing.assert_array_equal(Xtr[:, 0] / 2, ytr)  # rows stay paired
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(20))
    again = data.train_test_split(X, y, test_size=0.25, rng=0)
    np.testing.assert_array_equal(again[3], yte)
    assert len(data.train_test_split(X, y, test_size=7, rng=0)[1]) == 7


@pytest.mark.parametrize("test_size, n, n_test", [(0.07, 100, 7), (0.55, 100, 55),
                                                  (0.7, 10, 7), (0.25, 10, 3)])
def test_train_test_split_fraction_is_not_rounded_up_by_float_error(test_size, n, n_test):
    # 0.07 * 100 == 7.000000000000001: a plain ceil would give 8 test rows
    X, y = np.zeros((n, 1)), np.arange(n)
    assert len(data.train_test_split(X, y, test_size=test_size, rng=0)[1]) == n_test


def test_train_test_split_stratified_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    X = np.zeros((100, 1))
    _, _, ytr, yte = data.train_test_split(X, y, test_size=0.2, rng=1, stratify=True)
    assert np.bincount(yte).tolist() == [12, 6, 2]
    assert np.bincount(ytr).tolist() == [48, 24, 8]
    # largest remainders: 7 test rows from 60/30/10 -> 4.2, 2.1, 0.7 -> 4, 2, 1
    _, _, _, yte = data.train_test_split(X, y, test_size=7, rng=1, stratify=True)
    assert np.bincount(yte, minlength=3).tolist() == [4, 2, 1]


def test_train_test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="same number of rows"):
        data.train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="test_size"):
        data.train_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="at least one row"):
        data.train_test_split(X, y, test_size=10)
    with pytest.raises(ValueError, match="stratify"):
        data.train_test_split(X, np.zeros(10), stratify=True)


# -- batches ---------------------------------------------------------------------------------
def test_batches_cover_every_row_once_keeping_the_last_partial_batch():
    X = np.arange(10, dtype=np.float64)[:, None]
    y = np.arange(10)
    got = list(data.batches(X, y, 4, rng=0))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    assert sorted(np.concatenate([b[1] for b in got]).tolist()) == list(range(10))
    for Xb, yb in got:
        np.testing.assert_array_equal(Xb[:, 0], yb)
    ordered = list(data.batches(X, y, 4, shuffle=False))
    assert ordered[0][1].tolist() == [0, 1, 2, 3] and ordered[2][1].tolist() == [8, 9]
    again = list(data.batches(X, y, 4, rng=0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(got, again, strict=True))


def test_batches_checks_arguments_at_call_time():
    X, y = np.zeros((5, 2)), np.zeros(5)
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(X, y, 0)
    with pytest.raises(ValueError, match="same number of rows"):
        data.batches(X, y[:3], 2)


# -- one_hot, Standardizer -------------------------------------------------------------------
def test_one_hot():
    out = data.one_hot(np.array([2, 0, 1, 2]))
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1, 2]])
    assert out.dtype == np.float64
    assert data.one_hot(np.array([1]), num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match="out of range"):
        data.one_hot(np.array([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        data.one_hot(np.array([-1, 0]))
    with pytest.raises(ValueError, match="integer class labels"):
        data.one_hot(np.array([0.0, 1.0]))


def test_standardizer_fits_on_train_and_applies_to_test():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(200, 3))
    train[:, 2] = 7.0  # constant feature: must not divide by zero
    test = rng.normal(3.0, 2.0, size=(50, 3))
    scaler = data.Standardizer().fit(train)
    Z = scaler.transform(train)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1, atol=1e-12)
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    np.testing.assert_allclose(scaler.transform(test), (test - scaler.mean) / scaler.std)
    np.testing.assert_allclose(scaler.inverse_transform(Z), train)
    before = train.copy()
    data.Standardizer().fit_transform(train)
    np.testing.assert_array_equal(train, before)  # input not modified


def test_standardizer_keeps_float32_and_reports_misuse():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert data.Standardizer().fit_transform(X).dtype == np.float32
    with pytest.raises(RuntimeError, match="before fit"):
        data.Standardizer().transform(X)
    with pytest.raises(RuntimeError, match=r"Standardizer\.inverse_transform called before fit"):
        data.Standardizer().inverse_transform(X)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        data.Standardizer().fit(X).transform(np.zeros((2, 4)))


def test_exported_from_the_package():
    assert bp.data.make_moons is data.make_moons
    for name in ("make_moons", "make_spiral", "load_digits", "train_test_split", "batches",
                 "one_hot", "Standardizer"):
        assert getattr(bp, name) is getattr(data, name)
