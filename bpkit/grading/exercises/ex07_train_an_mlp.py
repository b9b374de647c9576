"""Checks of exercise ``07_train_an_mlp``: build an MLP and train it on a spiral.

The learner writes ``make_model(rng)``, ``train_step(model, loss_fn, optimizer, Xb, yb)``,
``train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng)`` and ``train(model, X, y,
rng)``. The checks watch what the code does: ``train_step`` and ``train_epoch`` run on a
grader's model whose first layer, loss and optimizer log every forward pass (with its rows),
loss, ``zero_grad``, backward pass and ``step`` (see ``_training``), so a missing or
misplaced line, a softmax before the loss, X shuffled without y or an unweighted epoch mean
are named. ``train`` is run on a spiral made from a seed the notebook does not show and
scored on a second, held-out spiral. Each recognised wrong answer is in ``WRONG``.

One slip costs its own part: ``train_epoch`` is checked with a right ``train_step`` in place
of a learner's that fails its check (the card says so), and the checks that run earlier
parts (the memorising sanity check, the training) first name the failing part they rely on
(`matching.earlier`) instead of diagnosing a learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.data import make_spiral
from bpkit.grading.exercises._learner import names_used, naming, with_globals
from bpkit.grading.exercises._training import (
    MODEL_WRONG,
    TRAIN_WRONG,
    Recorder,
    RecordingLoss,
    RecordingOptimizer,
    TrainingRun,
    cached_run,
    curve_problems,
    heldout_feedback,
    loss_falls_feedback,
    model_feedback,
    params_of,
    rows_are_probabilities,
    run_training,
)
from bpkit.grading.feedback import CheckFailed, Feedback, compare
from bpkit.grading.matching import first_cause, named, same
from bpkit.grading.registry import register_check
from bpkit.layers import GELU, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from bpkit.losses import CrossEntropyLoss
from bpkit.module import Module, Sequential, preserved
from bpkit.optim import SGD, Adam
from bpkit.train import evaluate

__all__ = ["HELDOUT_THRESHOLD", "WRONG"]

EXERCISE = "07_train_an_mlp"
#: the held-out accuracy ``train`` must reach.
HELDOUT_THRESHOLD = 0.95
_SEED = 70_417  # the grader's spiral; not shown in the notebook
_N_TRAIN, _N_HELDOUT = 300, 600
_MAX_PARAMS = 20_000

#: every recognised wrong answer: key -> the sentence the card shows for it.
WRONG: dict[str, str] = {
    **{k: v for k, v in MODEL_WRONG.items() if k != "shallow"},
    "activation_output": "the model ends with an activation: its outputs are squeezed (never "
    "negative after a ReLU, between 0 and 1 after a sigmoid), but logits are raw scores of "
    "any sign; end with the last bp.Linear",
    # train_step
    "softmax_before_loss": "applied a softmax before CrossEntropyLoss: the loss expects "
    "logits (raw scores) and applies the log-softmax itself; pass model(Xb) to loss_fn "
    "directly",
    "no_backward": "forgot model.backward(loss_fn.backward()): no gradient reaches the "
    "weights, so step() has nothing to apply",
    "no_step": "forgot optimizer.step(): the gradients are computed but the weights never "
    "change",
    "no_zero_grad": "forgot optimizer.zero_grad(): backward adds into .grad, so every step "
    "also applies the gradients of all the earlier batches",
    "zero_grad_after_backward": "called zero_grad() between backward and step: it wipes "
    "the gradients just computed, so step() applies zeros",
    "step_before_backward": "called step() before backward: each step applies the gradient "
    "left over from the previous batch (or zeros), not this batch's",
    "backward_twice": "ran backward twice in one step: the gradients add up to twice their "
    "value",
    "ascent": "the weights moved up the gradient (p += lr * grad): gradient descent "
    "subtracts, p -= lr * grad; let optimizer.step() do it",
    "own_optimizer": "the weights changed, but not through the optimizer you were given: "
    "use the optimizer argument (optimizer.step()), do not make a new one",
    "backward_logits": "model.backward was given the logits: it takes the gradient of the "
    "loss with respect to the logits, model.backward(loss_fn.backward())",
    "loss_backward_argument": "loss_fn.backward() takes no argument: the loss keeps what "
    "its forward pass saw; call loss_fn.backward() and give its result to model.backward",
    "backward_loss_value": "model.backward takes the gradient of the loss with respect to "
    "the logits, loss_fn.backward() (an array of the logits' shape), not the loss value",
    "returns_none": "train_step returned None: return the batch's loss, the float loss_fn "
    "gave",
    "returns_after": "returned the loss after the update: return the loss computed in the "
    "forward pass, before step()",
    # train_epoch
    "full_batch": "used the whole training set in one step: split it into mini-batches of "
    "batch_size points (bp.batches does it)",
    "dropped_last": "skipped the last, smaller batch: when N is not a multiple of "
    "batch_size, the remaining N mod batch_size points form a batch of their own",
    "missed_points": "some points were used twice in the epoch and others not at all: an "
    "epoch visits every point exactly once, in a shuffled order",
    "shuffled_x_only": "shuffled X but not y (or with different permutations): every point "
    "is trained with another point's label; index both with the same permutation",
    "no_shuffle": "the points come in their stored order: shuffle them every epoch "
    "(bp.batches(X, y, batch_size, rng=rng) or rng.permutation(len(X)))",
    "same_order": "every epoch uses the same order: draw a new permutation from rng each "
    "epoch (do not re-seed a generator inside train_epoch)",
    "global_rng": "the order does not come from the rng you were given (np.random's global "
    "functions or an unseeded generator): use rng.permutation or bp.batches(..., rng=rng) "
    "so that training can be reproduced",
    "returned_last": "returned the loss of the last batch only: return the epoch's mean "
    "loss per point, sum(loss_b * len(Xb)) / len(X)",
    "unweighted_mean": "averaged the batch losses without weighting them by their size: "
    "the last batch is smaller, so use sum(loss_b * len(Xb)) / len(X)",
    "divided_by_batch_size": "divided the summed loss by batch_size: divide by len(X), the "
    "number of points, since the last batch is smaller",
    "returned_sum": "returned the sum of the batch losses: divide by the number of points "
    "(weighting each batch's loss by its size)",
    "epoch_none": "train_epoch returned None: return the epoch's mean loss",
    "in_place": "changed X or y in place (rng.shuffle(X) shuffles the caller's array, and "
    "shuffling X and y separately breaks their pairs): shuffle an index array instead, "
    "order = rng.permutation(len(X))",
    # sanity check 2
    "cannot_memorise": "your model and train_step cannot memorise 10 points: the model is "
    "too small (or some units are dead from the start); make it wider",
    # train
    **TRAIN_WRONG,
    "own_model": "the loss fell but the model given to train did not change: train that "
    "model (its parameters go to the optimizer); do not make a new one inside train",
    "data_modified": "train changed X or y in place (e.g. rng.shuffle(X)): the pairs of "
    "points and labels are broken; shuffle indices instead",
    "overfitting": "overfitting: the loss on the points train learnt from is close to 0 "
    "but far fewer held-out points are right; train on all the points you are given, use "
    "a smaller model, fewer epochs or weight decay",
    "underfitting": "the model does not even fit the training points: train for more "
    "epochs, with a larger learning rate, or a wider model",
}


def _fail(key: str, message: str, **kwargs: Any) -> Feedback:
    return Feedback.fail(message, why=[WRONG[key]], **kwargs)


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return make_spiral(n, 3, noise=0.2, rng=seed)


# -- part 1: the model ---------------------------------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="model",
    points=2,
    requires=("make_model",),
    hint="bp.Sequential(bp.Linear(2, H, rng=rng), bp.ReLU(), ..., bp.Linear(H, 3, rng=rng))",
)
def model(ns: dict[str, Any]) -> Feedback:
    """make_model(rng): 2 inputs -> 3 logits, non-linear, reproducible, initial loss near ln 3"""
    X, y = _data(_SEED + 10, 150)
    fb = model_feedback(ns["make_model"], X, y, 3, tolerance=0.3, max_params=_MAX_PARAMS)
    if fb.passed and _ends_with_activation(ns["make_model"](np.random.default_rng(1)), X):
        return _fail("activation_output", "the model's last layer is an activation")
    return fb


_ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh, GELU)


def _ends_with_activation(net: Module, X: np.ndarray) -> bool:
    """True when ``net`` is a Sequential ending in an activation, or its outputs on ``X``
    (train mode, as training starts) are never negative."""
    if isinstance(net, Sequential) and net.layers and isinstance(net.layers[-1], _ACTIVATIONS):
        return True
    with preserved(net), np.errstate(all="ignore"):
        return bool(np.all(np.asarray(net(X.copy())) >= 0))


# -- part 2: one training step ---------------------------------------------------------------------


@dataclass
class _Setup:
    log: list[Any]
    model: Module
    loss_fn: RecordingLoss
    optimizer: RecordingOptimizer
    X: np.ndarray
    y: np.ndarray


def _setup(seed: int, n: int, lr: float) -> _Setup:
    """A small grader's MLP 2-6-3 whose input layer, loss and optimizer log what happens."""
    log: list[Any] = []
    rng = np.random.default_rng(seed)
    net = Sequential(Recorder(log), Linear(2, 6, rng=rng), ReLU(), Linear(6, 3, rng=rng))
    loss_fn = RecordingLoss(log)
    optimizer = RecordingOptimizer(SGD(net.parameters(), lr=lr), log)
    X = rng.standard_normal((n, 2))
    y = rng.integers(0, 3, n)
    return _Setup(log, net, loss_fn, optimizer, X, y)


def _right_step(model: Module, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray
                ) -> float:
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    model.backward(loss_fn.backward())
    optimizer.step()
    return loss


def _ascent_step(model: Module, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray
                 ) -> float:
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data += optimizer.lr * p.grad
    return loss


def _logits_step(model: Module, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray
                 ) -> float:
    logits = model(X)
    loss = loss_fn(logits, y)
    optimizer.zero_grad()
    model.backward(logits)
    optimizer.step()
    return loss


#: wrong steps whose lines come in the right order, told apart by the weights they give.
_WRONG_STEPS = ((_logits_step, "backward_logits"),)

_STEP_LR, _STEP_N = 0.5, 12


def _simulate(step: Any) -> tuple[list[np.ndarray], list[float], list[float]]:
    """Parameters after two steps of ``step``, the losses before and after each step."""
    s = _setup(71, 2 * _STEP_N, _STEP_LR)
    before, after = [], []
    for k in range(2):
        Xb, yb = s.X[k * _STEP_N:(k + 1) * _STEP_N], s.y[k * _STEP_N:(k + 1) * _STEP_N]
        before.append(step(s.model, CrossEntropyLoss(), s.optimizer.inner, Xb, yb))
        after.append(CrossEntropyLoss()(s.model(Xb), yb))
    return params_of(s.model), before, after


_PARAMS = {"rtol": 1e-9, "atol": 1e-12}  # the same weights, up to rounding
_LOSS = {"rtol": 1e-9, "atol": 0.0}  # the same loss value, up to rounding


def _order_problem(tags: list[str], changed: bool, params: list[np.ndarray]) -> str | None:
    """The key of what is wrong with one call's events, or None."""
    if "backward" not in tags:
        return "no_backward"
    if "step" not in tags:
        if changed:
            return ("ascent" if same(params, _simulate(_ascent_step)[0], **_PARAMS)
                    else "own_optimizer")
        return "no_step"
    if tags.count("backward") > 1:
        return "backward_twice"
    first_back, first_step = tags.index("backward"), tags.index("step")
    if first_step < first_back:
        return "step_before_backward"
    zeros = [i for i, t in enumerate(tags) if t == "zero_grad"]
    if any(first_back < i < first_step for i in zeros):
        return "zero_grad_after_backward"
    if not zeros:
        return "no_zero_grad"
    return None


def _call_step(fn: Any, s: _Setup, Xb: np.ndarray, yb: np.ndarray) -> Any:
    try:
        with naming(TypeError, "Loss.backward() takes 1 positional argument",
                    "loss_fn.backward was given an argument", WRONG["loss_backward_argument"],
                    [__file__]):
            return fn(s.model, s.loss_fn, s.optimizer, Xb, yb)
    except (TypeError, ValueError) as exc:
        if "grad_output" in str(exc) and "float" in str(exc):
            raise CheckFailed(Feedback.fail(
                "model.backward was given the loss value",
                got=f"{type(exc).__name__}: {exc}",
                why=[WRONG["backward_loss_value"]],
            )) from None
        raise


def _step_feedback(ns: dict[str, Any]) -> Feedback:
    s = _setup(71, 2 * _STEP_N, _STEP_LR)
    start = params_of(s.model)
    right_params, right_before, right_after = _simulate(_right_step)
    outs, calls = [], []
    for k in range(2):
        Xb = s.X[k * _STEP_N:(k + 1) * _STEP_N].copy()
        yb = s.y[k * _STEP_N:(k + 1) * _STEP_N].copy()
        mark = len(s.log)
        outs.append(_call_step(ns["train_step"], s, Xb, yb))
        calls.append(s.log[mark:])
        if not (np.array_equal(Xb, s.X[k * _STEP_N:(k + 1) * _STEP_N])
                and np.array_equal(yb, s.y[k * _STEP_N:(k + 1) * _STEP_N])):
            return _fail("in_place", "train_step changed the batch it was given")
    params = params_of(s.model)
    if not same(params, right_params, **_PARAMS):
        probs = [p for tag, p in calls[1] if tag == "loss" and rows_are_probabilities(p[0])]
        if probs:
            return _fail("softmax_before_loss", "the loss was given probabilities, not logits")
        changed = not same(params, start, **_PARAMS)
        key = _order_problem([tag for tag, _ in calls[1]], changed, params)
        message = ("after two calls of train_step (SGD, lr = 0.5), the weights differ from "
                   "forward, loss, zero_grad, backward, step")
        if key is None:
            key = named(params, ((_simulate(wrong)[0], k) for wrong, k in _WRONG_STEPS),
                        **_PARAMS)
        if key is not None:
            return _fail(key, message)
        return Feedback.fail(message, why=["compare your lines with the five of the loop"])
    for k, out in enumerate(outs):
        if out is None:
            return _fail("returns_none", "train_step returned None")
        try:
            value = float(out)
        except (TypeError, ValueError):
            return Feedback.fail(
                "train_step did not return a number",
                expected="the batch's loss, a float", got=type(out).__name__,
                why=["return the float that loss_fn(logits, yb) gave"],
            )
        if not same(value, right_before[k], **_LOSS):
            if named(value, [(right_after[k], "returns_after")], **_LOSS):
                return _fail("returns_after", f"train_step returned {value:.6f}",
                             expected=f"{right_before[k]:.6f}", got=f"{value:.6f}")
            return compare(value, right_before[k], name="the loss train_step returned",
                           rtol=1e-9)
    return Feedback.ok("forward, loss, zero_grad, backward, step: the weights match after "
                       "two steps")


@register_check(
    exercise=EXERCISE,
    id="train_step",
    points=3,
    requires=("train_step",),
    hint="logits = model(Xb); loss = loss_fn(logits, yb); optimizer.zero_grad(); "
    "model.backward(loss_fn.backward()); optimizer.step(); return loss",
)
def train_step(ns: dict[str, Any]) -> Feedback:
    """train_step: forward, loss, zero_grad, backward, step; returns the batch's loss"""
    return _step_feedback(ns)


# -- part 3: one epoch ---------------------------------------------------------------------------

_EPOCH_N, _EPOCH_B = 50, 16


def _steps(events: list[Any]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The training steps of a log: (rows fed to the model, labels, loss) per step.

    A step ends with a backward pass through the model; without any backward pass, every
    loss call counts as a step.
    """
    ends = "backward" if any(tag == "backward" for tag, _ in events) else "loss"
    out, x, loss = [], None, None
    for tag, payload in events:
        if tag == "forward":
            x = payload
        elif tag == "loss":
            loss = payload
            if ends == "loss" and x is not None:
                out.append((x, payload[1], payload[2]))
        elif tag == "backward" and ends == "backward" and x is not None and loss is not None:
            out.append((x, loss[1], loss[2]))
            loss = None
    return out


def _indices(rows: np.ndarray, where: dict[bytes, int]) -> list[int] | None:
    found = [where.get(np.asarray(r, dtype=np.float64).tobytes()) for r in rows]
    return None if any(i is None for i in found) else [int(i) for i in found]


def _run_epochs(fn: Any, seed: int, epochs: int) -> tuple[_Setup, list[Any], list[list[Any]]]:
    s = _setup(seed, _EPOCH_N, 0.1)
    X, y = s.X.copy(), s.y.copy()
    gen = np.random.default_rng(1234)
    outs, logs = [], []
    for _ in range(epochs):
        mark = len(s.log)
        outs.append(fn(s.model, s.loss_fn, s.optimizer, X, y, _EPOCH_B, gen))
        logs.append(s.log[mark:])
    if not (np.array_equal(X, s.X) and np.array_equal(y, s.y)):
        raise CheckFailed(_fail("in_place", "train_epoch changed X or y"))
    return s, outs, logs


def _epoch_feedback(ns: dict[str, Any]) -> Feedback:
    """train_epoch's own result: with a right train_step in place of the learner's when
    theirs fails its check (one slip costs its own part), and the card says so."""
    fn = ns["train_epoch"]
    if "train_step" not in names_used(fn) or _passes(train_step, ns):
        return _epoch_of(fn)
    fb = _epoch_of(with_globals(fn, {"train_step": _right_step}))
    fb.message += (" (run with a correct train_step in place of yours, which fails its own "
                   "check)")
    return fb


def _epoch_of(fn: Any) -> Feedback:
    s, outs, logs = _run_epochs(fn, 72, 2)
    n, b = _EPOCH_N, _EPOCH_B
    where = {row.tobytes(): i for i, row in enumerate(s.X)}
    expected_sizes = [b] * (n // b) + ([n % b] if n % b else [])
    orders = []
    for epoch, events in enumerate(logs, start=1):
        steps = _steps(events)
        sizes = [len(x) for x, _, _ in steps]
        if sizes != expected_sizes:
            msg = f"epoch {epoch} of N = {n} points with batch_size = {b}: batch sizes {sizes}"
            kwargs = {"expected": str(expected_sizes), "got": str(sizes)}
            if sizes == [n]:
                return _fail("full_batch", msg, **kwargs)
            if sizes == [b] * (n // b):
                return _fail("dropped_last", msg, **kwargs)
            return Feedback.fail(msg, why=["each step trains on one mini-batch; there are "
                                           "ceil(N / batch_size) of them"], **kwargs)
        order: list[int] = []
        for x, yb, _ in steps:
            idx = _indices(x, where)
            if idx is None:
                return Feedback.fail(f"epoch {epoch}: the model was given rows that are not "
                                     "rows of X", why=["feed the rows of X, unchanged"])
            if not np.array_equal(np.asarray(yb), s.y[idx]):
                return _fail("shuffled_x_only", f"epoch {epoch}: the labels given to the loss "
                             "are not the labels of the points given to the model")
            order += idx
        if sorted(order) != list(range(n)):
            return _fail("missed_points", f"epoch {epoch}: {len(set(order))} different "
                         f"points of {n} were used")
        orders.append(order)
    if orders[0] == list(range(n)):
        return _fail("no_shuffle", "the first epoch used the points in the order 0, 1, 2, ...")
    if orders[1] == orders[0]:
        return _fail("same_order", "the second epoch used the same order as the first")
    _, _, again = _run_epochs(fn, 72, 1)
    again_order = [i for x, _, _ in _steps(again[0]) for i in (_indices(x, where) or [])]
    if again_order != orders[0]:
        return _fail("global_rng", "two runs with generators of the same seed shuffled "
                     "differently")
    for epoch, (out, events) in enumerate(zip(outs, logs, strict=True), start=1):
        steps = _steps(events)
        losses = np.array([v for _, _, v in steps])
        sizes = np.array([len(x) for x, _, _ in steps])
        right = float(np.sum(losses * sizes) / n)
        if out is None:
            return _fail("epoch_none", "train_epoch returned None")
        try:
            value = float(out)
        except (TypeError, ValueError):
            return Feedback.fail("train_epoch did not return a number",
                                 expected="the epoch's mean loss, a float",
                                 got=type(out).__name__,
                                 why=["return the epoch's mean loss as one float, "
                                      "sum(loss_b * len(Xb)) / len(X), not a list or array"])
        if same(value, right, **_LOSS):
            continue
        key = named(value, [(losses[-1], "returned_last"), (losses.mean(), "unweighted_mean"),
                            (losses.sum(), "returned_sum"),
                            (np.sum(losses * sizes) / _EPOCH_B, "divided_by_batch_size")],
                    **_LOSS)
        if key:
            return _fail(key, f"epoch {epoch}: train_epoch returned {value:.6f}",
                         expected=f"{right:.6f}", got=f"{value:.6f}")
        return compare(value, right, name=f"the mean loss of epoch {epoch}", rtol=1e-9)
    return Feedback.ok(f"{len(expected_sizes)} shuffled batches per epoch, every point once "
                       "with its own label, the mean loss per point returned")


@register_check(
    exercise=EXERCISE,
    id="train_epoch",
    points=2,
    requires=("train_epoch",),
    hint="for Xb, yb in bp.batches(X, y, batch_size, rng=rng): total += train_step(...) * "
    "len(Xb); return total / len(X)",
)
def train_epoch(ns: dict[str, Any]) -> Feedback:
    """train_epoch: every point once per epoch, shuffled with rng, mean loss per point"""
    return _epoch_feedback(ns)


# -- what the later checks rely on ---------------------------------------------------------------


def _passes(check: Any, ns: dict[str, Any]) -> bool:
    """Whether ``check`` passes on ``ns`` (a part not attempted yet raises as it is)."""
    try:
        with np.errstate(all="ignore"):
            return check(ns).passed
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - CheckFailed or the learner's error: it fails
        return False


#: check id -> (check id, the check, what its failure means for a check relying on it).
_PARTS: dict[str, tuple[str, Any, str]] = {
    "model": ("model", model, "your make_model is wrong"),
    "train_step": ("train_step", train_step, "your train_step is wrong"),
    "train_epoch": ("train_epoch", train_epoch, "your train_epoch is wrong"),
}


def _relies_on(ns: dict[str, Any], ids: tuple[str, ...], fb: Feedback) -> Feedback:
    """``fb``, the failure of a check that relies on the parts ``ids`` (in the notebook's
    order), referring to the first of them that fails its own check (`first_cause`)."""
    return first_cause(ns, [_PARTS[i] for i in ids], fb)


def _used_by_train(ns: dict[str, Any]) -> tuple[str, ...]:
    """The parts ``train`` runs: make_model's model always, train_epoch if train calls it,
    train_step if train or train_epoch calls it."""
    train_names = names_used(ns.get("train"))
    ids = ["model"]
    if "train_step" in train_names or ("train_epoch" in train_names
                                       and "train_step" in names_used(ns.get("train_epoch"))):
        ids.append("train_step")
    if "train_epoch" in train_names:
        ids.append("train_epoch")
    return tuple(ids)


def _training_check(ns: dict[str, Any], judge: Any) -> Feedback:
    """``judge(run)`` of the learner's training run; when it fails (or the run raises), the
    failure of a part ``train`` relies on comes first."""
    try:
        fb = judge(_run(ns))
    except NotImplementedError:
        raise
    except Exception as exc:
        raised = exc.feedback if isinstance(exc, CheckFailed) else Feedback.fail(
            "train raised an error")
        cause = _relies_on(ns, _used_by_train(ns), raised)
        if cause is raised:
            raise
        return cause
    return fb if fb.passed else _relies_on(ns, _used_by_train(ns), fb)


# -- part 4: sanity check 2, memorise 10 points ----------------------------------------------------


@register_check(
    exercise=EXERCISE,
    id="overfit_tiny",
    points=1,
    requires=("make_model", "train_step"),
    hint="your model and train_step must drive the loss of 10 points towards 0",
)
def overfit_tiny(ns: dict[str, Any]) -> Feedback:
    """sanity check: your model and train_step memorise 10 spiral points"""
    X, y = _data(_SEED + 20, 300)
    away = np.linalg.norm(X, axis=1) > 0.3  # the arms' centres coincide: skip them
    X, y = X[away][:10].copy(), y[away][:10].copy()
    net = ns["make_model"](np.random.default_rng(_SEED + 21))
    if not isinstance(net, Module):
        return Feedback.fail("make_model(rng) did not return a bp.Module",
                             why=[WRONG["not_module"]])
    loss_fn = CrossEntropyLoss()
    optimizer = Adam(net.parameters(), lr=0.01)
    try:
        with np.errstate(all="ignore"):
            for _ in range(300):
                ns["train_step"](net, loss_fn, optimizer, X, y)
            final = float(loss_fn(net(X), y))
    except NotImplementedError:
        raise
    except Exception:
        raised = Feedback.fail("your train_step raised an error here")
        cause = _relies_on(ns, ("model", "train_step"), raised)
        if cause is raised:
            raise
        return cause
    correct = int(np.sum(np.asarray(net(X)).argmax(axis=1) == y))
    if final < 0.05 and correct == 10:
        return Feedback.ok(f"300 Adam steps on 10 points: loss {final:.2g}, 10/10 right")
    message = f"after 300 Adam steps (lr = 0.01) on 10 points: loss {final:.3g}, " \
              f"{correct}/10 right"
    return _relies_on(ns, ("model", "train_step"), _fail("cannot_memorise", message))


# -- part 5: train, scored on a held-out spiral ---------------------------------------------


def _accuracy(model: Module, X: np.ndarray, y: np.ndarray) -> float:
    return evaluate(model, CrossEntropyLoss(), X, y)["accuracy"]


def _train_run(ns: dict[str, Any]) -> TrainingRun:
    """The learner's model trained on the grader's spiral, scored on a second spiral."""
    return run_training(ns, _data(_SEED, _N_TRAIN), _data(_SEED + 1, _N_HELDOUT),
                        np.random.default_rng(_SEED + 2), _accuracy)


def _run(ns: dict[str, Any]) -> TrainingRun:
    names = ("make_model", "train", "train_epoch", "train_step")
    return cached_run(EXERCISE, ns, names, lambda: _train_run(ns))


@register_check(
    exercise=EXERCISE,
    id="loss_falls",
    points=1,
    requires=("make_model", "train"),
    hint="return the list of the epochs' mean losses; the last should be well below the first",
    timeout=60,
)
def loss_falls(ns: dict[str, Any]) -> Feedback:
    """train(model, X, y, rng) returns per-epoch losses that fall below half the first"""
    return _training_check(ns, lambda run: _own_model(run) or loss_falls_feedback(run, WRONG, 3))


@register_check(
    exercise=EXERCISE,
    id="heldout",
    points=3,
    requires=("make_model", "train"),
    hint="2 hidden layers of 16-32 ReLU units, Adam with lr = 0.01, batches of 32 and about "
    "100 epochs reach 98% or more",
    timeout=60,
)
def heldout(ns: dict[str, Any]) -> Feedback:
    """at least 95% accuracy on a held-out spiral the grader generates"""
    return _training_check(ns, _heldout_of)


def _heldout_of(run: TrainingRun) -> Feedback:
    scores = (f"held-out accuracy {run.heldout_accuracy:.1%} ({_N_HELDOUT} points), "
              f"training accuracy {run.train_accuracy:.1%}")
    if run.heldout_accuracy < HELDOUT_THRESHOLD and _own_model(run):
        return _own_model(run, scores)
    return heldout_feedback(run, scores, WRONG, threshold=HELDOUT_THRESHOLD, n_classes=3,
                            overfit_train=0.98, overfit_gap=0.05,
                            close="close: train a little longer or try another learning rate")


def _own_model(run: TrainingRun, scores: str = "") -> Feedback | None:
    """A failure when the losses train returned fell but the model it was given did not
    change (train trained a model of its own), else None."""
    if run.changed or run.modified or curve_problems(run.losses, WRONG, np.log(3)):
        return None
    curve = f"loss {run.losses[0]:.4g} in epoch 1, {run.losses[-1]:.4g} in epoch {len(run.losses)}"
    return _fail("own_model", f"{scores}; " * bool(scores) + f"the model given to train is "
                 f"unchanged, while the losses fell ({curve})")
