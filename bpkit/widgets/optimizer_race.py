"""OptimizerRace: SGD, momentum, Nesterov, RMSprop and Adam side by side on a 2-D surface.

Pick a surface (a ravine, Rosenbrock's banana, a saddle, Beale's function), a learning rate
per optimiser, which optimisers take part and how many steps. Each optimiser is the real
``bp.optim`` class, run on a two-element ``bp.Parameter`` whose ``grad`` is set from the
surface's analytic gradient before every ``step()``. The left panel draws the paths on the
contours, the right panel the gap to the minimum, f(θ_t) − f*, at every step.

Everything is deterministic: there is no randomness anywhere in a race.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpkit import optim
from bpkit.module import Parameter
from bpkit.widgets._app import WidgetApp
from bpkit.widgets._drawing import decades, surface_and_curve_axes

__all__ = [
    "OPTIMIZERS",
    "SURFACES",
    "OptimizerRace",
    "RaceState",
    "Surface",
    "beale",
    "race",
    "ravine",
    "rosenbrock",
    "run_optimizer",
    "saddle",
]

LOG10_LR_MIN, LOG10_LR_MAX = -4.0, 1.0  # range of the learning-rate sliders (log10)
STEPS_MIN, STEPS_MAX = 1, 1000  # range of the steps slider
BLOW_UP = 1e6  # a run stops (and counts as diverged) once a coordinate leaves [-1e6, 1e6]
GAP_FLOOR = 1e-12  # f - f* is drawn at least this high on the log axis (0 has no log)
MARKERS_UP_TO = 150  # paths of at most this many points show a dot per step

Grid = Callable[[np.ndarray, np.ndarray], np.ndarray]
Maker = Callable[[list[Parameter], float], optim.Optimizer]


@dataclass(frozen=True)
class Surface:
    """A loss of two parameters: f, its gradient, a view, a start, its minima and good settings.

    Shape:
        ``f(X, Y)``: arrays of one shape -> an array of that shape (vectorised, for
        contours); ``grad(x, y)``: floats -> a (2,) array; ``start``, each of ``minima``:
        (x, y); ``xlim``, ``ylim``: (low, high); ``f_min`` = f at the minima.

    ``lrs`` suggests a learning rate per optimiser and ``steps`` a number of steps (the race
    starts from these when the surface is picked); ``log`` asks for log-spaced contours.
    """

    name: str
    f: Grid
    grad: Callable[[float, float], np.ndarray]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float
    lrs: Mapping[str, float] = field(default_factory=dict)
    steps: int = 100
    log: bool = False


def ravine(curvatures: tuple[float, float] = (0.1, 10.0),
           start: tuple[float, float] = (-9.0, 1.0)) -> Surface:
    """An elongated quadratic f(x, y) = ½ (λ₁ x² + λ₂ y²): a long, narrow valley along x.

    Shape:
        ``curvatures`` (λ₁, λ₂), each > 0; gradient (λ₁ x, λ₂ y); minimum (0, 0), f* = 0.

    The condition number λ₂ / λ₁ (100 by default) is what makes plain descent slow: the
    steep direction caps the learning rate at 2 / λ₂, the shallow one then crawls.
    """
    lam = np.asarray(curvatures, dtype=np.float64)
    if lam.shape != (2,) or not np.all(np.isfinite(lam)) or not np.all(lam > 0):
        raise ValueError(f"ravine expected two finite curvatures > 0, got {curvatures!r}")
    l1, l2 = float(lam[0]), float(lam[1])

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 0.5 * (l1 * np.square(x) + l2 * np.square(y))

    def grad(x: float, y: float) -> np.ndarray:
        return np.array([l1 * x, l2 * y])

    return Surface(
        name=f"ravine ½({l1:g}x² + {l2:g}y²)", f=f, grad=grad, xlim=(-10.0, 10.0),
        ylim=(-1.5, 1.5), start=(float(start[0]), float(start[1])), minima=((0.0, 0.0),),
        f_min=0.0, lrs={"SGD": 0.12, "momentum": 0.12, "Nesterov": 0.12, "RMSprop": 0.1,
                        "Adam": 0.3},
        steps=100, log=True,
    )


def rosenbrock(a: float = 1.0, b: float = 100.0,
               start: tuple[float, float] = (-1.2, 1.0)) -> Surface:
    """Rosenbrock's banana f(x, y) = (a − x)² + b (y − x²)²: a curved valley, minimum (a, a²).

    Shape:
        gradient (−2(a − x) − 4 b x (y − x²), 2 b (y − x²)); f* = 0.
    """
    a, b = float(a), float(b)
    if not (np.isfinite(a) and np.isfinite(b) and b > 0):
        raise ValueError(f"rosenbrock expected finite a and b > 0, got a={a!r}, b={b!r}")

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.square(a - x) + b * np.square(y - np.square(x))

    def grad(x: float, y: float) -> np.ndarray:
        r = y - x * x
        return np.array([-2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r])

    return Surface(
        name=f"Rosenbrock (a={a:g}, b={b:g})", f=f, grad=grad, xlim=(-2.0, 2.0),
        ylim=(-1.0, 3.0), start=(float(start[0]), float(start[1])), minima=((a, a * a),),
        f_min=0.0, lrs={"SGD": 2e-3, "momentum": 1e-3, "Nesterov": 1e-3, "RMSprop": 1e-2,
                        "Adam": 0.1},
        steps=500, log=True,
    )


def saddle(start: tuple[float, float] = (1.5, 1e-3)) -> Surface:
    """f(x, y) = ½ x² + ¼ y⁴ − ½ y²: a saddle at (0, 0) between two minima (0, ±1).

    Shape:
        gradient (x, y³ − y); minima (0, ±1), f* = −¼.

    Along y = 0 the surface curves up in x and down in y: a start just off that line sees
    a tiny gradient in y and leaves the saddle only as fast as the optimiser lets it.
    """

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        y2 = np.square(y)
        return 0.5 * np.square(x) + 0.25 * np.square(y2) - 0.5 * y2

    def grad(x: float, y: float) -> np.ndarray:
        return np.array([x, y * y * y - y])

    return Surface(
        name="saddle ½x² + ¼y⁴ − ½y²", f=f, grad=grad, xlim=(-2.0, 2.0), ylim=(-1.6, 1.6),
        start=(float(start[0]), float(start[1])), minima=((0.0, 1.0), (0.0, -1.0)),
        f_min=-0.25, lrs={"SGD": 0.1, "momentum": 0.1, "Nesterov": 0.1, "RMSprop": 0.02,
                          "Adam": 0.05},
        steps=60, log=False,
    )


def beale(start: tuple[float, float] = (1.0, 1.5)) -> Surface:
    """Beale's function Σₖ (cₖ − x + x yᵏ)², c = (1.5, 2.25, 2.625): flat plateaus, steep walls.

    Shape:
        gradient Σₖ 2 rₖ (yᵏ − 1, k x yᵏ⁻¹) with rₖ = cₖ − x + x yᵏ; minimum (3, ½), f* = 0.
    """
    consts = (1.5, 2.25, 2.625)

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return sum(np.square(c - x + x * y ** (k + 1)) for k, c in enumerate(consts))

    def grad(x: float, y: float) -> np.ndarray:
        gx = gy = 0.0
        for k, c in enumerate(consts, start=1):
            r = c - x + x * y**k
            gx += 2.0 * r * (y**k - 1.0)
            gy += 2.0 * r * k * x * y ** (k - 1)
        return np.array([gx, gy])

    return Surface(
        name="Beale", f=f, grad=grad, xlim=(-1.0, 4.5), ylim=(-1.5, 2.0),
        start=(float(start[0]), float(start[1])), minima=((3.0, 0.5),), f_min=0.0,
        lrs={"SGD": 1e-3, "momentum": 1e-3, "Nesterov": 1e-3, "RMSprop": 1e-2, "Adam": 5e-2},
        steps=300, log=True,
    )


#: The race's surfaces: label -> Surface.
SURFACES: dict[str, Surface] = {
    "ravine": ravine(),
    "Rosenbrock": rosenbrock(),
    "saddle": saddle(),
    "Beale": beale(),
}


def _sgd(params: list[Parameter], lr: float) -> optim.Optimizer:
    return optim.SGD(params, lr=lr)


def _momentum(params: list[Parameter], lr: float) -> optim.Optimizer:
    return optim.SGD(params, lr=lr, momentum=0.9)


def _nesterov(params: list[Parameter], lr: float) -> optim.Optimizer:
    return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)


def _rmsprop(params: list[Parameter], lr: float) -> optim.Optimizer:
    return optim.RMSprop(params, lr=lr)


def _adam(params: list[Parameter], lr: float) -> optim.Optimizer:
    return optim.Adam(params, lr=lr)


#: The racers, in drawing order (racer k is drawn in ``bp.plot.PALETTE[k]``): label -> a
#: function (params, lr) -> optimiser. Momentum and Nesterov use momentum = 0.9; RMSprop
#: and Adam use PyTorch's defaults (alpha = 0.99; betas = (0.9, 0.999)).
OPTIMIZERS: dict[str, Maker] = {
    "SGD": _sgd,
    "momentum": _momentum,
    "Nesterov": _nesterov,
    "RMSprop": _rmsprop,
    "Adam": _adam,
}


def run_optimizer(surface: Surface, make: Maker, lr: float, steps: int) -> tuple[np.ndarray, bool]:
    """Run ``make([p], lr)`` for ``steps`` steps on ``surface`` from its start.

    Shape:
        returns ``path`` (T + 1, 2), row t = θ after t steps, and ``diverged``. T = ``steps``
        unless a coordinate leaves [−1e6, 1e6] or stops being finite: then the run stops
        before that point (T < steps) and ``diverged`` is True.

    Each step sets ``p.grad`` to the analytic gradient at ``p.data`` and calls
    ``opt.step()``: the optimiser is exactly the one a network would use.
    """
    where = "run_optimizer"
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"{where} expected a number of steps >= 0, got {steps!r}")
    p = Parameter(np.array(surface.start, dtype=np.float64), name="θ")
    opt = make([p], float(lr))
    path = [p.data.copy()]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            p.grad[...] = surface.grad(float(p.data[0]), float(p.data[1]))
            opt.step()
            if not (np.all(np.isfinite(p.data)) and np.all(np.abs(p.data) <= BLOW_UP)):
                diverged = True
                break
            path.append(p.data.copy())
    return np.array(path), diverged


@dataclass
class RaceState:
    """The outcome of one race: per optimiser its path, losses, final gap and rank.

    Shape:
        ``paths[name]`` (T + 1, 2), ``losses[name]`` (T + 1,) = f along the path; T =
        ``steps`` unless that optimiser diverged. ``final_loss[name]`` = f at the last point,
        ``gap[name]`` = final_loss − f*, ``distance[name]`` = distance from the last point to
        the nearest minimum. ``ranking``: the names, best first (diverged runs last, then
        by final loss; ties keep the racers' order).
    """

    surface: str
    steps: int
    lrs: dict[str, float]
    paths: dict[str, np.ndarray]
    losses: dict[str, np.ndarray]
    final_loss: dict[str, float]
    gap: dict[str, float]
    distance: dict[str, float]
    diverged: dict[str, bool]
    ranking: list[str]


def race(
    surface: Surface,
    lrs: Mapping[str, float],
    steps: int,
    label: str | None = None,
    optimizers: Mapping[str, Maker] | None = None,
) -> RaceState:
    """Run every optimiser named in ``lrs`` (a subset of ``optimizers``) on ``surface``.

    Shape:
        ``lrs``: name -> learning rate, for names in ``optimizers`` (default
        ``OPTIMIZERS``); the result's dicts follow the order of ``optimizers``.
    """
    makers = dict(OPTIMIZERS if optimizers is None else optimizers)
    unknown = [name for name in lrs if name not in makers]
    if unknown:
        raise ValueError(f"race: unknown optimiser(s) {unknown}; expected names from "
                         f"{list(makers)}")
    minima = np.array(surface.minima, dtype=np.float64)
    names = [name for name in makers if name in lrs]
    paths, losses, final, gap, dist, diverged = {}, {}, {}, {}, {}, {}
    for name in names:
        path, blew_up = run_optimizer(surface, makers[name], lrs[name], steps)
        paths[name] = path
        losses[name] = np.asarray(surface.f(path[:, 0], path[:, 1]), dtype=np.float64)
        final[name] = float(losses[name][-1])
        gap[name] = final[name] - surface.f_min
        dist[name] = float(np.min(np.linalg.norm(minima - path[-1], axis=1)))
        diverged[name] = blew_up
    ranking = sorted(names, key=lambda n: (diverged[n], final[n], names.index(n)))
    return RaceState(
        surface=surface.name if label is None else label, steps=int(steps),
        lrs={name: float(lrs[name]) for name in names}, paths=paths, losses=losses,
        final_loss=final, gap=gap, distance=dist, diverged=diverged, ranking=ranking,
    )


class OptimizerRace(WidgetApp):
    """A race of optimisers on a 2-D surface: learning rates and racers in, paths out.

    Controls: ``surface`` (a Dropdown whose value is a :class:`Surface`), ``steps`` (an
    IntSlider, 1 to 1000), and per optimiser name ``include[name]`` (a Checkbox) and
    ``lr[name]`` (a FloatLogSlider, 1e-4 to 10). Picking a surface resets the learning rates
    and steps to that surface's suggestions (one redraw). ``state`` is a :class:`RaceState`
    of the included optimisers. Left panel: contours (``bp.plot.plot_loss_surface``) with
    one path per optimiser (gid ``"path:<name>"``, colour fixed per optimiser); right panel:
    f − f* per step on a log axis (gid ``"gap:<name>"``).

    Shape:
        each path (T + 1, 2), each loss curve (T + 1,).
    """

    def __init__(
        self,
        surfaces: Mapping[str, Surface] | None = None,
        *,
        steps: int | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        import ipywidgets as widgets

        from bpkit.plot import PALETTE

        surfaces = dict(SURFACES if surfaces is None else surfaces)
        if not surfaces:
            raise ValueError("OptimizerRace expected at least one surface, got none")
        for label, surface in surfaces.items():
            if not isinstance(surface, Surface):
                raise TypeError(f"OptimizerRace expected surfaces[{label!r}] to be a Surface, "
                                f"got {type(surface).__name__}")
        first = next(iter(surfaces.values()))
        steps = first.steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not (
            STEPS_MIN <= steps <= STEPS_MAX
        ):
            raise ValueError(
                f"OptimizerRace expected steps in [{STEPS_MIN}, {STEPS_MAX}], got {steps!r}"
            )
        chosen = list(OPTIMIZERS) if include is None else list(include)
        unknown = [name for name in chosen if name not in OPTIMIZERS]
        if unknown:
            raise ValueError(f"OptimizerRace: unknown optimiser(s) {unknown}; expected names "
                             f"from {list(OPTIMIZERS)}")
        self.colors = {name: PALETTE[k] for k, name in enumerate(OPTIMIZERS)}
        self.surface = widgets.Dropdown(options=surfaces, description="surface")
        self.steps = widgets.IntSlider(value=steps, min=STEPS_MIN, max=STEPS_MAX,
                                       description="steps", continuous_update=False)
        self.include: dict[str, Any] = {}
        self.lr: dict[str, Any] = {}
        for name in OPTIMIZERS:
            self.include[name] = widgets.Checkbox(
                value=name in chosen, description=name, indent=False,
                layout=widgets.Layout(width="95px"),
            )
            self.lr[name] = widgets.FloatLogSlider(
                value=self._lr_for(first, name), base=10, min=LOG10_LR_MIN, max=LOG10_LR_MAX,
                step=0.01, description="lr", readout_format=".2g", continuous_update=False,
                layout=widgets.Layout(width="300px"),
            )
        self._holding = False
        pairs = [[self.include[n], self.lr[n]] for n in OPTIMIZERS]
        rows = [[self.surface, self.steps]]
        rows += [pairs[k] + (pairs[k + 1] if k + 1 < len(pairs) else []) for k in range(0, 5, 2)]
        controls = [self.surface, self.steps, *self.include.values(), *self.lr.values()]
        super().__init__(controls, figsize=(10.0, 4.2), rows=rows)

    @staticmethod
    def _lr_for(surface: Surface, name: str) -> float:
        value = float(surface.lrs.get(name, 1e-2))
        return float(np.clip(value, 10.0**LOG10_LR_MIN, 10.0**LOG10_LR_MAX))

    def _on_change(self, change: dict) -> None:
        """Refresh once per user action; a new surface first loads its suggested settings."""
        if self._holding:
            return
        if change.get("owner") is self.surface:
            surface: Surface = self.surface.value
            self._holding = True
            try:
                for name, slider in self.lr.items():
                    slider.value = self._lr_for(surface, name)
                self.steps.value = int(np.clip(surface.steps, STEPS_MIN, STEPS_MAX))
            finally:
                self._holding = False
        self.refresh()

    def update(self) -> None:
        """Race the included optimisers with the current learning rates and steps."""
        lrs = {name: float(self.lr[name].value) for name in OPTIMIZERS
               if self.include[name].value}
        self.state = race(self.surface.value, lrs, int(self.steps.value),
                          label=str(self.surface.label))
        s = self.state
        if not s.ranking:
            self.message.value = "<b>No optimiser selected</b>: tick at least one box."
            return
        parts = []
        for rank, name in enumerate(s.ranking, start=1):
            how = ("diverged" if s.diverged[name]
                   else f"f − f* = {s.gap[name]:.3g}, {s.distance[name]:.3g} from a minimum")
            parts.append(f"{rank}. {name} (lr {s.lrs[name]:.2g}): {how}")
        steps = f"{s.steps} step{'' if s.steps == 1 else 's'}"
        self.message.value = (f"<b>After {steps}</b>: "
                              + html.escape("; ".join(parts)))

    def draw(self, figure: Any) -> None:
        """Left: contours and paths. Right: f − f* per step (log axis)."""
        from bpkit.plot import plot_loss_surface

        surface: Surface = self.surface.value
        s = self.state
        left, right = surface_and_curve_axes(figure)

        plot_loss_surface(surface.f, surface.xlim, surface.ylim, ax=left, levels=20,
                          log=surface.log, resolution=100)
        minima = np.array(surface.minima)
        left.plot(minima[:, 0], minima[:, 1], "P", color="k", ms=9, gid="minimum", zorder=6)
        for name, path in s.paths.items():
            dots = "o" if len(path) <= MARKERS_UP_TO else ""
            left.plot(path[:, 0], path[:, 1], color=self.colors[name], lw=1.4, marker=dots,
                      ms=2, gid=f"path:{name}", zorder=4)
            left.plot(path[-1, 0], path[-1, 1], "*", color=self.colors[name], ms=11, mec="k",
                      mew=0.5, gid=f"end:{name}", zorder=5)
        left.plot(*surface.start, "o", color="white", mec="k", ms=7, gid="start", zorder=6)
        left.set_xlim(*surface.xlim)
        left.set_ylim(*surface.ylim)
        left.set_title(f"{s.surface}: o start, * end, + minimum")

        for name in s.paths:
            gap = np.maximum(s.losses[name] - surface.f_min, GAP_FLOOR)
            label = name + (" (diverged)" if s.diverged[name] else "")
            right.semilogy(np.arange(len(gap)), gap, color=self.colors[name], lw=1.4,
                           gid=f"gap:{name}", label=label)
        right.set_xlim(0, max(s.steps, 1))
        if s.paths:
            decades(right.yaxis, 6)
            right.legend(fontsize="small", loc="upper right")
            right.set_title(f"Gap to the minimum (best: {s.ranking[0]})")
        else:
            right.set_title("No optimiser selected")
        right.set_xlabel("step")
        right.set_ylabel("f(θ) − f*")
