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
import threading
import time
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
from bpkit.grading.registry import checks_for

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
        assert list(entry) == ["path", "score", "max_score", "checks", "cells"]
        for c in entry["checks"]:
            assert list(c) == ["id", "points", "max_points", "status", "message"]
            assert c["status"] in {"passed", "failed", "error", "timeout", "not-run"}
            assert c["points"] == (c["max_points"] if c["status"] == "passed" else 0)
        assert entry["score"] == sum(c["points"] for c in entry["checks"])
        for c in entry["cells"]:
            assert list(c) == ["index", "status", "seconds"]
    cells = {n: e["cells"] for n, e in graded["by_name"].items()}
    assert cells["solution.ipynb"] == cells["faked.ipynb"] == []
    # the untouched stub `ANSWER = ...` raises NotImplementedError in its own cell
    assert [(c["index"], c["status"]) for c in cells["untouched.ipynb"]] == [(5, "error")]
    faults = [(c["index"], c["status"]) for c in cells["faults.ipynb"]]
    assert faults == [(3, "timeout"), (4, "error"), (6, "kernel-died")]
    assert cells["faults.ipynb"][0]["seconds"] >= 3  # the hanging cell waited its limit


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
    hung = {"Linear": "`Linear` hung in ..."}
    for seconds in (2.5, float("inf")):
        code = _kernel.checks_cell(
            "99_fixture", "/tmp/out.jsonl", seconds, ["c.py"], 30.0, 2.5, hung
        )
        exec(code, {})
    exec(_kernel.checks_cell("99_fixture", "/tmp/out.jsonl", 1.0, []), {})
    inf = float("inf")
    assert calls == [
        ("99_fixture", "/tmp/out.jsonl", 2.5, ["c.py"], 30.0, 2.5, hung),
        ("99_fixture", "/tmp/out.jsonl", inf, ["c.py"], 30.0, 2.5, hung),
        ("99_fixture", "/tmp/out.jsonl", 1.0, [], inf, 0.0, {}),
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


# -- what the grader cut short: hangs, the notebook's time limit, the cells list ----------------

HANG_CHECKS = """
import numpy as np

from bpkit.grading import compare, register_check

for _id in ("forward", "forward_again", "backward"):

    @register_check(exercise="98_hang", id=_id, requires=("Linear",))
    def _linear(ns, _id=_id):
        layer = ns["Linear"]()
        x = np.ones(2)
        got = layer.backward(x) if _id == "backward" else layer.forward(x)
        return compare(got, 2 * x, name=f"Linear.{_id}")


@register_check(exercise="98_hang", id="double", requires=("double",))
def _double(ns):
    return compare(ns["double"](np.ones(2)), 2 * np.ones(2), name="double(x)")
"""

LINEAR = (
    "class Linear:\n"
    "    def forward(self, x):\n"
    "        while True: pass\n"
    "\n"
    "    def backward(self, grad_output):\n"
    "        return 2 * grad_output\n"
)


def _tiny_notebook(path: Path, sources: list[str]) -> Path:
    """A notebook of code cells (cell 1 is a markdown title, so code starts at cell 2)."""
    cells = [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# hang"}]
    cells += [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": source,
        }
        for i, source in enumerate(sources)
    ]
    nb = {
        "cells": cells,
        "metadata": {"bpkit": {"exercise": "98_hang"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(notebook_text(nb))
    return path


@pytest.fixture(scope="module")
def hangs(tmp_path_factory):
    """Two submissions whose `Linear.forward` loops forever, graded with ``-v --json``:
    ``demo`` calls it in a cell of its own, ``quiet`` only in the checks."""
    root = tmp_path_factory.mktemp("hangs")
    checks = root / "hang_checks.py"
    checks.write_text(HANG_CHECKS)
    subs = root / "subs"
    subs.mkdir()
    double = "def double(x):\n    return 2 * x\n"
    _tiny_notebook(
        subs / "demo.ipynb",
        ["import numpy as np", LINEAR, double, "Linear().forward(np.ones(2))\nafter = 1"],
    )
    _tiny_notebook(subs / "quiet.ipynb", ["import numpy as np", LINEAR, double])
    args = ["--checks", str(checks), "--timeout", "2", "--jobs", "2", "-v"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["grade", str(subs), *args, "--json", str(root / "report.json")])
    report = json.loads((root / "report.json").read_text())
    return {
        "code": code,
        "stdout": out.getvalue(),
        "by_name": {Path(n["path"]).name: n for n in report["notebooks"]},
    }


#: Every check of `Linear` times out (waited for once at most), `double` is still graded.
HANG_STATUSES = {
    "forward": "timeout",
    "forward_again": "timeout",
    "backward": "timeout",
    "double": "passed",
}


def _waited(entry: dict) -> list[str]:
    """The checks that waited out the per-check limit themselves."""
    return [c["id"] for c in entry["checks"] if c["message"].startswith("timed out: your code ran")]


def test_a_forward_that_hangs_in_the_checks_costs_one_wait_and_names_its_cell(hangs):
    entry = hangs["by_name"]["quiet.ipynb"]
    assert hangs["code"] == 0
    assert _statuses(entry) == HANG_STATUSES
    assert _waited(entry) == ["forward"]  # the two others were not run again
    assert "in cell 3, line 3: while True: pass" in _message(entry, "forward")
    for other in ("forward_again", "backward"):
        assert _message(entry, other) == (
            "`Linear` hung in the check `forward` (in cell 3, line 3: while True: pass); "
            "not run again"
        )
    assert entry["cells"] == []  # every cell ran to its end
    assert entry["score"] == 1


def test_a_cell_that_hangs_in_a_forward_marks_its_definition_and_is_reported(hangs):
    entry = hangs["by_name"]["demo.ipynb"]
    assert _statuses(entry) == HANG_STATUSES
    assert _waited(entry) == []  # the cell waited once; no check waited again
    assert _message(entry, "backward") == (
        "`Linear` is defined in cell 3 (`class Linear:`), whose code was running when "
        "cell 5 (`Linear().forward(np.ones(2))`) ran longer than the time limit of 2 s"
    )
    [cell] = entry["cells"]
    assert list(cell) == ["index", "status", "seconds"]
    assert (cell["index"], cell["status"]) == (5, "timeout")
    assert cell["seconds"] >= 2
    cards = {c.split("\n")[0]: c for c in hangs["stdout"].split("== ")[1:]}
    demo = next(c for head, c in cards.items() if head.endswith("demo.ipynb"))
    assert "cells that did not finish:\n  cell 5: timeout after " in demo
    assert "s: ran longer than the time limit of 2 s\n" in demo
    quiet = next(c for head, c in cards.items() if head.endswith("quiet.ipynb"))
    assert "cells that did not finish" not in quiet


def test_the_notebook_time_limit_stops_a_long_submission(tmp_path):
    checks = tmp_path / "hang_checks.py"
    checks.write_text(HANG_CHECKS)
    path = _tiny_notebook(
        tmp_path / "slow.ipynb",
        ["import time\ntime.sleep(1.5)", "time.sleep(1.5)", "def double(x):\n    return 2 * x\n"],
    )
    grade = grade_notebook(path, checks=[str(checks)], timeout=3, notebook_timeout=2)
    by_index = {c.index: c for c in grade.cells}
    assert by_index[2].status == "ok"
    assert by_index[3].status == "timeout"
    assert by_index[3].message == "ran past the notebook's time limit of 2 s"
    assert by_index[4].status == "not-run"
    assert by_index[3].seconds < 3  # cut at the notebook's limit, not the cell's
    assert {r.id: r.status for r in grade.results} == dict.fromkeys(
        ["forward", "forward_again", "backward", "double"], "timeout"
    )
    assert grade.score == 0
    assert all("notebook's time limit of 2 s ran out" in r.message for r in grade.results)
    assert [(c["index"], c["status"]) for c in grade.to_json()["cells"]] == [
        (3, "timeout"),
        (4, "not-run"),
    ]


def test_checks_of_a_name_known_to_hang_are_timeout_at_once_without_a_kernel():
    # The time limit is SIGALRM's, which only the main thread gets: without it the endless
    # loop below would never stop (pytest-xdist before 3.6.1 may run tests in another thread).
    if threading.current_thread() is not threading.main_thread():
        pytest.fail("this test needs the main thread (pytest-xdist >= 3.6.1)")
    namespace = {"__name__": "__main__"}
    exec(compile(LINEAR + "def double(x):\n    return 2 * x\n", "<cell-2>", "exec"), namespace)
    hang = {}
    exec(HANG_CHECKS.replace("98_hang", "97_hang_local"), hang)
    checks = {c.id: c for c in checks_for("97_hang_local")}
    hung: dict[str, str] = {}
    deadline = time.monotonic() + 60
    first = _kernel.run_bounded(checks["forward"], namespace, 0.2, deadline, 60, hung)
    assert first.status == "timeout"
    assert first.message.startswith("timed out: your code ran longer than 0.2 s")
    assert first.message.endswith("in <cell-2>, line 3")  # the hanging line (no linecache)
    assert list(hung) == ["Linear"]  # not `double`, which the check did not need
    again = _kernel.run_bounded(checks["backward"], namespace, 0.2, deadline, 60, hung)
    assert (again.status, again.message) == ("timeout", hung["Linear"])
    fine = _kernel.run_bounded(checks["double"], namespace, 0.2, deadline, 60, hung)
    assert fine.status == "passed"
    late = _kernel.run_bounded(checks["double"], namespace, 0.2, time.monotonic(), 60, hung)
    assert late.status == "timeout"
    assert late.message == "not run: the notebook's time limit of 60 s ran out before this check"


def test_the_default_notebook_limit_is_the_one_the_help_states(capsys):
    from bpkit.grading.grade import NOTEBOOK_TIMEOUT_FACTOR

    assert main(["grade", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    factor = NOTEBOOK_TIMEOUT_FACTOR
    assert f"(default {factor} x --timeout, {factor * 60:g} at the default:" in text
    assert '"cells": [{"index", "status", "seconds"}]' in text
