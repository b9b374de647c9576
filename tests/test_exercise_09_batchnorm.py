"""Exercise 09 (batch normalisation): full marks for the solution, every mistake named.

The learner's class comes from the solution notebook's answer cell, with one or two lines
replaced to make one recognised mistake (``MUTATIONS``: the words of the diagnosis ->
the check and the replacements); every entry of the grader's ``WRONG`` table has one.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from exercise_helpers import cell, edited, first_result, namespace, solution

import bpkit as bp
from bpkit.grading import check, checks_for, release_notebook
from bpkit.grading.exercises.ex09_batchnorm import CASES, WRONG, make_case

EXERCISE = "09_batchnorm"

MUTATIONS = {
    # forward_train
    "normalised with the unbiased variance": ("forward_train", [
        ("var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)")]),
    "ε is outside the square root": ("forward_train", [
        ("inv_std = 1 / np.sqrt(var + self.eps)", "inv_std = 1 / (np.sqrt(var) + self.eps)")]),
    "forgot ε": ("forward_train", [
        ("inv_std = 1 / np.sqrt(var + self.eps)", "inv_std = 1 / np.sqrt(var)")]),
    "normalised each sample": ("forward_train", [
        ("mean = x.mean(axis=0)", "mean = x.mean(axis=1, keepdims=True)"),
        ("var = x.var(axis=0)", "var = x.var(axis=1, keepdims=True)")]),
    "γ and β are swapped": ("forward_train", [
        ("return self.weight.data * x_hat + self.bias.data",
         "return self.bias.data * x_hat + self.weight.data")]),
    "returned x̂ without the learned affine map": ("forward_train", [
        ("return self.weight.data * x_hat + self.bias.data", "return x_hat")]),
    "used the standard deviation where the variance belongs": ("forward_train", [
        ("inv_std = 1 / np.sqrt(var + self.eps)",
         "inv_std = 1 / np.sqrt(np.sqrt(var) + self.eps)")]),
    "forgot to subtract the batch mean": ("forward_train", [
        ("x_hat = (x - mean) * inv_std", "x_hat = x * inv_std")]),
    "training mode normalised with running_mean": ("forward_train", [
        ("if self.training:", "if not self.training:")]),
    "forward changed the input x in place": ("forward_train", [
        ("x_hat = (x - mean) * inv_std", "x -= mean\n        x_hat = x * inv_std")]),
    "normalised with the running statistics just updated": ("forward_train", [
        ("        else:\n            mean, var = self.running_mean, self.running_var\n",
         "        mean, var = self.running_mean, self.running_var\n")]),
    "the mean is over every entry": ("forward_train", [
        ("mean = x.mean(axis=0)", "mean = x.mean()")]),
    "the variance is over every entry": ("forward_train", [
        ("var = x.var(axis=0)", "var = x.var()")]),
    "the mean and the variance are over every entry": ("forward_train", [
        ("mean = x.mean(axis=0)", "mean = x.mean()"), ("var = x.var(axis=0)", "var = x.var()")]),
    # running_stats
    "updated with the unbiased batch variance": ("running_stats", [
        ("m * var * n / (n - 1)", "m * var")]),
    "momentum is applied the wrong way round": ("running_stats", [
        ("(1 - m) * self.running_mean + m * mean", "m * self.running_mean + (1 - m) * mean"),
        ("(1 - m) * self.running_var + m * var * n / (n - 1)",
         "m * self.running_var + (1 - m) * var * n / (n - 1)")]),
    "the running mean's momentum is the wrong way round": ("running_stats", [
        ("(1 - m) * self.running_mean + m * mean", "m * self.running_mean + (1 - m) * mean")]),
    "never change in training mode": ("running_stats", [
        ("self.running_mean = (1 - m) * self.running_mean + m * mean", "pass"),
        ("self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)", "pass")]),
    "replaced by the batch's": ("running_stats", [
        ("self.running_mean = (1 - m) * self.running_mean + m * mean",
         "self.running_mean = mean"),
        ("self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)",
         "self.running_var = var * n / (n - 1)")]),
    "running_var is updated with the standard deviation": ("running_stats", [
        ("m * var * n / (n - 1)", "m * np.sqrt(var * n / (n - 1))")]),
    "used 0.1 instead of self.momentum": ("running_stats", [
        ("m = self.momentum", "m = 0.1")]),
    "the correction upside down": ("running_stats", [
        ("m * var * n / (n - 1)", "m * var * (n - 1) / n")]),
    "holds the same number for every feature": ("running_stats", [
        ("var = x.var(axis=0)", "var = x.var()")]),
    # forward_eval
    "eval mode used the batch's statistics": ("forward_eval", [
        ("if self.training:", "if True:")]),
    "eval mode forgot ε": ("forward_eval", [
        ("inv_std = 1 / np.sqrt(var + self.eps)",
         "inv_std = 1 / np.sqrt(var + self.eps) if self.training else 1 / np.sqrt(var)")]),
    "eval mode divided by running_var + ε itself": ("forward_eval", [
        ("inv_std = 1 / np.sqrt(var + self.eps)",
         "inv_std = 1 / np.sqrt(var + self.eps) if self.training else 1 / (var + self.eps)")]),
    "eval mode put ε outside the square root": ("forward_eval", [
        ("inv_std = 1 / np.sqrt(var + self.eps)", "inv_std = 1 / (np.sqrt(var) + self.eps)")]),
    "eval mode subtracted the batch's mean": ("forward_eval", [
        ("mean, var = self.running_mean, self.running_var",
         "mean, var = x.mean(axis=0), self.running_var")]),
    "eval mode updated the running statistics": ("forward_eval", [
        ("mean, var = self.running_mean, self.running_var",
         "mean, var = self.running_mean, self.running_var\n"
         "            self.running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=0)")]),
    # backward_input
    "treated the batch mean and variance as constants": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std * g")]),
    "the −mean(dy) term is missing": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std * (g - x_hat * (g * x_hat).mean(axis=0))")]),
    "the −x̂·mean(dy·x̂) term is missing": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std * (g - g.mean(axis=0))")]),
    "forgot to multiply by γ": ("backward_input", [
        ("g = grad_output * self.weight.data", "g = grad_output")]),
    "used x − μ where x̂ belongs": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "xc = x_hat / inv_std\n"
         "        return inv_std * (g - g.mean(axis=0) - xc * (g * xc).mean(axis=0))")]),
    "used sums where the batch means belong": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std * (g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))")]),
    "scaled by 1/(σ² + ε)": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std**2 * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))")]),
    "in eval mode the running statistics are constants": ("backward_input", [
        ("if not batch_stats:", "if False:")]),
    "the x̂·mean(dy·x̂) term lacks γ": ("backward_input", [
        ("x_hat * (g * x_hat).mean(axis=0))", "x_hat * (grad_output * x_hat).mean(axis=0))")]),
    "took the means of dx over the features": ("backward_input", [
        ("return inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))",
         "return inv_std * (g - g.mean(axis=1, keepdims=True)"
         " - x_hat * (g * x_hat).mean(axis=1, keepdims=True))")]),
    "in eval mode dx lacks the factor γ": ("backward_input", [
        ("return g * inv_std", "return grad_output * inv_std")]),
    "backward changed grad_output in place": ("backward_input", [
        ("g = grad_output * self.weight.data",
         "grad_output *= self.weight.data\n        g = grad_output")]),
    # backward_params
    "dγ used the input x where x̂ belongs": ("backward_params", [
        ("x_hat = (x - mean) * inv_std", "x_hat = (x - mean) * inv_std\n        self._x = x"),
        ("(grad_output * x_hat).sum(axis=0)", "(grad_output * self._x).sum(axis=0)")]),
    "averaged over the batch": ("backward_params", [
        ("(grad_output * x_hat).sum(axis=0)", "(grad_output * x_hat).mean(axis=0)"),
        ("self.bias.grad += grad_output.sum(axis=0)",
         "self.bias.grad += grad_output.mean(axis=0)")]),
    "dγ used the output y": ("backward_params", [
        ("(grad_output * x_hat).sum(axis=0)",
         "(grad_output * (self.weight.data * x_hat + self.bias.data)).sum(axis=0)")]),
    "dγ and dβ are swapped": ("backward_params", [
        ("self.weight.grad += (grad_output * x_hat).sum(axis=0)",
         "self.weight.grad += grad_output.sum(axis=0)"),
        ("self.bias.grad += grad_output.sum(axis=0)",
         "self.bias.grad += (grad_output * x_hat).sum(axis=0)")]),
    "instead of accumulating": ("backward_params", [
        ("self.weight.grad += ", "self.weight.grad = "),
        ("self.bias.grad += ", "self.bias.grad = ")]),
    "were not summed over the batch": ("backward_params", [
        ("self.bias.grad += grad_output.sum(axis=0)", "self.bias.grad += grad_output")]),
    "bias.grad got grad_output.sum()": ("backward_params", [
        ("self.bias.grad += grad_output.sum(axis=0)", "self.bias.grad += grad_output.sum()")]),
    "summed over the features (axis=1)": ("backward_params", [
        ("(grad_output * x_hat).sum(axis=0)", "(grad_output * x_hat).sum(axis=1)")]),
}


def _ns(replacements=(), notebook: dict | None = None) -> dict:
    nb = solution(EXERCISE) if notebook is None else notebook
    return namespace(edited(cell(nb, "answer-batchnorm"), replacements))


_result = partial(first_result, EXERCISE)


def test_solution_scores_twelve_and_the_stub_is_not_attempted():
    card = check(EXERCISE, namespace=_ns())
    assert card.score == 12 == sum(c.points for c in checks_for(EXERCISE))
    assert all(r.passed for r in card.results)
    stub = check(EXERCISE, namespace=_ns(notebook=release_notebook(solution(EXERCISE))))
    assert stub.score == 0 and {r.label for r in stub.results} == {"not attempted"}


def test_every_wrong_answer_in_the_table_has_a_mutation_and_at_least_six_per_check():
    meanings = [m for items in WRONG.values() for _, m in items]
    assert len(meanings) == len(set(meanings))
    for part, items in WRONG.items():
        for _, meaning in items:
            keys = [k for k, (p, _) in MUTATIONS.items() if p == part and k in meaning]
            assert len(keys) == 1, meaning
    assert sum(len(items) for items in WRONG.values()) >= 6


@pytest.mark.parametrize("key", list(MUTATIONS))
def test_every_recognised_mistake_is_named(key):
    part, replacements = MUTATIONS[key]
    result = _result(_ns(replacements), part)
    assert result.status == "failed" and result.points == 0
    assert key in result.why[0], (result.message, result.why)
    meaning = next(m for _, m in WRONG[part] if key in m)
    assert result.why[0] == meaning


def test_a_wrong_backward_fails_the_gradient_checker_with_its_diagnoses():
    part, replacements = MUTATIONS["the −x̂·mean(dy·x̂) term is missing"]
    result = _result(_ns(replacements), "gradcheck")
    assert result.status == "failed" and "does not match the numerical gradient" in result.message
    part, replacements = MUTATIONS["in eval mode the running statistics are constants"]
    result = _result(_ns(replacements), "gradcheck")
    assert result.status == "failed" and "eval mode" in result.message


def test_bpkit_own_layer_is_refused_and_a_broken_contract_explained():
    ns = _ns()
    ns["BatchNorm1d"] = bp.BatchNorm1d
    card = check(EXERCISE, namespace=ns)
    assert card.score == 0
    assert all("bpkit's own layer" in r.message for r in card.results)
    ns = _ns([('self.running_var = np.ones(num_features)', 'self.var = np.ones(num_features)')])
    assert "has no array `running_var`" in _result(ns, "forward_train").message


def test_an_exception_is_an_error_that_points_at_the_line():
    ns = _ns([("x_hat, inv_std, batch_stats = self._cache", "x_hat, inv_std = self._cache")])
    result = _result(ns, "backward_input")
    assert result.status == "error" and "ValueError" in result.message


def test_the_cases_do_not_change_between_calls_and_eps_matters_in_them():
    for i, (n, d) in enumerate(CASES):
        a, b = make_case(n, d, seed=i), make_case(n, d, seed=i)
        np.testing.assert_array_equal(a.x, b.x)
        assert a.var.min() < 10 * a.eps  # a feature whose variance is close to eps
    check(EXERCISE, namespace=_ns())
    np.testing.assert_array_equal(make_case(8, 3, seed=90).x, make_case(8, 3, seed=90).x)


def test_the_learners_arrays_are_not_modified_by_the_checks():
    ns = _ns()
    calls = []
    cls = ns["BatchNorm1d"]
    original_forward, original_backward = cls.forward, cls.backward

    def forward(self, x):
        calls.append(("x", x, x.copy()))
        return original_forward(self, x)

    def backward(self, grad_output):
        calls.append(("dy", grad_output, grad_output.copy()))
        return original_backward(self, grad_output)

    cls.forward, cls.backward = forward, backward
    assert check(EXERCISE, namespace=ns).score == 12
    assert calls and all(np.array_equal(arr, copy) for _, arr, copy in calls)


def test_torch_batchnorm_agrees_with_the_solution():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cross-check skipped")
    layer = _ns()["BatchNorm1d"](5)
    ref = torch.nn.BatchNorm1d(5, dtype=torch.float64)
    c = make_case(8, 5, seed=3)
    for _ in range(3):
        y = layer(c.x)
        y_ref = ref(torch.tensor(c.x))
    np.testing.assert_allclose(y, y_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.running_var, ref.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, ref.running_mean.numpy(), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("key", ["normalised with the unbiased variance", "γ and β are swapped"])
def test_a_wrong_forward_is_named_by_the_gradient_check_not_blamed_on_backward(key):
    part, replacements = MUTATIONS[key]
    result = _result(_ns(replacements), "gradcheck")
    assert result.status == "failed" and len(result.why) == 1
    assert result.why[0].startswith("your training-mode forward is wrong (see the "
                                    "`forward_train` check: "), result.why
    assert key in result.why[0] and "re-derive" not in result.why[0]
    backward = _result(_ns(replacements), "backward_input")
    assert backward.status == "failed" and "see the `forward_train` check" in backward.why[0]


@pytest.mark.parametrize(
    ("key", "owner", "score"),
    [("forward changed the input x in place", "forward_train", 8),
     ("backward changed grad_output in place", "backward_input", 8)],
)
def test_an_input_written_in_place_costs_the_check_that_owns_it_and_is_said_once(
        key, owner, score):
    part, replacements = MUTATIONS[key]
    card = check(EXERCISE, namespace=_ns(replacements))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {owner, "gradcheck"}, {r.id: r.why for r in card.results}
    assert card.score == score
    assert failed["gradcheck"].why[0].startswith(
        f"your layer writes into an input it was given (see the `{owner}` check: ")


@pytest.mark.parametrize(
    ("key", "owner", "what"),
    [("in eval mode dx lacks the factor γ", "backward_input", "your dx is wrong"),
     ("took the means of dx over the features", "backward_input", "your dx is wrong"),
     ("bias.grad got grad_output.sum()", "backward_params", "your dγ or dβ is wrong"),
     ("summed over the features (axis=1)", "backward_params", "your dγ or dβ is wrong")],
)
def test_a_wrong_backward_costs_its_part_and_the_gradient_check_refers_to_it(key, owner, what):
    part, replacements = MUTATIONS[key]
    card = check(EXERCISE, namespace=_ns(replacements))
    failed = {r.id: r for r in card.results if not r.passed}
    assert set(failed) == {owner, "gradcheck"}, {r.id: r.why for r in card.results}
    assert card.score == 8
    gradcheck = failed["gradcheck"]
    assert gradcheck.status == "failed" and len(gradcheck.why) == 1
    assert gradcheck.why[0].startswith(f"{what} (see the `{owner}` check: "), gradcheck.why
    assert key in gradcheck.why[0] and "re-derive" not in gradcheck.why[0]


def test_a_mean_or_variance_over_every_entry_is_named_in_forward_and_running_stats():
    for key in ("the mean is over every entry", "the variance is over every entry"):
        card = check(EXERCISE, namespace=_ns(MUTATIONS[key][1]))
        failed = {r.id: r for r in card.results if not r.passed}
        assert key in failed["forward_train"].why[0]
        assert "the same number for every feature" in failed["running_stats"].why[0]
        assert failed["backward_params"].why[0].startswith(
            "your training-mode forward is wrong (see the `forward_train` check: " + key)
