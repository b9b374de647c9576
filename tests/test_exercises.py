"""Exercises 01-03: solutions grade full marks, student copies zero, mistakes get named.

The solutions and the committed student copies are graded once, by the real grader in
fresh kernels (``bpkit grade``). Everything else runs the checks in-process on a namespace
built from the solution's own cells, with one answer replaced by a common wrong one, and
asserts the diagnosis the learner would read on the card.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import bpkit as bp
from bpkit.grading import check, checks_for, release_notebook
from bpkit.grading._files import notebook_text, read_notebook
from bpkit.grading.cli import main
from bpkit.grading.exercises import MODULES
from bpkit.grading.exercises.ex01_chain_rule import WRONG

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NOTEBOOKS = sorted(MODULES)


def _readme_points() -> dict[str, int]:
    """The points the README's exercise table promises, by exercise id."""
    points = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].strip("`") in MODULES and cells[2].isdigit():
            points[cells[0].strip("`")] = int(cells[2])
    return points


POINTS = _readme_points()


def test_every_exercise_has_a_solution_a_copy_and_a_readme_row_with_its_points():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")) == NOTEBOOKS
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == NOTEBOOKS
    assert POINTS == {ex: sum(c.points for c in checks_for(ex)) for ex in NOTEBOOKS}


def _nb(folder: Path, exercise: str) -> dict:
    return read_notebook(folder / f"{exercise}.ipynb")


def _cell(nb: dict, cell_id: str) -> str:
    return next(c["source"] for c in nb["cells"] if c.get("id") == cell_id)


# -- the real grader, once ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``bpkit grade solutions exercises --json``: the report by (folder, exercise)."""
    out = tmp_path_factory.mktemp("exercises") / "report.json"
    before = {p: p.read_bytes() for folder in (SOLUTIONS, EXERCISES) for p in folder.glob("*")}
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["grade", str(SOLUTIONS), str(EXERCISES), "--jobs", "2", "--json", str(out)])
    after = {p: p.read_bytes() for folder in (SOLUTIONS, EXERCISES) for p in folder.glob("*")}
    report = json.loads(out.read_text())
    by_key = {(Path(n["path"]).parent.name, Path(n["path"]).stem): n for n in report["notebooks"]}
    return {"code": code, "by_key": by_key, "unchanged": before == after}


def test_grading_ran_on_every_notebook_and_changed_none(graded):
    assert graded["code"] == 0
    assert graded["unchanged"]
    assert sorted(graded["by_key"]) == sorted(
        (folder, ex) for folder in ("exercises", "solutions") for ex in NOTEBOOKS
    )


@pytest.mark.parametrize("exercise", NOTEBOOKS)
def test_solution_grades_full_marks(graded, exercise):
    entry = graded["by_key"][("solutions", exercise)]
    assert (entry["score"], entry["max_score"]) == (POINTS[exercise], POINTS[exercise])
    assert {c["status"] for c in entry["checks"]} == {"passed"}


@pytest.mark.parametrize("exercise", NOTEBOOKS)
def test_untouched_student_copy_grades_zero_as_not_attempted(graded, exercise):
    entry = graded["by_key"][("exercises", exercise)]
    assert (entry["score"], entry["max_score"]) == (0, POINTS[exercise])
    assert {c["status"] for c in entry["checks"]} == {"failed"}  # no error, timeout, not-run
    assert all(c["message"].startswith("not attempted") for c in entry["checks"])


# -- the notebooks as files -----------------------------------------------------------------------


def test_committed_student_copies_are_fresh():
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["release", "--check", str(SOLUTIONS), str(EXERCISES)]) == 0


@pytest.mark.parametrize("exercise", NOTEBOOKS)
def test_notebooks_name_their_exercise_and_copies_hide_every_answer(exercise):
    solution, student = _nb(SOLUTIONS, exercise), _nb(EXERCISES, exercise)
    assert exercise in MODULES
    assert solution["metadata"]["bpkit"] == student["metadata"]["bpkit"] == {"exercise": exercise}
    answers = [c for c in solution["cells"] if "### BEGIN SOLUTION" in c["source"]]
    assert answers
    for cell in answers:
        copy = _cell(student, cell["id"])
        assert "BEGIN SOLUTION" not in copy and "raise NotImplementedError()" in copy
    assert notebook_text(release_notebook(solution)) == notebook_text(student)


@pytest.mark.parametrize("exercise", NOTEBOOKS)
def test_stored_solution_outputs_show_full_marks_in_every_check_cell(exercise):
    nb = _nb(SOLUTIONS, exercise)
    cells = [c for c in nb["cells"] if "bpkit-check" in c["metadata"].get("tags", [])]
    assert len(cells) >= 3
    for cell in cells:
        text = "".join(
            "".join(o["data"]["text/plain"]) for o in cell["outputs"] if "data" in o
        )
        head = text.splitlines()[0]
        score, total = head.split(": ")[1].split(" ")[0].split("/")
        assert score == total, head
        assert "[passed]" in text and "failed" not in text
    full = _cell(nb, "check-all")
    assert full.strip() == f'check("{exercise}")'
    assert sum(c.points for c in checks_for(exercise)) == POINTS[exercise]


# -- 01: the chain rule ---------------------------------------------------------------------------


def _ex01(**answers: str) -> dict:
    """The four right derivatives, with some replaced by the given expressions of x."""
    right = {
        "d_sin_square": "np.cos(x**2) * 2 * x",
        "d_x_gauss": "(1 - 2 * x**2) * np.exp(-x**2)",
        "d_softplus": "1 / (1 + np.exp(-x))",
        "d_three_links": "np.cos(np.log(1 + x**2)) / (1 + x**2) * 2 * x",
    }
    right.update(answers)
    ns: dict = {"np": np, "math": math}
    for name, expr in right.items():
        exec(f"def {name}(x):\n    return {expr}\n", ns)
    return ns


def _card(exercise: str, ns: dict, part: str):
    return check(exercise, part, namespace=ns).results[0]


def test_ex01_right_answers_score_nine():
    card = check("01_chain_rule", namespace=_ex01())
    assert card.score == 9 and card.passed


@pytest.mark.parametrize(
    ("part", "name", "wrong", "diagnosis"),
    [
        ("sin_square", "d_sin_square", "np.cos(x**2)", "forgot the inner derivative"),
        ("sin_square", "d_sin_square", "2 * x * np.cos(x)",
         "outer derivative is evaluated at x"),
        ("sin_square", "d_sin_square", "2 * x * np.sin(x**2)", "used the forward value"),
        ("sin_square", "d_sin_square", "-2 * x * np.cos(x**2)", "sign error"),
        ("sin_square", "d_sin_square", "np.sin(x**2)", "the function's forward value"),
        ("x_gauss", "d_x_gauss", "np.exp(-x**2)", "only the first term of the product rule"),
        ("x_gauss", "d_x_gauss", "(1 + x) * np.exp(-x**2)", "forgot the inner derivative"),
        ("x_gauss", "d_x_gauss", "(1 + 2 * x**2) * np.exp(-x**2)",
         "sign error in the inner derivative"),
        ("softplus", "d_softplus", "1 / (1 + np.exp(x))", "forgot the inner derivative"),
        ("softplus", "d_softplus", "np.exp(x) * np.log(1 + np.exp(x))",
         "used the forward value"),
        ("three_links", "d_three_links", "np.cos(np.log(1 + x**2)) / (1 + x**2)",
         "forgot the innermost link"),
        ("three_links", "d_three_links", "np.cos(np.log(1 + x**2)) * 2 * x",
         "forgot the middle link"),
        ("three_links", "d_three_links", "np.cos(1 + x**2) / (1 + x**2) * 2 * x",
         "evaluated at u = 1 + x²"),
        ("three_links", "d_three_links", "np.sin(np.log(1 + x**2)) / (1 + x**2) * 2 * x",
         "used the forward value sin(v)"),
    ],
)
def test_ex01_common_mistakes_are_named(part, name, wrong, diagnosis):
    result = _card("01_chain_rule", _ex01(**{name: wrong}), part)
    assert result.status == "failed" and result.points == 0
    assert diagnosis in result.why[0]
    assert "numerical derivative" in result.message


@pytest.mark.parametrize(
    ("part", "index"), [(p, i) for p, items in WRONG.items() for i in range(len(items))]
)
def test_ex01_every_recognised_wrong_answer_is_named_by_its_own_words(part, index):
    wrong, meaning = WRONG[part][index]
    ns = _ex01()
    ns[f"d_{part}"] = wrong
    result = _card("01_chain_rule", ns, part)
    assert result.status == "failed" and result.why[0] == meaning


def test_ex01_scalar_only_code_and_in_place_changes_are_explained():
    ns = _ex01(d_sin_square="math.cos(x**2) * 2 * x")
    result = _card("01_chain_rule", ns, "sin_square")
    assert "works on single numbers but not on a NumPy array" in result.message
    exec("def d_x_gauss(x):\n    x *= x\n    return x\n", ns)
    result = _card("01_chain_rule", ns, "x_gauss")
    assert "changed its input x in place" in result.message


# -- 02: Value backward ---------------------------------------------------------------------------

RIGHT_RULES = ("answer-add", "answer-mul", "answer-pow", "answer-exp", "answer-tanh",
               "answer-backprop")


def _ex02(replace: str = "") -> dict:
    """The solution's Value class and rules, then ``replace`` (a wrong rule) on top."""
    nb = _nb(SOLUTIONS, "02_value_backward")
    ns: dict = {"math": math, "bp": bp}
    for cell_id in ("value-class", *RIGHT_RULES):
        exec(_cell(nb, cell_id), ns)
    exec(replace, ns)
    return ns


def test_ex02_solution_cells_score_thirteen_and_stubs_are_not_attempted():
    assert check("02_value_backward", namespace=_ex02()).score == 13
    student = release_notebook(_nb(SOLUTIONS, "02_value_backward"))
    ns: dict = {"math": math, "bp": bp}
    for cell_id in ("value-class", *RIGHT_RULES):
        exec(_cell(student, cell_id), ns)
    card = check("02_value_backward", namespace=ns)
    assert card.score == 0
    assert {r.label for r in card.results} == {"not attempted"}


BACKPROP = """
def backprop(root):
    topo, visited = [], set()
    def build(v):
        if {guard}v not in visited:
            visited.add(v)
            {pre}for child in v._prev:
                build(child)
            {post}
    build(root)
    {seed}
    for v in {loop}:
        v._backward()
"""


def _backprop(guard="", pre="", post="topo.append(v)", seed="root.grad = 1.0",
              loop="reversed(topo)") -> str:
    return BACKPROP.format(guard=guard, pre=pre, post=post, seed=seed, loop=loop)


@pytest.mark.parametrize(
    ("part", "wrong", "diagnosis"),
    [
        ("add", "def add_backward(a, b, out):\n    a.grad = out.grad\n    b.grad = out.grad\n",
         "`=` instead of `+=`"),
        ("add", "def add_backward(a, b, out):\n    a.grad += 1.0\n    b.grad += 1.0\n",
         "forgot to multiply by out.grad"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += a.data * out.grad\n"
                "    b.grad += b.data * out.grad\n", "d(a·b)/da = b (the OTHER operand)"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad = b.data * out.grad\n"
                "    b.grad = a.data * out.grad\n", "`=` instead of `+=`"),
        ("mul", "def mul_backward(a, b, out):\n"
                "    a.grad, b.grad = a.grad + b.data * out.grad, b.grad + a.data * out.grad\n",
         "a node used twice"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad -= b.data * out.grad\n"
                "    b.grad -= a.data * out.grad\n", "sign error"),
        ("add", "def add_backward(a, b, out):\n    a.grad += out.data * out.grad\n"
                "    b.grad += out.data * out.grad\n", "used the forward value out.data"),
        ("add", "def add_backward(a, b, out):\n    a.grad += b.data * out.grad\n"
                "    b.grad += a.data * out.grad\n", "used the rule of * (the other operand)"),
        ("add", "def add_backward(a, b, out):\n    a.grad -= out.grad\n    b.grad -= out.grad\n",
         "sign error"),
        ("add", "def add_backward(a, b, out):\n"
                "    a.grad, b.grad = a.grad + out.grad, b.grad + out.grad\n",
         "a node used twice"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b.data\n    b.grad += a.data\n",
         "forgot to multiply by out.grad"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += out.data * out.grad\n"
                "    b.grad += out.data * out.grad\n", "used the forward value out.data = a·b"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += out.grad\n    b.grad += out.grad\n",
         "used the rule of + for *"),
        ("mul", "def mul_backward(a, b, out):\n    a.grad += b.data * out.grad\n",
         "wrong gradient for b"),
        ("mul", "def mul_backward(a, b, out):\n    out.grad = b.data * out.grad\n"
                "    a.grad += out.grad\n    b.grad += a.data * out.grad\n",
         "changed out.grad"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad = k * a.data**(k - 1) * out.grad\n",
         "`=` instead of `+=`"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad += k * a.data**(k - 1)\n",
         "forgot to multiply by out.grad"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad += out.data * out.grad\n",
         "used the forward value out.data = a^k"),
        ("pow", "def pow_backward(a, k, out):\n"
                "    a.grad += (k - 1) * a.data**(k - 1) * out.grad\n",
         "the factor is k, not k - 1"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad -= k * a.data**(k - 1) * out.grad\n",
         "sign error"),
        ("exp", "def exp_backward(a, out):\n    a.grad = out.data * out.grad\n",
         "`=` instead of `+=`"),
        ("exp", "def exp_backward(a, out):\n    a.grad += out.data\n",
         "forgot to multiply by out.grad"),
        ("exp", "def exp_backward(a, out):\n    a.grad += out.grad\n",
         "the local derivative is e^a (= out.data), not 1"),
        ("exp", "def exp_backward(a, out):\n    a.grad -= out.data * out.grad\n", "sign error"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad = (1 - out.data**2) * out.grad\n",
         "`=` instead of `+=`"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += (1 - out.data) * out.grad\n",
         "the square is missing"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += out.data**2 * out.grad\n",
         'the "1 -" is missing'),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += (out.data**2 - 1) * out.grad\n",
         "sign error"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad += k * a.data**k * out.grad\n",
         "the exponent is not lowered"),
        ("pow", "def pow_backward(a, k, out):\n    a.grad += a.data**(k - 1) * out.grad\n",
         "the factor k is missing"),
        ("exp", "def exp_backward(a, out):\n    a.grad += a.data * out.grad\n",
         "used the input a.data where the derivative was needed"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += (1 - a.data**2) * out.grad\n",
         "used the input a where the output t = tanh(a) belongs"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += out.data * out.grad\n",
         "used the forward value tanh(a)"),
        ("tanh", "def tanh_backward(a, out):\n    a.grad += 1 - out.data**2\n",
         "forgot to multiply by out.grad"),
        ("backprop", _backprop(loop="topo"), "loop over reversed(topo)"),
        ("backprop", _backprop(pre="topo.append(v)\n            ", post=""),
         "appended to topo before its children are visited (pre-order)"),
        ("backprop", _backprop(guard="True or "), "keep a `visited` set"),
        ("backprop", _backprop(seed="pass"), "set root.grad = 1.0"),
        ("backprop", _backprop(loop="[]"), "loop over the nodes and call v._backward()"),
        ("backprop", _backprop(pre="", post="topo.append(v)").replace("v._prev:", "v._prev[:1]:"),
         "visit all the children of each node"),
        ("backprop", _backprop(seed="for v in topo:\n        v.grad = 1.0"),
         "do not reset or change other gradients"),
    ],
)
def test_ex02_common_mistakes_are_named(part, wrong, diagnosis):
    ns = _ex02(wrong)
    result = _card("02_value_backward", ns, part)
    assert result.status == "failed" and result.points == 0
    assert any(diagnosis in w for w in result.why), result.why
    # the whole class then disagrees with bpkit.Value, and the card says which part to fix
    together = _card("02_value_backward", ns, "expressions")
    assert together.status == "failed"
    assert f"fail their own checks (see above): {part}" in together.why[0]


def test_ex02_refuses_bpkit_value():
    ns = _ex02()
    ns["Value"] = bp.Value
    result = _card("02_value_backward", ns, "expressions")
    assert result.status == "failed" and "bpkit's own Value" in result.message


# -- 03: Linear ------------------------------------------------------------------------------------

FORWARD = "return x @ self.weight.data.T + self.bias.data"
WEIGHT = "self.weight.grad += grad_output.T @ self._x"
BIAS = "self.bias.grad += grad_output.sum(axis=0)"
DX = "return grad_output @ self.weight.data"


def _ex03(old: str = "", new: str = "") -> dict:
    """The solution's Linear, with the line ``old`` replaced by ``new``."""
    source = _cell(_nb(SOLUTIONS, "03_linear_layer"), "answer-linear")
    if old:
        assert source.count(old) == 1
        source = source.replace(old, new)
    ns: dict = {"np": np, "bp": bp}
    exec(source, ns)
    return ns


def test_ex03_solution_scores_nine_and_bpkit_linear_is_refused():
    assert check("03_linear_layer", namespace=_ex03()).score == 9
    for impostor in ("Linear = bp.Linear", "class Linear(bp.Linear):\n    pass"):
        ns = _ex03()
        exec(impostor, ns)
        card = check("03_linear_layer", namespace=ns)
        assert card.score == 0
        assert all("bpkit's own layer (bp.Linear)" in r.message for r in card.results)


@pytest.mark.parametrize(
    ("part", "old", "new", "diagnosis"),
    [
        ("forward", FORWARD, "return x @ self.weight.data.T", "forgot to add the bias"),
        ("forward", FORWARD, "return x @ self.weight.data + self.bias.data",
         "used W where W.T is needed"),
        ("forward", FORWARD, "x -= 1.0\n        return (x + 1.0) @ self.weight.data.T + "
                             "self.bias.data", "input modified in place"),
        ("forward", FORWARD, "return x @ self.weight.data.T - self.bias.data",
         "the bias is subtracted"),
        ("forward", FORWARD, "return None", "nothing was returned"),
        ("backward_input", DX, "return self._x", "returned the input x"),
        ("backward_input", DX, "return grad_output @ self.weight.data / len(grad_output)",
         "divided by N inside the layer"),
        ("backward_input", DX, "return -(grad_output @ self.weight.data)", "the sign is flipped"),
        ("backward_input", FORWARD, "return x @ self.weight.data + self.bias.data",
         "so the product is x @ W.T"),
        ("weight_grad", WEIGHT, "self.weight.grad += self._x.T @ grad_output", "transposed"),
        ("gradcheck", WEIGHT, "self.weight.grad += self._x.T @ grad_output",
         "your weight gradient is wrong (see the `weight_grad` check: "),
        ("bias_grad", BIAS, "self.bias.grad += grad_output",
         "bias gradient was not summed over the batch"),
        ("bias_grad", BIAS, "self.bias.grad = self.bias.grad + grad_output",
         "bias gradient was not summed over the batch"),
        ("weight_grad", WEIGHT, WEIGHT + " / len(self._x)", "divided by N = 4 inside the layer"),
        ("gradcheck", WEIGHT, WEIGHT + " / len(self._x)",
         "your weight gradient is wrong (see the `weight_grad` check: divided by N"),
        ("backward_input", DX, "dx = grad_output @ self.weight.data",
         "forgot to return dx"),
        ("backward_input", DX, "return grad_output @ self.weight.data.T",
         "dx computed with W.T"),
        ("weight_grad", WEIGHT, "self.weight.grad = grad_output.T @ self._x",
         "overwrote weight.grad instead of accumulating"),
        ("bias_grad", BIAS, "self.bias.grad = grad_output.sum(axis=0)",
         "overwrote bias.grad instead of accumulating"),
        ("gradcheck", BIAS, "self.bias.grad = grad_output.sum(axis=0)",
         "your bias gradient is wrong (see the `bias_grad` check: overwrote bias.grad"),
        ("backward_input", DX, "grad_output *= 1.5\n        return grad_output @ self.weight.data",
         "backward changed grad_output in place"),
    ],
)
def test_ex03_common_mistakes_are_named(part, old, new, diagnosis):
    result = _card("03_linear_layer", _ex03(old, new), part)
    assert result.status == "failed" and result.points == 0
    assert any(diagnosis in line for line in [result.message, *result.why]), (
        result.message, result.why)


def test_ex03_untouched_class_is_not_attempted():
    student = release_notebook(_nb(SOLUTIONS, "03_linear_layer"))
    ns: dict = {"np": np, "bp": bp}
    exec(_cell(student, "answer-linear"), ns)
    card = check("03_linear_layer", namespace=ns)
    assert card.score == 0
    assert {r.label for r in card.results} == {"not attempted"}


def test_ex03_a_class_breaking_the_contract_is_told_what_the_contract_is():
    ns = _ex03()
    exec("class Linear:\n    pass\n", ns)
    assert "must be a class that subclasses bp.Module" in _card("03_linear_layer", ns,
                                                                "forward").message
    ns = _ex03('self.weight = bp.Parameter(w, "weight")', 'self.W = bp.Parameter(w, "weight")')
    assert "has no Parameter `weight`" in _card("03_linear_layer", ns, "forward").message
    ns = _ex03('self.weight = bp.Parameter(w, "weight")',
               'self.weight = bp.Parameter(w.T, "weight")')
    result = _card("03_linear_layer", ns, "forward")
    assert "Linear(3, 2).weight has shape (3, 2)" in result.message
    assert "(out, in)" in result.why[0]


def test_ex03_backward_returning_a_tuple_is_a_failed_check_not_an_error():
    result = _card("03_linear_layer", _ex03(DX, DX + ", None"), "backward_input")
    assert result.status == "failed" and result.points == 0
    assert "got a tuple" in result.why[0]


def test_ex03_forward_that_keeps_no_input_is_told_so_not_about_shapes():
    ns = _ex03("self._x = x\n        ", "")
    for part in ("backward_input", "weight_grad"):
        result = _card("03_linear_layer", ns, part)
        assert result.status == "failed"
        assert "not an array but None" in result.why[0]
        assert "self._x = x" in result.why[0]


def test_ex02_backprop_without_any_sort_is_told_to_build_the_order_not_a_visited_set():
    # the rules called while walking down from the root: d runs before e has added its share
    walk = ("def backprop(root):\n    root.grad = 1.0\n    def go(v):\n        v._backward()\n"
            "        for child in v._prev:\n            go(child)\n    go(root)\n")
    result = _card("02_value_backward", _ex02(walk), "backprop")
    assert result.status == "failed"
    assert "there is no topological order" in result.why[0]
    # a post-order without a visited set still gets the visited-set diagnosis
    result = _card("02_value_backward", _ex02(_backprop(guard="True or ")), "backprop")
    assert "keep a `visited` set" in result.why[0] and "no topological order" not in result.why[0]


def test_ex02_a_breadth_first_order_fails_the_expressions_too():
    bfs = ("def backprop(root):\n    root.grad = 1.0\n    queue, seen = [root], {root}\n"
           "    while queue:\n        v = queue.pop(0)\n        v._backward()\n"
           "        for child in v._prev:\n            if child not in seen:\n"
           "                seen.add(child)\n                queue.append(child)\n")
    ns = _ex02(bfs)
    assert _card("02_value_backward", ns, "backprop").status == "failed"
    together = _card("02_value_backward", ns, "expressions")
    assert together.status == "failed"
    assert "fail their own checks (see above): backprop" in together.why[0]
