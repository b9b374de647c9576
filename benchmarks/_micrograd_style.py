"""A reference scalar engine in micrograd's style, for ``benchmarks/scalar.py`` to race.

Written for bpkit (not copied): the design micrograd popularised, each node keeping a set of
parents-of-record (``prev``) and a closure that knows how to push its gradient to them, and
a recursive depth-first topological sort. Only what the moons demo needs: + * ** (number
exponent) relu, and the reflected / derived forms.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["RefMLP", "RefValue"]


def _noop() -> None:
    return None


class RefValue:
    """A scalar with a closure-based backward, as in micrograd."""

    def __init__(self, data: float, prev: tuple[RefValue, ...] = (), op: str = "") -> None:
        self.data = data
        self.grad = 0.0
        self.prev = set(prev)
        self.op = op
        self.push_grad = _noop

    def __add__(self, other: RefValue | float) -> RefValue:
        other = other if isinstance(other, RefValue) else RefValue(other)
        out = RefValue(self.data + other.data, (self, other), "+")

        def push_grad() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out.push_grad = push_grad
        return out

    def __mul__(self, other: RefValue | float) -> RefValue:
        other = other if isinstance(other, RefValue) else RefValue(other)
        out = RefValue(self.data * other.data, (self, other), "*")

        def push_grad() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out.push_grad = push_grad
        return out

    def __pow__(self, k: float) -> RefValue:
        out = RefValue(self.data**k, (self,), f"**{k}")

        def push_grad() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad

        out.push_grad = push_grad
        return out

    def relu(self) -> RefValue:
        out = RefValue(0.0 if self.data < 0 else self.data, (self,), "relu")

        def push_grad() -> None:
            self.grad += (out.data > 0) * out.grad

        out.push_grad = push_grad
        return out

    def backward(self) -> None:
        order: list[RefValue] = []
        seen: set[RefValue] = set()

        def visit(v: RefValue) -> None:
            if v not in seen:
                seen.add(v)
                for p in v.prev:
                    visit(p)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v.push_grad()

    def __neg__(self) -> RefValue:
        return self * -1.0

    def __radd__(self, other: float) -> RefValue:
        return self + other

    def __sub__(self, other: RefValue | float) -> RefValue:
        return self + (-other)

    def __rmul__(self, other: float) -> RefValue:
        return self * other

    def __truediv__(self, other: RefValue | float) -> RefValue:
        return self * other**-1


class _RefNeuron:
    def __init__(self, nin: int, nonlin: bool, rng: random.Random) -> None:
        self.w = [RefValue(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = RefValue(0.0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[RefValue]) -> RefValue:
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[RefValue]:
        return [*self.w, self.b]


class RefMLP:
    """micrograd's MLP layout: ReLU hidden layers, a linear last layer, U(-1, 1) weights."""

    def __init__(self, nin: int, nouts: list[int], rng: random.Random) -> None:
        sizes = [nin, *nouts]
        self.layers = [
            [_RefNeuron(sizes[i], i != len(nouts) - 1, rng) for _ in range(sizes[i + 1])]
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[RefValue]) -> RefValue | list[RefValue]:
        for layer in self.layers:
            x = [n(x) for n in layer]
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[RefValue]:
        return [p for layer in self.layers for n in layer for p in n.parameters()]
