"""The `bpkit` command: info, release (and --check), and grade's invocation errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpkit.grading import release_notebook
from bpkit.grading._files import notebook_text, read_notebook
from bpkit.grading.cli import build_parser, main

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURES / "99_fixture.ipynb"
CHECKS = str(FIXTURES / "fixture_checks.py")
REPO = Path(__file__).resolve().parents[1]


def test_info_lists_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bpkit: ")
    assert "numpy: " in out and "python: " in out


def test_no_command_or_a_bad_one_is_exit_2(capsys):
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["grade"]) == 2  # PATH is required
    capsys.readouterr()


def test_the_installed_script_runs_and_returns_its_exit_code(tmp_path):
    exe = Path(sys.executable).with_name("bpkit")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "bpkit.grading.cli"]
    done = subprocess.run([*command, "info"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("bpkit: ")
    done = subprocess.run(
        [*command, "grade", str(tmp_path / "absent.ipynb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "absent.ipynb" in done.stderr


# -- release -------------------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions / "99_fixture.ipynb")
    return solutions, exercises


def test_release_then_check_is_fresh(folders, capsys):
    solutions, exercises = folders
    assert main(["release", str(solutions), str(exercises)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (exercises / "99_fixture.ipynb").read_text() == notebook_text(
        release_notebook(read_notebook(SOLUTION))
    )
    assert main(["release", "--check", str(solutions), str(exercises)]) == 0
    assert "1 student copies are fresh" in capsys.readouterr().out


def test_release_check_names_stale_missing_and_extra_copies(folders, capsys):
    solutions, exercises = folders
    main(["release", str(solutions), str(exercises)])
    shutil.copy(SOLUTION, solutions / "98_second.ipynb")  # no student copy yet
    stale = exercises / "99_fixture.ipynb"
    stale.write_text(stale.read_text().replace("YOUR CODE HERE", "MY CODE"))
    (exercises / "97_extra.ipynb").write_text("{}")
    capsys.readouterr()
    assert main(["release", "--check", str(solutions), str(exercises)]) == 1
    err = capsys.readouterr().err
    assert f"stale: {stale}" in err
    assert f"missing: {exercises / '98_second.ipynb'}" in err
    assert f"extra: {exercises / '97_extra.ipynb'}" in err
    assert not (exercises / "98_second.ipynb").exists()  # --check writes nothing


def test_release_bad_input_is_exit_2_naming_the_file(folders, capsys):
    solutions, exercises = folders
    assert main(["release", str(solutions / "nope"), str(exercises)]) == 2
    assert "nope" in capsys.readouterr().err
    (solutions / "broken.ipynb").write_text('{"cells": [')
    assert main(["release", str(solutions), str(exercises)]) == 2
    assert "broken.ipynb" in capsys.readouterr().err
    (solutions / "broken.ipynb").write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "source": "### BEGIN SOLUTION\n",
                        "metadata": {},
                        "outputs": [],
                        "execution_count": None,
                    }
                ],
            }
        )
    )
    assert main(["release", str(solutions), str(exercises)]) == 2
    assert "broken.ipynb, cell 1" in capsys.readouterr().err


def test_release_into_the_solutions_folder_or_a_file_is_exit_2_and_loses_nothing(folders, capsys):
    solutions, exercises = folders
    before = (solutions / "99_fixture.ipynb").read_bytes()
    assert main(["release", str(solutions), str(solutions) + "/"]) == 2
    assert "is the solutions folder" in capsys.readouterr().err
    assert (solutions / "99_fixture.ipynb").read_bytes() == before
    exercises.write_text("a file")
    assert main(["release", str(solutions), str(exercises)]) == 2
    assert f"{exercises} is a file" in capsys.readouterr().err


def test_release_without_paths_uses_solutions_and_exercises_of_the_current_folder(
    folders, monkeypatch, capsys
):
    solutions, exercises = folders
    monkeypatch.chdir(solutions.parent)
    assert main(["release", "--check"]) == 2  # exercises/ not there yet: nothing to check
    err = capsys.readouterr().err
    assert "no exercises/ folder in" in err and "SOLUTIONS EXERCISES" in err
    assert main(["release"]) == 0
    assert (exercises / "99_fixture.ipynb").is_file()
    assert main(["release", "--check"]) == 0
    assert "1 student copies are fresh" in capsys.readouterr().out
    stale = exercises / "99_fixture.ipynb"
    stale.write_text(stale.read_text().replace("YOUR CODE HERE", "MY CODE"))
    assert main(["release", "--check"]) == 1
    assert f"stale: {Path('exercises') / '99_fixture.ipynb'}" in capsys.readouterr().err
    assert main(["release", "--check", "solutions"]) == 2
    assert "give both SOLUTIONS and EXERCISES, or neither" in capsys.readouterr().err


def test_release_without_paths_outside_a_course_folder_is_exit_2_naming_both(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    for argv in (["release", "--check"], ["release"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no solutions/" in err and str(tmp_path) in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_help_lists_every_command_with_one_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = next(
        a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"
    ).choices
    assert set(commands) >= {"info", "release", "grade", "export"}
    lines = out.split("  COMMAND\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(lines) == len(commands), out  # no command's text wraps onto a second line
    listed = dict(line.split(maxsplit=1) for line in lines)
    assert set(listed) == set(commands), out
    assert all(len(text) > 10 for text in listed.values()), out


def test_committed_exercises_are_fresh_copies_of_the_solutions(capsys):
    """The repository's exercises/ must be what `bpkit release solutions exercises` writes."""
    solutions, exercises = REPO / "solutions", REPO / "exercises"
    if not solutions.is_dir():
        assert not exercises.is_dir() or not list(exercises.glob("*.ipynb")), (
            "exercises/ holds notebooks but there is no solutions/ to release them from"
        )
        return
    code = main(["release", "--check", str(solutions), str(exercises)])
    assert code == 0, capsys.readouterr().err


# -- grade: invocation errors (no kernel is started) ---------------------------------------------


def _write(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb))
    return path


def test_grade_a_missing_path_is_exit_2(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "absent.ipynb")]) == 2
    assert "absent.ipynb" in capsys.readouterr().err


def test_grade_an_unreadable_notebook_is_exit_2_naming_it(tmp_path, capsys):
    good = tmp_path / "good.ipynb"
    shutil.copy(SOLUTION, good)
    (tmp_path / "broken.ipynb").write_text("this is not json")
    assert main(["grade", str(tmp_path), "--checks", CHECKS]) == 2
    err = capsys.readouterr().err
    assert "broken.ipynb" in err and "not valid JSON" in err


def test_grade_an_unknown_or_unnamed_exercise_is_exit_2_naming_the_file(tmp_path, capsys):
    nb = read_notebook(SOLUTION)
    nb["metadata"]["bpkit"] = {"exercise": "00_no_such_exercise"}
    path = _write(tmp_path / "unknown.ipynb", nb)
    assert main(["grade", str(path)]) == 2
    assert "00_no_such_exercise" in capsys.readouterr().err
    del nb["metadata"]["bpkit"]
    path = _write(tmp_path / "unnamed.ipynb", nb)
    assert main(["grade", str(path), "--checks", CHECKS]) == 2
    err = capsys.readouterr().err
    assert "unnamed.ipynb" in err and "--exercise" in err


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--timeout", "0"], "--timeout"),
        (["--jobs", "0"], "--jobs"),
        (["--notebook-timeout", "0"], "--notebook-timeout must be > 0 seconds, got 0.0"),
        (["--notebook-timeout", "nan"], "--notebook-timeout must be > 0 seconds, got nan"),
        (["--checks", "no_such_checks.py"], "no_such_checks.py"),
        (["--checks", "no_such_module_xyz"], "no_such_module_xyz"),
    ],
)
def test_grade_bad_options_are_exit_2(extra, words, capsys):
    assert main(["grade", str(SOLUTION), *extra]) == 2
    assert words in capsys.readouterr().err


def test_grade_an_empty_folder_is_exit_2(tmp_path, capsys):
    assert main(["grade", str(tmp_path)]) == 2
    assert "no notebooks" in capsys.readouterr().err


@pytest.mark.parametrize(
    "outputs, words",
    [
        (["--json", "{nb}"], "--json {nb}: refusing to write the report over a notebook"),
        (["--csv", "{nb}"], "--csv {nb}: refusing to write the report over a notebook"),
        (["--csv", "{tmp}/absent/book.csv"], "folder {tmp}/absent not found"),
        (["--json", "{tmp}"], "--json {tmp}: is a folder"),
        (["--json", "{tmp}/r", "--csv", "{tmp}/r"], "--csv {tmp}/r: the same file as --json"),
    ],
)
def test_grade_refuses_bad_report_paths_before_grading(
    outputs, words, tmp_path, monkeypatch, capsys
):
    from bpkit.grading import grade

    def no_grading(*args, **kwargs):
        raise AssertionError("grading started")

    monkeypatch.setattr(grade, "grade_paths", no_grading)
    nb = tmp_path / "sub.ipynb"
    shutil.copy(SOLUTION, nb)
    before = nb.read_bytes()
    fill = {"nb": str(nb), "tmp": str(tmp_path)}
    args = ["grade", str(nb), "--checks", CHECKS, *(o.format(**fill) for o in outputs)]
    assert main(args) == 2
    assert words.format(**fill) in capsys.readouterr().err
    assert nb.read_bytes() == before


@pytest.mark.parametrize(
    "extra, expected",
    [
        ([], None),  # grade_paths' default: NOTEBOOK_TIMEOUT_FACTOR x --timeout
        (["--notebook-timeout", "90"], 90.0),
        (["--notebook-timeout", "inf"], float("inf")),
    ],
)
def test_grade_passes_the_notebook_time_limit_on(extra, expected, monkeypatch, capsys):
    from bpkit.grading import grade

    seen = {}

    def fake_grading(*args, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(grade, "grade_paths", fake_grading)
    assert main(["grade", str(SOLUTION), "--checks", CHECKS, "--timeout", "inf", *extra]) == 0
    assert seen["notebook_timeout"] == expected
    assert seen["timeout"] == float("inf")
