"""Playground "Export code": the two scripts run and reproduce the Playground's losses.

Each setup is trained in the Playground, exported to ``tmp_path`` and both scripts are run
in a fresh interpreter (``sys.executable``). The bpkit script must print the Playground's
own losses and accuracies to the last bit; the PyTorch one agrees to rounding (float64,
same initial weights and mini-batches) and is skipped where PyTorch is not installed.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

from bpkit.widgets import Playground  # noqa: E402
from bpkit.widgets._playground_data import FEATURES  # noqa: E402
from bpkit.widgets._playground_export import EXPORT_MARK, FEATURE_CODE  # noqa: E402

HAS_TORCH = importlib.util.find_spec("torch") is not None
NUMBER = r"([-+0-9.e]+|nan|inf)"


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-3, 3, size=(n, 2)) * [1.0, 0.5] + [10.0, -2.0], rng


def _csv_file(tmp_path) -> Playground:
    X, rng = _points(90, 1)
    y = np.digitize(X[:, 0], [9.0, 11.0])  # three classes: labels 0, 1, 2
    rows = "".join(f"{a!r},{b!r},{t}\n" for (a, b), t in zip(X.tolist(), y.tolist(),
                                                             strict=True))
    (tmp_path / "three.csv").write_text("x1,x2,label\n" + rows)
    return Playground.from_csv(tmp_path / "three.csv", hidden=[5, 4], activation="relu",
                               optimizer="momentum", lr=0.01, batch_size=8, seed=4)


def _upload_content() -> bytes:
    X, rng = _points(70, 2)
    t = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(70)
    rows = "".join(f"{a!r},{b!r},{v!r}\n" for (a, b), v in zip(X.tolist(), t.tolist(),
                                                              strict=True))
    return ("\ufeffx,y,target\n" + rows).encode()  # a byte-order mark, as spreadsheets write


def _uploaded(_tmp_path) -> Playground:
    app = Playground(hidden=[4], seed=6, ratio=70, activation="linear")
    content = _upload_content()
    app.upload.value = ({"name": "sine.csv", "type": "text/csv", "size": len(content),
                         "content": memoryview(content),
                         "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)},)
    assert app.task.value == "regression"
    app.lr.value = 0.01
    return app


def _arrays(_tmp_path) -> Playground:
    X, _ = _points(64, 3)
    y = (X[:, 1] > -2.0).astype(np.int64)
    return Playground(X=X, y=y, hidden=[3], activation="sigmoid", optimizer="adam", lr=0.01,
                      regularization="l1", reg_rate=0.001)


SETUPS = {
    "circle": lambda _: Playground(),
    "spiral-adam-l2": lambda _: Playground(
        "spiral", seed=3, noise=20, ratio=60, batch_size=7, features=["x1", "x2", "sin x1"],
        hidden=[6, 3], activation="tanh", optimizer="adam", lr=0.01, regularization="l2",
        reg_rate=0.001),
    "plane-momentum-l1": lambda _: Playground(
        "plane", seed=5, noise=10, features=["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x2"],
        hidden=[4, 4], activation="relu", optimizer="momentum", lr=0.001,
        regularization="l1", reg_rate=0.003),
    "csv-three-classes": _csv_file,
    "upload-regression": _uploaded,
    "arrays-sigmoid-adam-l1": _arrays,
}


def _run(script) -> dict[str, float]:
    """Run an exported script in a fresh interpreter; the numbers it prints."""
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=script.parent, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    losses = re.search(rf"train loss {NUMBER}, test loss {NUMBER}", done.stdout)
    assert losses, done.stdout
    found = {"train_loss": float(losses[1]), "test_loss": float(losses[2])}
    accuracy = re.search(rf"accuracy: train {NUMBER}, test {NUMBER}", done.stdout)
    if accuracy:
        found.update(train_accuracy=float(accuracy[1]), test_accuracy=float(accuracy[2]))
    return found


def _shown(app: Playground) -> dict[str, float]:
    keys = ["train_loss", "test_loss"] + (["train_accuracy", "test_accuracy"]
                                          if "test_accuracy" in app.history else [])
    return {k: app.history[k][-1] for k in keys}


@pytest.fixture(params=sorted(SETUPS))
def exported(request, tmp_path):
    app = SETUPS[request.param](tmp_path)
    app.step(4)
    assert "Note" not in app.message.value
    (tmp_path / "out").mkdir()
    paths = app.export_code(tmp_path / "out" / "train.py")
    return app, paths


@pytest.mark.slow
def test_the_bpkit_script_prints_the_playgrounds_losses_exactly(exported):
    app, paths = exported
    assert paths[0].read_text().startswith(EXPORT_MARK)
    assert _run(paths[0]) == _shown(app)  # every digit


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed: its exported script "
                                          "cannot run (pip install torch)")
def test_the_pytorch_script_agrees_with_the_playground(exported):
    app, paths = exported
    assert "import torch" in paths[1].read_text()
    found, shown = _run(paths[1]), _shown(app)
    assert found.keys() == shown.keys()
    for key, value in shown.items():
        assert found[key] == pytest.approx(value, rel=1e-7, abs=1e-12), key


def test_data_are_rebuilt_not_pasted(tmp_path):
    app = Playground("xor", seed=8)
    app.step()
    script = app.export_code(tmp_path / "xor.py")[0].read_text()
    assert "make_playground_data('xor', noise=0.0, rng=np.random.default_rng([SEED, 0]))" \
        in script
    assert "SEED = 8" in script and len(script) < 4000  # no table of points
    csv_app = _csv_file(tmp_path)
    paths = csv_app.export_code(tmp_path / "fromfile.py")
    assert len(paths) == 2  # the file is read where it is: no copy
    assert repr(str((tmp_path / "three.csv").resolve())) in paths[0].read_text()


def test_an_upload_or_arrays_go_to_a_data_file_beside_the_scripts(tmp_path):
    app = _uploaded(tmp_path)
    paths = app.export_code(tmp_path / "up.py")
    assert len(paths) == 3 and paths[2].name.startswith("up_data_")
    assert paths[2].read_bytes().startswith(b"\xef\xbb\xbfx,y,target\n")  # as it came
    assert paths[2].read_bytes() == _upload_content()
    again = app.export_code(tmp_path / "up.py")
    assert again == paths  # the same data: the same name, kept
    X, _ = _points(20, 9)
    arrays = Playground(X=X, y=X[:, 0] * 0.5)
    table = arrays.export_code(tmp_path / "arr.py")[2]
    data = np.loadtxt(table, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(data[:, :2], X)  # every float written exactly
    np.testing.assert_array_equal(data[:, 2], X[:, 0] * 0.5)


def test_a_csv_file_changed_since_loading_is_not_read_by_the_script(tmp_path):
    app = _csv_file(tmp_path)
    original = (tmp_path / "three.csv").read_bytes()
    (tmp_path / "three.csv").write_text("x1,x2,label\n0,0,0\n1,1,1\n2,2,0\n3,3,1\n")
    app.step(2)
    paths = app.export_code(tmp_path / "t.py")
    assert len(paths) == 3 and paths[2].read_bytes() == original
    assert _run(paths[0]) == _shown(app)


def test_the_feature_code_computes_the_features():
    X = np.random.default_rng(0).normal(size=(30, 2)) * 3
    assert FEATURE_CODE.keys() == FEATURES.keys()
    for name, code in FEATURE_CODE.items():
        np.testing.assert_array_equal(eval(code, {"np": np, "X": X}), FEATURES[name](X))


def test_export_refuses_to_replace_a_file_it_did_not_write(tmp_path):
    app = Playground()
    mine = tmp_path / "playground.py"
    mine.write_text("print('my own work')\n")
    app.code_path.value = str(mine)
    app.export_code_button.click()
    assert "Export failed" in app.message.value and "left alone" in app.message.value
    assert mine.read_text() == "print('my own work')\n"
    assert not (tmp_path / "playground_torch.py").exists()
    with pytest.raises(ValueError, match=r"ending in \.py"):
        app.export_code(tmp_path / "playground.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        app.export_code(tmp_path / "missing" / "p.py")
    app.code_path.value = str(tmp_path / "ok.py")
    app.export_code_button.click()
    text = html.unescape(app.message.value)
    assert "Wrote" in text and "ok_torch.py (PyTorch)" in text and "run python ok.py" in text
    app.step()
    app.export_code_button.click()  # its own files: replaced
    assert "EPOCHS = 1\n" in (tmp_path / "ok.py").read_text()


def test_the_epochs_default_to_those_trained_or_100_before_any(tmp_path):
    app = Playground()
    text = app.export_code(tmp_path / "a.py")[0].read_text()
    assert "EPOCHS = 100\n" in text and "had not trained yet" in text
    app.step(3)
    assert "EPOCHS = 3\n" in app.export_code(tmp_path / "a.py")[0].read_text()
    assert "EPOCHS = 7\n" in app.export_code(tmp_path / "a.py", epochs=7)[0].read_text()
    with pytest.raises(ValueError, match="epochs"):
        app.export_code(tmp_path / "a.py", epochs=0)


def test_a_setting_changed_while_training_is_said_in_the_script_and_the_message(tmp_path):
    app = Playground()
    app.lr.value = 0.1  # before training: the script reproduces the run
    app.step(2)
    assert "Note" not in app.export_code(tmp_path / "a.py")[0].read_text()
    app.batch_size.value = 20  # now it cannot
    app.step()
    app.code_path.value = str(tmp_path / "a.py")
    app.export_code_button.click()
    assert "Note: the batch size changed at epoch 2" in html.unescape(app.message.value)
    script = (tmp_path / "a.py").read_text()
    assert "Note: the batch size changed at epoch 2" in " ".join(script.split())
    assert _run(tmp_path / "a.py")["train_loss"] != app.history["train_loss"][-1]
    app.reset()
    app.step(2)
    assert "Note" not in app.export_code(tmp_path / "a.py")[0].read_text()


def test_a_step_through_update_is_said_in_the_script(tmp_path):
    app = Playground()
    app.step_through()  # a real update outside the epochs
    app.step()
    assert "a step-through update changed the weights" in " ".join(
        app.export_code(tmp_path / "a.py")[0].read_text().split())
