"""Gradient checking: compare a backward pass with central differences, and say what is wrong.

``check_module``, ``check_loss`` and ``check_model`` return a ``GradcheckReport``: one row per
tensor (the input and every parameter) with the largest relative error, where it is, and the
analytic and numerical values there; ``report.ok``; and ``report.diagnoses``, plain-language
findings such as "sign flipped", "transposed" or "off by the batch size" (the code that
names them is in ``bpkit._diagnoses``). They never print and never change what they are
given: every check runs in float64 on a deep copy.

How the numbers are compared. The numerical gradient is the central difference
``(f(x + h) - f(x - h)) / 2h`` of one entry at a time. Its error is mostly rounding, about
``eps * |f| / h`` (``eps`` = 2.2e-16), so an entry whose gradient is smaller than that
noise divided by ``tol`` cannot show a relative error below ``tol``, right or wrong. Each
entry is therefore scored as

    |a - n| / max(|a| + |n|, floor),    floor = noise / tol,

which is the usual relative error (CS231n's) for every entry above the noise, and passes
exactly when ``|a - n| <= max(tol * (|a| + |n|), noise)``. ``noise`` is estimated per
tensor from the values the differences subtract (the largest over its entries, times 4).
The other error of a central difference, about h^2 |f'''| / 6, matters only when ``h`` is
not small against the scale on which the function bends (inputs of size 1e-2 to a
normalisation layer, say): pass a smaller ``h`` then.

Where the function has a kink within ``h`` of an entry (a ReLU input near 0), the central
difference straddles it and is wrong, not the analytic gradient. A failing entry counts as
such a false alarm only when the slopes left and right of it differ and the analytic value
equals one of them; such entries do not fail the check, and a diagnosis says so.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit._diagnoses import (
    Context,
    Finding,
    accumulation_findings,
    at_kink,
    common_cause,
    diagnose,
    finding_float32,
    finding_kink,
    finding_modified,
    finding_nondeterministic,
    finding_none,
    finding_shape,
)
from bpkit.module import Module, preserved

__all__ = [
    "Finding",
    "GradcheckReport",
    "TensorCheck",
    "check_loss",
    "check_model",
    "check_module",
    "numerical_gradient",
    "rel_error",
]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_NOISE_SAFETY = 4.0  # the rounding-noise estimate is multiplied by this before use
# rng=None seeds with this, not 0: an upstream gradient drawn with the learner's own seed
# could equal their input (G = X makes dY^T X symmetric and hides a transpose).
_DEFAULT_SEED = 2_718_281


# ------------------------------------------------------------------------------------------
# The two primitives
# ------------------------------------------------------------------------------------------
def rel_error(a: Any, b: Any, eps: float = 1e-8) -> float:
    """The largest relative difference between two arrays (CS231n's definition).

    Shape:
        ``a`` and ``b``: the same shape (scalars allowed); returns a Python float.

    Formula:
        max over entries of |a - b| / max(|a| + |b|, eps). Where |a| + |b| < eps the
        difference is divided by eps instead, so it is measured in units of eps:
        rel_error(0, 1e-12) = 1e-4 is close, but rel_error(0, 5e-9) = 0.5 and
        rel_error(1e-9, 2e-9) = 0.1 are far apart, though all four numbers are tiny.
        Roughly: < 1e-7 agree, 1e-7 to 1e-4 suspicious, > 1e-2 wrong. Empty arrays give 0.0;
        a NaN or an infinity in either array gives nan (no relative error can be measured),
        without a warning.
    """
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"rel_error needs two arrays of the same shape, got {a_arr.shape} and {b_arr.shape}"
        )
    if a_arr.size == 0:
        return 0.0
    if not (np.isfinite(a_arr).all() and np.isfinite(b_arr).all()):
        return float("nan")
    denom = np.maximum(np.abs(a_arr) + np.abs(b_arr), eps)
    return float(np.max(np.abs(a_arr - b_arr) / denom))


def numerical_gradient(
    f: Callable[[], Any],
    x: np.ndarray,
    h: float = 1e-5,
    grad_output: np.ndarray | None = None,
) -> np.ndarray:
    """The gradient of ``f`` with respect to ``x`` by central differences.

    ``f`` takes no arguments and reads ``x``, which is changed in place one entry at a time
    (``x[i] + h``, then ``x[i] - h``) and always restored, even when ``f`` raises. If ``f``
    returns an array, pass ``grad_output`` (the upstream gradient): the scalar differentiated
    is then ``sum(f() * grad_output)``, computed from the difference of the two outputs.

    Shape:
        ``x``: any shape, floating dtype, writable; returns an array of ``x``'s shape and
        dtype. ``grad_output``: the shape of ``f()``.

    Formula:
        grad[i] = (F(x + h e_i) - F(x - h e_i)) / (2h),   F = f() or sum(f() * grad_output).
        Use float64: in float32 the rounding error (~1e-7 |F| / h) swamps the gradient.
    """
    where = "numerical_gradient"
    if not callable(f):
        raise TypeError(f"{where} expected f to be a function of no arguments, got {f!r}")
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{where} expected x to be a floating-point numpy array, got {got}")
    if not x.flags.writeable:
        raise ValueError(f"{where} perturbs x in place, but x is read-only")
    h = _checks.positive(h, "h", where)
    f0 = f()
    if grad_output is None:
        if np.ndim(f0) != 0:
            raise ValueError(
                f"{where}: f returned an array of shape {np.shape(f0)}; pass grad_output of "
                f"that shape (the scalar is then sum(f() * grad_output)) or return a scalar"
            )
        g = None
    else:
        g = np.asarray(grad_output, dtype=np.float64)
        if g.shape != np.shape(f0):
            raise ValueError(
                f"{where}: grad_output has shape {g.shape}, but f returns shape {np.shape(f0)}"
            )
    diff = _differences(f, x, h, g, np.arange(x.size), f0=None)
    return diff.central.reshape(x.shape).astype(x.dtype, copy=False)


# ------------------------------------------------------------------------------------------
# Central differences (the loop that costs the time)
# ------------------------------------------------------------------------------------------
@dataclass
class _Differences:
    central: np.ndarray  # (k,) central differences at the checked entries
    forward: np.ndarray | None  # (k,) (F(x + h) - F(x)) / h, or None without F(x)
    backward: np.ndarray | None  # (k,) (F(x) - F(x - h)) / h
    noise: np.ndarray  # (k,) estimated rounding error of ``central``


def _writable_flat(x: np.ndarray) -> Any:
    """A 1-D view of ``x`` for reading and writing single entries (no copy)."""
    return x.reshape(-1) if x.flags.c_contiguous else x.flat


def _scalar_loop(
    f: Callable[[], Any], flat: Any, indices: Sequence[int], h: float,
    plus: np.ndarray, minus: np.ndarray,
) -> None:
    """The bare loop: per entry exactly two calls of ``f``; ``flat`` is always restored."""
    for k, i in enumerate(indices):
        old = flat[i]
        try:
            flat[i] = old + h
            plus[k] = f()
            flat[i] = old - h
            minus[k] = f()
        finally:
            flat[i] = old


def _differences(
    f: Callable[[], Any], x: np.ndarray, h: float, grad_output: np.ndarray | None,
    indices: np.ndarray, f0: Any, f_scale: float = 0.0,
) -> _Differences:
    """Central (and, given ``f0 = f()`` at x, one-sided) differences at flat ``indices``.

    For a scalar ``f`` the rounding noise is taken as eps * (|f0| + f_scale) / h, where
    ``f_scale`` is the size of the numbers ``f`` is computed from (such as the largest
    prediction a loss sees: log-sum-exp of logits of 1e3 rounds at 1e3 * eps).
    """
    flat = _writable_flat(x)
    idx = indices.tolist()
    k = len(idx)
    if grad_output is None:
        plus, minus = np.empty(k), np.empty(k)
        _scalar_loop(f, flat, idx, h, plus, minus)
        central = (plus - minus) / (2 * h)
        if f0 is None:
            return _Differences(central, None, None, np.zeros(k))
        f0 = float(f0)
        noise = np.full(k, _EPS * (abs(f0) + f_scale) / h)
        return _Differences(central, (plus - f0) / h, (f0 - minus) / h, noise)
    # f returns an array: differentiate sum(f() * g) from the difference of the outputs, which
    # is exact where an output does not change (far less rounding than subtracting two sums).
    g = grad_output
    base = None if f0 is None else np.array(f0, dtype=np.float64)
    central, noise = np.empty(k), np.empty(k)
    fwd = None if base is None else np.empty(k)
    bwd = None if base is None else np.empty(k)
    for j, i in enumerate(idx):
        old = flat[i]
        try:
            flat[i] = old + h
            out_plus = np.array(f(), dtype=np.float64)  # copy: f may reuse its output buffer
            flat[i] = old - h
            out_minus = np.array(f(), dtype=np.float64)
        finally:
            flat[i] = old
        delta = out_plus - out_minus
        central[j] = np.sum(delta * g) / (2 * h)
        changed = delta != 0
        noise[j] = _EPS * np.sum((np.abs(out_plus) + np.abs(out_minus))[changed]
                                 * np.abs(g[changed])) / (2 * h)
        if base is not None:
            fwd[j] = np.sum((out_plus - base) * g) / h
            bwd[j] = np.sum((base - out_minus) * g) / h
    return _Differences(central, fwd, bwd, noise)


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
@dataclass(eq=False)
class TensorCheck:
    """The comparison of one tensor's analytic gradient with its numerical gradient.

    Shape:
        ``analytic``: the gradient backward produced (float64 copy; None if none came, any
        shape if the shape is wrong). ``numerical`` and ``errors``: ``shape``, NaN at entries
        not checked (``sample``). ``worst_index``: an index into ``shape``, the first entry
        whose error is within rounding (1e-6, relative) of ``max_rel_error``; the
        ``analytic_value`` and ``numerical_value`` shown are the gradients there.
    """

    name: str
    shape: tuple[int, ...]
    analytic: np.ndarray | None
    numerical: np.ndarray
    errors: np.ndarray
    checked: int
    max_rel_error: float
    worst_index: tuple[int, ...] | None
    analytic_value: float
    numerical_value: float
    passed: bool
    failing: int = 0
    kinks: int = 0

    @property
    def status(self) -> str:
        """``"pass"``, ``"FAIL"``, or ``"kink"`` (passed; mismatches only at kinks)."""
        if not self.passed:
            return "FAIL"
        return "kink" if self.kinks else "pass"

    def __repr__(self) -> str:
        return (
            f"TensorCheck({self.name!r}, shape={self.shape}, "
            f"max_rel_error={self.max_rel_error:.2e}, status={self.status!r})"
        )


@dataclass(eq=False)
class GradcheckReport:
    """The result of a gradient check: one ``TensorCheck`` per tensor plus diagnoses.

    ``report.ok`` is True when every tensor passed and no error was diagnosed;
    ``report["weight"]`` is the row of one tensor; ``report.diagnoses`` are the findings in
    words. ``str(report)`` is a table; in Jupyter the report shows as an HTML table. A
    passing tensor's row shows the bound it passed (``< 1e-07``), not the digits of its
    rounding noise, so a printed report is the same on every machine.
    """

    title: str
    entries: list[TensorCheck]
    findings: list[Finding] = field(default_factory=list)
    h: float = 1e-6
    tol: float = 1e-7

    @property
    def ok(self) -> bool:
        """True when every tensor passed and no finding is an error."""
        return all(e.passed for e in self.entries) and not any(
            f.severity == "error" for f in self.findings
        )

    @property
    def diagnoses(self) -> list[str]:
        """The findings as plain-language sentences, most important first."""
        return [f.message for f in self.findings]

    @property
    def names(self) -> list[str]:
        """The names of the checked tensors, in order."""
        return [e.name for e in self.entries]

    def __getitem__(self, name: str) -> TensorCheck:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no tensor named {name!r} in this report; it has {self.names}")

    def __bool__(self) -> bool:
        # Without this, `assert check_module(...)` would pass whatever the result.
        raise TypeError("a GradcheckReport has no truth value: use report.ok "
                        "(for example `assert report.ok, report`)")

    def _rows(self) -> list[list[str]]:
        # A passing tensor's largest error is rounding noise: its digits, and where it
        # falls, change with the CPU and the BLAS, so the table shows the bound it passed
        # (the exact numbers stay in ``report[name]``). Failures and kinks show their values.
        rows = []
        for e in self.entries:
            checked = f"{e.checked}" if e.checked == int(np.prod(e.shape)) else (
                f"{e.checked} of {int(np.prod(e.shape))}")
            if e.status == "pass":
                rows.append([e.name, str(e.shape), checked, f"< {self.tol:g}", "-", "-", "-",
                             e.status])
                continue
            rows.append([
                e.name, str(e.shape), checked, _fmt(e.max_rel_error),
                "-" if e.worst_index is None else str(e.worst_index),
                _fmt(e.analytic_value, "g"), _fmt(e.numerical_value, "g"), e.status,
            ])
        return rows

    _HEADER = ("tensor", "shape", "entries", "max rel error", "worst at", "analytic",
               "numerical", "status")

    def _headline(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return f"Gradient check of {self.title}: {verdict} (h={self.h:g}, tol={self.tol:g})"

    def __str__(self) -> str:
        rows = [list(self._HEADER)] + self._rows()
        widths = [max(len(r[c]) for r in rows) for c in range(len(self._HEADER))]
        lines = [self._headline()]
        for r in rows:
            cells = (cell.ljust(w) for cell, w in zip(r, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
        if self.findings:
            lines.append("Diagnoses:")
            lines.extend(f"- {f.message}" for f in self.findings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colours = {"pass": "#1a7f37", "kink": "#9a6700", "FAIL": "#cf222e"}
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = []
        for e, row in zip(self.entries, self._rows(), strict=True):
            cells = "".join(f"<td>{html.escape(c)}</td>" for c in row[:-1])
            status = (f'<td style="color:{colours[e.status]};font-weight:bold">'
                      f"{html.escape(row[-1])}</td>")
            body.append(f"<tr>{cells}{status}</tr>")
        colour = "#1a7f37" if self.ok else "#cf222e"
        parts = [
            '<div class="bpkit-gradcheck">',
            f'<p style="color:{colour};font-weight:bold">{html.escape(self._headline())}</p>',
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        ]
        if self.findings:
            items = "".join(f"<li>{html.escape(f.message)}</li>" for f in self.findings)
            parts.append(f"<p>Diagnoses:</p><ul>{items}</ul>")
        parts.append("</div>")
        return "".join(parts)


def _fmt(value: float | None, style: str = "e") -> str:
    if value is None:
        return "-"
    if not np.isfinite(value):
        return str(float(value))  # nan, inf, -inf
    return f"{value:.2e}" if style == "e" else f"{value:.6g}"


# ------------------------------------------------------------------------------------------
# Comparing one tensor (the diagnoses it calls live in bpkit._diagnoses)
# ------------------------------------------------------------------------------------------
def _check_tensor(
    name: str, x: np.ndarray, f: Callable[[], Any], analytic: Any, *,
    grad_output: np.ndarray | None, f0: Any, h: float, tol: float,
    indices: np.ndarray, ctx: Context, findings: list[Finding], f_scale: float = 0.0,
) -> TensorCheck:
    """Numerically differentiate ``f`` at ``x[indices]``, compare, and diagnose."""
    shape = x.shape
    diff = _differences(f, x, h, grad_output, indices, f0, f_scale)
    numerical = np.full(shape, np.nan)
    n_flat = diff.central
    numerical.reshape(-1)[indices] = n_flat
    # Rounding noise of the central differences (absolute), the largest over the tensor:
    # an output that moved by less than one rounding step looks unchanged, so the entries
    # cannot be trusted to estimate their own noise. The floor turns it into the smallest
    # magnitude at which a relative error of tol can be resolved.
    noise = _NOISE_SAFETY * _max_abs(diff.noise) + _EPS * _max_abs(n_flat)
    if analytic is None:
        findings.append(finding_none(name, ctx))
        return _unusable(name, shape, None, numerical, len(indices))
    a = np.array(analytic, dtype=np.float64)
    if a.shape != shape:
        findings.append(finding_shape(name, shape, a, numerical, indices, noise))
        return _unusable(name, shape, a, numerical, len(indices))
    a_flat = a.reshape(-1)[indices]
    floor = max(noise / tol, _TINY)
    with np.errstate(invalid="ignore"):  # inf / inf where the gradient is inf: NaN, failing
        err = np.abs(a_flat - n_flat) / np.maximum(np.abs(a_flat) + np.abs(n_flat), floor)
    bad = ~(err <= tol)  # NaN counts as failing
    kink = np.zeros_like(bad)
    if bad.any() and diff.forward is not None:
        kink = bad & at_kink(a_flat, diff.forward, diff.backward, noise)
    failing = bad & ~kink
    errors = np.full(shape, np.nan)
    errors.reshape(-1)[indices] = err
    if len(indices):
        ranked = np.where(np.isnan(err), np.inf, err)
        max_err = float(err[np.argmax(ranked)])
        # Where many entries are off by the same amount (a factor, a sign), which of them is
        # largest is rounding noise: show the first within rounding of the largest.
        worst = int(np.argmax(ranked >= ranked.max() * (1 - 1e-6)))
        worst_index = tuple(int(i) for i in np.unravel_index(indices[worst], shape))
        a_val, n_val = float(a_flat[worst]), float(n_flat[worst])
    else:
        worst_index, max_err, a_val, n_val = None, 0.0, float("nan"), float("nan")
    entry = TensorCheck(
        name=name, shape=shape, analytic=a, numerical=numerical, errors=errors,
        checked=len(indices), max_rel_error=max_err, worst_index=worst_index,
        analytic_value=a_val, numerical_value=n_val, passed=not failing.any(),
        failing=int(failing.sum()), kinks=int(kink.sum()),
    )
    if failing.any():
        findings.append(diagnose(entry, a, numerical, indices, failing, noise, ctx))
    if kink.any():
        findings.append(finding_kink(entry, indices[kink], h, ctx))
    return entry


def _unusable(
    name: str, shape: tuple[int, ...], a: np.ndarray | None, numerical: np.ndarray,
    checked: int,
) -> TensorCheck:
    """A row for a tensor whose analytic gradient is missing or has the wrong shape."""
    return TensorCheck(
        name=name, shape=shape, analytic=a, numerical=numerical,
        errors=np.full(shape, np.nan), checked=checked, max_rel_error=float("inf"),
        worst_index=None, analytic_value=float("nan"), numerical_value=float("nan"),
        passed=False, failing=checked,
    )


# ------------------------------------------------------------------------------------------
# Shared plumbing
# ------------------------------------------------------------------------------------------
def _rng(rng: Any, where: str) -> np.random.Generator:
    """A Generator from ``rng``; None means a fixed seed, so a check is reproducible."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(_DEFAULT_SEED)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def _indices(size: int, sample: int | None, rng: np.random.Generator, where: str) -> np.ndarray:
    """All flat indices, or ``sample`` of them drawn without replacement (sorted)."""
    if sample is None or sample >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=sample, replace=False))


def _check_args(h: Any, tol: Any, sample: Any, where: str) -> tuple[float, float]:
    """Validated ``h`` and ``tol``; ``sample`` must be None or a positive integer."""
    if sample is not None:
        _checks.positive_int(sample, "sample", where)
    return _checks.positive(h, "h", where), _checks.positive(tol, "tol", where)


def _replay(fn: Callable[[], Any], generators: preserved) -> Callable[[], Any]:
    """``fn`` that first rewinds every generator, so each call draws the same random masks."""

    def replayed() -> Any:
        generators.restore()
        return fn()

    return replayed


def _float_copy(x: Any, where: str, what: str) -> tuple[np.ndarray, bool]:
    """A float64 copy of ``x`` and whether ``x`` was float32 (or another non-float64)."""
    arr = _checks.float_input(x, where, what)
    bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if bad:  # else every gradient would look wrong, and the report would blame backward
        raise ValueError(f"{where}: {what} contains NaN or inf at {bad} of {arr.size} entries; "
                         "a gradient check needs finite values")
    return np.array(arr, dtype=np.float64, copy=True), arr.dtype != np.float64


def _changed(before: np.ndarray, after: np.ndarray) -> int:
    """How many entries differ (NaNs in the same place count as equal)."""
    if before.shape != after.shape:
        return int(before.size)
    same = (before == after) | (np.isnan(before) & np.isnan(after)) if (
        before.dtype.kind == "f") else (before == after)
    return int(np.size(same) - np.count_nonzero(same))


def _working_copy(module: Module, where: str) -> tuple[Module, bool]:
    """A float64 deep copy of ``module`` and whether any of its tensors was not float64."""
    if not isinstance(module, Module):
        raise TypeError(f"{where} expected a bpkit Module, got {type(module).__name__}")
    was_other = any(p.data.dtype != np.float64 for p in module.parameters())
    work = copy.deepcopy(module)
    if was_other:
        work.astype(np.float64)
    return work, was_other


def _returned(value: Any, where: str, what: str) -> np.ndarray | None:
    """A float64 copy of an array ``what`` returned (None stays None), or a TypeError."""
    if value is None:
        return None
    try:
        return np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {what} returned {type(value).__name__}, not an array of "
                        "numbers (return the gradient alone)") from None


def _grads(module: Module) -> dict[str, Any]:
    """float64 copies of every parameter gradient (None where a grad is missing)."""
    out = {}
    for name, p in module.named_parameters():
        g = getattr(p, "grad", None)
        out[name] = None if g is None else np.array(g, dtype=np.float64, copy=True)
    return out


def _max_abs(a: np.ndarray) -> float:
    """The largest finite |entry| (0.0 for an empty array)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return float(np.max(a[np.isfinite(a)], initial=0.0))


def _module_title(module: Module) -> str:
    """``Linear(in_features=3, ...)``, or ``Sequential (1,234 parameters)`` for containers."""
    name, args = type(module).__name__, module.extra_repr()
    if args or not module.children():
        return f"{name}({args})"
    return f"{name} ({module.num_parameters():,} parameters)"


def _order(findings: list[Finding]) -> list[Finding]:
    rank = {"error": 0, "warning": 1, "note": 2}
    return sorted(findings, key=lambda f: rank.get(f.severity, 3))


# ------------------------------------------------------------------------------------------
# The checks
# ------------------------------------------------------------------------------------------
def check_module(
    module: Module,
    x: np.ndarray,
    *,
    grad_output: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
    h: float = 1e-6,
    tol: float = 1e-7,
    sample: int | None = None,
) -> GradcheckReport:
    """Check a module's backward: the input gradient and every parameter gradient.

    Works on a float64 deep copy; ``module`` (parameters, gradients, caches, mode) is left
    as it was, and so is ``x``. The scalar differentiated is L = sum(module(x) * G) with an
    upstream gradient G (``grad_output``, or standard normal from ``rng``; None: a fixed seed).
    Random layers (Dropout in training mode) get the same mask at every evaluation: the
    state of every ``numpy.random.Generator`` the module holds is saved before the first
    forward and restored before each one. ``sample=k`` checks k random entries per tensor.

    Shape:
        ``x``: whatever the module takes; ``grad_output``: the module's output shape.

    Formula:
        analytic: dx = module.backward(G), dp = p.grad;  numerical: central differences
        (L(v + h) - L(v - h)) / 2h of every entry v; passes when every entry's relative error
        (see the module docstring) is at most ``tol``.
    """
    where = "check_module"
    h, tol = _check_args(h, tol, sample, where)
    gen = _rng(rng, where)
    x64, x_other = _float_copy(x, where, "x")
    work, p_other = _working_copy(module, where)
    states = preserved(work, buffers=False, modes=False)  # the random generators only
    findings: list[Finding] = []

    # Analytic pass, watching for in-place changes.
    work.zero_grad()
    x_run = x64.copy()
    out = _replay(lambda: work(x_run), states)()
    if isinstance(out, np.floating):  # a 0-d input through a NumPy ufunc: a NumPy scalar
        out = np.asarray(out)
    if not isinstance(out, np.ndarray) or out.dtype.kind != "f":
        raise TypeError(f"{where}: {type(module).__name__}.forward must return a float numpy "
                        f"array, got {type(out).__name__}")
    out = out.copy()
    if _changed(x64, x_run):
        findings.append(finding_modified("input_modified", "input", "forward",
                                          _changed(x64, x_run)))
    if grad_output is None:
        g = gen.standard_normal(out.shape)
    else:
        g = np.array(grad_output, dtype=np.float64, copy=True)
        if g.shape != out.shape:
            raise ValueError(f"{where}: grad_output has shape {g.shape}, but "
                             f"{type(module).__name__} returns shape {out.shape}")
    g_run = g.copy()
    x_before_backward = x_run.copy()
    dx = work.backward(g_run)
    dx = _returned(dx, where, f"{type(module).__name__}.backward")
    if _changed(g, g_run):
        findings.append(finding_modified("grad_output_modified", "grad_output", "backward",
                                          _changed(g, g_run)))
    if _changed(x_before_backward, x_run):
        findings.append(finding_modified("input_modified", "input", "backward",
                                          _changed(x_before_backward, x_run)))
    first = _grads(work)

    # Accumulation (second backward without zero_grad) and determinism.
    out2 = _replay(lambda: work(x64.copy()), states)()
    work.backward(g.copy())
    findings.extend(accumulation_findings(first, _grads(work)))
    if np.shape(out2) != out.shape or not np.array_equal(out2, out, equal_nan=True):
        findings.append(finding_nondeterministic(f"Two forward passes of {type(module).__name__}"))
    if x_other or p_other:
        findings.append(finding_float32("the input or the parameters were"))

    # Numerical pass.
    ctx = Context(sizes=[("batch size N", x64.shape[0])] if x64.ndim else [],
                   input_name="input", input_values=x64)
    entries = []
    x_num = x64.copy()
    f_x = _replay(lambda: work(x_num.copy()), states)
    entries.append(_check_tensor(
        "input", x_num, f_x, dx, grad_output=g, f0=out, h=h, tol=tol,
        indices=_indices(x64.size, sample, gen, where), ctx=ctx, findings=findings))
    f_p = _replay(lambda: work(x64.copy()), states)
    for name, p in work.named_parameters():
        entries.append(_check_tensor(
            name, p.data, f_p, first[name], grad_output=g, f0=out, h=h, tol=tol,
            indices=_indices(p.data.size, sample, gen, where), ctx=ctx, findings=findings))
    return GradcheckReport(_module_title(module), entries, _order(findings), h, tol)


def check_loss(
    loss_fn: Any,
    pred: np.ndarray,
    target: Any,
    *,
    h: float = 1e-6,
    tol: float = 1e-7,
    sample: int | None = None,
    rng: np.random.Generator | int | None = None,
) -> GradcheckReport:
    """Check a loss's backward: dL/dpred from ``loss_fn.backward()`` against differences.

    ``loss_fn(pred, target)`` returns a float and ``loss_fn.backward()`` returns dL/dpred.
    Works on a deep copy of ``loss_fn`` and float64 copies of ``pred`` (and of a float
    ``target``); nothing passed in is changed. ``sample=k`` checks k random entries.

    Shape:
        ``pred``: what the loss takes (e.g. (N, C)); ``target``: what the loss takes.

    Formula:
        numerical dL/dpred[i] = (L(pred + h e_i) - L(pred - h e_i)) / 2h.
    """
    where = "check_loss"
    h, tol = _check_args(h, tol, sample, where)
    gen = _rng(rng, where)
    if not callable(loss_fn) or not callable(getattr(loss_fn, "backward", None)):
        raise TypeError(f"{where} expected a loss object with __call__ and backward(), got "
                        f"{type(loss_fn).__name__}")
    p64, p_other = _float_copy(pred, where, "pred")
    t_arr = np.asarray(target)
    t_other = t_arr.dtype.kind == "f" and t_arr.dtype != np.float64
    t64 = t_arr.astype(np.float64) if t_arr.dtype.kind == "f" else t_arr.copy()
    work = copy.deepcopy(loss_fn)
    findings: list[Finding] = []
    name = type(loss_fn).__name__

    p_run, t_run = p64.copy(), t64.copy()
    value = work(p_run, t_run)
    if np.ndim(value) != 0:
        raise TypeError(f"{where}: {name} must return a scalar loss, got shape {np.shape(value)}")
    grad = work.backward()
    grad = _returned(grad, where, f"{name}.backward()")
    for what, before, after in (("pred", p64, p_run), ("target", t64, t_run)):
        if _changed(before, after):
            findings.append(finding_modified("input_modified", what, f"{name}",
                                              _changed(before, after)))
    if p_other or t_other:
        findings.append(finding_float32("pred or target was"))

    sizes = []
    if p64.ndim >= 1:
        sizes.append(("batch size N", p64.shape[0]))
    if p64.ndim >= 2:
        sizes.append(("number of elements", p64.size))
    ctx = Context(sizes=sizes, input_name="pred", input_values=p64)
    p_num = p64.copy()

    def f() -> float:
        return work(p_num.copy(), t64.copy())

    entry = _check_tensor(
        "pred", p_num, f, grad, grad_output=None, f0=float(value), h=h, tol=tol,
        indices=_indices(p64.size, sample, gen, where), ctx=ctx, findings=findings,
        f_scale=_max_abs(p64))
    return GradcheckReport(f"{name}()", [entry], _order(findings), h, tol)


def check_model(
    model: Module,
    loss_fn: Any,
    X: np.ndarray,
    y: Any,
    *,
    sample: int | None = None,
    rng: np.random.Generator | int | None = None,
    h: float = 1e-6,
    tol: float = 1e-7,
) -> GradcheckReport:
    """Check every parameter gradient of a model through its loss.

    Runs forward, the loss, ``loss_fn.backward()`` and ``model.backward`` on a float64 deep
    copy, then differentiates the loss numerically with respect to every parameter entry
    (``sample=k``: k random entries per parameter, drawn from ``rng``; None: a fixed seed).
    Each entry costs exactly two forward passes and two loss evaluations, nothing more.
    ``model``, ``loss_fn``, ``X`` and ``y`` are left as they were.

    Shape:
        ``X``: (N, ...) what the model takes; ``y``: what the loss takes.

    Formula:
        numerical dL/dp[i] = (L(p + h e_i) - L(p - h e_i)) / 2h,  L = loss_fn(model(X), y).
    """
    where = "check_model"
    h, tol = _check_args(h, tol, sample, where)
    gen = _rng(rng, where)
    if not callable(loss_fn) or not callable(getattr(loss_fn, "backward", None)):
        raise TypeError(f"{where} expected a loss object with __call__ and backward(), got "
                        f"{type(loss_fn).__name__}")
    X64, x_other = _float_copy(X, where, "X")
    y_arr = np.asarray(y)
    y_other = y_arr.dtype.kind == "f" and y_arr.dtype != np.float64
    y64 = y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr.copy()
    work, p_other = _working_copy(model, where)
    loss_w = copy.deepcopy(loss_fn)
    states = preserved(work, buffers=False, modes=False)  # the random generators only
    findings: list[Finding] = []

    work.zero_grad()
    X_run, y_run = X64.copy(), y64.copy()
    pred = _replay(lambda: work(X_run), states)()
    pred_scale = _max_abs(pred)
    value = loss_w(pred, y_run)
    if np.ndim(value) != 0:
        raise TypeError(f"{where}: {type(loss_fn).__name__} must return a scalar loss, got "
                        f"shape {np.shape(value)}")
    upstream = loss_w.backward()
    if not isinstance(upstream, np.ndarray):
        raise TypeError(f"{where}: {type(loss_fn).__name__}.backward() returned "
                        f"{type(upstream).__name__}, not an array; check it with check_loss")
    upstream = np.array(upstream, dtype=np.float64, copy=True)
    up_run = upstream.copy()
    work.backward(up_run)
    x_mutated = _changed(X64, X_run)
    if x_mutated:
        findings.append(finding_modified("input_modified", "X", "the model", x_mutated))
    if _changed(y64, y_run):
        findings.append(finding_modified("input_modified", "y", "the loss",
                                          _changed(y64, y_run)))
    if _changed(upstream, up_run):
        findings.append(finding_modified("grad_output_modified", "dL/dpred",
                                          "model.backward", _changed(upstream, up_run)))
    first = _grads(work)

    value2 = _replay(lambda: loss_w(work(X64.copy()), y64.copy()), states)()
    work.backward(np.array(loss_w.backward(), dtype=np.float64))
    findings.extend(accumulation_findings(first, _grads(work)))
    if float(value2) != float(value):
        findings.append(finding_nondeterministic(f"Two forward passes of {type(model).__name__}"))
    if x_other or y_other or p_other:
        findings.append(finding_float32("X, y or the parameters were"))

    # The loop: two forward passes and two losses per entry. Copies only if the model is
    # known to change its input in place (then the plain loop would drift).
    if x_mutated:
        f = _replay(lambda: loss_w(work(X64.copy()), y64), states)
    else:
        f = _replay(lambda: loss_w(work(X64), y64), states)
    sizes = [("batch size N", X64.shape[0])] if X64.ndim else []
    if upstream.ndim >= 2:
        sizes.append(("number of output elements", upstream.size))
    ctx = Context(sizes=sizes)
    entries = []
    for name, p in work.named_parameters():
        entries.append(_check_tensor(
            name, p.data, f, first[name], grad_output=None, f0=float(value), h=h, tol=tol,
            indices=_indices(p.data.size, sample, gen, where), ctx=ctx, findings=findings,
            f_scale=pred_scale))
    common_cause(findings, ctx, [e.name for e in entries if not e.passed], len(entries))
    return GradcheckReport(_module_title(model), entries, _order(findings), h, tol)
