"""GraphStepper: walk a ``Value`` graph's backward pass one node at a time (notebook 02).

Each step takes the next node in reverse topological order (the root first) and hands its
gradient on to its children by the chain rule::

    contribution to child = local derivative d(node)/d(child) * upstream gradient d(root)/d(node)

and each child's gradient is the sum of the contributions it receives. The figure is
``bp.plot.draw_graph`` with the current node framed in orange and every gradient as far as
the backward pass has got ("?" where no gradient has arrived yet); the panel under it spells
out the products of the current step.

The stepper works on recorded numbers: it takes the steps from
``bpkit.scalar.backward_steps(root)`` when it is created and draws a copy of the graph, so
the ``grad`` of your Values is never read or changed (run ``root.backward()`` yourself to set
them). The data shown are those of the Values when the stepper was created.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bpkit.scalar import BackwardStep, Value, backward_steps, topological_order
from bpkit.widgets._app import WidgetApp, step_controls

__all__ = ["GraphStepper", "GraphStepperState", "StepTerm", "draw_backward_step"]

UNKNOWN = "?"  # shown as the grad of a node no gradient has reached yet


@dataclass(frozen=True)
class StepTerm:
    """One child's line of a backward step: local derivative x upstream = contribution.

    Shape:
        scalars. ``total`` is the child's gradient after this contribution was added.

    Formula:
        contribution = local * upstream;  total = (child's gradient before) + contribution.
    """

    child: str
    local: float
    upstream: float
    contribution: float
    total: float


@dataclass
class GraphStepperState:
    """Where the stepper is: the step, the node it processes and the gradients so far.

    Shape:
        ``step`` in 0..``n_steps`` (0: nothing done yet, only the root's gradient is set);
        ``terms`` one :class:`StepTerm` per child of the current node (empty for a leaf and
        at step 0); ``grads`` maps every node's name (topological order, children first) to
        its gradient so far, or None where no gradient has arrived.
    """

    step: int
    n_steps: int
    root: str
    node: str | None  # the node processed at this step; None at step 0
    op: str  # its operation ("" for a leaf or at step 0)
    upstream: float | None  # d root / d node (complete when the node is processed)
    terms: tuple[StepTerm, ...]
    grads: dict[str, float | None]
    done: bool


class _Node:
    """A drawing-only copy of a Value: label, data, op, children and a settable grad text."""

    __slots__ = ("label", "data", "op", "children", "grad")

    def __init__(self, label: str, data: str, op: str, children: tuple[_Node, ...]) -> None:
        self.label = label
        self.data = data
        self.op = op
        self.children = children
        self.grad: str = UNKNOWN  # draw_graph draws a str as written


def _names(order: list[Value]) -> dict[Value, str]:
    """A unique name per node: its label, or ``#i`` (i its place in ``order``) if unlabelled
    or if an earlier node already has that label (then ``label#i``)."""
    names: dict[Value, str] = {}
    used: set[str] = set()
    for i, v in enumerate(order):
        name = v.label if v.label and v.label not in used else f"{v.label}#{i}"
        used.add(name)
        names[v] = name
    return names


def _fmt(x: float) -> str:
    """``x`` to 4 decimals without trailing zeros: 3.0 -> "3", 24.70408 -> "24.7041"."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class _Walk:
    """The recorded backward pass of one root: steps, names and the grads after each step."""

    def __init__(self, root: Value, include_leaves: bool, gradient: float) -> None:
        order = topological_order(root)
        self.root = root
        self.order = order
        self.names = _names(order)
        every = backward_steps(root, gradient)
        self.steps: list[BackwardStep] = [s for s in every if include_leaves or s.children]
        # grads[k]: every node's gradient after k steps (None: nothing arrived yet)
        running: dict[Value, float | None] = {v: None for v in order}
        running[root] = float(gradient)
        self.grads = [dict(running)]
        self.terms: list[tuple[StepTerm, ...]] = [()]
        for s in self.steps:
            terms = []
            for child, local, c in zip(s.children, s.local_grads, s.contributions, strict=True):
                total = (running[child] or 0.0) + c
                running[child] = total
                terms.append(StepTerm(self.names[child], local, s.upstream, c, total))
            self.grads.append(dict(running))
            self.terms.append(tuple(terms))
        # one copy of the graph to draw, children before parents
        self.shown: dict[Value, _Node] = {}
        for v in order:
            kids = tuple(self.shown[c] for c in v.children)
            self.shown[v] = _Node(self.names[v], _fmt(v.data), v.op, kids)
        # a fixed width per grad text, so boxes keep their size (and the layout its shape)
        self.width = {
            v: max([len(UNKNOWN)] + [len(_fmt(g[v])) for g in self.grads if g[v] is not None])
            for v in order
        }

    def state(self, k: int) -> GraphStepperState:
        step = self.steps[k - 1] if k > 0 else None
        node = step.node if step is not None else None
        return GraphStepperState(
            step=k,
            n_steps=len(self.steps),
            root=self.names[self.root],
            node=self.names[node] if node is not None else None,
            op=node.op if node is not None else "",
            upstream=step.upstream if step is not None else None,
            terms=self.terms[k],
            grads={self.names[v]: g for v, g in self.grads[k].items()},
            done=k == len(self.steps),
        )

    def set_shown_grads(self, k: int) -> None:
        for v, g in self.grads[k].items():
            text = UNKNOWN if g is None else _fmt(g)
            self.shown[v].grad = text.rjust(self.width[v])


def _as_root(root: Value | Callable[[], Value], where: str) -> Value:
    if not isinstance(root, Value) and callable(root):
        root = root()
    if not isinstance(root, Value):
        raise TypeError(
            f"{where} expected a Value (or a function of no arguments returning one), "
            f"got {type(root).__name__}"
        )
    return root


def _equation(state: GraphStepperState) -> str:
    """The current step in one line of plain text (the figure's title)."""
    if state.node is None:
        return f"start: d{state.root}/d{state.root} = 1 seeds the backward pass"
    if not state.terms:
        return (
            f"{state.node} is a leaf: d{state.root}/d{state.node} = {_fmt(state.upstream)} "
            "is complete"
        )
    parts = [
        f"d{state.root}/d{t.child} += {_fmt(t.local)} × {_fmt(t.upstream)} = {_fmt(t.contribution)}"
        for t in state.terms
    ]
    return f"{state.node} ({state.op}):  " + ";   ".join(parts)


def _draw(walk: _Walk, k: int, ax: Any, rankdir: str) -> None:
    from bpkit.plot import draw_graph

    walk.set_shown_grads(k)
    state = walk.state(k)
    current = walk.steps[k - 1].node if k > 0 else None
    highlight = (walk.shown[current],) if current is not None else ()
    draw_graph(walk.shown[walk.root], ax=ax, rankdir=rankdir, highlight=highlight)
    # plain text above the axes (a title would cost a layout pass on every redraw)
    ax.text(
        0.0, 1.02,
        f"Backward pass, step {k} of {state.n_steps}   ('?': no gradient has arrived yet)\n"
        + _equation(state),
        transform=ax.transAxes, ha="left", va="bottom", fontsize=9, gid="caption",
    )


def draw_backward_step(
    root: Value | Callable[[], Value],
    step: int,
    ax: Any = None,
    *,
    rankdir: str = "LR",
    include_leaves: bool = True,
    figsize: tuple[float, float] = (10.0, 2.8),
) -> Any:
    """Draw ``root``'s graph as the backward pass leaves it after ``step`` steps.

    The current node (the one processed at ``step``) is framed in orange, grads not reached
    yet show "?", and the title spells out local derivative x upstream = contribution for
    each child. Nothing in ``root``'s graph is changed. Returns the figure.

    Shape:
        ``step`` in 0..n (n: the number of nodes, or of non-leaf nodes without leaves).
    """
    root = _as_root(root, "draw_backward_step")
    walk = _Walk(root, include_leaves, 1.0)
    n = len(walk.steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= n:
        raise ValueError(f"draw_backward_step expected step to be an int in 0..{n}, got {step!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.78))
    _draw(walk, step, ax, rankdir)
    return ax.figure


class GraphStepper(WidgetApp):
    """Step through a ``Value``'s backward pass, node by node, with the chain rule spelled out.

    Controls: ``next_button``, ``back_button``, ``reset_button`` (Buttons) and ``step`` (an
    IntSlider from 0, before anything is done, to ``n_steps``, after the last node). Each
    step processes one node in reverse topological order: for each child, ``local derivative
    × upstream gradient = contribution`` is added to the child's gradient. ``state`` is a
    :class:`GraphStepperState`; ``message`` shows the step as an HTML table.

    ``root`` is a Value or a function of no arguments that builds one. The stepper records
    the backward pass with ``backward_steps`` and draws a copy of the graph: your Values'
    ``grad`` is never changed (call ``root.backward()`` for that); at the last step the
    gradients shown are those ``root.backward()`` gives (with leaf grads starting at 0).
    ``include_leaves=False`` skips the steps of leaves (they have nothing to pass on).

    Shape:
        a graph of n Values -> n steps (fewer without leaves); up to a few dozen Values
        draw readably.
    """

    def __init__(
        self,
        root: Value | Callable[[], Value],
        *,
        step: int = 0,
        rankdir: str = "LR",
        include_leaves: bool = True,
        figsize: tuple[float, float] = (10.0, 2.8),
    ) -> None:
        where = "GraphStepper"
        root = _as_root(root, where)
        if rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"{where}: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
        self.walk = _Walk(root, bool(include_leaves), 1.0)
        n = len(self.walk.steps)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= n:
            raise ValueError(f"{where} expected step to be an int in 0..{n}, got {step!r}")
        self.rankdir = rankdir
        self.step, self.back_button, self.next_button, self.reset_button = step_controls(n, step)
        controls = [self.back_button, self.next_button, self.reset_button, self.step]
        super().__init__(controls, figsize=figsize, dpi=100)

    # -- WidgetApp ----------------------------------------------------------------------------
    def update(self) -> None:
        """Look up the recorded state after ``step`` steps and write the panel."""
        k = int(self.step.value)
        self.state = self.walk.state(k)
        self.back_button.disabled = k == 0
        self.next_button.disabled = self.state.done
        self.message.value = _panel(self.state)

    def draw(self, figure: Any) -> None:
        """The graph with grads so far and the current node framed; the step as the title."""
        # No layout engine: draw_graph sizes the drawing to the axes as given, and an engine
        # would add a layout pass to every redraw.
        figure.set_layout_engine(None)
        ax = figure.add_axes((0.01, 0.01, 0.98, 0.8))
        _draw(self.walk, self.state.step, ax, self.rankdir)


def _panel(state: GraphStepperState) -> str:
    """The current step as HTML: a sentence, then one table row per child."""
    r = html.escape(state.root)
    if state.node is None:
        return (
            f"<b>Step 0 of {state.n_steps}.</b> The backward pass starts at the root with "
            f"d{r}/d{r} = 1. Press <i>Next</i> to process the first node."
        )
    n = html.escape(state.node)
    head = (
        f"<b>Step {state.step} of {state.n_steps}: node {n}</b>"
        + (f" (op <code>{html.escape(state.op)}</code>)" if state.op else "")
        + f", upstream gradient d{r}/d{n} = {_fmt(state.upstream)}."
    )
    if not state.terms:
        return head + f" {n} is a leaf: its gradient is complete and there is nothing to pass on."
    rows = "".join(
        f"<tr><td>{html.escape(t.child)}</td><td>{_fmt(t.local)}</td>"
        f"<td>× {_fmt(t.upstream)}</td><td>= {_fmt(t.contribution)}</td>"
        f"<td>{_fmt(t.total)}</td></tr>"
        for t in state.terms
    )
    table = (
        '<table style="border-spacing: 14px 2px"><tr><th>child</th>'
        "<th>local derivative</th><th>× upstream gradient</th>"
        f"<th>= contribution</th><th>d{r}/d(child) so far</th></tr>{rows}</table>"
    )
    return head + table
