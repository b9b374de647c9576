"""YourOptimizerRace: race *your* momentum, RMSprop and Adam against bp.optim (exercise 08).

Your update rules ``rule(param, grad, state, lr, **hyper) -> new param`` are wrapped in
:class:`FunctionOptimizer` (an optimiser object that calls the rule once per parameter per
``step()``) and run on the surfaces of the optimiser race (a ravine, Rosenbrock's valley, a
saddle, Beale's function) next to ``bp.optim``'s own optimiser with the same learning rate.
Where your rule is right, the two paths lie on top of each other; the text under the figure
says how far apart they end.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit.module import Parameter
from bpkit.widgets._answers import short_error
from bpkit.widgets._app import WidgetApp
from bpkit.widgets.optimizer_race import (
    GAP_FLOOR,
    OPTIMIZERS,
    SURFACES,
    Surface,
    run_optimizer,
)

__all__ = ["RULES", "FunctionOptimizer", "RaceAgainstState", "YourOptimizerRace",
           "race_against_bpkit"]

#: racer -> (the name of your function, bp.optim's optimiser for it in the race's
#: ``OPTIMIZERS``, the hyper-parameters your rule is called with).
RULES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "momentum": ("sgd_momentum", "momentum", {"momentum": 0.9}),
    "RMSprop": ("rmsprop", "RMSprop", {}),
    "Adam": ("adam", "Adam", {}),
}
Rule = Callable[..., Any]


class FunctionOptimizer:
    """An optimiser made from an update rule ``rule(param, grad, state, lr, **hyper)``.

    ``step()`` calls the rule once per parameter, with copies of ``p.data`` and ``p.grad``
    and that parameter's own ``state`` dict, and writes the returned array into ``p.data``.

    Shape:
        the rule maps param, grad (any shape, the same) to a new param of that shape.
    """

    def __init__(self, params: Iterable[Parameter], rule: Rule, lr: float,
                 **hyper: Any) -> None:
        self.params = list(params)
        if not callable(rule):
            raise TypeError(f"FunctionOptimizer expected a function, got {type(rule).__name__}")
        self.rule = rule
        self.lr = float(lr)
        self.hyper = dict(hyper)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero."""
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:
        """One update of every parameter by the rule."""
        for p, state in zip(self.params, self.state, strict=True):
            new = self.rule(p.data.copy(), p.grad.copy(), state, self.lr, **self.hyper)
            name = getattr(self.rule, "__name__", "the rule")
            if new is None:
                raise TypeError(f"{name} returned None (is `return` missing?); expected the new "
                                "parameter")
            if isinstance(new, tuple):
                raise TypeError(f"{name} returned a tuple; return only the new parameter (keep "
                                "running averages in the state dict)")
            new = np.asarray(new)
            if new.shape != p.data.shape:
                raise ValueError(f"{name} returned shape {new.shape} for a parameter of shape "
                                 f"{p.data.shape}")
            p.data[...] = new


@dataclass
class RaceAgainstState:
    """Your rules and bp.optim's on one surface.

    Shape:
        ``paths[name]`` and ``reference[name]`` (T + 1, 2); ``losses[name]`` (T + 1,);
        ``difference[name]``: the largest distance between your path and bp.optim's (NaN when
        yours raised or stopped at another step); ``errors[name]``: the exception your rule
        raised ("" when none); ``final_gap[name]``: f − f* at the end of your path.
    """

    surface: str
    steps: int
    lrs: dict[str, float]
    paths: dict[str, np.ndarray] = field(default_factory=dict)
    losses: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    difference: dict[str, float] = field(default_factory=dict)
    final_gap: dict[str, float] = field(default_factory=dict)
    diverged: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def race_against_bpkit(surface: Surface, rules: Mapping[str, Rule], lrs: Mapping[str, float],
                       steps: int, label: str | None = None) -> RaceAgainstState:
    """Run each of your rules (keys of ``RULES``) and bp.optim's counterpart on ``surface``.

    Shape:
        ``rules``: racer -> your function; ``lrs``: racer -> learning rate.
    """
    state = RaceAgainstState(surface=surface.name if label is None else label,
                             steps=int(steps), lrs={k: float(v) for k, v in lrs.items()})
    for racer, lr in lrs.items():
        if racer not in RULES:
            raise ValueError(f"race_against_bpkit: unknown racer {racer!r}; expected names "
                             f"from {list(RULES)}")
        _, bp_name, hyper = RULES[racer]
        reference, _ = run_optimizer(surface, OPTIMIZERS[bp_name], lr, steps)
        state.reference[racer] = reference
        rule = rules.get(racer)

        def make(params: list[Parameter], lr: float, rule: Any = rule,
                 hyper: dict[str, Any] = hyper) -> Any:
            return FunctionOptimizer(params, rule, lr, **hyper)

        try:
            path, diverged = run_optimizer(surface, make, lr, steps)
        except Exception as exc:  # the learner's rule
            state.errors[racer] = short_error(exc)
            state.difference[racer] = float("nan")
            continue
        state.errors[racer] = ""
        state.paths[racer] = path
        state.diverged[racer] = diverged
        with np.errstate(all="ignore"):
            state.losses[racer] = np.asarray(surface.f(path[:, 0], path[:, 1]), dtype=float)
        state.final_gap[racer] = float(state.losses[racer][-1] - surface.f_min)
        if len(path) == len(reference):
            state.difference[racer] = float(np.max(np.linalg.norm(path - reference, axis=1)))
        else:
            state.difference[racer] = float("nan")
    return state


class YourOptimizerRace(WidgetApp):
    """Your momentum, RMSprop and Adam racing on a surface, each next to bp.optim's.

    Controls: ``surface`` (Dropdown of the race's surfaces; picking one loads its suggested
    learning rates and steps), ``steps`` (IntSlider), ``lr[racer]`` (FloatLogSlider per racer)
    and ``show_reference`` (Checkbox: draw bp.optim's paths dashed). ``state`` is a
    :class:`RaceAgainstState`. Left: contours with your paths (gid ``"yours:<racer>"``) and
    bp.optim's (gid ``"bpkit:<racer>"``); right: f − f* per step of your paths.

    Shape:
        ``rules``: racer ("momentum", "RMSprop", "Adam") -> your function; a racer left out
        is not run.
    """

    def __init__(self, rules: Mapping[str, Rule], *, surface: str = "ravine",
                 steps: int | None = None) -> None:
        import ipywidgets as widgets

        from bpkit.plot import PALETTE

        unknown = [name for name in rules if name not in RULES]
        if unknown or not rules:
            raise ValueError(f"YourOptimizerRace expected rules for some of {list(RULES)}, "
                             f"got {list(rules)}")
        if surface not in SURFACES:
            raise ValueError(f"YourOptimizerRace: surface must be one of {list(SURFACES)}, "
                             f"got {surface!r}")
        self.rules = dict(rules)
        self.colors = {name: PALETTE[k] for k, name in enumerate(OPTIMIZERS)}
        first = SURFACES[surface]
        self.surface = widgets.Dropdown(options=SURFACES, value=first, description="surface")
        self.steps = widgets.IntSlider(value=first.steps if steps is None else int(steps),
                                       min=1, max=1000, description="steps",
                                       continuous_update=False)
        self.show_reference = widgets.Checkbox(value=True, description="show bp.optim",
                                               indent=False)
        self.lr = {
            racer: widgets.FloatLogSlider(value=self._lr_for(first, racer), base=10, min=-4,
                                          max=1, step=0.01, description=f"lr {racer}",
                                          readout_format=".2g", continuous_update=False)
            for racer in self.rules
        }
        self._holding = False
        controls = [self.surface, self.steps, self.show_reference, *self.lr.values()]
        rows = [[self.surface, self.steps, self.show_reference], list(self.lr.values())]
        super().__init__(controls, figsize=(10.0, 4.2), rows=rows)

    @staticmethod
    def _lr_for(surface: Surface, racer: str) -> float:
        return float(np.clip(surface.lrs.get(RULES[racer][1], 1e-2), 1e-4, 10.0))

    def _on_change(self, change: dict) -> None:
        if self._holding:
            return
        if change.get("owner") is self.surface:
            self._holding = True
            try:
                for racer, slider in self.lr.items():
                    slider.value = self._lr_for(self.surface.value, racer)
                self.steps.value = int(self.surface.value.steps)
            finally:
                self._holding = False
        self.refresh()

    def update(self) -> None:
        """Race your rules and bp.optim's with the current settings."""
        lrs = {racer: float(slider.value) for racer, slider in self.lr.items()}
        self.state = race_against_bpkit(self.surface.value, self.rules, lrs,
                                        int(self.steps.value), label=str(self.surface.label))
        s = self.state
        parts = []
        for racer in self.rules:
            if s.errors.get(racer):
                parts.append(f"<b>{racer}</b>: your rule failed: <code>"
                             f"{html.escape(s.errors[racer])}</code>")
                continue
            diff = s.difference[racer]
            if np.isfinite(diff) and diff < 1e-8:
                agree = "on top of bp.optim's path"
            elif np.isfinite(diff):
                agree = f"up to {diff:.3g} away from bp.optim's path"
            else:
                agree = "stopped at another step than bp.optim's"
            end = "diverged" if s.diverged[racer] else f"f − f* = {s.final_gap[racer]:.3g}"
            parts.append(f"<b>{racer}</b>: {html.escape(end)}, {html.escape(agree)}")
        self.message.value = f"After {s.steps} steps: " + "; ".join(parts)

    def draw(self, figure: Any) -> None:
        """Left: contours, your paths (solid) and bp.optim's (dashed). Right: f − f*."""
        from bpkit.plot import plot_loss_surface

        surface: Surface = self.surface.value
        s = self.state
        left, right = figure.subplots(1, 2, width_ratios=[1.15, 1.0])
        plot_loss_surface(surface.f, surface.xlim, surface.ylim, ax=left, levels=20,
                          log=surface.log, resolution=80)
        minima = np.array(surface.minima)
        left.plot(minima[:, 0], minima[:, 1], "P", color="k", ms=9, zorder=6)
        for racer in self.rules:
            color = self.colors[RULES[racer][1]]
            if self.show_reference.value and racer in s.reference:
                ref = s.reference[racer]
                left.plot(ref[:, 0], ref[:, 1], "--", color="k", lw=1.0, alpha=0.7,
                          gid=f"bpkit:{racer}", zorder=5)
            if racer in s.paths:
                path = s.paths[racer]
                left.plot(path[:, 0], path[:, 1], color=color, lw=2.2, alpha=0.85,
                          gid=f"yours:{racer}", label=f"your {racer}", zorder=4)
                gap = np.maximum(s.losses[racer] - surface.f_min, GAP_FLOOR)
                right.semilogy(np.arange(len(gap)), gap, color=color, lw=1.6,
                               gid=f"gap:{racer}", label=f"your {racer}")
        left.set_xlim(*surface.xlim)
        left.set_ylim(*surface.ylim)
        left.set_title(f"{s.surface}: yours solid, bp.optim dashed")
        if s.paths:
            left.legend(fontsize="small", loc="lower right")
            right.legend(fontsize="small", loc="upper right")
        right.set_xlim(0, max(s.steps, 1))
        right.set_xlabel("step")
        right.set_ylabel("f(θ) − f*")
        right.set_title("Gap to the minimum")
