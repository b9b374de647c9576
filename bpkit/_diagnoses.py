"""The diagnoses of bpkit.gradcheck: what kind of mistake a failing gradient resembles.

Given a tensor whose analytic gradient disagrees with its numerical one, the functions here
name the common mistake it looks like: no gradient at all, the wrong shape, NaN, all zeros,
sign flipped, transposed, off by a constant factor (the batch size, 2, ...), or wrong only
in some entries (in one row, or where the input is negative), and whether a mismatch sits at
a kink of the function (a false alarm of the numerical check). Others come from watching
the call: not accumulated (``=`` instead of ``+=``), input or upstream gradient modified in
place, non-deterministic forward, float32 input. Each returns a ``Finding``; the checks in
``bpkit.gradcheck`` collect them into the report. This module does not import
``bpkit.gradcheck``.

The same words serve the grader: ``value_findings`` compares a learner's value with the
right one (``bpkit.grading.compare`` calls it) and names the same mistakes (nothing
returned, wrong shape, transposed, NaN, sign, a constant factor such as the batch size)
with the same sentences, told by a ``Subject`` what is compared with what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

__all__ = [
    "GRADIENT",
    "VALUE",
    "Context",
    "Finding",
    "Subject",
    "accumulation_findings",
    "at_kink",
    "common_cause",
    "diagnose",
    "finding_float32",
    "finding_kink",
    "finding_modified",
    "finding_nondeterministic",
    "finding_none",
    "finding_shape",
    "pattern_finding",
    "shape_finding",
    "value_findings",
]

_EPS = float(np.finfo(np.float64).eps)
_LOOSE = 1e-4  # "approximately equal" in the diagnoses (sign flip, transpose, factor)
_AGREE_FRACTION = 0.95  # share of entries that must agree for a pattern to be named
_NOT_A_FACTOR = 1e-3  # a factor within this of 1 is no mistake to name: the value is close


# ------------------------------------------------------------------------------------------
# What a diagnosis is, and what it is given
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One diagnosis: what kind of mistake, in which tensor, in words.

    ``kind`` is one of: ``"none"``, ``"nan"``, ``"wrong_shape"``, ``"transposed"``,
    ``"zeros"``, ``"sign"``, ``"factor"``, ``"some_entries"``, ``"kink"``,
    ``"not_accumulated"``, ``"input_modified"``, ``"grad_output_modified"``,
    ``"nondeterministic"``, ``"float32"``; comparing a value also ``"not_numeric"``,
    ``"difference"`` and ``"close"``. ``severity`` is ``"error"`` (fails the check),
    ``"warning"`` (likely a false alarm) or ``"note"``. The numbers: ``factor`` is c in
    "c times the right value" (-1 for a sign flip), ``size`` the named size it equals or
    inverts, e.g. ``("batch size N", 6)``.
    """

    kind: str
    tensor: str | None
    message: str
    severity: str = "error"
    factor: float | None = None
    size: tuple[str, int] | None = None


@dataclass(frozen=True)
class Subject:
    """How a finding names what was checked and what it was checked against.

    ``tensor`` starts each message (``'weight': ...``) or is None; ``what`` is the checked
    value ("the gradient of 'weight'", "your result") and ``whose`` its possessive;
    ``reference`` and ``one`` name what it is compared with, as a noun and as a pronoun
    ("the numerical gradient", "the numerical one"); ``sizes`` are the named sizes a
    constant factor may equal, e.g. ``(("batch size N", 6),)``.
    """

    tensor: str | None
    what: str
    whose: str
    reference: str
    one: str
    sizes: tuple[tuple[str, int], ...] = ()

    def start(self, text: str) -> str:
        """``text`` after the tensor's name, if there is one."""
        return f"'{self.tensor}': {text}" if self.tensor else text


#: a gradient checked against central differences (``tensor`` filled in per tensor).
GRADIENT = Subject(None, "the gradient", "the gradient's", "the numerical gradient",
                   "the numerical one")
#: a learner's value checked against the right one (``bpkit.grading.compare``).
VALUE = Subject(None, "your result", "your result's", "the right answer", "the right one")

#: whether two arrays of the same shape agree, to the tolerance of the caller.
Agree = Callable[[np.ndarray, np.ndarray], bool]


@dataclass
class Context:
    """What the diagnoses may mention about the call being checked."""

    sizes: list[tuple[str, int]]  # named sizes a constant factor may equal, e.g. batch size
    input_name: str | None = None  # the tensor that is the layer's input, if any
    input_values: np.ndarray | None = None  # its float64 values (for "where x < 0")
    factors: dict[str, float] = field(default_factory=dict)  # tensor -> diagnosed factor
    kinds: dict[str, str] = field(default_factory=dict)  # tensor -> "sign" or "factor"


class _Entry(Protocol):
    """What the diagnoses read of a report row (a ``bpkit.gradcheck.TensorCheck``)."""

    name: str
    shape: tuple[int, ...]
    worst_index: tuple[int, ...] | None
    analytic_value: float
    numerical_value: float


# ------------------------------------------------------------------------------------------
# Diagnoses: one small function each
# ------------------------------------------------------------------------------------------
def _agree(a: np.ndarray, b: np.ndarray, noise: float) -> bool:
    """Whether nearly every entry of ``a`` equals ``b`` to ``_LOOSE`` relative error (or to
    within the rounding ``noise``)."""
    ok = np.abs(a - b) <= np.maximum(_LOOSE * (np.abs(a) + np.abs(b)), noise)
    return bool(ok.size) and float(np.mean(ok)) >= _AGREE_FRACTION


def _what(name: str, ctx: Context) -> str:
    if name == ctx.input_name:
        return f"the gradient returned for '{name}'"
    return f"the gradient of '{name}'"


def _subject(name: str, ctx: Context) -> Subject:
    """How the findings about the gradient of ``name`` speak of it."""
    return replace(GRADIENT, tensor=name, what=_what(name, ctx), sizes=tuple(ctx.sizes))


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sampled(indices: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """The entries a diagnosis looks at: all, or the flat ``indices`` that were checked."""
    if indices is None:
        return lambda u: u.reshape(-1)
    return lambda u: u.reshape(-1)[indices]


# -- what a value and its reference can differ by: the words every check shares -----------


def _missing_return(subject: Subject, by: str = "") -> Finding:
    return Finding("none", subject.tensor, subject.start(
        f"nothing was returned{by}: is a `return` statement missing?"))


def finding_none(name: str, ctx: Context) -> Finding:
    if name == ctx.input_name:
        return _missing_return(_subject(name, ctx), " by backward (None instead of the "
                               "gradient with respect to its input)")
    return Finding("none", name, f"'{name}': no gradient was produced (it is None).")


def shape_finding(subject: Subject, got: np.ndarray, want: np.ndarray, agree: Agree,
                  indices: np.ndarray | None = None) -> Finding:
    """``got`` has another shape than ``want``: transposed (shape (in, out) instead of
    (out, in)), the right values in the wrong shape (e.g. keepdims), one axis too many, or
    simply the wrong shape. ``agree`` compares the entries at ``indices`` (None: all)."""
    sample = _sampled(indices)
    shape = want.shape
    if got.ndim == 2 and len(shape) == 2 and got.shape == shape[::-1]:
        if agree(sample(got.T), sample(want)):
            return Finding("transposed", subject.tensor, subject.start(
                f"transposed. {_upper(subject.what)} has shape {got.shape} where {shape} is "
                f"expected, and its transpose matches {subject.reference}. Swap the "
                "operands of the product (for a weight of shape (out, in): dW = dY^T X)."))
    msg = subject.start(f"wrong shape. {_upper(subject.what)} has shape {got.shape}, but "
                        f"{shape} is expected.")
    if got.size == want.size:
        if agree(sample(got.reshape(shape)), sample(want)):
            msg += (" The values are right, only the shape differs (a leftover keepdims=True "
                    "or a reshape?).")
    elif len(shape) >= 1 and got.ndim == len(shape) + 1:
        msg += " It has one axis too many (did you forget to sum over the batch?)."
    return Finding("wrong_shape", subject.tensor, msg)


def finding_shape(
    name: str, shape: tuple[int, ...], a: np.ndarray, numerical: np.ndarray,
    indices: np.ndarray, noise: float,
) -> Finding:
    """A gradient of the wrong shape (see ``shape_finding``)."""
    return shape_finding(replace(GRADIENT, tensor=name), a, numerical,
                         lambda u, v: _agree(u, v, noise), indices)


def _nan_finding(subject: Subject, bad: np.ndarray) -> Finding:
    return Finding("nan", subject.tensor, subject.start(
        f"{subject.what} contains NaN or inf at {int(bad.sum())} of {bad.size} entries (an "
        "overflow, or 0/0 such as log(0) or a division by zero)."))


def pattern_finding(subject: Subject, got: np.ndarray, want: np.ndarray, agree: Agree,
                    indices: np.ndarray | None = None) -> Finding | None:
    """The simple pattern by which ``got`` differs from ``want`` (same shape): sign flipped,
    transposed (a square matrix), or off by a constant factor; None if there is none.

    ``agree`` compares the entries at ``indices`` (None: all). The factor is the least-squares
    c of got ≈ c · want; it is named when every entry agrees with it and it is not within
    0.1% of 1 (such a value is close, not scaled).
    """
    sample = _sampled(indices)
    a_s, n_s = sample(got), sample(want)
    if agree(a_s, -n_s):
        return Finding("sign", subject.tensor, subject.start(
            f"sign flipped. {_upper(subject.what)} is minus {subject.one} everywhere: look "
            "for a `-` that should be `+` (for example subtracting where the chain rule "
            "multiplies, or target minus prediction, t - y, where the gradient is "
            "prediction minus target, y - t)."), factor=-1.0)
    square = got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] >= 2
    if square and agree(sample(got.T), n_s) and not agree(a_s, n_s):
        return Finding("transposed", subject.tensor, subject.start(
            f"transposed. {_upper(subject.whose)} transpose matches {subject.reference} (the "
            "shapes agree only because the matrix is square). Swap the operands of the "
            "product (for a weight of shape (out, in): dW = dY^T X)."))
    denom = float(np.dot(n_s, n_s))
    if denom == 0 or not np.isfinite(denom):
        return None
    c = float(np.dot(a_s, n_s)) / denom
    if c == 0 or not np.isfinite(c) or abs(c - 1) < _NOT_A_FACTOR or not agree(a_s, c * n_s):
        return None
    words, size = _factor_words(c, subject.sizes, subject.one)
    return Finding("factor", subject.tensor, subject.start(
        f"off by a constant factor. {_upper(subject.what)} is {words}"), factor=c, size=size)


def _factor_words(c: float, sizes: tuple[tuple[str, int], ...] | list[tuple[str, int]],
                  one: str) -> tuple[str, tuple[str, int] | None]:
    """``c`` times ``one`` (the reference), explained (batch size, 2, ...), and the named
    size it equals or inverts."""
    def near(u: float, v: float) -> bool:
        return abs(u - v) <= 1e-3 * abs(v)

    sign = "minus " if c < 0 else ""
    m = abs(c)
    for label, n in sizes:
        if n > 1 and near(m, n):
            return (f"{sign}{m:.6g} times {one}, exactly the {label} ({n}): the division by "
                    f"{n} (the mean) is missing."), (label, n)
        if n > 1 and near(m, 1 / n):
            return (f"{sign}1/{n} of {one}, one over the {label} ({n}): it is divided by {n} "
                    "once too often (divide only once, where the mean is taken)."), (label, n)
    if near(m, 2):
        return (f"{sign}twice {one}: a factor 2 too many (a term counted twice, or the "
                "gradient added twice)."), None
    if near(m, 0.5):
        return (f"{sign}half {one}: a factor 2 is missing (for example the 2 in "
                "d(x^2)/dx = 2x of a squared error)."), None
    return f"{sign}{m:.4g} times {one} everywhere.", None


def value_findings(got: Any, want: Any, *, rtol: float, atol: float,
                   subject: Subject = VALUE) -> list[Finding]:
    """What is wrong with a learner's ``got`` against the right ``want``; [] when they agree.

    Agreement is ``|got - want| <= atol + rtol |want|`` entry by entry. Otherwise the first
    that fits: nothing returned, not numeric, wrong shape (transposed, right values in
    another shape), NaN or inf, sign flipped, transposed, a constant factor (named when it
    equals one of ``subject.sizes``), and else the largest difference and where, with
    "close" when it is within 1e-3.

    Shape:
        ``got`` and ``want``: any shape (``want`` sets it).
    """
    exp = np.asarray(want, dtype=np.float64)
    if got is None:
        return [_missing_return(subject)]
    try:
        arr = np.asarray(got, dtype=np.float64) if not isinstance(got, np.ndarray) else got
    except (TypeError, ValueError):
        return [Finding("not_numeric", subject.tensor, subject.start(
            f"expected a NumPy array, got a {type(got).__name__}"))]
    if arr.dtype.kind not in "fiub":
        return [Finding("not_numeric", subject.tensor, subject.start(
            f"got an array of dtype {arr.dtype}"))]
    arr = arr.astype(np.float64, copy=False)

    def agree(u: np.ndarray, v: np.ndarray) -> bool:
        return bool(np.allclose(u, v, rtol=rtol, atol=atol))

    if arr.shape != exp.shape:
        return [shape_finding(subject, arr, exp, agree)]
    if not np.all(np.isfinite(arr)) and np.all(np.isfinite(exp)):
        return [_nan_finding(subject, ~np.isfinite(arr.reshape(-1)))]
    if np.allclose(arr, exp, rtol=rtol, atol=atol):
        return []
    with np.errstate(all="ignore"):
        pattern = pattern_finding(subject, arr, exp, agree)
    if pattern is not None:
        return [pattern]
    diff = np.abs(arr - exp)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if idx else ""
    found = [Finding("difference", subject.tensor,
                     subject.start(f"largest difference {float(diff.max()):.3g}{where}"))]
    if np.allclose(arr, exp, rtol=1e-3, atol=atol):
        found.append(Finding("close", subject.tensor, subject.start(
            "close, but not within the tolerance: rounded, computed in lower precision, or "
            "a small term missing?")))
    return found


# -- the diagnoses of a failing gradient ----------------------------------------------------


def diagnose(
    entry: _Entry, a: np.ndarray, numerical: np.ndarray, indices: np.ndarray,
    failing: np.ndarray, noise: float, ctx: Context,
) -> Finding:
    """Name the pattern of a failing tensor: NaN, all zeros, then the patterns any value can
    have (``pattern_finding``: sign, transposed, a constant factor), else which entries.

    ``a`` is the full analytic gradient, ``numerical`` the numerical one (NaN where not
    checked), ``indices`` the flat entries checked, ``noise`` the rounding noise.
    """
    subject = _subject(entry.name, ctx)
    a_s = a.reshape(-1)[indices]
    n_s = numerical.reshape(-1)[indices]
    bad = ~np.isfinite(a_s)
    if bad.any():
        return _nan_finding(subject, bad)
    zeros = _diag_zeros(entry, a, n_s, noise, ctx)
    if zeros is not None:
        return zeros
    finding = pattern_finding(subject, a, numerical, lambda u, v: _agree(u, v, noise),
                              indices)
    if finding is not None:
        if finding.factor is not None:
            ctx.factors[entry.name] = finding.factor
            ctx.kinds[entry.name] = finding.kind
        return finding
    return _diag_some_entries(entry, indices, failing, ctx)


def _diag_zeros(entry, a, n_s, noise, ctx) -> Finding | None:
    if np.any(a != 0) or not np.any(np.abs(n_s) > noise):
        return None
    if entry.name == ctx.input_name:
        why = ("backward returns zeros for its input: is the returned array computed, or "
               "only allocated (np.zeros_like) and never filled?")
    else:
        why = (f"backward never adds anything into {entry.name}.grad (compute the gradient "
               f"and accumulate it with `{entry.name.rsplit('.', 1)[-1]}.grad += ...`), or it "
               "overwrites it with zeros.")
    return Finding("zeros", entry.name, (
        f"'{entry.name}': all zeros, while the numerical gradient is not: {why}"))


def _diag_some_entries(
    entry: _Entry, indices: np.ndarray, failing: np.ndarray, ctx: Context,
) -> Finding:
    shape = entry.shape
    bad_flat = indices[failing]
    count, total = len(bad_flat), len(indices)
    where = [tuple(int(i) for i in np.unravel_index(j, shape)) for j in bad_flat[:3]]
    shown = ", ".join(str(w) for w in where) + (", ..." if count > 3 else "")
    if count == total:
        return Finding("some_entries", entry.name, (
            f"'{entry.name}': wrong at every entry, with no simple pattern (not a sign flip, "
            f"transpose or constant factor); re-derive this gradient (worst at "
            f"{entry.worst_index}: analytic {entry.analytic_value:.6g}, numerical "
            f"{entry.numerical_value:.6g})."))
    msg = f"'{entry.name}': wrong only in some entries ({count} of {total}: {shown})."
    pattern = _index_pattern(bad_flat, indices, shape)
    if pattern:
        msg += f" They are all {pattern}."
    sign = _input_sign_pattern(entry.name, bad_flat, indices, ctx)
    if sign:
        msg += f" {sign}"
    return Finding("some_entries", entry.name, msg)


def _index_pattern(bad: np.ndarray, indices: np.ndarray, shape: tuple[int, ...]) -> str:
    """'in row 2' / 'in column 0' / 'at index 3 along axis 2' when the failures share one."""
    if len(shape) == 0:
        return ""
    bad_idx = np.unravel_index(bad, shape)
    all_idx = np.unravel_index(indices, shape)
    for axis, size in enumerate(shape):
        values = np.unique(bad_idx[axis])
        if size > 1 and len(values) == 1 and len(np.unique(all_idx[axis])) > 1:
            v = int(values[0])
            if len(shape) == 2:
                return f"in {'row' if axis == 0 else 'column'} {v}"
            return f"at index {v} along axis {axis}"
    return ""


def _input_sign_pattern(
    name: str, bad: np.ndarray, indices: np.ndarray, ctx: Context,
) -> str:
    """For a layer's input: whether the failing entries are exactly those with x < 0 etc."""
    if name != ctx.input_name or ctx.input_values is None:
        return ""
    x = ctx.input_values.reshape(-1)
    xb, xa = x[bad], x[indices]
    for test, words in ((np.less, "negative"), (np.greater, "positive")):
        # A wrong branch fails at (nearly) every checked entry on its side, not at a few
        # that merely happen to share a sign (one wrong entry always has a sign).
        side = int(np.count_nonzero(test(xa, 0)))
        if (test(xb, 0).all() and side < xa.size
                and len(xb) >= max(2, _AGREE_FRACTION * side)):
            return (f"The input is {words} at every one of them (and the check passes "
                    f"elsewhere): the branch for {words} inputs is wrong.")
    return ""


def finding_kink(entry: _Entry, where: np.ndarray, h: float, ctx: Context) -> Finding:
    first = tuple(int(i) for i in np.unravel_index(where[0], entry.shape))
    one = len(where) == 1
    msg = (f"'{entry.name}': {len(where)} {'entry' if one else 'entries'} (e.g. at {first}) "
           f"{'differs' if one else 'differ'} only because the function has a kink within "
           f"h={h:g}: the slopes left and right differ and the analytic gradient equals one "
           "of them.")
    if entry.name == ctx.input_name and ctx.input_values is not None:
        value = float(ctx.input_values.reshape(-1)[where[0]])
        msg += f" The input there is {value:.3g} (a ReLU-like kink at 0?)."
    else:
        msg += " Moving them by h pushes some activation across a kink (a ReLU input at 0)."
    msg += " This is most likely a false alarm of the numerical check, not a bug."
    return Finding("kink", entry.name, msg, severity="warning")


def _finding_not_accumulated(name: str) -> Finding:
    short = name.rsplit(".", 1)[-1]
    return Finding("not_accumulated", name, (
        f"'{name}': not accumulated. Two backward passes without zero_grad should add up to "
        f"twice the gradient, but {name}.grad held only one: use `{short}.grad += ...`, "
        f"not `{short}.grad = ...`, and do not reset gradients (zero_grad(), "
        f"`{short}.grad[...] = 0`) inside forward or backward: that is the training loop's "
        "job, before each backward pass."))


def finding_modified(kind: str, what: str, when: str, count: int) -> Finding:
    if kind == "grad_output_modified":
        fix = ("compute a new array (grad = grad_output * mask) instead of changing the "
               "upstream gradient (grad_output *= ..., grad_output[mask] = 0)")
    else:
        fix = (f"compute a new array (np.maximum(v, 0), v * mask) instead of writing into "
               f"'{what}' (v[v < 0] = 0, v *= ...); the caller may still need it")
    return Finding(kind, what, (
        f"'{what}' was modified in place by {when} ({count} entries changed): {fix}."))


def finding_float32(what: str) -> Finding:
    return Finding("float32", None, (
        f"Note: {what} float32; the check ran in float64 on a copy (float32 rounding is too "
        "coarse for finite differences), so the results describe the float64 version."),
        severity="note")


def finding_nondeterministic(what: str) -> Finding:
    return Finding("nondeterministic", None, (
        f"{what} gave different outputs for the same input, with a backward pass in between, "
        "so numerical gradients are meaningless (fix this first: the other diagnoses may only "
        "be its consequences). Either backward or forward changes the layer: an update such "
        "as `self.weight.data -= lr * self.weight.grad` belongs in the optimizer's step(), "
        "not in backward, and forward must not change what it reads (parameters, or "
        "statistics used in training mode). Or forward draws random numbers elsewhere than "
        "from the layer's `rng` (a numpy Generator, not np.random)."))


def common_cause(findings: list[Finding], ctx: Context, failing: list[str],
                 checked: int | None = None) -> None:
    """When every failing parameter is off by the same factor (or sign), say it once,
    replacing the per-tensor findings. ``checked``: how many parameters were checked
    (default: only the failing ones are known, as if all failed)."""
    if len(failing) < 2 or any(n not in ctx.factors for n in failing):
        return
    values = [ctx.factors[n] for n in failing]
    if max(values) - min(values) > 1e-3 * max(abs(v) for v in values):
        return
    c = values[0]
    words, size = _factor_words(c, ctx.sizes, GRADIENT.one)
    what = f"minus {GRADIENT.one}" if abs(c + 1) < 1e-3 else words.rstrip(".")
    findings[:] = [f for f in findings if f.tensor not in failing or f.kind not in
                   ("sign", "factor")]
    if checked is None or checked == len(failing):
        text = (f"Every parameter gradient ({', '.join(failing)}) is {what}. One mistake "
                "explains them all: it is most likely in the loss's backward (dL/dpred) or "
                "the last layer, which every gradient passes through.")
    else:  # others pass (a bias, say): a mistake in the loss would have reached them too
        text = (f"The failing parameter gradients ({', '.join(failing)}) are all {what}, "
                "while the other parameters pass: each failing layer's backward has this "
                "mistake itself (a mistake in the loss would reach every parameter).")
    findings.insert(0, Finding(ctx.kinds[failing[0]], None, text, factor=c,
                               size=None if abs(c + 1) < 1e-3 else size))


def accumulation_findings(
    first: dict[str, Any], second: dict[str, Any],
) -> list[Finding]:
    """Parameters whose gradient after two backward passes is not twice that after one."""
    found = []
    for name, g1 in first.items():
        g2 = second.get(name)
        if g1 is None or g2 is None or g1.shape != g2.shape or not np.any(g1 != 0):
            continue
        noise = 64 * _EPS * float(np.max(np.abs(g1)))
        if _agree(g2, g1, noise) and not _agree(g2, 2 * g1, noise):
            found.append(_finding_not_accumulated(name))
    return found


def at_kink(
    a: np.ndarray, forward: np.ndarray, backward: np.ndarray, noise: float,
) -> np.ndarray:
    """Entries where the slopes left and right differ and ``a`` equals one of them.

    A smooth function has forward - backward ~ h f'' (tiny); at a kink the two one-sided
    slopes differ by the jump, the central difference averages them, and a correct analytic
    gradient is the slope on one side.
    """
    size = np.abs(forward) + np.abs(backward)
    jump = np.abs(forward - backward) > 1e-4 * size + 8 * noise
    near = 1e-3 * (np.abs(a) + size) + 8 * noise
    matches_one_side = (np.abs(a - forward) <= near) | (np.abs(a - backward) <= near)
    return jump & matches_one_side & np.isfinite(a)
