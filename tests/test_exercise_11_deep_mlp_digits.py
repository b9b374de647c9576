"""Exercise 11: the solution scores full marks in-process, every recognised mistake is named.

Each wrong answer is the solution's own cells with some text changed, run through the same
checks the notebook runs; the test asserts the sentence the learner reads on the card.
Training cases use few epochs or few images, so the module stays fast.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest
from exercise_helpers import MODEL_HELPERS, first_result, joined_answers, namespace, solution

import bpkit as bp
from bpkit.grading import check, release_notebook
from bpkit.grading.exercises.ex11_deep_mlp_digits import WRONG

EXERCISE = "11_deep_mlp_digits"
ANSWERS = ("answer-standardize", "answer-model", "answer-predict", "answer-train")


def _ns(old: str | tuple = "", new: str | tuple = "", *, nb: dict | None = None) -> dict:
    """The solution's answers (or ``nb``'s) with ``old`` replaced by ``new`` (pairwise)."""
    return namespace(HELPERS, joined_answers(nb or solution(EXERCISE), ANSWERS, old, new))


STATS = "    mean = X_train.mean(axis=0)\n    std = X_train.std(axis=0)\n"
WHERE = "    std = np.where(std == 0, 1.0, std)\n"
RETURN_Z = "    return (X - mean) / std\n"
END = "bp.Linear(64, 10, rng=rng),\n    )"
HIDDEN = ("bp.Linear(64, 128, rng=rng), bp.BatchNorm1d(128), bp.ReLU(),\n"
          "        bp.Linear(128, 64, rng=rng), bp.BatchNorm1d(64), bp.ReLU(),\n")
EPOCHS = "    epochs = 20\n"
ADAM = "bp.optim.Adam(model.parameters(), lr=3e-3)"
FIT = "    history = bp.fit("

CASES: dict[str, tuple[str, Any, Any]] = {
    "not_standardised": ("standardize", RETURN_Z, "    return X\n"),
    "own_statistics": ("standardize", STATS, STATS.replace("X_train", "X")),
    "per_image": ("standardize", STATS, "    mean = X.mean(axis=1, keepdims=True)\n"
                  "    std = X.std(axis=1, keepdims=True)\n"),
    "global_statistics": ("standardize", STATS, STATS.replace("axis=0", "")),
    "no_centering": ("standardize", RETURN_Z, "    return X / std\n"),
    "no_scaling": ("standardize", RETURN_Z, "    return X - mean\n"),
    "min_max": ("standardize", RETURN_Z, "    return X / 16\n"),
    "constant_nan": ("standardize", WHERE, ""),
    "constant_blowup": ("standardize", WHERE, "    std = std + 1e-8\n"),
    "standardize_in_place": ("standardize", RETURN_Z, "    X -= mean\n    X /= std\n"
                             "    return X\n"),
    "standardized_train": ("standardize", RETURN_Z, "    return (X_train - mean) / std\n"),
    "divided_by_variance": ("standardize", RETURN_Z, "    return (X - mean) / std**2\n"),
    "layer_sizes": ("model", "bp.BatchNorm1d(128)", "bp.BatchNorm1d(64)"),
    "activation_output": ("model", END, "bp.Linear(64, 10, rng=rng), bp.ReLU(),\n    )"),
    "argmax_flat": ("predict", ".argmax(axis=1)", ".argmax()"),
    "forced_train": ("predict", "    model.train(was_training)\n", "    model.train()\n"),
    "not_module": ("model", END, END + ".layers"),
    "input_size": ("model", "bp.Linear(64, 128, rng=rng)", "bp.Linear(63, 128, rng=rng)"),
    "output_size": ("model", "bp.Linear(64, 10, rng=rng)", "bp.Linear(64, 9, rng=rng)"),
    "linear": ("model", HIDDEN, HIDDEN.replace(" bp.ReLU(),", "")),
    "softmax_output": ("model", END, "bp.Linear(64, 10, rng=rng), Softmax(),\n    )"),
    "init_scale": ("model", END, END + ".astype(np.float64) if False else big(bp.Sequential(\n"
                   "        bp.Linear(64, 32, rng=rng), bp.ReLU(), bp.Linear(32, 32, rng=rng),"
                   " bp.ReLU(), bp.Linear(32, 10, rng=rng)))"),
    "rng_ignored": ("model", "bp.Linear(64, 128, rng=rng)", "bp.Linear(64, 128)"),
    "rng_fixed": ("model", "    return bp.Sequential(", "    rng = 0\n    return bp.Sequential("),
    "too_big": ("model", HIDDEN, HIDDEN.replace("128", "2048")),
    "shallow": ("model", HIDDEN, "bp.Linear(64, 64, rng=rng), bp.ReLU(),\n        "),
    "train_mode": ("predict", "    model.eval()\n", ""),
    "left_eval": ("predict", "    model.train(was_training)\n", ""),
    "returned_scores": ("predict", ".argmax(axis=1)", ""),
    "wrong_axis": ("predict", "argmax(axis=1)", "argmax(axis=0)"),
    "predict_in_place": ("predict", "classes = model(X)", "X -= 0.5\n    classes = model(X + 0.5)"),
    "diverged": ("loss_falls", ADAM, "bp.optim.SGD(model.parameters(), lr=1e300)"),
    "exploded": ("loss_falls", (EPOCHS, ADAM),
                 ("    epochs = 2\n", "bp.optim.SGD(model.parameters(), lr=300.0)")),
    "rising": ("loss_falls", FIT, "    return ascend(model, X, y, rng)\n" + FIT),
    "barely_moves": ("loss_falls", (EPOCHS, ADAM),
                     ("    epochs = 2\n", "bp.optim.Adam(model.parameters(), lr=1e-7)")),
    "weights_unchanged": ("loss_falls", (EPOCHS, FIT),
                          ("    epochs = 2\n", "    optimizer.step = lambda: None\n" + FIT)),
    "data_modified": ("loss_falls", (EPOCHS, FIT),
                      ("    epochs = 2\n", "    rng.shuffle(X)\n" + FIT)),
    "overfitting": ("heldout", (EPOCHS, FIT),
                    ("    epochs = 60\n", "    X, y = X[:100], y[:100]\n" + FIT)),
    "underfitting": ("heldout", (EPOCHS, ADAM),
                     ("    epochs = 3\n", "bp.optim.SGD(model.parameters(), lr=0.05)")),
}

HELPERS = MODEL_HELPERS + """

def ascend(model, X, y, rng):
    loss_fn, losses = bp.CrossEntropyLoss(), []
    for epoch in range(3):
        loss = loss_fn(model(X), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        for p in model.parameters():
            p.data += 0.05 * p.grad
        losses.append(loss)
    return losses
"""


_result = partial(first_result, EXERCISE)


def test_every_recognised_wrong_answer_has_a_case():
    assert set(CASES) == set(WRONG)
    assert len(set(WRONG.values())) == len(WRONG)  # a distinct sentence each


def test_solution_scores_full_marks():
    card = check(EXERCISE, namespace=_ns())
    assert card.passed and card.score == card.max_score == 11


def test_untouched_copy_is_not_attempted():
    card = check(EXERCISE, namespace=_ns(nb=release_notebook(solution(EXERCISE))))
    assert card.score == 0 and {r.label for r in card.results} == {"not attempted"}


@pytest.mark.parametrize("key", sorted(CASES))
def test_wrong_answer_is_named(key):
    part, old, new = CASES[key]
    result = _result(_ns(old, new), part)
    assert result.status == "failed" and result.points == 0, (result.status, result.message)
    assert WRONG[key] in result.why, (result.message, result.why)


def test_a_failing_part_is_replaced_by_bpkits_and_the_card_says_so():
    ns = _ns(("    model.eval()\n", EPOCHS), ("", "    epochs = 3\n"))
    result = _result(ns, "loss_falls")
    assert "your predict fails its own check, so bpkit's was used here" in result.message


@pytest.mark.parametrize("key", ["layer_sizes", "softmax_output"])
def test_training_checks_name_a_failing_model_first(key):
    _, old, new = CASES[key]
    card = check(EXERCISE, ["model", "loss_falls", "heldout"], namespace=_ns(old, new))
    results = {r.id: r for r in card.results}
    assert card.score == 0 and WRONG[key] in results["model"].why
    for part in ("loss_falls", "heldout"):
        result = results[part]
        assert result.status == "failed" and result.why == [
            f"your make_model is wrong (see the `model` check: {WRONG[key]}); this check "
            "relies on it, so fix that first, then this check will be meaningful"], result


def test_a_model_failing_its_check_still_scores_a_training_that_works():
    card = check(EXERCISE, ["model", "loss_falls"],
                 namespace=_ns(("    epochs = 20\n", "bp.Linear(64, 128, rng=rng)"),
                               ("    epochs = 3\n", "bp.Linear(64, 128)")))
    model, loss_falls = card.results
    assert WRONG["rng_ignored"] in model.why and loss_falls.passed, loss_falls.why


def test_a_later_layer_that_does_not_fit_is_not_blamed_on_the_first():
    _, old, new = CASES["layer_sizes"]
    result = _result(_ns(old, new), "model")
    assert WRONG["input_size"] not in result.why
    assert "BatchNorm1d(64" in result.got and "got (256, 128)" in result.got


def test_the_learners_arrays_are_not_modified():
    ns = _ns()
    X, _ = bp.load_digits()
    A, B = X[:100].copy(), X[100:150].copy()
    ns["standardize"](A, B)
    assert np.array_equal(A, X[:100]) and np.array_equal(B, X[100:150])


def test_a_crashing_answer_is_an_error():
    result = _result(_ns(RETURN_Z, "    return (X - mean) / std[:3]\n"), "standardize")
    assert result.status == "error" and "your code raised" in result.message


@pytest.mark.parametrize(("part", "old", "new"), [
    ("standardize", RETURN_Z, "    return (X - mean) / std, mean, std\n"),
    ("predict", "    return classes\n", "    return classes, model(X)\n"),
])
def test_returning_a_tuple_is_a_failure_not_a_crash_blamed_on_the_learner(part, old, new):
    result = _result(_ns(old, new), part)
    assert result.status == "failed", (result.status, result.message)
    assert "returned a tuple, not an array" in result.message


def test_the_model_checks_leave_a_nested_model_in_mixed_modes_exactly_as_it_was():
    from model_state import assert_unchanged, mixed_model, state_of

    from bpkit.grading.exercises._training import is_affine, model_feedback

    model = mixed_model()
    before = state_of(model)
    assert not is_affine(model, 2, np.random.default_rng(0))  # run in eval mode: ReLUs bend
    assert_unchanged(model, before)
    X = np.random.default_rng(15).standard_normal((40, 2))
    model_feedback(lambda rng: model, X, np.arange(40) % 2, 2, tolerance=10.0, max_params=10**4)
    assert_unchanged(model, before)
