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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Context",
    "Finding",
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
]

_EPS = float(np.finfo(np.float64).eps)
_LOOSE = 1e-4  # "approximately equal" in the diagnoses (sign flip, transpose, factor)
_AGREE_FRACTION = 0.95  # share of entries that must agree for a pattern to be named


# ------------------------------------------------------------------------------------------
# What a diagnosis is, and what it is given
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One diagnosis: what kind of mistake, in which tensor, in words.

    ``kind`` is one of: ``"none"``, ``"nan"``, ``"wrong_shape"``, ``"transposed"``,
    ``"zeros"``, ``"sign"``, ``"factor"``, ``"some_entries"``, ``"kink"``,
    ``"not_accumulated"``, ``"input_modified"``, ``"grad_output_modified"``,
    ``"nondeterministic"``, ``"float32"``. ``severity`` is ``"error"`` (fails the check),
    ``"warning"`` (likely a false alarm) or ``"note"``.
    """

    kind: str
    tensor: str | None
    message: str
    severity: str = "error"


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


def finding_none(name: str, ctx: Context) -> Finding:
    if name == ctx.input_name:
        msg = (f"'{name}': backward returned None instead of the gradient with respect to "
               "its input. Did you forget the `return` at the end of backward?")
    else:
        msg = f"'{name}': no gradient was produced (it is None)."
    return Finding("none", name, msg)


def finding_shape(
    name: str, shape: tuple[int, ...], a: np.ndarray, numerical: np.ndarray,
    indices: np.ndarray, noise: float,
) -> Finding:
    """Wrong shape, transposed (shape (in, out) instead of (out, in)), or right values in
    the wrong shape (e.g. keepdims)."""
    if a.ndim == 2 and len(shape) == 2 and a.shape == shape[::-1]:
        mask = np.zeros(numerical.size, dtype=bool)
        mask[indices] = True
        n = numerical.reshape(-1)[mask]
        at = a.T.reshape(-1)[mask]
        if _agree(at, n, noise):
            return Finding("transposed", name, (
                f"'{name}': transposed. The gradient has shape {a.shape}, the tensor has "
                f"shape {shape}, and its transpose matches the numerical gradient. Swap the "
                f"operands of the product (for a weight of shape (out, in): dW = dY^T X)."))
    msg = (f"'{name}': wrong shape. The gradient has shape {a.shape}, but '{name}' has "
           f"shape {shape}.")
    if a.size == int(np.prod(shape)):
        n = numerical.reshape(-1)[indices]
        if _agree(a.reshape(-1)[indices], n, noise):
            msg += (" The values are right, only the shape differs (a leftover keepdims=True "
                    "or a reshape?).")
    elif len(shape) >= 1 and a.ndim == len(shape) + 1:
        msg += " It has one axis too many (did you forget to sum over the batch?)."
    return Finding("wrong_shape", name, msg)


def diagnose(
    entry: _Entry, a: np.ndarray, numerical: np.ndarray, indices: np.ndarray,
    failing: np.ndarray, noise: float, ctx: Context,
) -> Finding:
    """Name the pattern of a failing tensor: the first of the checks below that fits.

    Each ``_diag_*`` gets the row, the full analytic gradient ``a``, the analytic and
    numerical values at the checked ``indices`` (``a_s``, ``n_s``), the rounding ``noise``
    and the context, and returns a Finding or None.
    """
    a_s = a.reshape(-1)[indices]
    n_s = numerical.reshape(-1)[indices]
    for diagnosis in (_diag_nan, _diag_zeros, _diag_sign, _diag_transposed, _diag_factor):
        finding = diagnosis(entry, a, a_s, n_s, indices, noise, ctx)
        if finding is not None:
            return finding
    return _diag_some_entries(entry, indices, failing, ctx)


def _diag_nan(entry, a, a_s, n_s, indices, noise, ctx) -> Finding | None:
    bad = ~np.isfinite(a_s)
    if not bad.any():
        return None
    return Finding("nan", entry.name, (
        f"'{entry.name}': {_what(entry.name, ctx)} contains NaN or inf at {int(bad.sum())} of "
        f"{bad.size} entries (an overflow, or 0/0 such as log(0) or a division by zero)."))


def _diag_zeros(entry, a, a_s, n_s, indices, noise, ctx) -> Finding | None:
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


def _diag_sign(entry, a, a_s, n_s, indices, noise, ctx) -> Finding | None:
    if not _agree(a_s, -n_s, noise):
        return None
    ctx.factors[entry.name] = -1.0
    ctx.kinds[entry.name] = "sign"
    return Finding("sign", entry.name, (
        f"'{entry.name}': sign flipped. {_what(entry.name, ctx).capitalize()} is minus the "
        "numerical one everywhere: look for a `-` that should be `+` (for example "
        "subtracting where the chain rule multiplies, or y - t where it should be t - y)."))


def _diag_transposed(entry, a, a_s, n_s, indices, noise, ctx) -> Finding | None:
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        return None
    at_s = a.T.reshape(-1)[indices]
    if not _agree(at_s, n_s, noise) or _agree(a_s, n_s, noise):
        return None
    return Finding("transposed", entry.name, (
        f"'{entry.name}': transposed. The gradient's transpose matches the numerical gradient "
        "(the shapes agree only because the matrix is square). Swap the operands of the "
        "product (for a weight of shape (out, in): dW = dY^T X)."))


def _diag_factor(entry, a, a_s, n_s, indices, noise, ctx) -> Finding | None:
    denom = float(np.dot(n_s, n_s))
    if denom == 0:
        return None
    c = float(np.dot(a_s, n_s)) / denom
    if c == 0 or abs(c - 1) < _LOOSE or not _agree(a_s, c * n_s, noise):
        return None
    ctx.factors[entry.name] = c
    ctx.kinds[entry.name] = "factor"
    return Finding("factor", entry.name, (
        f"'{entry.name}': off by a constant factor. {_what(entry.name, ctx).capitalize()} is "
        f"{_describe_factor(c, ctx.sizes)}"))


def _describe_factor(c: float, sizes: list[tuple[str, int]]) -> str:
    """``c`` times the numerical gradient, explained (batch size, 2, ...)."""
    def near(u: float, v: float) -> bool:
        return abs(u - v) <= 1e-3 * abs(v)

    sign = "minus " if c < 0 else ""
    m = abs(c)
    for label, n in sizes:
        if n > 1 and near(m, n):
            return (f"{sign}{m:.6g} times the numerical one, exactly the {label} ({n}): the "
                    f"division by {n} (the mean) is missing.")
        if n > 1 and near(m, 1 / n):
            return (f"{sign}1/{n} of the numerical one, one over the {label} ({n}): it is "
                    f"divided by {n} once too often (divide only once, where the mean is "
                    f"taken).")
    if near(m, 2):
        return (f"{sign}twice the numerical one: a factor 2 too many (a term counted twice, "
                "or the gradient added twice).")
    if near(m, 0.5):
        return (f"{sign}half the numerical one: a factor 2 is missing (for example the 2 in "
                "d(x^2)/dx = 2x of a squared error).")
    return f"{sign}{m:.4g} times the numerical one everywhere."


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
    what = ("minus the numerical one" if abs(c + 1) < 1e-3
            else _describe_factor(c, ctx.sizes).rstrip("."))
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
    findings.insert(0, Finding(ctx.kinds[failing[0]], None, text))


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
