"""Exercise 08 (optimisers): the solution scores full marks, every recognised mistake is named.

The checks run in-process on a namespace built from the solution notebook's answer cells,
with one rule replaced by a recognised wrong one (``WRONG``), and the tests assert the
diagnosis the learner reads. CS231n's published numbers are reproduced by bp.optim.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pytest
from exercise_helpers import assert_named, cell, edited, first_result, namespace, solution

import bpkit as bp
from bpkit.grading import check, checks_for, release_notebook
from bpkit.grading.exercises.ex08_optimizers import (
    CS231N,
    FUNCTIONS,
    STATE_KEYS,
    WRONG,
    WRONG_DTYPE,
    reference_run,
    scenarios,
)

EXERCISE = "08_optimizers"
ANSWERS = ("answer-momentum", "answer-rmsprop", "answer-adam")


def _ns(notebook: dict | None = None) -> dict:
    nb = solution(EXERCISE) if notebook is None else notebook
    return namespace(*(cell(nb, cell_id) for cell_id in ANSWERS))


_result = partial(first_result, EXERCISE)


def test_solution_scores_eleven_and_stubs_are_not_attempted():
    card = check(EXERCISE, namespace=_ns())
    assert card.score == 11 == sum(c.points for c in checks_for(EXERCISE))
    assert all(r.passed for r in card.results)
    stub = check(EXERCISE, namespace=_ns(release_notebook(solution(EXERCISE))))
    assert stub.score == 0 and {r.label for r in stub.results} == {"not attempted"}


@pytest.mark.parametrize("function", list(CS231N))
def test_bpkit_optimizers_reproduce_cs231n_published_numbers(function):
    lr, before, next_w, after = CS231N[function]
    first = scenarios(function)[0]
    assert first.hyper == {"lr": lr} and first.state.keys() == before.keys()
    params, state = reference_run(function, first)
    assert bp.rel_error(params[0], next_w) < 2e-7
    for key, value in after.items():
        if key == "step":
            assert state[key] == value == 6
        else:
            assert bp.rel_error(state[key], value) < 1e-7


def test_cs231n_velocity_is_minus_lr_times_the_buffer():
    lr, before, _, after = CS231N["sgd_momentum"]
    velocity = np.linspace(0.6, 0.9, num=20).reshape(4, 5)
    np.testing.assert_allclose(-lr * before["momentum_buffer"], velocity, rtol=1e-15)
    assert -lr * after["momentum_buffer"][0, 0] == pytest.approx(0.5406, abs=1e-12)


@pytest.mark.parametrize(
    ("part", "index"), [(p, i) for p, items in WRONG.items() for i in range(len(items))])
def test_every_recognised_wrong_answer_is_named_by_its_own_words(part, index):
    wrong, meaning = WRONG[part][index]
    ns = _ns()
    ns[FUNCTIONS[part]] = wrong
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0
    assert result.why[0] == meaning, (result.message, result.why)


def test_the_wrong_answers_have_distinct_sentences_and_at_least_six_per_rule():
    meanings = [m for items in WRONG.values() for _, m in items]
    assert len(meanings) == len(set(meanings))
    assert all(len(items) >= 6 for items in WRONG.values())


@pytest.mark.parametrize("index", range(len(WRONG_DTYPE)))
def test_upcasting_float32_is_named(index):
    name, wrong, meaning = WRONG_DTYPE[index]
    ns = _ns()
    ns[name] = wrong
    result = _result(ns, "float32")
    assert result.status == "failed" and result.why == [meaning]
    assert _result(ns, name).passed  # float64 values are right: only the dtype check fails


def test_a_state_under_other_names_is_told_pytorchs_names():
    ns = _ns()
    source = cell(solution(EXERCISE), "answer-rmsprop").replace('"square_avg"', '"cache"')
    exec(source, ns)
    result = _result(ns, "rmsprop")
    assert result.status == "failed"
    assert "state has no 'square_avg'" in result.why[0]


def test_wrong_defaults_are_told_apart_from_wrong_formulas():
    ns = _ns()
    source = cell(solution(EXERCISE), "answer-adam").replace("0.999", "0.99")
    exec(source, ns)
    result = _result(ns, "adam")
    assert result.status == "failed"
    assert "right when every hyper-parameter is given, wrong with the defaults" in result.why[0]


def test_an_exception_in_the_rule_is_an_error_pointing_at_the_line():
    ns = _ns()
    exec("def sgd_momentum(param, grad, state, lr, momentum=0.9):\n"
         "    return param - lr * state['momentum_buffer']\n", ns)
    result = _result(ns, "sgd_momentum")
    assert result.status == "error" and "KeyError" in result.message


def test_returning_nothing_is_explained():
    ns = _ns()
    exec("def adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
         "    param -= lr * grad\n", ns)
    result = _result(ns, "adam")
    assert result.status == "failed"  # param was changed in place, and nothing returned
    exec("def adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
         "    state['step'] = 1\n", ns)
    result = _result(ns, "adam")
    assert result.status == "failed" and "nothing was returned" in result.why[0]


def test_returning_a_list_is_named_not_blamed_on_the_buffer():
    ns = _ns()
    exec("def sgd_momentum(param, grad, state, lr, momentum=0.9):\n"
         "    b = momentum * state.get('momentum_buffer', np.zeros_like(param)) + grad\n"
         "    state['momentum_buffer'] = b\n"
         "    return (param - lr * b).tolist()\n", ns)
    result = _result(ns, "sgd_momentum")
    assert result.status == "failed" and "returned list, not an array" in result.message
    assert not any("momentum_buffer" in line for line in [result.message, *result.why])


@pytest.mark.parametrize("function", list(FUNCTIONS.values()))
def test_the_checks_do_not_modify_the_scenarios(function):
    before = copy.deepcopy(scenarios(function))
    check(EXERCISE, namespace=_ns())
    after = scenarios(function)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a.param, b.param)
        np.testing.assert_array_equal(a.grads, b.grads)
    assert set(STATE_KEYS[function]) >= set(before[0].state)


def test_torch_agrees_on_the_from_zero_scenario():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    ns = _ns()
    for function, make in (
        ("sgd_momentum", lambda p, h: torch.optim.SGD([p], lr=h["lr"], momentum=h["momentum"])),
        ("rmsprop", lambda p, h: torch.optim.RMSprop([p], **h)),
        ("adam", lambda p, h: torch.optim.Adam([p], **h)),
    ):
        scenario = scenarios(function)[1]
        p = torch.tensor(scenario.param.copy(), requires_grad=True)
        opt = make(p, scenario.hyper)
        param, state = scenario.param.copy(), {}
        for g in scenario.grads:
            p.grad = torch.tensor(g.copy())
            opt.step()
            param = ns[function](param, g.copy(), state, **scenario.hyper)
        np.testing.assert_allclose(param, p.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("edits", "diagnosis"),
    [
        ([("m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)",
           "m_hat = m / (1 - beta1**(t - 1))\n    v_hat = v / (1 - beta2**(t - 1))")],
         "the bias correction used the step count before this step (t − 1"),
        ([("m_hat = m / (1 - beta1**t)", "m_hat = m / (1 - beta1**(t - 1))")],
         "m̂'s bias correction used t − 1 (v̂'s is right)"),
        ([("v_hat = v / (1 - beta2**t)", "v_hat = v / (1 - beta2**(t - 1))")],
         "v̂'s bias correction used t − 1 (m̂'s is right)"),
        ([('t = state.get("step", 0) + 1\n', 't = state.get("step", 0) + 1\n    t = t - 1\n')],
         "used and stored t − 1"),
    ],
)
def test_a_step_counter_off_by_one_is_named(edits, diagnosis):
    nb = solution(EXERCISE)
    ns = namespace(cell(nb, "answer-momentum"), cell(nb, "answer-rmsprop"),
                   edited(cell(nb, "answer-adam"), edits))
    result = first_result(EXERCISE, ns, "adam")
    assert result.status == "failed"
    assert result.why[0].startswith(diagnosis), result.why


ADAM_STEP = "lr * m_hat / (np.sqrt(v_hat) + eps)"
RMS_AVG = 'alpha * state.get("square_avg", np.zeros_like(param)) + (1 - alpha) * grad**2'
M_HAT, V_HAT = "m_hat = m / (1 - beta1**t)", "v_hat = v / (1 - beta2**t)"


@pytest.mark.parametrize(
    ("cell_id", "edits", "check_id", "words"),
    [
        ("answer-momentum", [("buffer = grad.copy()", "buffer = -grad.copy()"),
                             ('state["momentum_buffer"] + grad', 'state["momentum_buffer"] - grad'),
                             ("return param - lr * buffer", "return param + lr * buffer")],
         "sgd_momentum", "stored −b (b = μb − g, stepped θ + ηb)"),
        ("answer-rmsprop", [("(1 - alpha) * grad**2", "(1 - alpha) * grad")], "rmsprop",
         "the running average is of g, not of g²"),
        ("answer-rmsprop", [(RMS_AVG, 'alpha * state["square_avg"] + (1 - alpha) * grad**2 '
                                      'if "square_avg" in state else grad**2')], "rmsprop",
         "the first running average is g² itself"),
        ("answer-rmsprop", [("lr * grad / (np.sqrt(square_avg) + eps)",
                             "lr * grad / np.sqrt(square_avg) + eps")], "rmsprop",
         "ε is added to the parameter, after the division"),
        ("answer-adam", [(ADAM_STEP, "lr * m / (np.sqrt(v_hat) + eps)")], "adam",
         "the step uses the raw m"),
        ("answer-adam", [(ADAM_STEP, "lr * m_hat / (np.sqrt(v) + eps)")], "adam",
         "the step divides by the raw √v"),
        ("answer-adam", [(M_HAT, "m_hat = m / (1 - beta1 * t)"),
                         (V_HAT, "v_hat = v / (1 - beta2 * t)")], "adam",
         "the correction is 1 − β·t where 1 − βᵗ belongs"),
        ("answer-adam", [(M_HAT, "m_hat = m / 1 - beta1**t"), (V_HAT, "v_hat = v / 1 - beta2**t")],
         "adam", "m / 1 - beta1**t is (m / 1) − β₁ᵗ"),
        ("answer-adam", [(ADAM_STEP, "lr * m_hat / np.sqrt(v_hat) + eps")], "adam",
         "ε is added to the parameter, after the division: put the denominator in parentheses, "
         "θ − η·m̂/(√v̂ + ε)"),
        ("answer-adam", [('t = state.get("step", 0) + 1', 't = state.get("step", 0.0) + 1')],
         "adam", "state['step'] counts the steps taken so far, as an int"),
        ("answer-adam", [('m = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) '
                          '* grad', 'm = beta1 * state["exp_avg"] + (1 - beta1) * grad if '
                          '"exp_avg" in state else grad.copy()'),
                         ('v = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2)'
                          ' * grad**2', 'v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2 '
                          'if "exp_avg_sq" in state else grad**2')], "adam",
         "m and v start at g and g² (like momentum's buffer)"),
        # a default the scenarios never use (they pass lr) is still the contract's
        ("answer-adam", [("lr=1e-3", "lr=1e-2")], "adam",
         "the default of lr in the def line is 0.01: the contract's (PyTorch's) is lr=0.001"),
        ("answer-rmsprop", [("lr=1e-2", "lr=1e-3")], "rmsprop",
         "the default of lr in the def line is 0.001"),
    ],
)
def test_more_wrong_rules_are_named(cell_id, edits, check_id, words):
    nb = solution(EXERCISE)
    sources = [edited(cell(nb, c), edits) if c == cell_id else cell(nb, c) for c in ANSWERS]
    card = check(EXERCISE, namespace=namespace(*sources))
    # one slip costs its own rule only (and float32 keeps its point)
    assert_named(card, 11 - {"sgd_momentum": 3, "rmsprop": 3, "adam": 4}[check_id],
                 {check_id: words})
