"""Saving and loading models: round trips, atomic writes, refusing bad files, no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import bpkit
from bpkit.layers import Linear
from bpkit.module import Module, Sequential
from bpkit.saving import load, save


class Relu(Module):
    """A stand-in activation, so these tests do not depend on bpkit.layers.ReLU."""

    def forward(self, x):
        self._mask = x > 0
        return x * self._mask

    def backward(self, grad_output):
        return grad_output * self._mask


class RunningStats(Module):
    """A BatchNorm-like module: a parameter plus two buffers that are state, not trained."""

    buffers = ("running_mean", "running_var")

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.scale = bpkit.Parameter(rng.normal(size=n), "scale")
        self.running_mean = rng.normal(size=n)
        self.running_var = rng.uniform(0.5, 2.0, size=n)

    def forward(self, x):
        return (x - self.running_mean) / np.sqrt(self.running_var) * self.scale.data


def make_model(seed: int) -> Sequential:
    return Sequential(Linear(3, 5, rng=seed), RunningStats(5, seed), Relu(), Linear(5, 2,
                                                                                    rng=seed + 1))


def states_equal(a: Module, b: Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def snapshot(model: Module) -> dict[str, np.ndarray]:
    return model.state_dict()


def unchanged(model: Module, before: dict[str, np.ndarray]) -> bool:
    after = model.state_dict()
    return after.keys() == before.keys() and all(
        np.array_equal(after[k], before[k]) and after[k].dtype == before[k].dtype for k in after)


# -- round trip -----------------------------------------------------------------------------
def test_round_trip_restores_parameters_and_buffers(tmp_path):
    model, other = make_model(0), make_model(10)
    assert not states_equal(model, other)
    path = save(model, tmp_path / "model.npz")
    assert load(other, path) is other
    assert states_equal(model, other)
    x = np.random.default_rng(3).normal(size=(4, 3))
    np.testing.assert_array_equal(model(x), other(x))


def test_file_is_a_plain_npz_with_metadata(tmp_path):
    model = make_model(0)
    save(model, str(tmp_path / "m.npz"))
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        files = set(f.files)
        meta = json.loads(str(f["__bpkit__"]))
        weight = f["0.weight"]
    assert files == set(model.state_dict()) | {"__bpkit__"}
    assert meta == {"format_version": 1, "bpkit_version": bpkit.__version__,
                    "class": "Sequential"}
    np.testing.assert_array_equal(weight, model.layers[0].weight.data)


def test_path_is_used_exactly_as_given(tmp_path):
    written = save(make_model(0), tmp_path / "weights.bin")
    assert written == tmp_path / "weights.bin"
    assert os.listdir(tmp_path) == ["weights.bin"]  # no ".npz" appended, no leftovers
    load(make_model(1), str(written))


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.npz"
    save(make_model(0), path)
    save(make_model(5), path)
    loaded = load(make_model(1), path)
    assert states_equal(loaded, make_model(5))


def test_float32_model_is_saved_and_loaded_as_float32(tmp_path):
    model32 = make_model(0).astype(np.float32)
    save(model32, tmp_path / "m32.npz")
    with np.load(tmp_path / "m32.npz") as f:
        assert f["0.weight"].dtype == np.float32
    # A float64 file loaded into a float32 model keeps the model float32.
    save(make_model(2), tmp_path / "m64.npz")
    target = make_model(1).astype(np.float32)
    load(target, tmp_path / "m64.npz")
    for key, value in target.state_dict().items():
        assert value.dtype == np.float32, key
    np.testing.assert_allclose(target.layers[0].weight.data, make_model(2).layers[0].weight.data,
                               rtol=1e-6)


def test_plain_np_savez_of_a_state_dict_loads(tmp_path):
    model = make_model(0)
    np.savez(tmp_path / "plain.npz", **model.state_dict())
    assert states_equal(load(make_model(1), tmp_path / "plain.npz"), model)


# -- atomic writes --------------------------------------------------------------------------
def test_failed_save_leaves_existing_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(make_model(0), path)
    original = path.read_bytes()

    def crash_half_way(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")  # some bytes reach the disk, then...
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        save(make_model(5), path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.npz"]


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(make_model(0), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .*nowhere.* does not exist"):
        save(make_model(0), tmp_path / "nowhere" / "m.npz")


def test_save_to_a_directory_is_refused_clearly_and_leaves_nothing(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"save: '.*models' is a directory; give a "
                                                r"file path"):
        save(make_model(0), folder)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(make_model(0), str(folder))
    assert os.listdir(folder) == [] and sorted(os.listdir(tmp_path)) == ["models"]


def test_save_needs_a_module(tmp_path):
    with pytest.raises(TypeError, match="save expected a bpkit Module, got dict"):
        save({"w": np.zeros(3)}, tmp_path / "m.npz")


# -- loading refuses what does not fit, leaving the model alone -----------------------------
def test_shape_mismatch_names_parameter_and_both_shapes(tmp_path):
    save(Sequential(Linear(3, 2, rng=0)), tmp_path / "small.npz")
    model = Sequential(Linear(4, 2, rng=1))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"cannot load '0.weight' .*the model has shape \(2, 4\), "
                                         r"the saved array has shape \(2, 3\)"):
        load(model, tmp_path / "small.npz")
    assert unchanged(model, before)


def test_shape_mismatch_after_good_entries_changes_nothing(tmp_path):
    # The first layer would fit; the last does not. Nothing may be half-loaded.
    save(Sequential(Linear(3, 5, rng=0), Linear(5, 2, rng=0)), tmp_path / "m.npz")
    model = Sequential(Linear(3, 5, rng=1), Linear(5, 4, rng=1))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"'1.weight'"):
        load(model, tmp_path / "m.npz")
    assert unchanged(model, before)


def test_different_architecture_names_missing_and_unexpected_keys(tmp_path):
    save(make_model(0), tmp_path / "m.npz")
    model = Sequential(Linear(3, 5, rng=1), Linear(5, 2, rng=1))
    before = snapshot(model)
    with pytest.raises(KeyError, match=r"saved from Sequential.*missing \['1.weight', "
                                       r"'1.bias'\]; unexpected \[.*'1.scale'"):
        load(model, tmp_path / "m.npz")
    assert unchanged(model, before)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match=f"no such file: '{path}'"):
        load(make_model(0), path)


@pytest.mark.parametrize("saved, asked", [("m", "m.npz"), ("m.npz", "m")])
def test_missing_file_points_at_the_same_name_with_or_without_npz(tmp_path, saved, asked):
    save(make_model(0), tmp_path / saved)
    model = make_model(1)
    before = snapshot(model)
    with pytest.raises(FileNotFoundError, match=rf"no such file: '.*{asked}' \(but '.*{saved}' "
                                                r"exists; bpkit.save uses the path exactly"):
        load(model, str(tmp_path / asked))
    assert unchanged(model, before)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    model = make_model(0)
    state = dict(model.state_dict())
    state["0.weight"] = np.array([Path("not an array")], dtype=object)  # needs pickle
    np.savez(tmp_path / "evil.npz", **state)
    before = snapshot(model)
    with pytest.raises(ValueError, match="'0.weight' is an object array; bpkit never loads "
                                         "pickled data"):
        load(model, tmp_path / "evil.npz")
    assert unchanged(model, before)


@pytest.mark.parametrize("content, match", [
    (b"just some text\n", "not a NumPy .npz archive"),
    (b"", "not a NumPy .npz archive"),
    (b"PK\x03\x04" + b"\x00" * 40, "corrupted or not a NumPy .npz archive"),
])
def test_not_an_npz_file(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    model = make_model(0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        load(model, path)
    assert unchanged(model, before)


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    save(make_model(0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    model = make_model(1)
    before = snapshot(model)
    with pytest.raises(ValueError, match="corrupted"):
        load(model, path)
    assert unchanged(model, before)


def test_npy_file_is_not_a_model(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"holds a single array \(.npy\)"):
        load(make_model(0), tmp_path / "w.npy")


def test_newer_format_version_is_refused(tmp_path):
    model = make_model(0)
    meta = json.dumps({"format_version": 99, "bpkit_version": "9.0", "class": "Sequential"})
    np.savez(tmp_path / "future.npz", __bpkit__=np.array(meta), **model.state_dict())
    with pytest.raises(ValueError, match="format version 99; this bpkit reads versions up to 1"):
        load(make_model(1), tmp_path / "future.npz")


def test_top_level_names():
    assert bpkit.save is save and bpkit.load is load
