"""Exercise 07: the solution scores full marks in-process, every recognised mistake is named.

Each wrong answer is the solution's own cells with one line changed, run through the same
checks the notebook runs; the test asserts the sentence the learner reads on the card.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest
from exercise_helpers import (
    MODEL_HELPERS,
    assert_named,
    first_result,
    joined_answers,
    namespace,
    solution,
)

import bpkit as bp
from bpkit.grading import check, release_notebook
from bpkit.grading.exercises.ex07_train_an_mlp import WRONG

EXERCISE = "07_train_an_mlp"
ANSWERS = ("answer-model", "answer-step", "answer-epoch", "answer-train")


def _ns(old: str | tuple = "", new: str | tuple = "", *, nb: dict | None = None) -> dict:
    """The solution's answers (or ``nb``'s), with the text ``old`` replaced by ``new``.

    ``old`` and ``new`` may be tuples of texts, replaced pair by pair.
    """
    return namespace(joined_answers(nb or solution(EXERCISE), ANSWERS, old, new))


_result = partial(first_result, EXERCISE)


FORWARD = "    logits = model(Xb)\n"
LOSS = "    loss = loss_fn(logits, yb)\n"
ZERO = "    optimizer.zero_grad()\n"
BACKWARD = "    model.backward(loss_fn.backward())\n"
STEP = "    optimizer.step()\n"
STEP_BODY = FORWARD + LOSS + ZERO + BACKWARD + STEP
LOOP = ("    for Xb, yb in bp.batches(X, y, batch_size, rng=rng):\n"
        "        total += train_step(model, loss_fn, optimizer, Xb, yb) * len(Xb)\n"
        "    return total / len(X)\n")
MODEL = ("bp.Linear(2, 32, rng=rng), bp.ReLU(),\n        bp.Linear(32, 32, rng=rng), bp.ReLU(),\n"
         "        bp.Linear(32, 3, rng=rng),")
TRAIN_OPT = "bp.optim.Adam(model.parameters(), lr=0.01)"
BATCHES = "bp.batches(X, y, batch_size, rng=rng)"


def _loop(body: str) -> str:
    return "    total = 0.0\n" + body


# key -> (check id, old text, new text): one wrong answer per recognised mistake
CASES: dict[str, tuple[str, Any, Any]] = {
    "not_module": ("model", "bp.Linear(32, 3, rng=rng),\n    )",
                   "bp.Linear(32, 3, rng=rng),\n    ).layers"),
    "input_size": ("model", "bp.Linear(2, 32, rng=rng)", "bp.Linear(3, 32, rng=rng)"),
    "output_size": ("model", "bp.Linear(32, 3, rng=rng)", "bp.Linear(32, 2, rng=rng)"),
    "linear": ("model", MODEL, "bp.Linear(2, 32, rng=rng), bp.Linear(32, 3, rng=rng),"),
    "softmax_output": ("model", "bp.Linear(32, 3, rng=rng),",
                       "bp.Linear(32, 3, rng=rng), Softmax(),"),
    "init_scale": ("model", "bp.Linear(32, 3, rng=rng),\n    )",
                   "bp.Linear(32, 3, rng=rng),\n    ).astype(np.float64) if False else big(\n"
                   "        bp.Sequential(bp.Linear(2, 32, rng=rng), bp.ReLU(), "
                   "bp.Linear(32, 3, rng=rng)))"),
    "rng_ignored": ("model", "bp.Linear(2, 32, rng=rng)", "bp.Linear(2, 32)"),
    "rng_fixed": ("model", "    return bp.Sequential(", "    rng = 0\n    return bp.Sequential("),
    "too_big": ("model", MODEL, "bp.Linear(2, 200, rng=rng), bp.ReLU(),\n"
                "        bp.Linear(200, 200, rng=rng), bp.ReLU(), bp.Linear(200, 3, rng=rng),"),
    "softmax_before_loss": ("train_step", LOSS, "    loss = loss_fn(bp.softmax(logits), yb)\n"),
    "no_backward": ("train_step", BACKWARD, "    loss_fn.backward()\n"),
    "no_step": ("train_step", STEP, ""),
    "no_zero_grad": ("train_step", ZERO, ""),
    "zero_grad_after_backward": ("train_step", ZERO + BACKWARD, BACKWARD + ZERO),
    "step_before_backward": ("train_step", BACKWARD + STEP, STEP + BACKWARD),
    "backward_twice": ("train_step", BACKWARD, BACKWARD + BACKWARD),
    "ascent": ("train_step", STEP, "    for p in model.parameters():\n"
               "        p.data += optimizer.lr * p.grad\n"),
    "own_optimizer": ("train_step", STEP,
                      "    bp.optim.SGD(model.parameters(), lr=0.1).step()\n"),
    "activation_output": ("model", "bp.Linear(32, 3, rng=rng),\n    )",
                          "bp.Linear(32, 3, rng=rng), bp.ReLU(),\n    )"),
    "backward_logits": ("train_step", BACKWARD,
                        "    loss_fn.backward()\n    model.backward(logits)\n"),
    "loss_backward_argument": ("train_step", BACKWARD,
                               "    model.backward(loss_fn.backward(loss))\n"),
    "divided_by_batch_size": ("train_epoch", "    return total / len(X)\n",
                              "    return total / batch_size\n"),
    "own_model": ("loss_falls", "    loss_fn = bp.CrossEntropyLoss()\n",
                  "    loss_fn = bp.CrossEntropyLoss()\n    model = make_model(rng)\n"),
    "backward_loss_value": ("train_step", BACKWARD, "    model.backward(loss)\n"),
    "returns_none": ("train_step", "    return loss\n", "    return None\n"),
    "returns_after": ("train_step", "    return loss\n",
                      "    return loss_fn(model(Xb), yb)\n"),
    "full_batch": ("train_epoch", "bp.batches(X, y, batch_size, rng=rng)",
                   "bp.batches(X, y, len(X), rng=rng)"),
    "dropped_last": ("train_epoch", "bp.batches(X, y, batch_size, rng=rng)",
                     "list(bp.batches(X, y, batch_size, rng=rng))[:len(X) // batch_size]"),
    "missed_points": ("train_epoch", "    for Xb, yb in bp.batches(X, y, batch_size, rng=rng):",
                      "    idx = rng.integers(0, len(X), len(X))\n"
                      "    for Xb, yb in bp.batches(X[idx], y[idx], batch_size, shuffle=False):"),
    "shuffled_x_only": ("train_epoch", "bp.batches(X, y, batch_size, rng=rng)",
                        "bp.batches(X[rng.permutation(len(X))], y, batch_size, "
                        "shuffle=False)"),
    "no_shuffle": ("train_epoch", BATCHES, "bp.batches(X, y, batch_size, shuffle=False)"),
    "same_order": ("train_epoch", BATCHES, "bp.batches(X, y, batch_size, rng=0)"),
    "global_rng": ("train_epoch", BATCHES, "bp.batches(X, y, batch_size, rng=None)"),
    "returned_last": ("train_epoch", LOOP,
                      "    for Xb, yb in bp.batches(X, y, batch_size, rng=rng):\n"
                      "        total = train_step(model, loss_fn, optimizer, Xb, yb)\n"
                      "    return total\n"),
    "unweighted_mean": ("train_epoch", LOOP,
                        "    batches = list(bp.batches(X, y, batch_size, rng=rng))\n"
                        "    for Xb, yb in batches:\n"
                        "        total += train_step(model, loss_fn, optimizer, Xb, yb)\n"
                        "    return total / len(batches)\n"),
    "returned_sum": ("train_epoch", LOOP,
                     "    for Xb, yb in bp.batches(X, y, batch_size, rng=rng):\n"
                     "        total += train_step(model, loss_fn, optimizer, Xb, yb)\n"
                     "    return total\n"),
    "epoch_none": ("train_epoch", "    return total / len(X)\n", "    return\n"),
    "in_place": ("train_epoch", "    total = 0.0\n",
                 "    total = 0.0\n    order = rng.permutation(len(X))\n    X[...] = X[order]\n"
                 "    y[...] = y[order]\n"),
    "cannot_memorise": ("overfit_tiny", MODEL,
                        "bp.Linear(2, 2, rng=rng), bp.ReLU(), bp.Linear(2, 3, rng=rng),"),
    "diverged": ("loss_falls", TRAIN_OPT, "bp.optim.SGD(model.parameters(), lr=1e30)"),
    "exploded": ("loss_falls", TRAIN_OPT, "bp.optim.SGD(model.parameters(), lr=100.0)"),
    # the update's sign flipped in train itself (train_step passes its check)
    "rising": ("loss_falls", TRAIN_OPT,
               "bp.optim.SGD(model.parameters(), lr=1e-3)\n"
               "    optimizer.step = lambda: [p.data.__iadd__(1e-3 * p.grad)\n"
               "                              for p in model.parameters()]"),
    "barely_moves": ("loss_falls", TRAIN_OPT, "bp.optim.Adam(model.parameters(), lr=1e-6)"),
    "weights_unchanged": ("loss_falls", "    return [train_epoch(",
                          "    optimizer.step = lambda: None\n    return [train_epoch("),
    "data_modified": ("loss_falls", "    loss_fn = bp.CrossEntropyLoss()\n",
                      "    loss_fn = bp.CrossEntropyLoss()\n    rng.shuffle(X)\n"),
    "overfitting": ("heldout", ("    loss_fn = bp.CrossEntropyLoss()\n", "range(120)"),
                    ("    loss_fn = bp.CrossEntropyLoss()\n    X, y = X[:12], y[:12]\n",
                     "range(400)")),
    "underfitting": ("heldout", MODEL, "bp.Linear(2, 8, rng=rng), bp.ReLU(), "
                     "bp.Linear(8, 3, rng=rng),"),
}

def test_every_recognised_wrong_answer_has_a_case():
    assert set(CASES) == set(WRONG)
    assert len(WRONG) >= 6
    assert len(set(WRONG.values())) == len(WRONG)  # a distinct sentence each


def test_solution_scores_full_marks_and_trains_once_for_two_checks():
    ns = _ns()
    card = check(EXERCISE, namespace=ns)
    assert card.passed and card.score == card.max_score == 12
    heldout = next(r for r in card.results if r.id == "heldout")
    assert "held-out accuracy" in heldout.message


def test_untouched_copy_is_not_attempted():
    ns = _ns(nb=release_notebook(solution(EXERCISE)))
    card = check(EXERCISE, namespace=ns)
    assert card.score == 0 and {r.label for r in card.results} == {"not attempted"}


@pytest.mark.parametrize("key", sorted(CASES))
def test_wrong_answer_is_named(key):
    part, old, new = CASES[key]
    ns = _ns(old, new)
    exec(MODEL_HELPERS, ns)
    result = _result(ns, part)
    assert result.status == "failed" and result.points == 0, result
    assert WRONG[key] in result.why, (result.message, result.why)


def test_the_learners_arrays_are_not_modified():
    ns = _ns()
    rng = np.random.default_rng(0)
    X, y = bp.make_spiral(60, 3, rng=0)
    X0, y0 = X.copy(), y.copy()
    model = ns["make_model"](rng)
    loss_fn, opt = bp.CrossEntropyLoss(), bp.optim.SGD(model.parameters(), lr=0.1)
    ns["train_epoch"](model, loss_fn, opt, X, y, 16, rng)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_a_crashing_answer_is_an_error_pointing_at_the_learner():
    ns = _ns(LOSS, "    loss = loss_fn(logits, yb[:1])\n")
    result = _result(ns, "train_step")
    assert result.status == "error" and "your code raised" in result.message


def test_changing_a_setting_retrains():
    ns = _ns("for epoch in range(120)", "for epoch in range(EPOCHS)")
    ns["EPOCHS"] = 120
    assert _result(ns, "loss_falls").passed
    ns["EPOCHS"] = 2
    assert not _result(ns, "loss_falls").passed  # the cache saw the new setting


def test_changing_a_setting_held_in_a_dict_or_tuple_retrains():
    ns = _ns("for epoch in range(120)", "for epoch in range(CONFIG['epochs'][0])")
    ns["CONFIG"] = {"epochs": (120,)}
    assert _result(ns, "loss_falls").passed
    ns["CONFIG"] = {"epochs": (2,)}
    assert not _result(ns, "loss_falls").passed  # not the cached result of 120 epochs


def test_an_epoch_returning_a_list_is_not_told_it_returned_none():
    result = _result(_ns("    return total / len(X)\n", "    return [total / len(X)]\n"),
                     "train_epoch")
    assert result.status == "failed" and "did not return a number" in result.message
    assert WRONG["epoch_none"] not in result.why and "not a list" in result.why[0]


def _refers(check_id: str, words: str) -> str:
    return f"(see the `{check_id}` check: {words}"


@pytest.mark.parametrize(
    ("old", "new", "score", "named"),
    [
        # a wrong train_step: the checks that run it say so first, train_epoch keeps its points
        (ZERO, "", 4, {"train_step": WRONG["no_zero_grad"],
                       **{part: "your train_step is wrong " + _refers("train_step", "forgot "
                                                                      "optimizer.zero_grad()")
                          for part in ("overfit_tiny", "loss_falls", "heldout")}}),
        ("    return loss\n", "    return None\n", 5,
         {"train_step": WRONG["returns_none"],
          "loss_falls": _refers("train_step", "train_step returned None"),
          "heldout": _refers("train_step", "train_step returned None")}),
        (BACKWARD, "    model.backward(loss_fn.backward(loss))\n", 4,
         {part: _refers("train_step", "loss_fn.backward() takes no argument")
          for part in ("overfit_tiny", "loss_falls", "heldout")}),
        # a wrong model: the training checks refer to the model check
        ("bp.Linear(32, 3, rng=rng),\n    )", "bp.Linear(32, 3, rng=rng), bp.ReLU(),\n    )", 5,
         {part: "your make_model is wrong " + _refers("model", "the model ends with an "
                                                      "activation")
          for part in ("overfit_tiny", "loss_falls", "heldout")}),
        # an epoch mean divided by batch_size: the loss curve starts far above ln 3 because of
        # it, not because of the learning rate; the model itself is fine (held-out passes)
        ("    return total / len(X)\n", "    return total / batch_size\n", 9,
         {"train_epoch": WRONG["divided_by_batch_size"],
          "loss_falls": "your train_epoch is wrong " + _refers("train_epoch", "divided the "
                                                               "summed loss by batch_size")}),
        ("    loss_fn = bp.CrossEntropyLoss()\n",
         "    loss_fn = bp.CrossEntropyLoss()\n    model = make_model(rng)\n", 8,
         {"loss_falls": WRONG["own_model"], "heldout": WRONG["own_model"]}),
    ],
)
def test_checks_that_rely_on_an_earlier_part_name_it_first(old, new, score, named):
    card = check(EXERCISE, namespace=_ns(old, new))
    assert_named(card, score, named)


def test_train_epoch_is_checked_with_a_right_train_step_when_the_learners_fails():
    card = check(EXERCISE, ["train_step", "train_epoch"],
                 namespace=_ns("    return loss\n", "    return None\n"))
    step, epoch = card.results
    assert not step.passed and epoch.passed
    assert "with a correct train_step in place of yours" in epoch.message
