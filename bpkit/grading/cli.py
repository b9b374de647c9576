"""The ``bpkit`` command line: ``info``, ``release``, ``export`` and ``grade``.

Exit codes: 0 when the command did its work (``grade``: whatever the scores), 1 when
``release --check`` finds stale copies or grading could not start a kernel, 2 for a bad
invocation, an unreadable notebook, an unknown exercise or a notebook ``export`` cannot
convert (with a message naming the file).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "info_lines", "main"]

OPTIONAL = ("matplotlib", "ipywidgets", "jupyterlab", "tqdm", "nbval", "torch")


def _version(name: str) -> str:
    # The installed distribution's version, read without importing it (torch takes seconds).
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def info_lines() -> list[str]:
    """The versions bpkit runs with, one ``name: version`` line each."""
    import numpy as np

    from bpkit._version import __version__

    lines = [
        f"bpkit: {__version__}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"numpy: {np.__version__}",
    ]
    lines += [f"{name}: {_version(name)}" for name in OPTIONAL]
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    print("\n".join(info_lines()))
    return 0


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"bpkit {command}: error: {message}", file=sys.stderr)
    return code


def _os_message(exc: OSError) -> str:
    # "cannot write gradebook.csv: Permission denied", not "[Errno 13] ...: '.x.tmp'".
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    return f"{exc.filename}: {exc.strerror}"


def _cmd_release(args: argparse.Namespace) -> int:
    from bpkit.grading._files import NotebookReadError
    from bpkit.grading.release import ReleaseError, release_folder

    if args.exercises is None:
        if args.solutions is not None:
            return _fail("release", "give both SOLUTIONS and EXERCISES, or neither")
        missing = [name for name in ("solutions", "exercises") if not Path(name).is_dir()]
        if "solutions" in missing or (args.check and missing):
            return _fail(
                "release",
                f"no {' or '.join(m + '/' for m in missing)} folder in {Path.cwd()}: run it in "
                "the folder holding solutions/ and exercises/, or name them: "
                "bpkit release [--check] SOLUTIONS EXERCISES",
            )
        args.solutions, args.exercises = "solutions", "exercises"
    try:
        report = release_folder(args.solutions, args.exercises, check=args.check)
    except (NotebookReadError, ReleaseError) as exc:
        return _fail("release", str(exc))
    except FileNotFoundError as exc:
        return _fail("release", str(exc) if exc.filename is None else _os_message(exc))
    except OSError as exc:
        return _fail("release", f"cannot write {_os_message(exc)}")
    if args.check:
        problems = (
            [f"stale: {p} differs from what `bpkit release` writes" for p in report.stale]
            + [f"missing: {p} (no student copy of its solution)" for p in report.missing]
            + [f"extra: {p} has no solution in {args.solutions}" for p in report.extra]
        )
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(
                f"run `bpkit release {args.solutions} {args.exercises}` to refresh the copies",
                file=sys.stderr,
            )
            return 1
        print(f"{len(report.unchanged)} student copies are fresh")
        return 0
    for path in report.written:
        print(f"wrote {path}")
    for path in report.extra:
        print(f"note: {path} has no solution in {args.solutions} (not deleted)", file=sys.stderr)
    print(f"{len(report.written)} written, {len(report.unchanged)} unchanged")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from bpkit.grading import export
    from bpkit.grading._files import NotebookReadError

    write = export.export_nbgrader if args.system == "nbgrader" else export.export_otter
    command = f"export {args.system}"
    try:
        written = write(args.solutions, args.out, force=args.force)
    except (NotebookReadError, export.ExportError) as exc:
        return _fail(command, str(exc))
    except FileNotFoundError as exc:
        return _fail(command, str(exc) if exc.filename is None else _os_message(exc))
    except OSError as exc:
        return _fail(command, f"cannot write {_os_message(exc)}")
    for path in written:
        print(f"wrote {path}")
    if args.system == "nbgrader":
        print(f"next: cd {args.out} && nbgrader generate_assignment EXERCISE")
    else:
        print(f"next: cd {args.out}/EXERCISE && otter assign EXERCISE.ipynb dist")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from bpkit.grading import grade
    from bpkit.grading._files import NotebookReadError
    from bpkit.grading.registry import UnknownExerciseError

    if not args.timeout > 0:
        return _fail("grade", f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.notebook_timeout is not None and not args.notebook_timeout > 0:
        return _fail(
            "grade", f"--notebook-timeout must be > 0 seconds, got {args.notebook_timeout}"
        )
    if args.jobs < 1:
        return _fail("grade", f"--jobs must be >= 1, got {args.jobs}")
    try:
        notebooks = grade.find_notebooks(args.paths)
        if not notebooks:
            return _fail("grade", "no notebooks found in " + " ".join(args.paths))
        problem = _output_problem(args, {p.resolve() for p in notebooks})
        if problem:
            return _fail("grade", problem)
        grades = grade.grade_paths(
            args.paths,
            exercise=args.exercise,
            timeout=args.timeout,
            jobs=args.jobs,
            checks=args.checks,
            notebook_timeout=args.notebook_timeout,
        )
    except (FileNotFoundError, NotebookReadError, UnknownExerciseError, ValueError) as exc:
        return _fail("grade", str(exc).strip("'\""))
    except (ImportError, SyntaxError) as exc:
        return _fail("grade", f"cannot load checks: {exc}")
    except grade.GradingError as exc:
        return _fail("grade", str(exc), code=1)
    if args.verbose:
        for g in grades:
            cells = g.cells_text()
            print(f"== {g.path}\n{g.card()}\n" + (f"{cells}\n" if cells else ""))
    print(grade.format_table(grades))
    try:
        grade.write_reports(grades, args.json, args.csv)
    except OSError as exc:
        return _fail("grade", f"cannot write the report {_os_message(exc)}")
    return 0


def _output_problem(args: argparse.Namespace, notebooks: set[Path]) -> str | None:
    """Why ``--json``/``--csv`` cannot be written, found before any notebook is graded."""
    seen: dict[Path, str] = {}
    for option, value in (("--json", args.json), ("--csv", args.csv)):
        if value is None:
            continue
        path = Path(value)
        where = f"{option} {value}"
        if path.suffix == ".ipynb" or path.resolve() in notebooks:
            return f"{where}: refusing to write the report over a notebook (a submission?)"
        if path.resolve() in seen:
            return f"{where}: the same file as {seen[path.resolve()]}"
        seen[path.resolve()] = option
        if path.is_dir():
            return f"{where}: is a folder, expected a file name"
        if not path.parent.is_dir():
            return f"{where}: folder {path.parent} not found"
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            return f"{where}: not writable"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bpkit`` command."""
    parser = argparse.ArgumentParser(
        prog="bpkit", description="bpkit: learn backpropagation; grade and release exercises."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="show the versions of bpkit and what it runs with")
    info.set_defaults(func=_cmd_info)

    release = sub.add_parser(
        "release",
        help="write student copies of solution notebooks",
        description="Write the student copy of every SOLUTIONS/*.ipynb into EXERCISES/ "
        "(without them: solutions/ into exercises/ of the current folder): "
        "answers between '### BEGIN SOLUTION' and '### END SOLUTION' replaced by a stub, "
        "outputs cleared.",
    )
    release.add_argument(
        "solutions",
        metavar="SOLUTIONS",
        nargs="?",
        help="folder of solution notebooks (default: solutions/ of the current folder)",
    )
    release.add_argument(
        "exercises",
        metavar="EXERCISES",
        nargs="?",
        help="folder of student copies (default: exercises/ of the current folder)",
    )
    release.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each student copy that is stale, missing or extra",
    )
    release.set_defaults(func=_cmd_release)

    export = sub.add_parser(
        "export",
        help="write an nbgrader course or Otter-Grader assignments",
        description="nbgrader: write OUT/source/<exercise>/<exercise>.ipynb (nbgrader's cell "
        "metadata; one autograder test cell per bpkit check cell, scored by bpkit's checks) "
        "and OUT/nbgrader_config.py. otter: write OUT/<exercise>/<exercise>.ipynb, an Otter "
        "master notebook (one question per check cell, one test per check). The solutions "
        "are only read; an existing OUT is refused unless --force.",
    )
    export.add_argument("system", choices=("nbgrader", "otter"), help="the grading system")
    export.add_argument("solutions", metavar="SOLUTIONS", help="folder of solution notebooks")
    export.add_argument("out", metavar="OUT", help="the course folder (nbgrader) or output folder")
    export.add_argument(
        "--force",
        action="store_true",
        help="write into an existing OUT: the files the export writes are replaced, nothing "
        "else in it (submissions, the gradebook) is touched",
    )
    export.set_defaults(func=_cmd_export)

    grade = sub.add_parser(
        "grade",
        help="grade submitted notebooks into a gradebook",
        description="Grade each notebook (or every *.ipynb under a folder) in a fresh kernel "
        "on a copy; the submissions are never modified. Learner code runs with your rights: "
        "grade untrusted submissions inside a container or VM.",
        epilog='The JSON report: {"notebooks": [{"path", "score", "max_score", "checks": '
        '[{"id", "points", "max_points", "status", "message"}], "cells": [{"index", '
        '"status", "seconds"}]}]}. A check\'s status is passed, failed, error, timeout or '
        'not-run; "cells" lists the cells that did not run to their end (index: the '
        "notebook's cell number, counting from 1; status: error, timeout, kernel-died, or "
        "not-run when the notebook's time limit ran out first).",
    )
    grade.add_argument("paths", nargs="+", metavar="PATH", help="a notebook or a folder")
    grade.add_argument("--json", metavar="FILE", help="write the JSON report to FILE")
    grade.add_argument("--csv", metavar="FILE", help="write the gradebook CSV to FILE")
    grade.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time limit for each cell and each check (default 60; inf for none)",
    )
    grade.add_argument(
        "--notebook-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit for all the cells and checks of one notebook together (default "
        "10 x --timeout, 600 at the default: room for a submission that hangs in a few "
        "places, while one that hangs everywhere stops after ten waits); once it is used up "
        "the remaining cells are not run and the checks not yet run score 0 as timeout",
    )
    grade.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="grade N notebooks at a time (default 1)"
    )
    grade.add_argument(
        "--checks",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="load instructor checks from a .py file or module (repeatable)",
    )
    grade.add_argument(
        "--exercise",
        metavar="ID",
        help="grade as this exercise, whatever the notebooks' metadata says",
    )
    grade.add_argument(
        "-v", "--verbose", action="store_true", help="also print every notebook's feedback card"
    )
    grade.set_defaults(func=_cmd_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpkit`` command; returns the exit code (2 for bad invocation)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
