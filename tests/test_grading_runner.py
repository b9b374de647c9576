"""Checks in the notebook: registry, not attempted, short errors, time limits, the card."""

from __future__ import annotations

import importlib
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from bpkit.grading import (
    Card,
    CheckFailed,
    Feedback,
    UnknownExerciseError,
    check,
    checks_for,
    exercise_ids,
    load_checks,
    register_check,
    release_notebook,
    run_checks,
    time_limit,
)
from bpkit.grading._files import read_notebook
from bpkit.grading.exercises import MODULES

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
UNIT = "98_unit"


@register_check(exercise=UNIT, id="value", points=2, requires=("VALUE",), hint="VALUE is 3")
def _value(ns):
    """VALUE equals 3"""
    if ns["VALUE"] == 3:
        return Feedback.ok()
    return Feedback.fail("VALUE is wrong", expected=3, got=ns["VALUE"], why=["off by one?"])


@register_check(exercise=UNIT, id="double", points=1, requires=("double",), timeout=0.5)
def _double(ns):
    """double(x) is 2x"""
    x = np.array([1.0, -2.0])
    got = ns["double"](x)
    if not np.allclose(got, 2 * x):
        raise CheckFailed(Feedback.fail("double(x) is wrong", expected=2 * x, got=got))
    return Feedback.ok("well done")


@register_check(exercise=UNIT, id="sloppy", points=1)
def _sloppy(ns):
    """a check with a bug: it returns True instead of a Feedback"""
    return True


def _run(namespace, part=None):
    return {r.id: r for r in run_checks(UNIT, namespace, part=part, timeout=None)}


def test_passing_and_failing_checks_score_their_points():
    results = _run({"VALUE": 3, "double": lambda x: 2 * x}, part=["value", "double"])
    assert [r.status for r in results.values()] == ["passed", "passed"]
    assert [r.points for r in results.values()] == [2.0, 1.0]
    assert results["double"].message == "well done"
    assert results["value"].title == "VALUE equals 3"

    results = _run({"VALUE": 4, "double": lambda x: x}, part=["value", "double"])
    value, double = results["value"], results["double"]
    assert (value.status, value.points, value.max_points) == ("failed", 0.0, 2.0)
    assert (value.expected, value.got, value.why, value.hint) == (
        "3",
        "4",
        ["off by one?"],
        "VALUE is 3",
    )
    assert double.status == "failed" and double.message == "double(x) is wrong"
    assert "array of shape (2,)" in double.expected


def test_missing_names_and_the_untouched_stub_are_not_attempted():
    def stub(x):
        raise NotImplementedError()

    results = _run({"double": stub}, part=["value", "double"])
    for r in results.values():
        assert (r.status, r.attempted, r.points, r.label) == ("failed", False, 0.0, "not attempted")
    assert "`VALUE` is not defined yet" in results["value"].message
    assert "NotImplementedError" in results["double"].message


def test_a_learner_exception_is_an_error_shown_short_with_their_line(tmp_path):
    learner = tmp_path / "learner_cell.py"
    learner.write_text("def double(x):\n    return x * undefined_name\n")
    namespace: dict = {}
    exec(compile(learner.read_text(), str(learner), "exec"), namespace)
    result = _run(namespace, part="double")["double"]
    assert result.status == "error" and result.points == 0
    assert result.message == (
        "your code raised NameError: name 'undefined_name' is not defined\n"
        "in learner_cell.py, line 2: return x * undefined_name"
    )


def test_an_endless_loop_times_out_even_when_the_learner_catches_exceptions():
    def double(x):
        while True:
            try:
                pass
            except Exception:
                pass

    result = _run({"double": double}, part="double")["double"]
    assert result.status == "timeout" and result.points == 0
    assert "0.5 s" in result.message


def test_time_limit_puts_the_previous_alarm_handler_back():
    before = signal.getsignal(signal.SIGALRM)
    with time_limit(5):
        pass
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_check_that_returns_no_feedback_is_reported_as_a_bug_in_the_check():
    result = _run({}, part="sloppy")["sloppy"]
    assert result.status == "error"
    assert "bug in the check" in result.message


def test_check_uses_the_callers_globals_outside_ipython():
    namespace = {"check": check, "VALUE": 3}
    exec("card = check('98_unit', 'value')", namespace)
    card = namespace["card"]
    assert isinstance(card, Card)
    assert (card.score, card.max_score) == (2.0, 2.0)
    assert [r.id for r in card.results] == ["value"]


def test_unknown_parts_and_exercises_say_what_exists():
    with pytest.raises(ValueError, match="its checks are: value, double, sloppy"):
        check(UNIT, "nope", namespace={})
    with pytest.raises(UnknownExerciseError, match="load_checks"):
        check("00_nothing", namespace={})
    assert UNIT in exercise_ids()


def test_registering_again_replaces_the_check():
    register_check(exercise="98_other", id="a", points=1)(lambda ns: Feedback.ok())
    register_check(exercise="98_other", id="a", points=5)(lambda ns: Feedback.fail("no"))
    (only,) = checks_for("98_other")
    assert only.points == 5


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"exercise": "", "id": "a"}, ValueError),
        ({"exercise": "x", "id": ""}, ValueError),
        ({"exercise": "x", "id": "a", "requires": "Linear"}, TypeError),
        ({"exercise": "x", "id": "a", "points": -1}, ValueError),
        ({"exercise": "x", "id": "a", "timeout": 0}, ValueError),
    ],
)
def test_register_check_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        register_check(**kwargs)


def test_load_checks_from_a_file_registers_and_reloads(tmp_path):
    assert load_checks(FIXTURES / "fixture_checks.py") == ["99_fixture"]
    ids = [c.id for c in checks_for("99_fixture")]
    assert ids == ["square", "mean_grad", "answer", "scale"]

    mine = tmp_path / "my_checks.py"
    mine.write_text(
        "from bpkit.grading import Feedback, register_check\n"
        "@register_check(exercise='97_mine', id='one')\n"
        "def one(ns):\n    return Feedback.ok()\n"
        "@register_check(exercise='97_mine', id='two')\n"
        "def two(ns):\n    return Feedback.ok()\n"
    )
    assert load_checks(str(mine)) == ["97_mine"]
    mine.write_text(mine.read_text().split("@register_check(exercise='97_mine', id='two')")[0])
    load_checks(mine)
    assert [c.id for c in checks_for("97_mine")] == ["one"]  # the removed check is gone
    with pytest.raises(FileNotFoundError):
        load_checks(tmp_path / "missing.py")


def test_load_checks_by_module_name(tmp_path, monkeypatch):
    (tmp_path / "course_checks_98.py").write_text(
        "from bpkit.grading import Feedback, register_check\n"
        "@register_check(exercise='96_module', id='only')\n"
        "def only(ns):\n    return Feedback.ok()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_checks("course_checks_98") == ["96_module"]
        assert load_checks("course_checks_98") == ["96_module"]  # reloaded, still there
    finally:
        sys.modules.pop("course_checks_98", None)


def test_every_shipped_exercise_module_registers_its_checks():
    for exercise, module in sorted(MODULES.items()):
        importlib.import_module(module)
        assert checks_for(exercise), f"{module} registers no checks for {exercise!r}"
        assert all(c.exercise == exercise for c in checks_for(exercise))


def _execute_code_cells(nb: dict) -> dict:
    """Run a notebook's code cells (not the check cell) in a fresh namespace, like a kernel."""
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and "check(" not in cell["source"]:
            try:
                exec(compile(cell["source"], f"<cell {i}>", "exec"), namespace)
            except NotImplementedError:
                pass
    return namespace


def test_fixture_solution_gets_full_marks_and_its_student_copy_zero():
    load_checks(FIXTURES / "fixture_checks.py")
    solution = read_notebook(FIXTURES / "99_fixture.ipynb")
    card = check("99_fixture", namespace=_execute_code_cells(solution))
    assert card.passed and card.score == card.max_score == 5

    card = check("99_fixture", namespace=_execute_code_cells(release_notebook(solution)))
    assert card.score == 0 and card.max_score == 5
    assert {r.label for r in card.results} == {"not attempted"}
    assert str(card).count("[not attempted]") == 4
    assert card._repr_html_().count("not attempted") >= 4


def test_common_mistakes_get_the_right_diagnosis_in_the_card():
    load_checks(FIXTURES / "fixture_checks.py")
    solution = read_notebook(FIXTURES / "99_fixture.ipynb")
    namespace = _execute_code_cells(solution)
    namespace["square"] = lambda x: -(x**2)
    namespace["mean_grad"] = lambda x: 2 * x

    class NotAccumulated(namespace["Scale"]):
        def backward(self, grad_output):
            self.weight.grad = (grad_output * self._x).sum(axis=0)
            return grad_output * self.weight.data

    namespace["Scale"] = NotAccumulated
    card = check("99_fixture", namespace=namespace)
    text = str(card)
    assert card.score == 1  # only `answer`
    assert "sign flipped" in text  # the gradient checker's words (bpkit._diagnoses)
    assert "exactly the batch size N (4)" in text
    assert "use += (not =)" in text
    assert "weight.grad after two backward calls has wrong values" in text


@pytest.fixture
def ipython_shell():
    """An in-process IPython shell (what a notebook kernel runs), removed afterwards."""
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    hook = sys.displayhook
    shell = interactiveshell.InteractiveShell.instance()
    try:
        yield shell
    finally:
        interactiveshell.InteractiveShell.clear_instance()
        sys.displayhook = hook


def test_check_in_ipython_reads_the_user_namespace_and_points_at_the_cell(ipython_shell):
    ipython_shell.run_cell(
        "import numpy as np\n"
        "from bpkit.grading import check, load_checks\n"
        f"load_checks({str(FIXTURES / 'fixture_checks.py')!r})\n"
        "ANSWER = 42\n"
    )
    ipython_shell.run_cell("def square(x):\n    w = np.ones((5, 5))\n    return x @ w\n")
    ipython_shell.run_cell("card = check('99_fixture', ['answer', 'square'])")
    card = ipython_shell.user_ns["card"]
    square, answer = card.results  # in the order the checks were registered
    assert answer.status == "passed"
    assert square.status == "error"
    first, second = square.message.splitlines()
    assert first.startswith("your code raised ValueError: matmul")
    assert second.startswith("in Cell In[") and second.endswith(", line 3: return x @ w")


@pytest.mark.parametrize("seconds", [float("inf"), 1e300])
def test_a_limit_longer_than_the_os_timer_means_no_limit(seconds):
    before = signal.getsignal(signal.SIGALRM)
    with time_limit(seconds):
        pass
    assert signal.getsignal(signal.SIGALRM) is before
    result = run_checks(UNIT, {"double": lambda x: 2 * x}, part="double", timeout=seconds)[0]
    assert (result.status, result.message) == ("passed", "well done")
