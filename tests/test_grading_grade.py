"""`bpkit grade`: real kernels on copies; faults graded as specified; reports exact.

One folder of submissions is graded once (two at a time) and shared by the tests:
the fixture solution, its untouched student copy, a notebook with a hanging, a raising and
a kernel-killing cell, and one with wrong answers, deleted check cells, faked outputs and
shadowed names.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from bpkit.grading import _kernel, release_notebook
from bpkit.grading._cells import Cell
from bpkit.grading._files import notebook_text, read_notebook
from bpkit.grading._running import Grader
from bpkit.grading.cli import main
from bpkit.grading.grade import (
    defined_names,
    find_notebooks,
    grade_notebook,
    is_check_cell,
    write_reports,
)

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURES / "99_fixture.ipynb"
CHECKS = str(FIXTURES / "fixture_checks.py")


def _cell(nb: dict, cell_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def _prepend(nb: dict, cell_id: str, code: str) -> None:
    _cell(nb, cell_id)["source"] = code + _cell(nb, cell_id)["source"]


def _faults() -> dict:
    nb = read_notebook(SOLUTION)
    _prepend(nb, "square", "while True:\n    pass\n")
    _prepend(nb, "mean-grad", "x = 1\nraise ValueError('learner boom')\n")
    _prepend(nb, "scale", "import os\nos._exit(1)\n")
    return nb


def _faked() -> dict:
    nb = read_notebook(SOLUTION)
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != "check"]
    del nb["metadata"]["bpkit"]  # graded with --exercise
    square = _cell(nb, "square")
    square["source"] = square["source"].replace("return x**2", "return -(x**2)")
    grad = _cell(nb, "mean-grad")
    grad["source"] = grad["source"].replace("return 2 * x / x.shape[0]", "return 2 * x")
    fake = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"text/plain": ["99_fixture: 5/5 points"]},
    }
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [copy.deepcopy(fake)], 1
    shadow = (
        "bpkit = 3\nprint = None\njson = None\nopen = None\nget_ipython = None\n"
        "importlib = None\n__import__ = None\ncheck = None\n"
    )
    nb["cells"].append(
        {
            "cell_type": "code",
            "id": "shadow",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": shadow,
        }
    )
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the folder once: (folder, {name: bytes before}, exit code, stdout, json, csv)."""
    root = tmp_path_factory.mktemp("grade")
    subs = root / "submissions"
    (subs / "group").mkdir(parents=True)
    solution = read_notebook(SOLUTION)
    notebooks = {
        "solution.ipynb": solution,
        "untouched.ipynb": release_notebook(solution),
        "group/faults.ipynb": _faults(),
        "group/faked.ipynb": _faked(),
    }
    for name, nb in notebooks.items():
        (subs / name).write_text(notebook_text(nb))
    (subs / ".ipynb_checkpoints").mkdir()
    shutil.copy(subs / "untouched.ipynb", subs / ".ipynb_checkpoints" / "x-checkpoint.ipynb")
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        code = main(
            [
                "grade",
                str(subs),
                "--checks",
                CHECKS,
                "--exercise",
                "99_fixture",
                "--timeout",
                "3",
                "--jobs",
                "2",
                "--json",
                str(root / "report.json"),
                "--csv",
                str(root / "book.csv"),
            ]
        )
    report = json.loads((root / "report.json").read_text())
    by_name = {Path(n["path"]).name: n for n in report["notebooks"]}
    return {
        "subs": subs,
        "before": before,
        "code": code,
        "stdout": capture.getvalue(),
        "report": report,
        "by_name": by_name,
        "csv": (root / "book.csv").read_text(),
    }


def _statuses(entry: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in entry["checks"]}


def _message(entry: dict, check_id: str) -> str:
    return next(c["message"] for c in entry["checks"] if c["id"] == check_id)


def test_grading_ran_and_left_every_submission_unchanged(graded):
    assert graded["code"] == 0
    after = {p: p.read_bytes() for p in graded["subs"].rglob("*") if p.is_file()}
    assert after == graded["before"]  # byte for byte, and no file added


def test_solution_gets_full_marks(graded):
    entry = graded["by_name"]["solution.ipynb"]
    assert (entry["score"], entry["max_score"]) == (5, 5)
    assert set(_statuses(entry).values()) == {"passed"}


def test_untouched_student_copy_scores_zero_as_not_attempted(graded):
    entry = graded["by_name"]["untouched.ipynb"]
    assert (entry["score"], entry["max_score"]) == (0, 5)
    assert set(_statuses(entry).values()) == {"failed"}
    assert all(c["message"].startswith("not attempted") for c in entry["checks"])


def test_hanging_raising_and_dying_cells_cost_only_their_own_checks(graded):
    entry = graded["by_name"]["faults.ipynb"]
    assert _statuses(entry) == {
        "square": "timeout",
        "mean_grad": "error",
        "answer": "passed",
        "scale": "not-run",
    }
    assert entry["score"] == 1
    assert "`square` is defined in cell 3 (`while True:`)" in _message(entry, "square")
    assert "time limit of 3 s" in _message(entry, "square")
    assert (
        "raised ValueError: learner boom (cell 4, line 2: `raise ValueError('learner boom')`)"
        in _message(entry, "mean_grad")
    )
    assert _message(entry, "scale").startswith("not run: `Scale` is defined in cell 6")
    assert "stopped the kernel" in _message(entry, "scale")


def test_deleted_check_cells_faked_outputs_and_shadowed_names_change_nothing(graded):
    entry = graded["by_name"]["faked.ipynb"]
    assert _statuses(entry) == {
        "square": "failed",
        "mean_grad": "failed",
        "answer": "passed",
        "scale": "passed",
    }
    assert entry["score"] == 2
    assert "sign flipped" in _message(entry, "square")  # the gradient checker's words
    assert "exactly the batch size N (4)" in _message(entry, "mean_grad")


def test_checkpoints_are_skipped_and_the_json_has_exactly_the_documented_shape(graded):
    report = graded["report"]
    assert list(report) == ["notebooks"]
    assert sorted(graded["by_name"]) == [
        "faked.ipynb",
        "faults.ipynb",
        "solution.ipynb",
        "untouched.ipynb",
    ]
    for entry in report["notebooks"]:
        assert list(entry) == ["path", "score", "max_score", "checks"]
        for c in entry["checks"]:
            assert list(c) == ["id", "points", "max_points", "status", "message"]
            assert c["status"] in {"passed", "failed", "error", "timeout", "not-run"}
            assert c["points"] == (c["max_points"] if c["status"] == "passed" else 0)
        assert entry["score"] == sum(c["points"] for c in entry["checks"])


def test_a_folder_grades_into_one_gradebook(graded):
    rows = list(csv.reader(io.StringIO(graded["csv"])))
    assert rows[0] == ["path", "square", "mean_grad", "answer", "scale", "total", "max"]
    table = {Path(r[0]).name: r[1:] for r in rows[1:]}
    assert table == {
        "faked.ipynb": ["0", "0", "1", "1", "2", "5"],
        "faults.ipynb": ["0", "0", "1", "0", "1", "5"],
        "solution.ipynb": ["1", "2", "1", "1", "5", "5"],
        "untouched.ipynb": ["0", "0", "0", "0", "0", "5"],
    }


def test_the_terminal_table_has_a_row_per_notebook(graded):
    lines = graded["stdout"].strip().splitlines()
    assert lines[0].split() == ["notebook", "score", "checks"]
    faults = next(line for line in lines if "faults.ipynb" in line)
    assert "1/5" in faults
    assert "square:TIMEOUT mean_grad:ERROR answer:ok scale:NOT-RUN" in faults
    assert "square:-- " in next(line for line in lines if "untouched.ipynb" in line)


@pytest.mark.slow
def test_uninterruptible_cells_restart_the_kernel_and_checks_have_their_own_limits(tmp_path):
    nb = read_notebook(SOLUTION)
    _prepend(
        nb,
        "square",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
    )
    grad = _cell(nb, "mean-grad")
    grad["source"] = grad["source"].replace(
        "return 2 * x / x.shape[0]", "return x @ np.ones((7, 3))"
    )
    _cell(nb, "answer")["source"] = (
        "class Forever:\n    def __eq__(self, other):\n        while True:\n            pass\n\n"
        "ANSWER = Forever()\n"
    )
    scale = _cell(nb, "scale")
    scale["source"] = scale["source"].replace("self._x = x", "import os\n        os._exit(3)")
    path = tmp_path / "stubborn.ipynb"
    path.write_text(notebook_text(nb))
    before = path.read_bytes()
    grade = grade_notebook(path, checks=[CHECKS], timeout=2)
    results = {r.id: r for r in grade.results}
    assert {k: r.status for k, r in results.items()} == {
        "square": "timeout",
        "mean_grad": "error",
        "answer": "timeout",
        "scale": "error",
    }
    assert grade.score == 0
    mean = results["mean_grad"].message
    assert mean.startswith("your code raised ValueError: matmul")
    assert "in cell 4, line " in mean and "return x @ np.ones((7, 3))" in mean
    assert "longer than 2 s" in results["answer"].message
    assert results["scale"].message == "the kernel died while this check ran your code"
    assert [c.status for c in grade.cells if c.index == 3] == ["timeout"]
    assert path.read_bytes() == before


def test_check_errors_name_the_notebook_cell_not_the_graders_execution_count():
    grader = Grader(SOLUTION, str(SOLUTION), "99_fixture", [], 1.0, [])
    grader.counts = {7: Cell(11, "def f(x):\n    raise ValueError('no')", {"f"})}
    message = "your code raised ValueError: no\nin Cell In[7], line 2: raise ValueError('no')"
    assert grader._cell_names(message) == (
        "your code raised ValueError: no\nin cell 11, line 2: raise ValueError('no')"
    )
    assert grader._cell_names("in Cell In[3], line 1: x") == "in Cell In[3], line 1: x"


def test_the_checks_cell_passes_any_time_limit_including_none(monkeypatch):
    calls = []
    monkeypatch.setattr(_kernel, "run_checks_to_file", lambda *args: calls.append(args))
    for seconds in (2.5, float("inf")):
        exec(_kernel.checks_cell("99_fixture", "/tmp/out.jsonl", seconds, ["c.py"]), {})
    assert calls == [
        ("99_fixture", "/tmp/out.jsonl", 2.5, ["c.py"]),
        ("99_fixture", "/tmp/out.jsonl", float("inf"), ["c.py"]),
    ]


def test_report_write_errors_name_the_report_not_a_temporary_file(tmp_path):
    target = tmp_path / "absent" / "report.json"
    with pytest.raises(FileNotFoundError) as info:
        write_reports([], json_path=target)
    assert info.value.filename == str(target)
    with pytest.raises(IsADirectoryError) as info:
        write_reports([], csv_path=tmp_path)
    assert info.value.filename == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- reading cells (no kernel) -------------------------------------------------------------------


def test_defined_names_finds_top_level_definitions():
    source = (
        "%matplotlib inline\n"
        "import numpy as np\nfrom bpkit import Linear as L\n"
        "def f():\n    inner = 1\n"
        "class C:\n    attr = 2\n"
        "a, (b, *c) = 1, (2, 3)\n"
        "d: int = 4\n"
        "for i in range(2):\n    e = i\n"
        "if True:\n    g = 1\nelse:\n    h = 2\n"
        "try:\n    k = 1\nexcept Exception:\n    m = 2\n"
        "with open('x') as fh:\n    pass\n"
        "obj.attr = 5\n"
    )
    assert defined_names(source) == {
        "np",
        "L",
        "f",
        "C",
        "a",
        "b",
        "c",
        "d",
        "i",
        "e",
        "g",
        "h",
        "k",
        "m",
        "fh",
    }
    assert defined_names("def broken(:\n    pass\nY = 1\nclass K:\n") == {"broken", "Y", "K"}


@pytest.mark.parametrize(
    "source, tags, expected",
    [
        ('check("03_linear_layer")', [], True),
        ('from bpkit.grading import check\ncard = check("03_linear_layer", "forward")', [], True),
        ('import bpkit.grading\nbpkit.grading.check("03")', [], True),
        ("x = 1", ["bpkit-check"], True),
        ('from bpkit.grading import load_checks\nload_checks("c.py")\ncheck("07")', [], True),
        ('load_checks("c.py")', [], False),
        ('import numpy as np\ncheck("03")', [], False),
        ('W = 2\ncheck("03")', [], False),
        ("from bpkit.grading import check", [], False),
    ],
)
def test_check_cells_are_recognised(source, tags, expected):
    cell = {"cell_type": "code", "source": source, "metadata": {"tags": tags}}
    assert is_check_cell(cell) is expected


def test_find_notebooks_walks_folders_once_and_skips_checkpoints(tmp_path):
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir(parents=True)
    for name in ["a/x.ipynb", "a/.ipynb_checkpoints/x-checkpoint.ipynb", "b.ipynb", "a/n.txt"]:
        (tmp_path / name).write_text("{}")
    found = find_notebooks([tmp_path, tmp_path / "b.ipynb"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/x.ipynb", "b.ipynb"]
    with pytest.raises(FileNotFoundError, match="nothing.ipynb"):
        find_notebooks([tmp_path / "nothing.ipynb"])
