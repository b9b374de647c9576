"""Student copies: markers replaced at the right indentation, outputs cleared, byte-stable."""

from __future__ import annotations

import ast
import copy
import json
import shutil
from pathlib import Path

import pytest

from bpkit.grading import release_folder, release_notebook
from bpkit.grading._files import NotebookReadError, notebook_text, read_notebook
from bpkit.grading.release import ReleaseError

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURES / "99_fixture.ipynb"


def _notebook(*cells: dict) -> dict:
    return {
        "cells": list(cells),
        "metadata": {"bpkit": {"exercise": "98_unit"}, "widgets": {"state": {"x": 1}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source: str, **extra) -> dict:
    cell = {
        "cell_type": "code",
        "metadata": {},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }
    cell.update(extra)
    return cell


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def test_code_regions_become_stubs_at_the_marker_indentation():
    source = (
        "class Layer:\n"
        "    def forward(self, x):\n"
        "        ### BEGIN SOLUTION\n"
        "        y = x * 2\n"
        "        return y\n"
        "        ### END SOLUTION\n"
        "\n"
        "### BEGIN SOLUTION\n"
        "ANSWER = 42\n"
        "### END SOLUTION\n"
        "print('kept')"
    )
    out = release_notebook(_notebook(_code(source)))
    assert out["cells"][0]["source"] == (
        "class Layer:\n"
        "    def forward(self, x):\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError()\n"
        "\n"
        "# YOUR CODE HERE\n"
        "raise NotImplementedError()\n"
        "print('kept')"
    )
    ast.parse(out["cells"][0]["source"])  # the stub is valid Python


def test_markdown_regions_become_your_answer_here():
    nb = _notebook(
        _markdown("Why?\n\n### BEGIN SOLUTION\nBecause.\nReally.\n### END SOLUTION\nEnd.")
    )
    assert release_notebook(nb)["cells"][0]["source"] == "Why?\n\nYOUR ANSWER HERE\nEnd."


def test_outputs_counts_widget_state_and_timestamps_are_cleared_and_input_kept():
    cell = _code(
        "x = 1",
        outputs=[{"output_type": "stream", "name": "stdout", "text": "1\n"}],
        execution_count=7,
    )
    cell["metadata"] = {"execution": {"iopub.status.busy": "2024"}, "tags": ["keep"]}
    nb = _notebook(cell)
    before = copy.deepcopy(nb)
    out = release_notebook(nb)
    assert nb == before
    assert out["cells"][0]["outputs"] == []
    assert out["cells"][0]["execution_count"] is None
    assert out["cells"][0]["metadata"] == {"tags": ["keep"]}
    assert "widgets" not in out["metadata"]
    assert out["metadata"]["bpkit"] == {"exercise": "98_unit"}


@pytest.mark.parametrize(
    "source, words",
    [
        ("### BEGIN SOLUTION\nx = 1\n", ["cell 1", "line 1", "no '### END SOLUTION'"]),
        ("x = 1\n### END SOLUTION\n", ["cell 1", "line 2", "without"]),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", ["line 2", "inside"]),
    ],
)
def test_unpaired_markers_are_an_error_naming_cell_and_line(source, words):
    with pytest.raises(ReleaseError) as info:
        release_notebook(_notebook(_code(source)), name="sol.ipynb")
    for word in ["sol.ipynb", *words]:
        assert word in str(info.value)


def test_the_written_text_is_byte_stable_and_invents_no_random_ids():
    nb = _notebook(_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), _markdown("hi"))
    first = notebook_text(release_notebook(nb))
    second = notebook_text(release_notebook(json.loads(json.dumps(nb))))
    assert first == second
    data = json.loads(first)
    assert [c["id"] for c in data["cells"]] == ["cell-1", "cell-2"]
    assert data["cells"][0]["source"] == ["# YOUR CODE HERE\n", "raise NotImplementedError()"]
    assert first.endswith("}\n")


def test_fixture_solution_releases_into_valid_stubs():
    out = release_notebook(read_notebook(SOLUTION))
    for cell in out["cells"]:
        assert "BEGIN SOLUTION" not in cell["source"]
        if cell["cell_type"] == "code":
            ast.parse(cell["source"])
            assert cell["outputs"] == []
    text = notebook_text(out)
    assert "return x**2" not in text and "ANSWER = 42" not in text


@pytest.fixture
def folders(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions / "99_fixture.ipynb")
    nb = _notebook(_code("### BEGIN SOLUTION\ny = 2\n### END SOLUTION"))
    (solutions / "98_unit.ipynb").write_text(json.dumps(nb))
    return solutions, exercises


def test_release_folder_writes_every_copy_atomically_and_leaves_solutions_alone(folders):
    solutions, exercises = folders
    before = {p.name: p.read_bytes() for p in solutions.iterdir()}
    report = release_folder(solutions, exercises)
    assert sorted(p.name for p in report.written) == ["98_unit.ipynb", "99_fixture.ipynb"]
    assert sorted(p.name for p in exercises.iterdir()) == ["98_unit.ipynb", "99_fixture.ipynb"]
    assert {p.name: p.read_bytes() for p in solutions.iterdir()} == before
    written = exercises / "99_fixture.ipynb"
    assert written.read_text() == notebook_text(release_notebook(read_notebook(SOLUTION)))
    assert (written.stat().st_mode & 0o777) == 0o644


def test_release_folder_rewrites_nothing_when_fresh(folders):
    solutions, exercises = folders
    release_folder(solutions, exercises)
    stamps = {p.name: p.stat().st_mtime_ns for p in exercises.iterdir()}
    report = release_folder(solutions, exercises)
    assert report.written == [] and len(report.unchanged) == 2
    assert {p.name: p.stat().st_mtime_ns for p in exercises.iterdir()} == stamps


def test_check_mode_finds_stale_missing_and_extra_copies_and_writes_nothing(folders):
    solutions, exercises = folders
    release_folder(solutions, exercises)
    assert release_folder(solutions, exercises, check=True).fresh

    nb = read_notebook(solutions / "98_unit.ipynb")
    nb["cells"][0]["source"] = "### BEGIN SOLUTION\ny = 3\n### END SOLUTION\nprint(y)"
    (solutions / "98_unit.ipynb").write_text(json.dumps(nb))
    (exercises / "99_fixture.ipynb").unlink()
    (exercises / "97_orphan.ipynb").write_text("{}")
    stale_bytes = (exercises / "98_unit.ipynb").read_bytes()

    report = release_folder(solutions, exercises, check=True)
    assert not report.fresh
    assert [p.name for p in report.stale] == ["98_unit.ipynb"]
    assert [p.name for p in report.missing] == ["99_fixture.ipynb"]
    assert [p.name for p in report.extra] == ["97_orphan.ipynb"]
    assert (exercises / "98_unit.ipynb").read_bytes() == stale_bytes
    assert not (exercises / "99_fixture.ipynb").exists()


def test_unreadable_solution_is_an_error_naming_the_file(folders, tmp_path):
    solutions, exercises = folders
    (solutions / "broken.ipynb").write_text("{not json")
    with pytest.raises(NotebookReadError, match="broken.ipynb"):
        release_folder(solutions, exercises)


def test_missing_solutions_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        release_folder(tmp_path / "nope", tmp_path / "out")


def test_releasing_into_the_solutions_folder_is_refused_and_loses_nothing(folders):
    solutions, _ = folders
    before = {p.name: p.read_bytes() for p in solutions.iterdir()}
    for target in (solutions, solutions / "." / ".." / solutions.name):
        with pytest.raises(ReleaseError, match="is the solutions folder"):
            release_folder(solutions, target)
    assert {p.name: p.read_bytes() for p in solutions.iterdir()} == before


def test_a_bad_solution_stops_the_release_before_any_copy_is_written(folders):
    solutions, exercises = folders
    (solutions / "zz_broken.ipynb").write_text("{not json")
    with pytest.raises(NotebookReadError, match="zz_broken.ipynb"):
        release_folder(solutions, exercises)
    assert list(exercises.glob("*")) == []


def test_an_exercises_path_that_is_a_file_or_a_copy_that_is_a_folder_is_an_error(folders):
    solutions, exercises = folders
    exercises.write_text("not a folder")
    with pytest.raises(ReleaseError, match="is a file"):
        release_folder(solutions, exercises)
    exercises.unlink()
    (exercises / "99_fixture.ipynb").mkdir(parents=True)
    with pytest.raises(ReleaseError, match="99_fixture.ipynb: it is a folder"):
        release_folder(solutions, exercises)
    assert not (exercises / "98_unit.ipynb").exists()
