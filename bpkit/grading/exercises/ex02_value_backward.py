"""Checks of exercise ``02_value_backward``: the backward rules of a small scalar ``Value``.

The learner writes one function per rule, called by the notebook's ``Value`` class from
the closure each operation leaves on its result (``out._backward``):

- ``add_backward(a, b, out)`` and ``mul_backward(a, b, out)`` for ``out = a + b`` / ``a * b``;
- ``pow_backward(a, k, out)`` for ``out = a ** k`` (``k`` a number);
- ``exp_backward(a, out)`` and ``tanh_backward(a, out)``;
- ``backprop(root)``: the topological sort and the loop that calls every ``_backward``.

Each rule is checked alone on small nodes with gradients already in them (so ``=`` instead
of ``+=`` shows) and an upstream gradient that is not 1 (so a forgotten ``out.grad`` shows),
and on a node used twice (``a * a``). ``backprop`` is checked on a graph whose rules are
right and which records the order in which the nodes' ``_backward`` ran. Finally the whole
class is compared with ``bpkit.Value`` on expressions at random points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.grading.feedback import Feedback
from bpkit.grading.matching import named, same
from bpkit.grading.registry import register_check
from bpkit.scalar import Value as ReferenceValue

__all__ = ["EXPRESSIONS", "Node"]

EXERCISE = "02_value_backward"
RULES = ("add_backward", "mul_backward", "pow_backward", "exp_backward", "tanh_backward")


class Node:
    """A bare graph node with the attributes the exercise's ``Value`` has.

    ``looked_up`` counts the reads of ``_backward``, so that a loop that names
    ``v._backward`` without calling it can be told from one that never reaches a node.

    Shape:
        scalar ``data`` and ``grad``; ``_prev`` the operands; ``_backward`` the rule.
    """

    def __init__(self, data: float, label: str = "", prev: tuple[Node, ...] = (), op: str = ""):
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self._prev = prev
        self._op = op
        self._rule: Callable[[], None] = _nothing
        self.looked_up = 0

    @property
    def _backward(self) -> Callable[[], None]:
        self.looked_up += 1
        return self._rule

    @_backward.setter
    def _backward(self, rule: Callable[[], None]) -> None:
        self._rule = rule

    def __repr__(self) -> str:
        return f"Node({self.label or '?'}: data={self.data:.4g}, grad={self.grad:.4g})"


def _nothing() -> None:
    return None


def _num(x: float) -> str:
    return f"{x:.6g}"


# -- the rules, one node at a time ----------------------------------------------------------


# A rule run on fresh nodes: returns the operands' grads and whether out.grad was changed.
Run = Callable[[Callable[..., Any]], tuple[tuple[float, ...], bool]]


@dataclass
class _Case:
    """One call of a rule: the set-up in words, the result expected and the usual mistakes."""

    text: str
    names: tuple[str, ...]  # the operands whose grads are compared, e.g. ("a", "b")
    run: Run
    expected: tuple[float, ...]
    wrong: Sequence[tuple[tuple[float, ...], str]]


_TOL = {"rtol": 1e-9, "atol": 1e-12}  # gradients of a few float operations: exact but rounding


def _grads_text(names: Sequence[str], values: Sequence[float]) -> str:
    return ", ".join(f"{n}.grad = {_num(v)}" for n, v in zip(names, values, strict=True))


def _judge(rule: Callable[..., Any], name: str, cases: Sequence[_Case]) -> Feedback:
    """Run each case; the first wrong one fails with the mistake it matches, if any."""
    for case in cases:
        try:
            got, upstream_changed = case.run(rule)
        except TypeError as exc:
            if "'Node'" not in str(exc):  # the check's nodes: a Value used as a number
                raise
            return Feedback.fail(
                f"{name}: a Value itself was used as a number, after {case.text}",
                got=f"TypeError: {exc}",
                why=[_AS_NUMBER],
            )
        if not all(isinstance(g, (int, float)) for g in got):
            kinds = ", ".join(type(g).__name__ for g in got)
            return Feedback.fail(
                f"{name}: after {case.text}, the gradients are not numbers ({kinds})",
                why=["add a number (float) into each operand's .grad, e.g. a.grad += ..."],
            )
        if same(got, case.expected, **_TOL):
            continue
        meaning = named(got, case.wrong, **_TOL)
        why = [meaning] if meaning else []
        off = [n for n, g, w in zip(case.names, got, case.expected, strict=True)
               if not same(g, w, **_TOL)]
        if not why and upstream_changed:
            why = ["the rule changed out.grad: it should only add into the operands' .grad"]
        if not why:
            why = [
                f"wrong gradient for {' and '.join(off)}: each operand gets "
                "(local derivative) × out.grad added to its .grad"
            ]
        return Feedback.fail(
            f"{name}: wrong gradients after {case.text}",
            expected=_grads_text(case.names, case.expected),
            got=_grads_text(case.names, got),
            why=why,
        )
    return Feedback.ok(f"right on {len(cases)} cases, gradients accumulated with +=")


def _binary(a: float, b: float, g: float, pre: tuple[float, float], op: str,
            value: float) -> Run:
    """Call ``rule(a, b, out)`` on fresh nodes; returns (a.grad, b.grad), out.grad changed."""

    def run(rule: Callable[..., Any]) -> tuple[tuple[float, ...], bool]:
        na, nb = Node(a, "a"), Node(b, "b")
        na.grad, nb.grad = pre
        out = Node(value, "out", (na, nb), op)
        out.grad = g
        rule(na, nb, out)
        return (na.grad, nb.grad), out.grad != g

    return run


def _twice(a: float, g: float, op: str, value: float) -> Run:
    """Call ``rule(a, a, out)``: one node as both operands."""

    def run(rule: Callable[..., Any]) -> tuple[tuple[float, ...], bool]:
        na = Node(a, "a")
        out = Node(value, "out", (na, na), op)
        out.grad = g
        rule(na, na, out)
        return (na.grad,), out.grad != g

    return run


def _unary(a: float, g: float, pre: float, value: float, op: str,
           extra: tuple[Any, ...] = ()) -> Run:
    """Call ``rule(a, *extra, out)`` (extra: pow's exponent k)."""

    def run(rule: Callable[..., Any]) -> tuple[tuple[float, ...], bool]:
        na = Node(a, "a")
        na.grad = pre
        out = Node(value, "out", (na,), op)
        out.grad = g
        rule(na, *extra, out)
        return (na.grad,), out.grad != g

    return run


_OVERWRITE = (
    "`=` instead of `+=`: the gradient already in the operand's .grad was overwritten. "
    "A Value used in several places must collect every contribution, so add with +="
)
_TWICE = (
    "the same Value is both operands here (a node used twice): with `=` the second "
    "assignment overwrites the first, so a gets one contribution instead of two; use +="
)
_NO_UPSTREAM = (
    "forgot to multiply by out.grad (the upstream gradient): the chain rule is "
    "local derivative × out.grad"
)
_SIGN = "sign error: you subtract where the chain rule adds (local derivative × out.grad)"
_DATA_FOR_GRAD = (
    "multiplied by out.data (the output's value) where out.grad (the upstream gradient, "
    "dL/dout) belongs: local derivative × out.grad"
)
_AS_NUMBER = (
    "an operand was used where its number belongs (e.g. b * out.grad): a, b and out are "
    "Values; the local derivative is made of numbers, b.data, a.data, out.data, so write "
    "a.grad += b.data * out.grad"
)
_OWN_GRAD = (
    "used a.grad (the gradient collected so far) where out.grad, the upstream gradient, "
    "belongs: a.grad += (local derivative) * out.grad"
)


def _overwrite(pre: float, contribution: float) -> list[tuple[tuple[float, ...], str]]:
    """The `=` mistake, recognisable only when a gradient was already there."""
    return [((contribution,), _OVERWRITE)] if pre else []


def _own_grad(pa: float, local: float) -> list[tuple[tuple[float, ...], str]]:
    """a.grad used for out.grad, recognisable only when a gradient was already there."""
    return [((pa + local * pa,), _OWN_GRAD)] if pa else []


def _add_cases() -> list[_Case]:
    a, b, g, pa, pb = 1.5, -2.0, 0.7, 0.25, -0.5
    out = a + b
    return [
        _Case(
            f"out = a + b with a = {a}, b = {b}, out.grad = {g} (and a.grad = {pa}, "
            f"b.grad = {pb} already)",
            ("a", "b"),
            _binary(a, b, g, (pa, pb), "+", out),
            (pa + g, pb + g),
            [
                ((g, g), _OVERWRITE),
                ((pa + 1.0, pb + 1.0), _NO_UPSTREAM),
                ((pa + out * g, pb + out * g),
                 "used the forward value out.data where the local derivative 1 was needed"),
                ((pa + b * g, pb + a * g),
                 "used the rule of * (the other operand) for +: d(a + b)/da = 1"),
                ((pa - g, pb - g), _SIGN),
                ((pa + out, pb + out), _DATA_FOR_GRAD),
                ((pa + 2 * g, pb),
                 "a.grad got out.grad twice and b.grad nothing: the second line must add into "
                 "b.grad (b.grad += out.grad)"),
            ],
        ),
        _Case(
            f"out = a + a with a = {a}, out.grad = {g}",
            ("a",),
            _twice(a, g, "+", 2 * a),
            (2 * g,),
            [((g,), _TWICE)],
        ),
    ]


def _mul_cases() -> list[_Case]:
    a, b, g, pa, pb = 1.5, -2.0, 0.7, 0.25, -0.5
    out = a * b
    return [
        _Case(
            f"out = a * b with a = {a}, b = {b}, out.grad = {g} (and a.grad = {pa}, "
            f"b.grad = {pb} already)",
            ("a", "b"),
            _binary(a, b, g, (pa, pb), "*", out),
            (pa + b * g, pb + a * g),
            [
                ((b * g, a * g), _OVERWRITE),
                ((pa + a * g, pb + b * g),
                 "each operand got its own value: d(a·b)/da = b (the OTHER operand), so "
                 "a.grad += b.data * out.grad"),
                ((pa + b, pb + a), _NO_UPSTREAM),
                ((pa + out * g, pb + out * g),
                 "used the forward value out.data = a·b where the local derivative (the other "
                 "operand) was needed"),
                ((pa + g, pb + g), "used the rule of + for *: d(a·b)/da = b, not 1"),
                ((pa - b * g, pb - a * g), _SIGN),
                ((pa + b * out, pb + a * out), _DATA_FOR_GRAD),
                ((pa + pb * g, pb + (pa + pb * g) * g),
                 "used the other operand's .grad where its value belongs: d(a·b)/da = b.data, "
                 "so a.grad += b.data * out.grad"),
                ((pa + (a + b) * g, pb),
                 "both contributions went into a.grad and b.grad got nothing: the second line "
                 "must add into b.grad (b.grad += a.data * out.grad)"),
            ],
        ),
        _Case(
            f"out = a * a with a = {a}, out.grad = {g}",
            ("a",),
            _twice(a, g, "*", a * a),
            (2 * a * g,),
            [((a * g,), _TWICE)],
        ),
    ]


def _pow_cases() -> list[_Case]:
    cases = []
    for a, k, g, pa in ((1.5, 3, 0.7, 0.25), (-0.8, -2, 1.3, 0.0), (2.0, 0.5, -0.6, 0.1)):
        out = a**k
        local = k * a ** (k - 1)
        cases.append(_Case(
            f"out = a ** k with a = {a}, k = {k}, out.grad = {g} (and a.grad = {pa} already)",
            ("a",),
            _unary(a, g, pa, out, f"**{k}", (k,)),
            (pa + local * g,),
            [
                *_overwrite(pa, local * g),
                ((pa + k * a**k * g,),
                 "the exponent is not lowered: d(a^k)/da = k · a^(k-1), not k · a^k"),
                ((pa + a ** (k - 1) * g,), "the factor k is missing: d(a^k)/da = k · a^(k-1)"),
                ((pa + local,), _NO_UPSTREAM),
                ((pa + out * g,),
                 "used the forward value out.data = a^k where the derivative k · a^(k-1) was "
                 "needed"),
                ((pa + (k - 1) * a ** (k - 1) * g,),
                 "the factor is k, not k - 1: d(a^k)/da = k · a^(k-1)"),
                ((pa - local * g,), _SIGN),
                ((pa + k * a**k - g,),
                 "** binds tighter than -: a.data ** k - 1 * out.grad is k · a^k - out.grad; "
                 "write the exponent in parentheses, a.data ** (k - 1)"),
                ((pa + k * out ** (k - 1) * g,),
                 "used out.data = a^k where the input belongs: d(a^k)/da = k · a^(k-1) with "
                 "a.data, not out.data"),
                ((pa + local * out,), _DATA_FOR_GRAD),
                *_own_grad(pa, local),
            ],
        ))
    return cases


def _exp_cases() -> list[_Case]:
    cases = []
    for a, g, pa in ((0.6, 0.7, 0.25), (-1.2, -0.4, 0.0)):
        out = math.exp(a)
        cases.append(_Case(
            f"out = exp(a) with a = {a}, out.grad = {g} (and a.grad = {pa} already)",
            ("a",),
            _unary(a, g, pa, out, "exp"),
            (pa + out * g,),
            [
                *_overwrite(pa, out * g),
                ((pa + a * g,),
                 "used the input a.data where the derivative was needed: d(e^a)/da = e^a, "
                 "which is out.data"),
                ((pa + out,), _NO_UPSTREAM),
                ((pa + g,), "the local derivative is e^a (= out.data), not 1"),
                ((pa - out * g,), _SIGN),
                ((pa + math.exp(out) * g,),
                 "applied exp a second time: out.data is already e^a, the local derivative "
                 "itself, so a.grad += out.data * out.grad"),
                ((pa + out * out,), _DATA_FOR_GRAD),
                *_own_grad(pa, out),
            ],
        ))
    return cases


def _tanh_cases() -> list[_Case]:
    cases = []
    for a, g, pa in ((0.8, 0.7, 0.25), (-1.5, 1.3, 0.0)):
        t = math.tanh(a)
        local = 1 - t * t
        cases.append(_Case(
            f"out = tanh(a) with a = {a}, out.grad = {g} (and a.grad = {pa} already)",
            ("a",),
            _unary(a, g, pa, t, "tanh"),
            (pa + local * g,),
            [
                *_overwrite(pa, local * g),
                ((pa + (1 - a * a) * g,),
                 "used the input a where the output t = tanh(a) belongs: d tanh(a)/da = "
                 "1 - t², with t = out.data (not 1 - a²)"),
                ((pa + (1 - t) * g,), "the square is missing: d tanh(a)/da = 1 - tanh(a)²"),
                ((pa + t * t * g,), "the \"1 -\" is missing: d tanh(a)/da = 1 - tanh(a)²"),
                ((pa + t * g,),
                 "used the forward value tanh(a) where the derivative 1 - tanh(a)² was needed"),
                ((pa + local,), _NO_UPSTREAM),
                ((pa - local * g,), _SIGN),
                ((pa + 1 - t * t * g,),
                 "parentheses missing: 1 - out.data**2 * out.grad is 1 - (t² · out.grad); "
                 "write (1 - out.data**2) * out.grad"),
                ((pa + (1 - t) ** 2 * g,),
                 "(1 - t)² is not 1 - t²: square t alone, (1 - out.data**2) * out.grad"),
                ((pa + (1 - math.tanh(t) ** 2) * g,),
                 "applied tanh a second time: out.data is already t = tanh(a), so the local "
                 "derivative is 1 - out.data**2, not 1 - tanh(out.data)²"),
                ((pa + local * t,), _DATA_FOR_GRAD),
                *_own_grad(pa, local),
            ],
        ))
    return cases


@register_check(
    exercise=EXERCISE,
    id="add",
    points=1,
    requires=("add_backward",),
    hint="d(a + b)/da = d(a + b)/db = 1: a.grad += out.grad and b.grad += out.grad",
)
def add(ns: dict[str, Any]) -> Feedback:
    """add_backward: the rule of out = a + b"""
    return _judge(ns["add_backward"], "add_backward", _add_cases())


@register_check(
    exercise=EXERCISE,
    id="mul",
    points=2,
    requires=("mul_backward",),
    hint="d(a·b)/da = b and d(a·b)/db = a: a.grad += b.data * out.grad, and the same for b",
)
def mul(ns: dict[str, Any]) -> Feedback:
    """mul_backward: the rule of out = a * b"""
    return _judge(ns["mul_backward"], "mul_backward", _mul_cases())


@register_check(
    exercise=EXERCISE,
    id="pow",
    points=2,
    requires=("pow_backward",),
    hint="d(a^k)/da = k · a^(k-1): a.grad += k * a.data ** (k - 1) * out.grad",
)
def pow_(ns: dict[str, Any]) -> Feedback:
    """pow_backward: the rule of out = a ** k, k a number"""
    return _judge(ns["pow_backward"], "pow_backward", _pow_cases())


@register_check(
    exercise=EXERCISE,
    id="exp",
    points=1,
    requires=("exp_backward",),
    hint="d(e^a)/da = e^a, which the forward pass already computed: out.data",
)
def exp(ns: dict[str, Any]) -> Feedback:
    """exp_backward: the rule of out = exp(a)"""
    return _judge(ns["exp_backward"], "exp_backward", _exp_cases())


@register_check(
    exercise=EXERCISE,
    id="tanh",
    points=2,
    requires=("tanh_backward",),
    hint="d tanh(a)/da = 1 - tanh(a)², and tanh(a) is out.data",
)
def tanh(ns: dict[str, Any]) -> Feedback:
    """tanh_backward: the rule of out = tanh(a)"""
    return _judge(ns["tanh_backward"], "tanh_backward", _tanh_cases())


# -- backprop: the order ------------------------------------------------------------------------


class _Graph:
    """A small graph with right rules whose ``_backward`` calls are logged.

    L = tanh(d * e) + a with d = a * b, e = d + c: d is used twice (by f = d * e and by e)
    and a at two depths, so a wrong order, a pre-order sort or a missing ``visited`` set
    shows.
    """

    def __init__(self) -> None:
        self.log: list[tuple[Node, float]] = []  # (node, its grad when its _backward ran)
        a, b, c = Node(0.5, "a"), Node(-1.5, "b"), Node(2.0, "c")
        d = self._op("d", "*", a, b)
        e = self._op("e", "+", d, c)
        f = self._op("f", "*", d, e)
        g = self._op("g", "tanh", f)
        root = self._op("L", "+", g, a)
        self.root = root
        self.nodes = [a, b, c, d, e, f, g, root]
        self.leaves = [a, b, c]

    def _op(self, label: str, op: str, *prev: Node) -> Node:
        if op == "+":
            out = Node(prev[0].data + prev[1].data, label, prev, op)
        elif op == "*":
            out = Node(prev[0].data * prev[1].data, label, prev, op)
        else:
            out = Node(math.tanh(prev[0].data), label, prev, op)

        def rule() -> None:
            self.log.append((out, out.grad))
            if op == "+":
                prev[0].grad += out.grad
                prev[1].grad += out.grad
            elif op == "*":
                prev[0].grad += prev[1].data * out.grad
                prev[1].grad += prev[0].data * out.grad
            else:
                prev[0].grad += (1 - out.data**2) * out.grad

        out._backward = rule
        return out

    def expected(self) -> dict[str, float]:
        """dL/d(leaf) from ``bpkit.Value`` on the same expression."""
        a, b, c = (ReferenceValue(n.data) for n in self.leaves)
        d = a * b
        e = d + c
        root = (d * e).tanh() + a
        root.backward()
        return {"a": a.grad, "b": b.grad, "c": c.grad}

    def consumers(self) -> dict[Node, list[Node]]:
        """Each node -> the nodes whose operand it is."""
        users: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for p in n._prev:
                if n not in users[p]:
                    users[p].append(n)
        return users

    def postorder(self) -> list[Node]:
        """Children before parents, operands in order (the usual topological sort)."""
        return self._dfs(post=True)

    def preorder(self) -> list[Node]:
        """Each node before its operands: the mistaken sort that appends before recursing."""
        return self._dfs(post=False)

    def _dfs(self, post: bool) -> list[Node]:
        order: list[Node] = []
        seen: set[Node] = set()

        def visit(v: Node) -> None:
            if v not in seen:
                seen.add(v)
                if not post:
                    order.append(v)
                for p in v._prev:
                    visit(p)
                if post:
                    order.append(v)

        visit(self.root)
        return order


def _labels(nodes: Sequence[Node]) -> str:
    return ", ".join(n.label for n in nodes)


@register_check(
    exercise=EXERCISE,
    id="backprop",
    points=3,
    requires=("backprop",),
    hint="build topo (each node appended after all its _prev, once: keep a visited set), set "
    "root.grad = 1.0, then call v._backward() for v in reversed(topo)",
)
def backprop(ns: dict[str, Any]) -> Feedback:
    """backprop(root): every node's rule runs once, after all its consumers'"""
    graph = _Graph()
    ns["backprop"](graph.root)
    ran = [n for n, _ in graph.log]
    interior = [n for n in graph.nodes if n._prev]
    expected_order = [n for n in reversed(graph.postorder()) if n._prev]
    shown = _labels(expected_order)
    if not ran:
        if any(n.looked_up for n in interior):
            why = ("v._backward without parentheses only looks the function up and does not "
                   "run it: call it, v._backward()")
        else:
            why = ("no node's _backward was even looked up: is the order empty (is build(root) "
                   "called)? After sorting, loop over the nodes and call v._backward() on each")
        return Feedback.fail(
            "backprop(root) never called a node's _backward()",
            expected=f"the rules run in the order {shown}",
            got="no rule ran",
            why=[why],
        )
    got_order = _labels(ran)
    seed = {n: g for n, g in reversed(graph.log)}.get(graph.root)
    if seed is not None and seed != 1.0:
        return Feedback.fail(
            "the root's gradient was not 1 when its rule ran",
            expected="root.grad = 1.0 before the loop",
            got=f"root.grad = {_num(seed)}",
            why=["set root.grad = 1.0 before calling any _backward (dL/dL = 1): without the "
                 "seed every gradient stays 0"],
        )
    counts = {n: ran.count(n) for n in interior}
    twice = [n for n in interior if counts[n] > 1]
    users = graph.consumers()
    if twice:
        n = twice[0]
        first = {m: ran.index(m) for m in interior if counts[m]}
        last = {m: i for i, m in enumerate(ran)}
        early = [(m, u) for m in first for u in users[m] if u in last and last[u] > first[m]]
        if not users[n]:  # the root: called once by hand and once more in the loop
            why = (f"the root's rule ({n.label}) ran twice: the loop over reversed(topo) already "
                   "starts with the root, so call v._backward() only in that loop")
        elif early:  # no order at all: each rule ran as soon as one path reached its node
            m, u = early[0]
            why = (f"there is no topological order: {m.label}'s rule ran as soon as one path "
                   f"reached it, before {u.label} (which also uses {m.label}) had added its "
                   f"share, and again along the other path. Build the whole order first "
                   "(post-order with a `visited` set), then seed root.grad = 1.0 and call "
                   "v._backward() for v in reversed(topo)")
        else:
            why = ("a node reachable along two paths (here d, used by f and by e) was put in the "
                   "order twice, so its gradient was passed back twice: keep a `visited` set and "
                   "append each node once")
        return Feedback.fail(
            f"the rule of node {n.label} ran {counts[n]} times",
            expected=f"each rule runs once: {shown}",
            got=got_order,
            why=[why],
        )
    missing = [n for n in interior if counts[n] == 0]
    if missing:
        return Feedback.fail(
            f"the rule of {_labels(missing)} never ran",
            expected=shown,
            got=got_order,
            why=["the order must hold every node reachable from the root through v._prev "
                 "(visit all the children of each node, recursively)"],
        )
    position = {n: i for i, n in enumerate(ran)}
    late = [(n, u) for n in interior for u in users[n] if position[u] > position[n]]
    if late:
        n, u = late[0]
        pre = [n for n in graph.preorder() if n._prev]
        if ran == [n for n in graph.postorder() if n._prev]:
            why = ("the nodes ran in topological order (children first); backward needs the "
                   "reverse, root first: loop over reversed(topo)")
        elif ran in (pre, pre[::-1]):
            why = ("each node is appended to topo before its children are visited (pre-order), "
                   "so a node can come before a node it depends on: append v only after the "
                   "loop over v._prev (post-order), then run reversed(topo)")
        else:
            why = ("in the topological order each node must come after all its children "
                   "(append v only after visiting every node of v._prev), and the loop runs "
                   "that order reversed")
        return Feedback.fail(
            f"node {n.label}'s rule ran before that of {u.label}, which uses {n.label}: "
            f"{n.label} passed on an incomplete gradient",
            expected=f"an order in which every node comes after its users, e.g. {shown}",
            got=got_order,
            why=[why],
        )
    want = graph.expected()
    got = {n.label: n.grad for n in graph.leaves}
    if not same(list(got.values()), list(want.values()), **_TOL):
        return Feedback.fail(
            "the order is right but the leaves' gradients are wrong",
            expected=", ".join(f"d{k} = {_num(v)}" for k, v in want.items()),
            got=", ".join(f"d{k} = {_num(v)}" for k, v in got.items()),
            why=["backprop should only seed root.grad = 1.0 and call each _backward once; do "
                 "not reset or change other gradients inside the loop"],
        )
    return Feedback.ok(f"the rules ran once each, in a valid order ({got_order})")


# -- the whole class against bpkit.Value -------------------------------------------------------

#: (text, expression of three leaves) pairs the Value class is checked on.
EXPRESSIONS: list[tuple[str, Callable[[Any, Any, Any], Any]]] = [
    ("2 * tanh(a*b + c) - c", lambda a, b, c: 2 * (a * b + c).tanh() - c),
    ("exp(a**2 - b) * c", lambda a, b, c: (a**2 - b).exp() * c),
    ("(a + b) * (b + c)**3 + a*b", lambda a, b, c: (a + b) * (b + c) ** 3 + a * b),
    # d is used at two depths (by d * (d + c) and by d + c): a breadth-first order runs its
    # rule before that of d + c, which has not yet added its share
    ("d * (d + c) + c * c with d = a / b", lambda a, b, c: _two_depths(a / b, c)),
    ("tanh(d*d + exp(d)) with d = a*b - c", lambda a, b, c: _reuse(a * b - c)),
    # each of a, b, c reaches a rule of its own after the product has already given it a
    # share: a rule that overwrites (=) instead of adding loses that share
    ("a**3 + exp(b) + tanh(c) + a*b*c + (c + c)",
     lambda a, b, c: a**3 + b.exp() + c.tanh() + a * b * c + (c + c)),
]


def _reuse(d: Any) -> Any:
    return (d * d + d.exp()).tanh()


def _two_depths(d: Any, c: Any) -> Any:
    return d * (d + c) + c * c


@register_check(
    exercise=EXERCISE,
    id="expressions",
    points=2,
    requires=("Value", "backprop", *RULES),
    hint="when this fails and the checks above pass, compare your Value class with the one "
    "given: its operations call your rules",
)
def expressions(ns: dict[str, Any]) -> Feedback:
    """Value(...).backward() matches bpkit.Value on 6 expressions at random points"""
    cls = ns["Value"]
    if cls is ReferenceValue:
        return Feedback.fail(
            "`Value` is bpkit's own Value (bp.Value), not the class of this notebook",
            why=["run the cell that defines the exercise's Value class (do not import "
                 "Value from bpkit)"],
        )
    rng = np.random.default_rng(2024)
    count = 0
    for text, build in EXPRESSIONS:
        for _ in range(4):
            point = (rng.uniform(-1, 1), rng.uniform(0.5, 1.5), rng.uniform(-1, 1))
            leaves = [cls(float(v)) for v in point]
            reference = [ReferenceValue(float(v)) for v in point]
            build(*reference).backward()
            want = [v.grad for v in reference]
            failing = []
            try:
                build(*leaves).backward()
                got = [float(v.grad) for v in leaves]
            except TypeError:  # a rule left a Value, not a number, in some .grad
                failing = [c.id for c in _RULE_CHECKS if not c(ns).passed]
                if not failing:
                    raise
                got = [math.nan] * 3
            count += 1
            if same(got, want, **_TOL):
                continue
            at = ", ".join(f"{n} = {v:.4f}" for n, v in zip("abc", point, strict=True))
            failing = failing or [c.id for c in _RULE_CHECKS if not c(ns).passed]
            why = (
                [f"these parts fail their own checks (see above): {', '.join(failing)}"]
                if failing else
                ["every rule passes its own check: is backprop (or the Value class) changed?"]
            )
            return Feedback.fail(
                f"L = {text} at {at}: the gradients differ from bpkit.Value's",
                expected=", ".join(f"dL/d{n} = {_num(v)}" for n, v in zip("abc", want,
                                                                          strict=True)),
                got=", ".join(f"dL/d{n} = {_num(v)}" for n, v in zip("abc", got, strict=True)),
                why=why,
            )
    return Feedback.ok(f"the same gradients as bpkit.Value on {count} expression evaluations")


@dataclass(frozen=True)
class _RuleCheck:
    id: str
    func: Callable[[dict[str, Any]], Feedback]

    def __call__(self, ns: dict[str, Any]) -> Feedback:
        try:
            return self.func(ns)
        except Exception as exc:
            return Feedback.fail(str(exc))


_RULE_CHECKS = [
    _RuleCheck("add", add),
    _RuleCheck("mul", mul),
    _RuleCheck("pow", pow_),
    _RuleCheck("exp", exp),
    _RuleCheck("tanh", tanh),
    _RuleCheck("backprop", backprop),
]
