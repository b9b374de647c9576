"""Shared pieces of the checks of exercises 07 and 11: recorders, model and curve diagnoses.

The checks of the training exercises watch what the learner's code *does* rather than
reading it: `Recorder` (an identity layer put in front of a grader's model) logs every
forward and backward pass with the rows it saw, `RecordingLoss` logs what reached the loss,
and `RecordingOptimizer` logs ``zero_grad`` and ``step``. The order of those events says
which line of the training loop is missing or misplaced. `model_feedback` checks a
learner's ``make_model``; `curve_problems` reads a loss curve. `run_training` trains the
learner's model with their ``train`` and scores it (a `TrainingRun`), `cached_run` keeps
one such run per exercise so that two checks (or a part and ``check-all``) train only once,
and `training_problem`, `loss_falls_feedback` and `heldout_feedback` turn a run into the
card's sentences.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.grading.feedback import CheckFailed, Feedback
from bpkit.losses import CrossEntropyLoss, Loss
from bpkit.module import Module, preserved
from bpkit.train import TrainingDiverged

__all__ = [
    "MODEL_WRONG",
    "TRAIN_WRONG",
    "Recorder",
    "RecordingLoss",
    "RecordingOptimizer",
    "TrainingRun",
    "as_losses",
    "cached",
    "cached_run",
    "curve_problems",
    "fingerprint",
    "heldout_feedback",
    "is_affine",
    "loss_falls_feedback",
    "model_feedback",
    "params_of",
    "rows_are_probabilities",
    "run_training",
    "training_problem",
]

Event = tuple[str, Any]

#: the wrong answers of ``make_model`` that both exercises recognise: key -> what it means.
MODEL_WRONG: dict[str, str] = {
    "not_module": "make_model must return a bp.Module, for example a bp.Sequential of layers",
    "input_size": "the first layer must take every input feature: its in_features is the "
    "number of columns of X",
    "output_size": "the last layer must give one logit per class: its out_features is the "
    "number of classes",
    "linear": "no non-linearity between the Linear layers: the model is a single affine map "
    "(a product of matrices is one matrix), so its class boundaries are straight; put an "
    "activation such as bp.ReLU() between the Linear layers",
    "softmax_output": "the model ends with a softmax: its outputs are probabilities (each "
    "row sums to 1), but CrossEntropyLoss expects logits and applies the log-softmax "
    "itself; leave the softmax out",
    "init_scale": "the loss before training is far from ln C, the loss of a model that "
    "knows nothing: the initial logits are too large (weights drawn with standard deviation "
    "1 whatever the fan-in?); keep bp.Linear's default initialisation",
    "rng_ignored": "two models made from generators with the same seed differ: pass "
    "rng=rng to every layer that draws random numbers, so your model can be reproduced",
    "rng_fixed": "models made from generators with different seeds are identical: draw "
    "from the rng you are given instead of a fixed seed",
    "too_big": "the model is too large to train in a few seconds: use fewer or narrower "
    "hidden layers",
    "shallow": "a deep MLP needs at least two hidden layers, that is at least three Linear "
    "layers with an activation after each but the last",
}

#: the wrong answers of ``train`` that both exercises word alike: key -> what it means.
TRAIN_WRONG: dict[str, str] = {
    "diverged": "the loss became NaN or infinite: the learning rate is too high, the steps "
    "overshoot and blow up; lower it",
    "exploded": "the loss jumped far above ln C, worse than guessing: the learning rate "
    "is too high, the steps overshoot (and can kill the ReLU units); lower it",
    "rising": "the loss went up: the learning rate is too high (or the update has the wrong "
    "sign)",
    "barely_moves": "the loss fell by less than half: the learning rate is too low or there "
    "are too few epochs",
    "weights_unchanged": "the weights did not change during train: is optimizer.step() "
    "called, after model.backward(loss_fn.backward())?",
}


# -- recorders ------------------------------------------------------------------------------------


class Recorder(Module):
    """An identity layer that logs the rows it sees: put it first in a grader's model.

    Shape:
        forward (N, D) -> (N, D) unchanged; backward (N, D) -> (N, D) unchanged. Logs
        ``("forward", copy of x)`` and ``("backward", None)`` into ``log``.
    """

    def __init__(self, log: list[Event]) -> None:
        self.log = log

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.log.append(("forward", np.array(x, copy=True)))
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        self.log.append(("backward", None))
        return grad_output


class RecordingLoss(Loss):
    """``CrossEntropyLoss`` that logs its inputs: ``("loss", (pred copy, target copy, value))``.

    Shape:
        pred (N, C) logits, target (N,) class indices -> a float, as CrossEntropyLoss.
    """

    def __init__(self, log: list[Event]) -> None:
        super().__init__("mean")
        self.log = log
        self.inner = CrossEntropyLoss()

    def forward(self, pred: np.ndarray, target: Any) -> float:
        value = self.inner(pred, target)
        self.log.append(("loss", (np.array(pred, copy=True), np.array(target, copy=True),
                                  value)))
        return value

    def backward(self) -> np.ndarray:
        return self.inner.backward()


class RecordingOptimizer:
    """Wraps an optimizer and logs ``("zero_grad", None)`` and ``("step", None)``.

    Shape:
        the wrapped optimizer's; ``params`` and ``lr`` are its own.
    """

    def __init__(self, inner: Any, log: list[Event]) -> None:
        self.inner = inner
        self.log = log
        self.params = inner.params

    @property
    def lr(self) -> float:
        """The wrapped optimizer's learning rate."""
        return float(self.inner.lr)

    @lr.setter
    def lr(self, value: float) -> None:
        self.inner.lr = value

    def zero_grad(self) -> None:
        """Log, then zero the gradients."""
        self.log.append(("zero_grad", None))
        self.inner.zero_grad()

    def step(self) -> None:
        """Log, then update the parameters."""
        self.log.append(("step", None))
        self.inner.step()


# -- models ---------------------------------------------------------------------------------------


def params_of(model: Module) -> list[np.ndarray]:
    """Copies of every parameter's values, in ``parameters()`` order."""
    return [np.array(p.data, copy=True) for p in model.parameters()]


def is_affine(model: Module, n_features: int, rng: np.random.Generator) -> bool:
    """True when ``model`` (in eval mode) maps every affine combination to the same one.

    Shape:
        inputs (N, n_features). An affine map f has f(a) - f(b) = f(a + c) - f(b + c) for
        all a, b, c; a ReLU network breaks this on spread-out points.
    """
    with preserved(model), np.errstate(all="ignore"):
        model.eval()
        a, b, c = (2.0 * rng.standard_normal((64, n_features)) for _ in range(3))
        out = [np.asarray(model(v), dtype=np.float64) for v in (a, b, a + c, b + c)]
    lhs, rhs = out[0] - out[1], out[2] - out[3]
    scale = max(1e-12, float(np.abs(out[0]).max()))
    return bool(np.all(np.isfinite(lhs)) and np.allclose(lhs, rhs, atol=1e-7 * scale,
                                                         rtol=1e-6))


def rows_are_probabilities(out: Any) -> bool:
    """True when every row of ``out`` is non-negative and sums to 1 (a softmax's output)."""
    arr = np.asarray(out, dtype=np.float64)
    return bool(arr.ndim == 2 and arr.shape[1] > 1 and np.all(arr >= 0)
                and np.allclose(arr.sum(axis=1), 1.0, atol=1e-6))


def _n_linear(model: Module) -> int:
    """Modules with a 2-D ``weight`` parameter: Linear layers, yours or bpkit's."""
    count = 0
    for m in model.modules():
        w = vars(m).get("weight")
        if w is not None and getattr(w, "data", None) is not None and w.data.ndim == 2:
            count += 1
    return count


def _build(make_model: Callable[[np.random.Generator], Any], seed: int) -> Module:
    model = make_model(np.random.default_rng(seed))
    if not isinstance(model, Module):
        raise CheckFailed(Feedback.fail(
            "make_model(rng) did not return a bp.Module",
            expected="a bp.Module such as bp.Sequential(...)",
            got=type(model).__name__,
            why=[MODEL_WRONG["not_module"]],
        ))
    return model


def model_feedback(
    make_model: Callable[[np.random.Generator], Any],
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    tolerance: float,
    max_params: int,
    min_hidden: int = 1,
) -> Feedback:
    """Check a learner's ``make_model(rng)`` on data ``X``, ``y`` with ``n_classes`` classes.

    Shape:
        X (N, D), y (N,) -> the model must map (N, D) to logits (N, n_classes).

    In order: a Module; the input and output sizes; at most ``max_params`` parameters;
    not a softmax at the end; not affine; at least ``min_hidden`` hidden layers; the
    same seed gives the same model and different seeds different ones; and the loss
    before training within ``tolerance`` of ln C.
    """
    n, d = X.shape
    model = _build(make_model, 1)
    with preserved(model):
        model.eval()
        try:
            out = model(X.copy())
        except ValueError as exc:
            # only the first layer sees X itself; a later layer's error is its own
            if "expected input of shape" in str(exc) and f"got {tuple(X.shape)}" in str(exc):
                raise CheckFailed(Feedback.fail(
                    f"your model cannot take X of shape {X.shape} ({d} features per point)",
                    expected=f"a first layer with in_features = {d}",
                    got=f"{type(exc).__name__}: {exc}",
                    why=[MODEL_WRONG["input_size"]],
                )) from None
            raise
    out = np.asarray(out)
    if out.shape != (n, n_classes):
        why = [MODEL_WRONG["output_size"]]
        return Feedback.fail(
            f"the model's output for X of shape {X.shape} has shape {out.shape}",
            expected=f"({n}, {n_classes}): one logit per class",
            got=str(out.shape),
            why=why,
        )
    count = sum(p.data.size for p in model.parameters())
    if count > max_params:
        return Feedback.fail(
            f"the model has {count} parameters",
            expected=f"at most {max_params}",
            got=str(count),
            why=[MODEL_WRONG["too_big"]],
        )
    if rows_are_probabilities(out):
        return Feedback.fail("the model's outputs are probabilities, not logits",
                             why=[MODEL_WRONG["softmax_output"]])
    if is_affine(model, d, np.random.default_rng(0)):
        return Feedback.fail("the model is affine in its input: a linear model",
                             why=[MODEL_WRONG["linear"]])
    linear = _n_linear(model)
    if linear < min_hidden + 1:
        return Feedback.fail(
            f"the model has {linear} Linear layer{'s' if linear != 1 else ''}, "
            f"{max(linear - 1, 0)} hidden",
            expected=f"at least {min_hidden} hidden layers",
            got=f"{max(linear - 1, 0)}",
            why=[MODEL_WRONG["shallow"]],
        )
    again, other = _build(make_model, 1), _build(make_model, 2)
    first = params_of(model)
    second = params_of(again)
    same = len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    if not same:
        return Feedback.fail("make_model(rng) is not reproducible",
                             why=[MODEL_WRONG["rng_ignored"]])
    third = params_of(other)
    if len(first) == len(third) and all(
            np.array_equal(a, b) for a, b in zip(first, third, strict=True)):
        return Feedback.fail("make_model gives the same weights for every rng",
                             why=[MODEL_WRONG["rng_fixed"]])
    loss = CrossEntropyLoss()
    with np.errstate(all="ignore"):
        initial = float(loss(model(X.copy()), y))  # train mode: as training starts
    chance = math.log(n_classes)
    if not abs(initial - chance) <= tolerance:
        return Feedback.fail(
            "the loss before training is far from ln C",
            expected=f"within {tolerance:g} of ln {n_classes} = {chance:.4f}",
            got=f"{initial:.4f}",
            why=[MODEL_WRONG["init_scale"]],
        )
    return Feedback.ok(
        f"{linear} Linear layers, {count} parameters, initial loss {initial:.3f} "
        f"(ln {n_classes} = {chance:.3f})"
    )


# -- loss curves ----------------------------------------------------------------------------------


def as_losses(result: Any, where: str) -> np.ndarray:
    """The per-epoch losses a learner's ``train`` returned: a sequence of floats or a History.

    Shape:
        returns (epochs,) float64. Raises `CheckFailed` when it is not that.
    """
    values = getattr(result, "loss", result)
    if values is None or isinstance(values, (str, bytes, dict)):
        raise CheckFailed(Feedback.fail(
            f"{where} returned {type(result).__name__}",
            expected="the list of per-epoch losses (or the History of bp.fit)",
            got=type(result).__name__,
            why=["train must return the loss of every epoch, e.g. `return losses` with "
                 "losses.append(epoch_loss) in the loop"],
        ))
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise CheckFailed(Feedback.fail(
            f"{where} did not return numbers",
            expected="a list of per-epoch losses (floats)",
            got=type(result).__name__,
            why=["return a list of floats, one loss per epoch"],
        )) from None
    if arr.size < 2:
        raise CheckFailed(Feedback.fail(
            f"{where} returned {arr.size} loss value{'s' if arr.size != 1 else ''}",
            expected="one loss per epoch, for at least 2 epochs",
            got=str(arr.size),
            why=["return one loss per epoch (the epoch's mean loss), not only the last"],
        ))
    return arr


def curve_problems(losses: np.ndarray, wrong: dict[str, str], chance: float) -> list[str]:
    """What a loss curve shows is wrong: diverged, exploded, rising or not halved (else []).

    ``wrong`` maps ``"diverged"``, ``"exploded"``, ``"rising"`` and ``"barely_moves"`` to
    their sentences; ``chance`` is ln C, the loss of a model that guesses uniformly.
    """
    if not np.all(np.isfinite(losses)):
        return [wrong["diverged"]]
    first, last = float(losses[0]), float(losses[-1])
    if max(first, last) > 3.0 * chance:
        return [wrong["exploded"]]
    if last > first * 1.02:
        return [wrong["rising"]]
    if last > 0.5 * first:
        return [wrong["barely_moves"]]
    return []


# -- training the learner's model and judging the run ------------------------------------------


@dataclass
class TrainingRun:
    """What the learner's ``train`` did on the grader's data, kept for the checks to judge.

    Shape:
        ``losses`` (epochs,) float64, the per-epoch losses ``train`` returned; the
        accuracies are fractions in [0, 1]. ``replaced`` names the learner's functions that
        failed their own checks and were replaced by bpkit's for the run.
    """

    losses: np.ndarray
    changed: bool
    modified: bool
    train_accuracy: float
    heldout_accuracy: float
    replaced: list[str] = field(default_factory=list)


def run_training(
    ns: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray],
    heldout: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    accuracy: Callable[[Module, np.ndarray, np.ndarray], float],
    *,
    replaced: Sequence[str] = (),
) -> TrainingRun:
    """Make the learner's model with ``rng``, train it with their ``train`` and score it.

    Shape:
        ``train`` (X (N, D), y (N,)) and ``heldout`` (X (M, D), y (M,)); ``accuracy(model,
        X, y)`` gives the fraction of rows classified right. ``ns["train"]`` gets copies of
        X and y and the same ``rng`` that made the model.

    Raises `CheckFailed` when ``make_model`` gives no Module, when bp.fit stopped a
    diverging run, or when ``train`` does not return per-epoch losses (`as_losses`).
    """
    X, y = train
    Xc, yc = X.copy(), y.copy()
    net = ns["make_model"](rng)
    if not isinstance(net, Module):
        raise CheckFailed(Feedback.fail("make_model(rng) did not return a bp.Module",
                                        why=[MODEL_WRONG["not_module"]]))
    start = params_of(net)
    try:
        with np.errstate(all="ignore"):  # a diverging run is diagnosed, not warned about
            result = ns["train"](net, Xc, yc, rng)
    except TrainingDiverged as exc:
        raise CheckFailed(Feedback.fail("bp.fit stopped: the training diverged",
                                        got=str(exc).splitlines()[0],
                                        why=[TRAIN_WRONG["diverged"]])) from None
    losses = as_losses(result, "train(model, X, y, rng)")
    with np.errstate(all="ignore"):
        train_acc = accuracy(net, X, y)
        held_acc = accuracy(net, *heldout)
    return TrainingRun(
        losses=losses,
        changed=any(not np.array_equal(a, b) for a, b in zip(params_of(net), start, strict=True)),
        modified=not (np.array_equal(Xc, X) and np.array_equal(yc, y)),
        train_accuracy=float(train_acc),
        heldout_accuracy=float(held_acc),
        replaced=list(replaced),
    )


def training_problem(run: TrainingRun, wrong: dict[str, str], n_classes: int
                     ) -> Feedback | None:
    """What ``run`` shows went wrong in training, whatever its score, or None.

    In order: ``train`` changed X or y, the weights did not move, the loss curve is wrong
    (`curve_problems` against ln ``n_classes``). ``wrong`` holds the exercise's sentences.
    """
    curve = (f"loss {run.losses[0]:.4g} in epoch 1, {run.losses[-1]:.4g} in epoch "
             f"{len(run.losses)}")
    if run.modified:
        return Feedback.fail("train changed the X or y it was given",
                             why=[wrong["data_modified"]])
    if not run.changed:
        return Feedback.fail(f"the weights are the same after train ({curve})",
                             why=[wrong["weights_unchanged"]])
    problems = curve_problems(run.losses, wrong, math.log(n_classes))
    if problems:
        return Feedback.fail(curve, why=problems)
    return None


def loss_falls_feedback(run: TrainingRun, wrong: dict[str, str], n_classes: int, *,
                        digits: int = 3, note: str = "") -> Feedback:
    """The falling loss's result: a `training_problem`, else the first and last losses.

    The last loss is shown with ``digits`` decimals; ``note`` ends the message either way.
    """
    problem = training_problem(run, wrong, n_classes)
    if problem is not None:
        problem.message += note
        return problem
    return Feedback.ok(f"{len(run.losses)} epochs: loss {run.losses[0]:.3f} -> "
                       f"{run.losses[-1]:.{digits}f}{note}")


def heldout_feedback(
    run: TrainingRun,
    scores: str,
    wrong: dict[str, str],
    *,
    threshold: float,
    n_classes: int,
    overfit_train: float,
    overfit_gap: float,
    close: str,
) -> Feedback:
    """The held-out score's result: passed at ``threshold`` or above, else the likely cause.

    ``scores`` is the sentence that reports the accuracies. Below ``threshold``, in order: a
    `training_problem`; overfitting (``wrong["overfitting"]``) when the training accuracy is
    at least ``overfit_train`` and more than ``overfit_gap`` above the held-out one, or when
    the last loss is below 0.05 (the training points are memorised); underfitting when the
    training accuracy is below ``threshold`` too; else ``close``, what to try next.
    """
    tr, ho = run.train_accuracy, run.heldout_accuracy
    if ho >= threshold:
        return Feedback.ok(scores)
    problem = training_problem(run, wrong, n_classes)
    if problem is not None:
        problem.message = f"{scores}; {problem.message}"
        return problem
    kwargs = {"expected": f"held-out accuracy >= {threshold:.0%}", "got": f"{ho:.1%}"}
    memorised = run.losses[-1] < 0.05  # the loss on the points train used is near 0
    if (tr >= overfit_train and tr - ho > overfit_gap) or memorised:
        return Feedback.fail(scores, why=[wrong["overfitting"]], **kwargs)
    if tr < threshold:
        return Feedback.fail(scores, why=[wrong["underfitting"]], **kwargs)
    return Feedback.fail(scores, why=[close], **kwargs)


# -- a cache of one trained result per exercise ---------------------------------------------

_SIMPLE = (int, float, str, bool, type(None))
_CACHE: dict[str, tuple[tuple[Any, ...], Any]] = {}


def _is_setting(value: Any, depth: int = 0) -> bool:
    """A plain number or short string, or a small list, tuple or dict of them (nested once)."""
    if isinstance(value, _SIMPLE):
        return not (isinstance(value, str) and len(value) > 200)
    if depth >= 2 or not isinstance(value, (list, tuple, dict)) or len(value) > 50:
        return False
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    return all(_is_setting(v, depth + 1) for v in items)


def fingerprint(ns: dict[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    """What a trained result depends on: the learner's functions and simple settings.

    The objects named ``names`` and every function, class and setting the learner defined:
    a plain number or short string, or a small list, tuple or dict of them (re-running a
    cell makes a new function object, and changing ``LR = 0.1`` or ``HIDDEN = (64, 32)``
    changes the fingerprint).
    """
    items: list[Any] = [("required", name, ns.get(name)) for name in names]
    for name, value in sorted(ns.items(), key=lambda kv: kv[0]):
        if name.startswith("_") or name in ("In", "Out"):
            continue
        if isinstance(value, (types.FunctionType, type)):
            items.append((name, value))
        elif _is_setting(value):
            items.append((name, repr(value)))
    return tuple(items)


def cached(exercise: str, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()``, or the value it gave last time for ``exercise`` with the same ``key``.

    A result that is a `CheckFailed` is cached too (it is returned, not raised).
    """
    hit = _CACHE.get(exercise)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        value = compute()
    except CheckFailed as failure:
        value = failure
    _CACHE[exercise] = (key, value)
    return value


def cached_run(exercise: str, ns: dict[str, Any], names: Sequence[str],
               compute: Callable[[], TrainingRun]) -> TrainingRun:
    """``compute()`` cached for ``exercise`` under the `fingerprint` of ``ns`` and ``names``.

    A `CheckFailed` that ``compute`` raised (now or on an earlier call) is raised again.
    """
    result = cached(exercise, fingerprint(ns, names), compute)
    if isinstance(result, CheckFailed):
        raise result
    return result
