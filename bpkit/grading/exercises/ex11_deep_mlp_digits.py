"""Checks of exercise ``11_deep_mlp_digits``: a deep MLP of the learner's design on digits.

The learner writes ``standardize(X_train, X)``, ``make_model(rng)``, ``predict(model, X)``
and ``train(model, X, y, rng)`` (their own loop or ``bp.fit``; depth, width, activation,
normalisation and optimizer are theirs). The first three are checked on their own, each
against the mistakes of its kind. Then the grader splits ``bp.load_digits()`` with a seed
the notebook does not show, runs the learner's whole pipeline (a part that fails its own
check is replaced by bpkit's, and the card says so) and scores the trained model on the
held-out images. A training check that fails (or cannot run) while ``make_model`` fails its
own check names that check's cause first rather than diagnose ``train``. Each recognised
wrong answer is in ``WRONG``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bpkit.data import Standardizer, load_digits, train_test_split
from bpkit.grading.exercises._training import (
    MODEL_WRONG,
    TRAIN_WRONG,
    TrainingRun,
    cached_run,
    heldout_feedback,
    loss_falls_feedback,
    model_feedback,
    run_training,
)
from bpkit.grading.feedback import CheckFailed, Feedback, compare
from bpkit.grading.matching import blame, earlier, named, same
from bpkit.grading.registry import register_check
from bpkit.layers import BatchNorm1d, Dropout, Linear, ReLU
from bpkit.module import Module, Sequential, preserved
from bpkit.train import predict as bp_predict

__all__ = ["HELDOUT_THRESHOLD", "WRONG"]

EXERCISE = "11_deep_mlp_digits"
#: the held-out accuracy the trained model must reach.
HELDOUT_THRESHOLD = 0.97
_SEED = 110_233  # the grader's split; not shown in the notebook
_MAX_PARAMS = 250_000

#: every recognised wrong answer: key -> the sentence the card shows for it.
WRONG: dict[str, str] = {
    **MODEL_WRONG,
    # standardize
    "not_standardised": "returned X unchanged: the pixels (0 to 16) are not standardised; "
    "subtract the training mean and divide by the training standard deviation, per pixel",
    "own_statistics": "used the statistics of X itself, not of X_train: test images then "
    "shape their own preprocessing (leakage), and a single image cannot be standardised; "
    "compute the mean and std on X_train only and apply them to X",
    "per_image": "computed the statistics of each image (axis=1): standardise each pixel "
    "over the images, mean and std with axis=0",
    "global_statistics": "used one mean and one std for all pixels: each pixel needs its "
    "own, X_train.mean(axis=0) and X_train.std(axis=0)",
    "no_centering": "divided by the std but did not subtract the mean",
    "no_scaling": "subtracted the mean but did not divide by the std",
    "min_max": "scaled the pixels into [0, 1] (divided by 16 or by the maximum) instead of "
    "standardising them to mean 0 and std 1",
    "constant_nan": "NaN or inf where a pixel is constant in X_train (std 0): use std 1 "
    "for those pixels, as bp.Standardizer does",
    "constant_blowup": "a pixel constant in X_train was divided by a tiny number (std + "
    "eps): an image with ink there gets a huge value; use std 1 where the std is 0",
    "standardize_in_place": "changed the caller's array in place (X -= ...): compute a new "
    "array instead",
    "standardized_train": "returned X_train standardised, not X: take the statistics from "
    "X_train and apply them to X, (X - mean) / std",
    "divided_by_variance": "divided by the variance, std², where the standard deviation "
    "belongs: X_train.std(axis=0)",
    # make_model (besides the shared MODEL_WRONG)
    "layer_sizes": "two neighbouring layers do not fit: each layer's input size must be the "
    "previous layer's output size (Linear(64, 128) is followed by BatchNorm1d(128) and "
    "Linear(128, ...))",
    "activation_output": "the model ends with an activation (its outputs are never "
    "negative): the last Linear layer's outputs are the logits, so put nothing after it",
    # predict
    "train_mode": "predicted in train mode: BatchNorm used the batch's own statistics (and "
    "updated its running ones) and Dropout dropped units; call model.eval() first",
    "left_eval": "left the model in eval mode: training after predict would run without "
    "Dropout and with frozen BatchNorm statistics; restore the mode it had (model.train())",
    "returned_scores": "returned one score per class (logits or probabilities): return the "
    "class indices, scores.argmax(axis=1)",
    "wrong_axis": "took the argmax over the images (axis=0): the class is the argmax over "
    "each row, axis=1",
    "argmax_flat": "argmax without an axis gives one index into all the scores flattened: "
    "the class of each image is the argmax of its row, axis=1",
    "forced_train": "switched a model that was in eval mode to train mode: restore the mode "
    "it had (was_training = model.training before, model.train(was_training) after)",
    "predict_in_place": "changed the caller's array in place",
    # train
    **TRAIN_WRONG,
    "data_modified": "train changed X or y in place (e.g. rng.shuffle(X)): the pairs of "
    "images and labels are broken; shuffle indices instead (bp.batches or bp.fit do)",
    "overfitting": "overfitting: the loss on the images train learnt from is close to 0 "
    "but far fewer held-out images are right; train on all the images you are given, add "
    "weight decay or dropout, train fewer epochs, or use a smaller model",
    "underfitting": "the model does not even fit the training images: train for more "
    "epochs, with a better learning rate, or a larger model",
}


def _fail(key: str, message: str, **kwargs: Any) -> Feedback:
    return Feedback.fail(message, why=[WRONG[key]], **kwargs)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits()


# -- part 1: standardize ---------------------------------------------------------------------------


def _as_array(out: Any, dtype: Any) -> np.ndarray | None:
    """``out`` as an array, or None when it is not one (a tuple of arrays, a string, ...)."""
    try:
        arr = np.asarray(out, dtype=dtype)
    except (TypeError, ValueError):
        return None
    return arr if arr.dtype != object else None


def _not_an_array(name: str, out: Any, expected: str) -> Feedback:
    return Feedback.fail(f"{name} returned a {type(out).__name__}, not an array",
                         expected=expected, got=type(out).__name__,
                         why=["return one array (not a tuple of several values)"])


def _standardize_data() -> tuple[np.ndarray, np.ndarray]:
    """300 training images with a pixel constant in them but not in the 60 other images."""
    X, _ = _digits()
    rng = np.random.default_rng(111)
    column = 40  # a border pixel with ink in only 9 images
    blank = np.flatnonzero(X[:, column] == 0)
    inked = np.flatnonzero(X[:, column] > 0)
    train = rng.choice(blank, 300, replace=False)
    rest = np.setdiff1d(np.arange(len(X)), train)
    other = np.concatenate([rng.choice(inked, 3, replace=False),
                            rng.choice(np.setdiff1d(rest, inked), 57, replace=False)])
    return X[train], X[other]


def _standardize_feedback(fn: Any) -> Feedback:
    X_train, X = _standardize_data()
    a, b = X_train.copy(), X.copy()
    with np.errstate(all="ignore"):
        out = fn(a, b)
    if not (np.array_equal(a, X_train) and np.array_equal(b, X)):
        return _fail("standardize_in_place", "standardize changed X_train or X")
    mu, sd = X_train.mean(axis=0), X_train.std(axis=0)
    constant = sd == 0
    right = (X - mu) / np.where(constant, 1.0, sd)
    name = "standardize(X_train, X)"
    if out is None:
        return compare(out, right, name=name)
    arr = _as_array(out, np.float64)
    if arr is None:
        return _not_an_array(name, out, f"the standardised images, shape {X.shape}")
    if arr.shape == X_train.shape and same(arr, (X_train - mu) / np.where(constant, 1.0, sd)):
        return _fail("standardized_train", f"{name} returned an array of shape {arr.shape}, "
                     "the shape of X_train", expected=str(X.shape), got=str(arr.shape))
    if arr.shape != X.shape:
        return compare(arr, right, name=name)
    varying = ~constant
    ddof1 = (X - mu) / np.where(constant, 1.0, X_train.std(axis=0, ddof=1))
    ok_varying = any(same(arr[:, varying], r[:, varying]) for r in (right, ddof1))
    if ok_varying:
        tail = arr[:, constant]
        if not np.all(np.isfinite(tail)):
            return _fail("constant_nan", f"{name} has NaN or inf in pixels constant in X_train")
        if np.any(np.abs(tail) > np.abs(right[:, constant]) + 1e-9):
            return _fail("constant_blowup", f"{name} is huge in a pixel constant in X_train",
                         got=f"largest |value| {float(np.abs(tail).max()):.3g}")
        return Feedback.ok("per-pixel statistics of X_train; constant pixels kept finite")
    with np.errstate(all="ignore"):
        own_sd = X.std(axis=0)
        img_mu, img_sd = X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)
        candidates = {
            "not_standardised": X,
            "own_statistics": (X - X.mean(axis=0)) / np.where(own_sd == 0, 1.0, own_sd),
            "per_image": (X - img_mu) / np.where(img_sd == 0, 1.0, img_sd),
            "global_statistics": (X - X_train.mean()) / X_train.std(),
            "no_centering": X / np.where(constant, 1.0, sd),
            "no_scaling": X - mu,
            "min_max": X / 16.0,
            "divided_by_variance": (X - mu) / np.where(constant, 1.0, sd**2),
        }
    key = named(arr[:, varying], ((wrong[:, varying], key) for key, wrong in candidates.items()))
    if key:
        return _fail(key, f"{name} gives other values than (X - mean) / std with X_train's "
                     "per-pixel statistics")
    if not np.all(np.isfinite(arr[:, varying])):
        return _fail("constant_nan", f"{name} contains NaN or inf")
    return compare(arr, right, name=name)


@register_check(
    exercise=EXERCISE,
    id="standardize",
    points=2,
    requires=("standardize",),
    hint="mean = X_train.mean(axis=0); std = X_train.std(axis=0); std[std == 0] = 1; "
    "return (X - mean) / std",
)
def standardize(ns: dict[str, Any]) -> Feedback:
    """standardize(X_train, X): X with the per-pixel mean and std of X_train"""
    return _standardize_feedback(ns["standardize"])


# -- part 2: the model ----------------------------------------------------------------------------


def _standardized_sample() -> tuple[np.ndarray, np.ndarray]:
    X, y = _digits()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.5, rng=112, stratify=True)
    return Standardizer().fit(X_train).transform(X_train[:256]), y_train[:256]


@register_check(
    exercise=EXERCISE,
    id="model",
    points=2,
    requires=("make_model",),
    hint="bp.Sequential(bp.Linear(64, 128, rng=rng), bp.BatchNorm1d(128), bp.ReLU(), "
    "bp.Linear(128, 64, rng=rng), ..., bp.Linear(64, 10, rng=rng))",
)
def model(ns: dict[str, Any]) -> Feedback:
    """make_model(rng): 64 pixels -> 10 logits, at least 2 hidden layers, initial loss ~ ln 10"""
    Z, y = _standardized_sample()
    try:
        fb = model_feedback(ns["make_model"], Z, y, 10, tolerance=0.5,
                            max_params=_MAX_PARAMS, min_hidden=2)
    except ValueError as exc:
        if "expected input of shape" not in str(exc):
            raise
        return _fail("layer_sizes", f"your model cannot run on X of shape {Z.shape}",
                     got=f"{type(exc).__name__}: {exc}")
    if not fb.passed:
        return fb
    net = ns["make_model"](np.random.default_rng(1))
    with preserved(net), np.errstate(all="ignore"):
        net.eval()
        out = np.asarray(net(Z.copy()), dtype=np.float64)
    if np.all(out >= 0):
        return _fail("activation_output", "every output of the model is >= 0 on 256 "
                     "standardised images", got=f"smallest output {float(out.min()):.3g}")
    return fb


# -- part 3: predict ------------------------------------------------------------------------------


def _predict_setup() -> tuple[Module, np.ndarray]:
    """A small trained-looking network with BatchNorm and Dropout, and 40 inputs."""
    rng = np.random.default_rng(113)
    net = Sequential(Linear(64, 16, rng=rng), BatchNorm1d(16), ReLU(), Dropout(0.5, rng=rng),
                     Linear(16, 10, rng=rng))
    bn = net[1]
    bn.running_mean = rng.standard_normal(16) * 2.0
    bn.running_var = rng.uniform(0.2, 3.0, 16)
    return net, rng.standard_normal((40, 64))


def _predict_feedback(fn: Any) -> Feedback:
    net, Z = _predict_setup()
    with preserved(net):
        net.eval()
        right = np.asarray(net(Z)).argmax(axis=1)
    buffers = [np.array(b, copy=True) for _, b in net.named_buffers()]
    Zc = Z.copy()
    out = fn(net, Zc)
    if not np.array_equal(Zc, Z):
        return _fail("predict_in_place", "predict changed the X it was given")
    moved = any(not np.array_equal(a, b)
                for a, (_, b) in zip(buffers, net.named_buffers(), strict=True))
    if out is None:
        return compare(out, right, name="predict(model, X)")
    arr = _as_array(out, None)
    if arr is None:
        return _not_an_array("predict(model, X)", out,
                             f"the class index of every row, shape ({len(Z)},)")
    if arr.shape == (len(Z), 10):
        return _fail("returned_scores", f"predict returned an array of shape {arr.shape}",
                     expected=f"class indices of shape ({len(Z)},)", got=str(arr.shape))
    if arr.shape == (10,) or arr.shape == (64,):
        return _fail("wrong_axis", f"predict returned an array of shape {arr.shape}",
                     expected=f"({len(Z)},)", got=str(arr.shape))
    if arr.shape == ():
        return _fail("argmax_flat", "predict returned a single number",
                     expected=f"class indices of shape ({len(Z)},)", got=str(arr))
    if moved:
        return _fail("train_mode", "predict changed BatchNorm's running statistics")
    if arr.shape != right.shape or not np.array_equal(arr, right):
        fb = compare(arr, right, name="predict(model, X)")
        if arr.shape == right.shape:
            return blame(fb, WRONG["train_mode"] + " (the predictions differ from eval mode's)")
        return fb
    if not all(m.training for m in net.modules()):
        return _fail("left_eval", "after predict the model is in eval mode; it was in train "
                     "mode before")
    net.eval()
    fn(net, Z.copy())
    if any(m.training for m in net.modules()):
        return _fail("forced_train", "after predict the model is in train mode; it was in eval "
                     "mode before")
    return Feedback.ok("eval-mode class indices; the model's mode and statistics unchanged")


@register_check(
    exercise=EXERCISE,
    id="predict",
    points=2,
    requires=("predict",),
    hint="model.eval(); classes = model(X).argmax(axis=1); model.train(); return classes",
)
def predict(ns: dict[str, Any]) -> Feedback:
    """predict(model, X): class indices from eval mode, the model's mode restored"""
    return _predict_feedback(ns["predict"])


# -- part 4: train, scored on held-out digits -----------------------------------------------


def _train_run(ns: dict[str, Any]) -> TrainingRun:
    """The learner's pipeline on the grader's split (a part failing its check is bpkit's)."""
    X, y = _digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, rng=_SEED, stratify=True)
    replaced = []
    std = ns.get("standardize")
    if std is None or not _standardize_feedback(std).passed:
        scaler = Standardizer().fit(X_tr)
        Z_tr, Z_te = scaler.transform(X_tr), scaler.transform(X_te)
        replaced.append("standardize")
    else:
        Z_tr, Z_te = np.asarray(std(X_tr, X_tr)), np.asarray(std(X_tr, X_te))
    pred = ns.get("predict")
    if pred is None or not _predict_feedback(pred).passed:
        pred = bp_predict
        replaced.append("predict")

    def accuracy(model: Module, Z: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(np.asarray(pred(model, Z)) == labels))

    return run_training(ns, (Z_tr, y_tr), (Z_te, y_te), np.random.default_rng(_SEED + 1),
                        accuracy, replaced=replaced)


def _run(ns: dict[str, Any]) -> TrainingRun:
    names = ("standardize", "make_model", "predict", "train")
    return cached_run(EXERCISE, ns, names, lambda: _train_run(ns))


def _note(run: TrainingRun) -> str:
    if not run.replaced:
        return ""
    names = " and ".join(run.replaced)
    return f" (your {names} fails its own check, so bpkit's was used here)"


@register_check(
    exercise=EXERCISE,
    id="loss_falls",
    points=1,
    requires=("make_model", "train"),
    hint="return the per-epoch losses (bp.fit's History works too); the last should be "
    "well below the first",
    timeout=60,
)
def loss_falls(ns: dict[str, Any]) -> Feedback:
    """train(model, X, y, rng) returns per-epoch losses that fall below half the first"""
    return _model_first(ns, lambda run: loss_falls_feedback(run, WRONG, 10, digits=4,
                                                           note=_note(run)))


@register_check(
    exercise=EXERCISE,
    id="heldout",
    points=4,
    requires=("make_model", "train"),
    hint="64-128-64-10 with BatchNorm and ReLU, Adam (lr = 3e-3) with a cosine schedule, "
    "batches of 32, 15-20 epochs: about 98%",
    timeout=60,
)
def heldout(ns: dict[str, Any]) -> Feedback:
    """at least 97% accuracy on 450 digits the grader holds back"""
    def judge(run: TrainingRun) -> Feedback:
        scores = (f"held-out accuracy {run.heldout_accuracy:.1%} (450 images), training "
                  f"accuracy {run.train_accuracy:.1%}{_note(run)}")
        return heldout_feedback(run, scores, WRONG, threshold=HELDOUT_THRESHOLD, n_classes=10,
                                overfit_train=0.99, overfit_gap=0.03,
                                close="close: try weight decay, a learning-rate schedule or "
                                "a few more epochs")

    return _model_first(ns, judge)


def _model_first(ns: dict[str, Any], judge: Callable[[TrainingRun], Feedback]) -> Feedback:
    """``judge`` of the training run; when the run fails (or cannot run) and the learner's
    ``make_model`` fails its own check, the failure names that check's cause instead of
    diagnosing ``train`` (a model that cannot learn is not a learning-rate problem)."""
    try:
        fb = judge(_run(ns))
    except Exception as exc:  # noqa: BLE001 - re-raised unless the model explains it
        cause = _model_cause(ns)
        if cause is None:
            raise
        failure = exc.feedback if isinstance(exc, CheckFailed) else None
        text = (str(exc).splitlines() or [""])[0][:200]
        message = (failure.message if failure else
                   f"training raised {type(exc).__name__}{': ' + text if text else ''}")
        return earlier(cause, "model", "your make_model is wrong", message)
    cause = None if fb.passed else _model_cause(ns)
    return fb if cause is None else earlier(cause, "model", "your make_model is wrong",
                                            fb.message)


def _model_cause(ns: dict[str, Any]) -> Feedback | None:
    """The `model` check's failure, or None when it passes or cannot judge (it raised)."""
    try:
        fb = model(ns)
    except CheckFailed as exc:
        fb = exc.feedback
    except Exception:  # noqa: BLE001 - the model check reports its own error
        return None
    return None if fb.passed else fb
