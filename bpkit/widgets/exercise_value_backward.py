"""BackpropStepper: step through a backward pass run by *your* rules (exercise 02).

The exercise's ``Value`` is micrograd-shaped: ``data``, ``grad``, ``label``, the operands in
``_prev``, the operation in ``_op`` and, on each result, a ``_backward`` closure that calls
your rule (``mul_backward``, ``tanh_backward``, ...). The stepper sorts the graph itself
(children before parents), sets the root's grad to 1 and calls each node's ``_backward``
in reverse order, recording every gradient after each call; the slider then replays those
records. With a ``reference`` (the same expression built with ``bpkit.Value``), each labelled
node's final gradient is compared with bpkit's, so a wrong rule shows where it bites.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit._graph_layout import graph_values
from bpkit.widgets._answers import error_html, short_error
from bpkit.widgets._app import WidgetApp, step_controls

__all__ = ["BackpropState", "BackpropStepper", "draw_backprop"]


@dataclass
class BackpropState:
    """Where the stepper is and the gradients your rules have produced so far.

    Shape:
        ``step`` in 0..``n_steps`` (0: only the root's grad is set); ``grads`` maps every
        node's name (children before parents) to its grad after ``step`` calls;
        ``expected`` maps labelled nodes to bpkit's gradient (empty without a reference);
        ``wrong`` lists the labelled nodes whose final grad differs from bpkit's.
    """

    step: int
    n_steps: int
    node: str | None  # the node whose _backward ran at this step; None at step 0
    op: str
    grads: dict[str, float]
    expected: dict[str, float]
    wrong: list[str]
    error: str  # the exception a rule raised (the steps stop there), or ""
    done: bool


def _names(order: Sequence[Any]) -> list[str]:
    names, used = [], set()
    for i, v in enumerate(order):
        label = str(getattr(v, "label", "") or "")
        name = label if label and label not in used else f"{label}#{i}"
        used.add(name)
        names.append(name)
    return names


def _reference_grads(reference: Any) -> dict[str, float]:
    """Label -> grad after ``reference.backward()`` from zero (a bpkit.Value expression)."""
    from bpkit.scalar import Value, topological_order

    if not isinstance(reference, Value):
        raise TypeError(
            f"BackpropStepper expected reference to be a bpkit.Value, got "
            f"{type(reference).__name__}"
        )
    nodes = topological_order(reference)
    for v in nodes:
        v.grad = 0.0  # leaves accumulate: a second backward() would double them
    reference.backward()
    return {v.label: float(v.grad) for v in nodes if v.label}


class _Drawn:
    """A drawing-only copy of one node, for ``bpkit.plot.draw_graph``."""

    __slots__ = ("label", "data", "grad", "op", "children")

    def __init__(self, label: str, data: float, op: str, children: tuple[_Drawn, ...]) -> None:
        self.label = label
        self.data = data
        self.grad = 0.0
        self.op = op
        self.children = children


class _Run:
    """Your backward pass, recorded: the gradients of every node after each rule ran."""

    def __init__(self, root: Any, reference: Any = None) -> None:
        for attr in ("data", "grad", "_prev", "_op", "_backward"):
            if not hasattr(root, attr):
                raise TypeError(
                    f"BackpropStepper expected the exercise's Value (with .data, .grad, ._prev, "
                    f"._op and ._backward), got {type(root).__name__} without .{attr}"
                )
        self.order = graph_values(root, "_prev")  # children before parents
        self.names = _names(self.order)
        self.position = {id(v): i for i, v in enumerate(self.order)}
        self.steps = [v for v in reversed(self.order) if v._prev]
        for v in self.order:
            v.grad = 0.0
        root.grad = 1.0
        self.records = [[float(v.grad) for v in self.order]]
        self.error = ""
        for v in self.steps:
            try:
                v._backward()
                grads = self._grads(v)
            except Exception as exc:  # the learner's rule: shown, and the steps stop here
                self.error = short_error(exc)
                break
            self.records.append(grads)
        self.expected = _reference_grads(reference) if reference is not None else {}
        final = dict(zip(self.names, self.records[-1], strict=True))
        self.wrong = [
            name for name, want in self.expected.items()
            if name in final and not abs(final[name] - want) <= 1e-9 * (1 + abs(want))
        ] if not self.error else []
        self.drawn: list[_Drawn] = []
        for v in self.order:
            kids = tuple(self.drawn[self.position[id(c)]] for c in v._prev)
            label = str(getattr(v, "label", "") or "")
            self.drawn.append(_Drawn(label, float(v.data), str(v._op), kids))

    def _grads(self, ran: Any) -> list[float]:
        """Every node's grad as a float, or a TypeError naming the node a rule left wrong."""
        grads = []
        for name, v in zip(self.names, self.order, strict=True):
            g = v.grad
            if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)):
                hint = " (use the operands' .data, not the Values)" if hasattr(g, "data") \
                    and not isinstance(g, np.ndarray) else ""
                ran_name = self.names[self.position[id(ran)]]
                raise TypeError(
                    f"after {ran_name}._backward() ({ran._op}), {name}.grad is {g!r} (a "
                    f"{type(g).__name__}), not a number{hint}"
                )
            grads.append(float(g))
        return grads

    @property
    def n_steps(self) -> int:
        return len(self.records) - 1

    def state(self, k: int) -> BackpropState:
        node = self.steps[k - 1] if k > 0 else None
        name = self.names[self.position[id(node)]] if node is not None else None
        return BackpropState(
            step=k,
            n_steps=self.n_steps,
            node=name,
            op=str(node._op) if node is not None else "",
            grads=dict(zip(self.names, self.records[k], strict=True)),
            expected=dict(self.expected),
            wrong=list(self.wrong) if k == self.n_steps else [],
            error=self.error,
            done=k == self.n_steps,
        )

    def draw(self, k: int, ax: Any, rankdir: str) -> None:
        from bpkit.plot import draw_graph

        for drawn, grad in zip(self.drawn, self.records[k], strict=True):
            drawn.grad = grad
        current = self.drawn[self.position[id(self.steps[k - 1])]] if k > 0 else None
        draw_graph(self.drawn[-1], ax=ax, rankdir=rankdir,
                   highlight=(current,) if current is not None else ())
        state = self.state(k)
        if state.node is None:
            what = "start: root.grad = 1"
        else:
            what = f"ran _backward of {state.node} ({state.op}) with your rule"
        if state.done and state.wrong:
            what += f"   |   differs from bpkit.Value at: {', '.join(state.wrong)}"
        elif state.done and state.expected and not state.error:
            what += "   |   every labelled gradient matches bpkit.Value"
        ax.text(0.0, 1.02, f"Backward pass with your rules, step {k} of {self.n_steps}\n{what}",
                transform=ax.transAxes, ha="left", va="bottom", fontsize=9, gid="caption")


def draw_backprop(
    root: Any,
    step: int | None = None,
    reference: Any = None,
    ax: Any = None,
    *,
    rankdir: str = "LR",
    figsize: tuple[float, float] = (10.0, 3.0),
) -> Any:
    """Run your backward pass on ``root`` and draw the graph after ``step`` rules (default:
    all). The node whose rule ran last is framed; returns the figure.

    Shape:
        ``step`` in 0..n, n the number of non-leaf nodes (fewer if a rule raised).
    """
    run = _Run(root, reference)
    k = run.n_steps if step is None else step
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= run.n_steps:
        raise ValueError(f"draw_backprop expected step in 0..{run.n_steps}, got {step!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.8))
    run.draw(k, ax, rankdir)
    return ax.figure


class BackpropStepper(WidgetApp):
    """Step through the backward pass your rules compute, node by node.

    Controls: ``step`` (an IntSlider from 0 to the number of non-leaf nodes),
    ``back_button``, ``next_button`` and ``reset_button``. ``state`` is a
    :class:`BackpropState`. The figure is the graph with every grad as your rules left it
    after ``step`` of them ran, the node of the current step framed; the panel below lists
    the labelled nodes with your grad and, given a ``reference`` (the same expression built
    with ``bpkit.Value``, labels matching), bpkit's.

    Your Values' ``grad`` are reset and then set by running your rules once, when the
    stepper is created (as ``root.backward()`` would). A rule that raises stops the steps
    there; the panel shows its error.

    Shape:
        a graph of n Values -> (number of non-leaf Values) steps; a few dozen draw readably.
    """

    def __init__(self, root: Any, reference: Any = None, *, rankdir: str = "LR",
                 figsize: tuple[float, float] = (10.0, 3.0)) -> None:
        if rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(
                f"BackpropStepper: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}"
            )
        self.run = _Run(root, reference)
        self.rankdir = rankdir
        self.step, self.back_button, self.next_button, self.reset_button = step_controls(
            self.run.n_steps
        )
        controls = [self.back_button, self.next_button, self.reset_button, self.step]
        super().__init__(controls, figsize=figsize, dpi=100)

    def update(self) -> None:
        """The recorded state after ``step`` rules ran, and the table under the figure."""
        k = int(self.step.value)
        self.state = self.run.state(k)
        self.back_button.disabled = k == 0
        self.next_button.disabled = self.state.done
        self.message.value = _panel(self.state)

    def draw(self, figure: Any) -> None:
        """The graph with your grads so far, the current node framed."""
        figure.set_layout_engine(None)
        ax = figure.add_axes((0.01, 0.01, 0.98, 0.8))
        self.run.draw(self.state.step, ax, self.rankdir)


def _panel(state: BackpropState) -> str:
    head = f"<b>Step {state.step} of {state.n_steps}</b>"
    if state.node is not None:
        head += (f": <code>{html.escape(state.node)}._backward()</code> ran your rule for "
                 f"<code>{html.escape(state.op)}</code>.")
    else:
        head += ": root.grad = 1, nothing passed back yet. Press <i>Next</i>."
    if state.error:
        head += " " + error_html("A rule failed", state.error, "; the steps stop before it.")
    labelled = [n for n in state.grads if not n.startswith("#") and "#" not in n]
    rows = []
    for name in labelled:
        mine = f"{state.grads[name]:.4f}"
        want = state.expected.get(name)
        if want is None:
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{mine}</td><td></td><td></td></tr>")
            continue
        mark = ""
        if state.done and not state.error:
            mark = "✘" if name in state.wrong else "✔"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{mine}</td><td>{want:.4f}</td>"
                    f"<td>{mark}</td></tr>")
    table = ("<table><tr><th>node</th><th>your grad so far</th><th>bpkit.Value (final)</th>"
             f"<th></th></tr>{''.join(rows)}</table>")
    return head + table
