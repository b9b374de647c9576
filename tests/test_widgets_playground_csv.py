"""Playground data from a CSV file: ``Playground.from_csv``, the upload control, the errors.

Bad files are written to ``tmp_path``; every error must name the file, and the row and
column where there is one. The learner's file is only ever read.
"""

from __future__ import annotations

import datetime as dt
import html
import os

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets not installed: widget tests skipped")

import bpkit as bp  # noqa: E402
from bpkit.widgets import Playground  # noqa: E402
from bpkit.widgets._playground_csv import parse_playground_csv  # noqa: E402
from bpkit.widgets.playground import MAX_ROWS, read_playground_csv  # noqa: E402


def _points(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, np.where(X[:, 0] * X[:, 1] > 0, 1, -1)  # XOR-like labels -1 / +1


def _write(path, X, y, header: str | None = "x1,x2,label") -> bytes:
    lines = [header] if header else []
    lines += [f"{a!r},{b!r},{t}" for (a, b), t in zip(X.tolist(), y.tolist(), strict=True)]
    content = ("\n".join(lines) + "\n").encode()
    path.write_bytes(content)
    return content


def _upload(name: str, content: bytes) -> tuple[dict, ...]:
    """What ipywidgets 8 puts in FileUpload.value after a browser upload."""
    return ({"name": name, "type": "text/csv", "size": len(content),
             "content": memoryview(content),
             "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)},)


# -- reading ----------------------------------------------------------------------------------


def test_labels_become_classes_in_sorted_order_and_the_header_is_found(tmp_path):
    X, y = _points()
    path = tmp_path / "points.csv"
    _write(path, X, y, header="a,b,kind")
    data = read_playground_csv(path)
    assert data.task == "classification" and data.classes == (-1.0, 1.0)
    assert data.header and data.columns == ("a", "b", "kind")
    np.testing.assert_array_equal(data.X, X)  # every digit written is read back
    np.testing.assert_array_equal(data.y, (y == 1).astype(np.int64))  # -1 -> 0, +1 -> 1
    assert data.X.dtype == np.float64 and data.y.dtype == np.int64
    assert data.summary() == ("Read 60 points from points.csv: classification, 2 classes "
                              "(-1 → class 0, 1 → class 1).")
    _write(path, X, y, header=None)  # no header: the first row is a point
    plain = read_playground_csv(path)
    assert not plain.header and len(plain.X) == 60 and plain.columns == ("x1", "x2", "label")
    assert len(read_playground_csv(path, header=True).X) == 59  # said to be a header


def test_a_spreadsheets_byte_order_mark_blank_lines_and_spaces_are_fine():
    content = b"\xef\xbb\xbfx1, x2, y\r\n1, 2, 0\r\n\r\n3,4,1\r\n5 ,6,2\r\n7,8,0\r\n"
    data = parse_playground_csv(content, "sheet.csv")
    assert data.columns == ("x1", "x2", "y") and data.y.tolist() == [0, 1, 2, 0]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_the_task_rule_whole_labels_with_few_values_are_classes_else_targets():
    def task_of(labels, task=None):
        rows = "".join(f"{i},{-i},{v}\n" for i, v in enumerate(labels))
        return parse_playground_csv(rows.encode(), "t.csv", task=task)

    assert task_of([0, 1, 1, 0]).task == "classification"
    assert task_of([1.0, 2.0, 2.0, 1.0]).task == "classification"  # whole numbers
    assert task_of([0.5, 1, 2, 3]).task == "regression"  # not whole
    assert task_of(list(range(11))).task == "regression"  # 11 distinct values
    ten = task_of(list(range(10)) * 2)
    assert ten.task == "classification" and len(ten.classes) == 10
    forced = task_of([-1, 1, 1, -1], task="regression")
    assert forced.task == "regression" and forced.y.tolist() == [-1.0, 1.0, 1.0, -1.0]
    assert forced.y.dtype == np.float64 and forced.classes == ()
    assert "regression" in forced.summary()


@pytest.mark.parametrize(
    ("content", "kwargs", "match"),
    [
        (b"1,2,0\n3,4\n", {}, r"bad\.csv, row 2: expected 3 columns .* got 2"),
        (b"1,2,0,9\n", {}, r"bad\.csv, row 1: expected 3 columns .* got 4"),
        (b"1;2;0\n3;4;1\n", {}, r"row 1: expected 3 columns .* got 1; separate the values "
                                "with commas"),
        (b"x1,x2,label\n1,2,0\n3,four,1\n", {},
         r"bad\.csv, row 3, column 2 \(x2\): 'four' is not a number"),
        (b"1,abc,0\n3,4,1\n", {}, r"bad\.csv, row 1, column 2 \(x2\): 'abc' is not a number"),
        (b"1,2,0\n3,,1\n", {}, r"bad\.csv, row 2, column 2 \(x2\) is empty"),
        (b"u,v,w\n1,2,0\nnan,4,1\n", {},
         r"bad\.csv, row 3, column 1 \(u\): 'nan' is not a finite number"),
        (b"1,2,0\n3,4,inf\n", {}, r"row 2, column 3 \(label\): 'inf' is not a finite number"),
        (b"1,2,1\n3,4,1\n5,6,1\n7,8,1\n", {},
         r"bad\.csv: every row has the label 1 in column 3 \(label\); classification needs "
         "at least two classes"),
        (b"1,2,0\n3,4,1\n5,6,0.5\n7,8,1\n", {"task": "classification"},
         r"bad\.csv, row 3, column 3 \(label\): '0\.5' is not a whole number"),
        ("".join(f"{i},{i},{i}\n" for i in range(12)).encode(), {"task": "classification"},
         r"bad\.csv: column 3 \(label\) holds 12 different labels; .* at most 10 classes"),
        (b"x1,x2,y\n1,2,0\n3,4,1\n", {}, r"bad\.csv holds 2 data rows; .* at least 4"),
        (b"", {}, r"bad\.csv holds 0 data rows"),
        (b"1,2,0\n\xff\xfe,4,1\n", {}, r"bad\.csv is not a UTF-8 text file"),
        (b"1,2,0\n3,4,1\n5,6,0\n7,8,1\n", {"task": "ranking"}, "task"),
        (b"1,2,0\n3,4,1\n5,6,0\n7,8,1\n", {"header": "yes"}, "header"),
    ],
)
def test_a_bad_file_gets_an_error_naming_the_file_row_and_column(tmp_path, content, kwargs,
                                                                  match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_playground_csv(path, **kwargs)
    with pytest.raises(ValueError, match=match):
        Playground.from_csv(path, **kwargs)
    with pytest.raises(ValueError, match=match):
        parse_playground_csv(content, "bad.csv", **kwargs)
    assert path.read_bytes() == content  # read, never written


def test_the_row_limit_is_ten_thousand_points(tmp_path):
    assert MAX_ROWS == 10_000
    rows = "".join(f"{i % 97},{i % 89},{i % 2}\n" for i in range(MAX_ROWS))
    path = tmp_path / "big.csv"
    path.write_text("x1,x2,label\n" + rows)
    assert len(read_playground_csv(path).X) == MAX_ROWS  # exactly the limit: fine
    path.write_text("x1,x2,label\n" + rows + "1,2,0\n")
    with pytest.raises(ValueError, match=r"big\.csv has more than 10000 data rows \(row 10002 "
                                         r"is one too many\)"):
        read_playground_csv(path)


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.csv' not found"):
        Playground.from_csv(tmp_path / "nothing.csv")
    with pytest.raises(ValueError, match="is a folder"):
        read_playground_csv(tmp_path)


# -- the Playground on a CSV file ---------------------------------------------------------------


def test_from_csv_trains_on_the_file_and_never_modifies_it(tmp_path):
    X, y = _points(80)
    path = tmp_path / "xor.csv"
    content = _write(path, X, y)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    app = Playground.from_csv(path, hidden=[6, 3], seed=2)
    assert app.dataset.value == "custom" and app.task.value == "classification"
    assert isinstance(app.loss_fn, bp.BCEWithLogitsLoss) and app.noise.disabled
    assert "Read 80 points from xor.csv" in app.message.value
    np.testing.assert_array_equal(np.sort(np.concatenate([app.X_train, app.X_test]), axis=0),
                                  np.sort(X, axis=0))
    image = app.output_image.value
    app.step(3)
    app.export_code(tmp_path / "run.py")
    assert app.epoch == 3 and app.output_image.value != image
    assert path.read_bytes() == content and path.stat().st_mtime_ns == 1_000_000_000


def test_switching_the_problem_reads_the_file_again_for_it(tmp_path):
    X, y = _points(40)
    path = tmp_path / "pm.csv"
    _write(path, X, y)
    app = Playground.from_csv(path)
    app.task.value = "regression"  # the labels -1/+1 themselves become the targets
    assert isinstance(app.loss_fn, bp.MSELoss) and app.csv.task == "regression"
    assert sorted(set(app.y_train.tolist())) == [-1.0, 1.0]
    app.task.value = "classification"
    assert app.y_train.dtype == np.int64 and sorted(set(app.y_train.tolist())) == [0, 1]
    real = tmp_path / "real.csv"
    _write(real, X, X[:, 0] * 0.3)
    reg = Playground.from_csv(real)
    assert reg.task.value == "regression"
    reg.task.value = "classification"  # real targets cannot be classes: refused, said why
    assert reg.task.value == "regression" and isinstance(reg.loss_fn, bp.MSELoss)
    assert "real.csv, row 2, column 3 (label)" in reg.message.value
    assert "not a whole number" in reg.message.value


def test_an_uploaded_file_replaces_the_data_and_a_bad_one_changes_nothing():
    app = Playground("circle", hidden=[3])
    assert "custom" not in app.dataset.options
    X, y = _points(50, seed=4)
    rows = "".join(f"{a!r},{b!r},{t}\n" for (a, b), t in zip(X.tolist(), y.tolist(),
                                                             strict=True))
    app.upload.value = _upload("mine.csv", rows.encode())
    assert app.upload.value == ()  # taken: the widget keeps no copy
    assert app.dataset.value == "custom" and len(app.X_train) + len(app.X_test) == 50
    assert "Read 50 points from mine.csv" in app.message.value and app.csv.name == "mine.csv"
    app.step(2)
    weights = [p.data.copy() for p in app.model.parameters()]
    app.upload.value = _upload("broken.csv", b"1,2,0\n3,x,1\n")
    assert "Could not use the upload: broken.csv, row 2, column 2 (x2): 'x' is not a number" \
        in html.unescape(app.message.value)
    assert app.epoch == 2 and app.csv.name == "mine.csv"  # nothing changed
    for w, p in zip(weights, app.model.parameters(), strict=True):
        np.testing.assert_array_equal(w, p.data)
    app.dataset.value = "moons"  # the built-in sets are still there, and so are your data
    assert app.task.value == "classification" and len(app.X_train) == 200
    app.dataset.value = "custom"
    assert len(app.X_train) + len(app.X_test) == 50
    three = b"x1,x2,y\n" + b"".join(f"{i},{i % 3},{i % 3}\n".encode() for i in range(30))
    app.upload.value = _upload("three.csv", three)  # another file, now three classes
    assert isinstance(app.loss_fn, bp.CrossEntropyLoss) and app.n_classes == 3
