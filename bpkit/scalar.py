"""Scalar reverse-mode autodiff: a micrograd-sized ``Value`` for the chain-rule notebooks.

Each ``Value`` holds one float (``data``), the gradient the last backward pass gave it
(``grad``), the Values it was computed from (``children``, in operand order), the name of the
operation (``op``) and the local derivatives d(self)/d(child) (``local_grads``), computed in the
forward pass. Backward is then one loop over the graph in reverse topological order::

    for node in reversed(topological_order(root)):
        for child, local in zip(node.children, node.local_grads):
            child.grad += local * node.grad          # the chain rule

No closures and no recursion: graphs of a million nodes work, and the loop is several times
faster than a closure-per-node engine (see ``benchmarks/scalar.py``).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BackwardStep",
    "ScalarLayer",
    "ScalarMLP",
    "ScalarNeuron",
    "Value",
    "backward_steps",
    "topological_order",
]

# Local-derivative tuples that never change, shared by every node of that op.
_ADD_LOCALS = (1.0, 1.0)
_SUB_LOCALS = (1.0, -1.0)
_NEG_LOCALS = (-1.0,)


def _number(x: Any, where: str) -> float:
    """``x`` as a float, or a TypeError naming ``where`` and the type that came."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(f"{where} expected a number (int or float) or a Value, got {type(x).__name__}")


class Value:
    """A scalar that remembers how it was computed, so its gradient can flow back.

    Shape:
        scalar in, scalar out. ``children`` are the operands in the order written
        (``a - b`` has children ``(a, b)``; ``2 * a`` has ``(Value(2.0), a)``: numbers are
        wrapped as leaf Values so a drawing can show them).

    Ops (``op``) and local derivatives (``local_grads``, one per child):
        ``"+"`` a+b: (1, 1);  ``"-"`` a-b: (1, -1);  ``"*"`` a*b: (b, a);
        ``"/"`` a/b: (1/b, -a/b**2);  ``"neg"`` -a: (-1,);
        ``"**"`` a**b, b a Value: (b a**(b-1), a**b log a);
        ``"**k"`` (e.g. ``"**2"``) a**k, k a number: (k a**(k-1),);
        ``"exp"``: (e**a,);  ``"log"``: (1/a,);  ``"tanh"``: (1 - tanh(a)**2,);
        ``"sigmoid"``: (s (1 - s),);  ``"relu"``: (1 if a > 0 else 0,);  ``""`` for leaves.

    ``data`` may be changed (that is how parameters are updated), but the local derivatives
    were computed in the forward pass: run forward again after changing ``data``.
    Two Values compare equal only if they are the same object (they are hashable by
    identity), so they can be kept in sets and dicts.
    """

    __slots__ = ("data", "grad", "label", "children", "op", "_local_grads")
    # Make NumPy defer to our reflected operators: np.float64(2.0) * Value(3.0) is a Value.
    __array_ufunc__ = None

    def __init__(
        self,
        data: float,
        label: str = "",
        _children: tuple[Value, ...] = (),
        _local_grads: tuple[float, ...] = (),
        _op: str = "",
    ) -> None:
        if type(data) is not float:
            data = _number(data, "Value")
        self.data = data
        self.grad = 0.0
        self.label = label
        self.children = _children
        self._local_grads = _local_grads
        self.op = _op

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(child) for each child, in the order of ``children``."""
        return self._local_grads

    def __repr__(self) -> str:
        text = f"Value(data={float(self.data)!r}, grad={float(self.grad)!r}"
        if self.label:
            text += f", label={self.label!r}"
        return text + ")"

    # --- arithmetic -------------------------------------------------------------------------

    def __add__(self, other: Value | float) -> Value:
        """Sum: out = a + b;  d out/da = 1, d out/db = 1."""
        if not isinstance(other, Value):
            other = Value(_number(other, "Value + other"))
        return Value(self.data + other.data, "", (self, other), _ADD_LOCALS, "+")

    def __radd__(self, other: float) -> Value:
        return Value(_number(other, "other + Value")) + self

    def __sub__(self, other: Value | float) -> Value:
        """Difference: out = a - b;  d out/da = 1, d out/db = -1."""
        if not isinstance(other, Value):
            other = Value(_number(other, "Value - other"))
        return Value(self.data - other.data, "", (self, other), _SUB_LOCALS, "-")

    def __rsub__(self, other: float) -> Value:
        return Value(_number(other, "other - Value")) - self

    def __mul__(self, other: Value | float) -> Value:
        """Product: out = a * b;  d out/da = b, d out/db = a."""
        if not isinstance(other, Value):
            other = Value(_number(other, "Value * other"))
        a = self.data
        b = other.data
        return Value(a * b, "", (self, other), (b, a), "*")

    def __rmul__(self, other: float) -> Value:
        return Value(_number(other, "other * Value")) * self

    def __truediv__(self, other: Value | float) -> Value:
        """Quotient: out = a / b;  d out/da = 1/b, d out/db = -a/b**2."""
        if not isinstance(other, Value):
            other = Value(_number(other, "Value / other"))
        a = self.data
        b = other.data
        if b == 0.0:
            raise ZeroDivisionError(f"division by zero: {self!r} / {other!r}")
        out = a / b
        return Value(out, "", (self, other), (1.0 / b, -out / b), "/")

    def __rtruediv__(self, other: float) -> Value:
        return Value(_number(other, "other / Value")) / self

    def __neg__(self) -> Value:
        """Negation: out = -a;  d out/da = -1."""
        return Value(-self.data, "", (self,), _NEG_LOCALS, "neg")

    def __pow__(self, other: Value | float) -> Value:
        """Power: out = a ** b;  d out/da = b a**(b-1), d out/db = a**b log a (b a Value).

        A number exponent k gives one child and op ``"**k"``; a Value exponent gives two
        children and op ``"**"``. ``0 ** negative`` raises ZeroDivisionError; a negative base
        needs a number exponent that is an integer (else the result is not real).
        """
        a = self.data
        if isinstance(other, Value):
            b = other.data
            if a < 0:
                raise ValueError(
                    f"{self!r} ** {other!r}: a negative base needs a number exponent "
                    f"(d/db a**b = a**b log a is undefined for a = {a!r} < 0)"
                )
            out = _checked_pow(a, b)
            db = out * math.log(a) if a > 0 else 0.0
            return Value(out, "", (self, other), (_dpow_da(a, b), db), "**")
        b = _number(other, "Value ** other")
        out = _checked_pow(a, b)
        k = f"{b:.0f}" if b.is_integer() and abs(b) < 1e15 else repr(b)
        return Value(out, "", (self,), (_dpow_da(a, b),), "**" + k)

    def __rpow__(self, other: float) -> Value:
        return Value(_number(other, "other ** Value")) ** self

    # --- functions --------------------------------------------------------------------------

    def exp(self) -> Value:
        """Exponential: out = e**a;  d out/da = e**a."""
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp({self.data!r}) overflows a float64") from None
        return Value(out, "", (self,), (out,), "exp")

    def log(self) -> Value:
        """Natural logarithm: out = log a;  d out/da = 1/a. Needs a > 0."""
        a = self.data
        if a != a:
            raise ValueError("log(nan): the value is already NaN (an earlier step diverged or "
                             "computed 0/0)")
        if not a > 0:
            raise ValueError(f"log of a non-positive number: log({a!r}) is undefined (needs > 0)")
        return Value(math.log(a), "", (self,), (1.0 / a,), "log")

    def tanh(self) -> Value:
        """Hyperbolic tangent: out = tanh a;  d out/da = 1 - out**2."""
        t = math.tanh(self.data)
        return Value(t, "", (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self) -> Value:
        """Logistic sigmoid: out = 1 / (1 + e**-a);  d out/da = out (1 - out).

        Computed without overflow for any a (e**-a is only taken for a >= 0).
        """
        a = self.data
        if a >= 0:
            s = 1.0 / (1.0 + math.exp(-a))
        else:
            e = math.exp(a)
            s = e / (1.0 + e)
        return Value(s, "", (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self) -> Value:
        """Rectified linear unit: out = max(0, a);  d out/da = 1 if a > 0 else 0.

        NaN stays NaN (as in PyTorch and ``bpkit.ReLU``), so a diverged value is not hidden.
        """
        a = self.data
        if a > 0:
            return Value(a, "", (self,), (1.0,), "relu")
        return Value(a if a != a else 0.0, "", (self,), (0.0,), "relu")

    # --- backward ---------------------------------------------------------------------------

    def backward(self, gradient: float = 1.0) -> None:
        """Backpropagate from this Value: add d(self)/d(leaf) * gradient into every leaf's grad.

        Shape:
            scalar root; every node reachable from it gets a scalar ``grad``.

        Gradients accumulate like PyTorch's: leaves (Values not computed from others, such as
        parameters and inputs) get ``+=``, so calling ``backward()`` twice without zeroing
        doubles their ``grad``. Zero them between steps (``model.zero_grad()`` or
        ``p.grad = 0.0``). Intermediate nodes are reset on each call, so their ``grad`` is
        d(root)/d(node) of the latest backward pass through them (not a running sum).
        Iterative (no recursion), so graphs of millions of nodes work.
        """
        g0 = _number(gradient, "Value.backward gradient")
        order = topological_order(self)
        for node in order:
            if node.children:
                node.grad = 0.0
        self.grad += g0
        for node in reversed(order):
            for child, local in zip(node.children, node.local_grads):  # noqa: B905 (as taught)
                child.grad += local * node.grad  # the chain rule


def _checked_pow(a: float, b: float) -> float:
    """a ** b as a real float, with errors that name the operands."""
    if a == 0.0 and b < 0:
        raise ZeroDivisionError(
            f"0 ** negative is undefined: 0.0 ** {b!r} (exponent {b!r} < 0 divides by zero)"
        )
    if a < 0 and not float(b).is_integer():
        raise ValueError(
            f"negative base with a non-integer exponent: {a!r} ** {b!r} is not a real number"
        )
    try:
        return float(a**b)
    except OverflowError:
        raise OverflowError(f"{a!r} ** {b!r} overflows a float64") from None


def _dpow_da(a: float, b: float) -> float:
    """d/da a**b = b a**(b-1), with PyTorch's values at a = 0 (inf for 0 < b < 1)."""
    if a == 0.0:
        if b == 0 or b > 1:
            return 0.0
        return 1.0 if b == 1 else math.inf
    try:
        return b * a ** (b - 1)
    except OverflowError:  # a**b fits a float64 but its derivative does not: +-inf
        negative = (b < 0) != (a < 0 and (b - 1) % 2 == 1)
        return -math.inf if negative else math.inf


def _check_root(root: Any, where: str) -> None:
    if not isinstance(root, Value):
        raise TypeError(f"{where} expected a Value, got {type(root).__name__}")


def topological_order(root: Value) -> list[Value]:
    """Every node reachable from ``root``, children before parents (root last).

    Shape:
        a graph of n nodes -> a list of n Values, each once.

    Deterministic: a depth-first post-order that visits children in operand order, the
    order a recursive ``build(v): for c in v.children: build(c); append(v)`` would give,
    but with an explicit stack, so there is no recursion limit.
    """
    _check_root(root, "topological_order")
    order: list[Value] = []
    visited = {root}
    stack = [(root, iter(root.children))]  # each entry: a node and its children left to visit
    while stack:
        node, todo = stack[-1]
        for child in todo:
            if child not in visited:
                visited.add(child)
                if child.children:
                    stack.append((child, iter(child.children)))
                    break  # finish the child's subgraph first
                order.append(child)  # a leaf: done at once
        else:
            stack.pop()
            order.append(node)  # all its children are placed
    return order


@dataclass(frozen=True)
class BackwardStep:
    """What one node does in the backward pass: hand ``local * upstream`` to each child.

    Shape:
        ``upstream`` a float (d root / d node); ``children``, ``local_grads`` and
        ``contributions`` tuples of the same length (empty for a leaf).

    Formula:
        contributions[i] = local_grads[i] * upstream   (the chain rule); each child's
        gradient is the sum of the contributions it receives.
    """

    node: Value
    upstream: float
    children: tuple[Value, ...]
    local_grads: tuple[float, ...]
    contributions: tuple[float, ...]


def backward_steps(root: Value, gradient: float = 1.0) -> list[BackwardStep]:
    """The backward pass from ``root`` as a list of steps, one per node, without running it.

    Shape:
        a graph of n nodes -> n BackwardStep records in reverse topological order (the
        root first; every node after all the nodes computed from it).

    Nothing is modified: the records use their own running sums, computed in the same order
    as ``root.backward(gradient)``, so with leaf grads at zero each record's ``upstream``
    equals ``node.grad`` after ``root.backward(gradient)``.
    """
    _check_root(root, "backward_steps")
    g0 = _number(gradient, "backward_steps gradient")
    order = topological_order(root)
    grads = {node: 0.0 for node in order}
    grads[root] = g0
    steps: list[BackwardStep] = []
    for node in reversed(order):
        up = grads[node]
        contributions = tuple(local * up for local in node._local_grads)
        for child, c in zip(node.children, contributions, strict=True):
            grads[child] += c
        steps.append(BackwardStep(node, up, node.children, node._local_grads, contributions))
    return steps


# --- a micrograd-sized neural net on Values -----------------------------------------------


# Anything with .uniform(a, b) -> float works; these are the usual ones.
_RNG = np.random.Generator | random.Random | int | None


def _as_uniform_source(rng: Any, where: str) -> Any:
    """An object with ``.uniform(a, b)``; an int seeds a NumPy Generator, None a fresh one."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    if callable(getattr(rng, "uniform", None)):
        return rng
    raise TypeError(
        f"{where}: rng must be a numpy.random.Generator, a random.Random, an int seed or "
        f"anything with .uniform(a, b), got {type(rng).__name__}"
    )


class _ScalarModule:
    """Shared ``zero_grad`` for the Value-based layers."""

    def parameters(self) -> list[Value]:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0.0."""
        for p in self.parameters():
            p.grad = 0.0


class ScalarNeuron(_ScalarModule):
    """One neuron on Values: out = relu(b + sum_i w_i x_i) (or without relu, ``nonlin=False``).

    Shape:
        input: a sequence of ``nin`` Values or numbers -> output: one Value.
        Parameters: ``w`` (nin Values), ``b`` (one Value).

    Initialisation is micrograd's: each w_i ~ U(-1, 1) drawn in order from ``rng`` (anything
    with ``.uniform(a, b)``: a ``numpy.random.Generator``, a ``random.Random``, or an int
    seed), and b = 0. The sum starts from b and adds w_i * x_i left to right.
    """

    def __init__(self, nin: int, nonlin: bool = True, *, rng: _RNG = None) -> None:
        where = f"ScalarNeuron(nin={nin!r})"
        if isinstance(nin, bool) or not isinstance(nin, (int, np.integer)) or nin < 1:
            raise ValueError(f"{where}: nin must be a positive integer, got {nin!r}")
        source = _as_uniform_source(rng, where)
        self.w = [Value(source.uniform(-1.0, 1.0)) for _ in range(int(nin))]
        self.b = Value(0.0)
        self.nonlin = bool(nonlin)

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} expected {len(self.w)} inputs, got {len(x)}")
        act = self.b
        for wi, xi in zip(self.w, x, strict=True):
            act = act + wi * xi
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        """The weights, then the bias."""
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"ScalarNeuron({len(self.w)}, nonlin={self.nonlin})"


class ScalarLayer(_ScalarModule):
    """A layer of ``nout`` independent ScalarNeurons reading the same ``nin`` inputs.

    Shape:
        input: a sequence of ``nin`` Values or numbers -> output: a list of ``nout`` Values.
    """

    def __init__(self, nin: int, nout: int, nonlin: bool = True, *, rng: _RNG = None) -> None:
        where = f"ScalarLayer(nin={nin!r}, nout={nout!r})"
        if isinstance(nout, bool) or not isinstance(nout, (int, np.integer)) or nout < 1:
            raise ValueError(f"{where}: nout must be a positive integer, got {nout!r}")
        source = _as_uniform_source(rng, where)
        self.neurons = [ScalarNeuron(nin, nonlin, rng=source) for _ in range(int(nout))]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        """Each neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        n = self.neurons[0]
        return f"ScalarLayer({len(n.w)}, {len(self.neurons)}, nonlin={n.nonlin})"


class ScalarMLP(_ScalarModule):
    """A multi-layer perceptron on Values: ReLU on every layer but the last (linear).

    Shape:
        input: a sequence of ``nin`` Values or numbers -> output: one Value when
        ``nouts[-1] == 1``, else a list of ``nouts[-1]`` Values.

    ``ScalarMLP(2, [16, 16, 1], rng=random.Random(1337))`` draws its weights in micrograd's
    order (layer by layer, neuron by neuron, weight by weight), so it starts from the same
    numbers as micrograd's ``MLP(2, [16, 16, 1])`` after ``random.seed(1337)``.
    """

    def __init__(self, nin: int, nouts: Iterable[int], *, rng: _RNG = None) -> None:
        nouts = list(nouts)
        where = f"ScalarMLP(nin={nin!r}, nouts={nouts!r})"
        if not nouts:
            raise ValueError(f"{where}: nouts must list at least one layer size")
        source = _as_uniform_source(rng, where)
        sizes = [nin, *nouts]
        self.layers = [
            ScalarLayer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, rng=source)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        """Each layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        sizes = [len(self.layers[0].neurons[0].w)] + [len(layer.neurons) for layer in self.layers]
        return f"ScalarMLP({sizes[0]}, {sizes[1:]})"
