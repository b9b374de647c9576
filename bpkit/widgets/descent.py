"""DescentExplorer: gradient descent on a loss of two parameters, and what the step size does.

Pick a problem (a quadratic bowl, or the tanh neuron of notebook 03), a learning rate and a
number of steps. The left panel draws the loss as contours with the descent path on top; the
right panel draws the loss at every step. A verdict read off the path says whether descent
**converges** (steadily), **oscillates** (the updates flip sign, back and forth across a
valley) or **diverges** (the loss ends up above where it started, or overflows).

For a quadratic with curvature λ the update is w ← w − η λ w = (1 − η λ) w, so the three
regimes are η < 1/λ, 1/λ < η < 2/λ and η > 2/λ; the explorer prints those thresholds for the
largest curvature at the end of the path.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.widgets._app import WidgetApp
from bpkit.widgets._drawing import decades, surface_and_curve_axes

__all__ = [
    "PROBLEMS",
    "VERDICTS",
    "DescentExplorer",
    "DescentProblem",
    "DescentState",
    "classify_descent",
    "gradient_descent",
    "quadratic_bowl",
    "tanh_neuron",
]

#: The three possible verdicts of :func:`classify_descent`.
VERDICTS = ("converges", "oscillates", "diverges")

LOG10_LR_MIN, LOG10_LR_MAX = -3.0, 1.0  # range of the learning-rate slider (log10)
STEPS_MIN, STEPS_MAX = 1, 200  # range of the steps slider
TINY_UPDATE = 1e-12  # updates below this fraction of a coordinate's largest are sign noise
LOSS_FLOOR = 1e-300  # a loss of exactly 0 is drawn at this height on the log axis
LOSS_CAP = 1e100  # descent stops above this loss: it has diverged, and plots need finite room

Grid = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, repr=False)
class DescentProblem:
    """A loss of two parameters with its gradient and Hessian, a start and a view.

    Shape:
        ``loss(W, B)``: arrays of any one shape -> an array of that shape (vectorised, for
        contours); ``grad(w, b)``: floats -> a (2,) array; ``hessian(w, b)``: floats -> a
        (2, 2) array; ``start``: (w0, b0); ``xlim``, ``ylim``: (low, high).
    """

    name: str
    loss: Grid
    grad: Callable[[float, float], np.ndarray]
    hessian: Callable[[float, float], np.ndarray]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    labels: tuple[str, str] = ("w", "b")

    def __repr__(self) -> str:
        return f"DescentProblem({self.name!r}, start={self.start})"


def _pair(values: Sequence[float]) -> tuple[float, float]:
    """The first two of ``values`` as a tuple of floats (a start point or axis limits)."""
    return (float(values[0]), float(values[1]))


def quadratic_bowl(
    curvatures: tuple[float, float] = (1.0, 10.0),
    *,
    start: tuple[float, float] = (-2.0, 1.0),
    xlim: tuple[float, float] = (-2.5, 2.5),
    ylim: tuple[float, float] = (-1.5, 1.5),
) -> DescentProblem:
    """The bowl L(θ₁, θ₂) = ½ (λ₁ θ₁² + λ₂ θ₂²): gradient (λ₁ θ₁, λ₂ θ₂), Hessian diag(λ₁, λ₂).

    Shape:
        ``curvatures`` (λ₁, λ₂), each > 0; the minimum is (0, 0) with loss 0.

    Each coordinate evolves on its own: θᵢ ← (1 − η λᵢ) θᵢ, so descent converges exactly when
    η < 2 / max(λ₁, λ₂), and without any sign flip when η ≤ 1 / max(λ₁, λ₂).
    """
    lam = np.asarray(curvatures, dtype=np.float64)
    if lam.shape != (2,) or not np.all(np.isfinite(lam)) or not np.all(lam > 0):
        raise ValueError(
            f"quadratic_bowl expected two finite curvatures > 0, got {curvatures!r}"
        )
    l1, l2 = float(lam[0]), float(lam[1])

    def loss(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return 0.5 * (l1 * np.square(w) + l2 * np.square(b))

    def grad(w: float, b: float) -> np.ndarray:
        return np.array([l1 * w, l2 * b])

    def hessian(w: float, b: float) -> np.ndarray:
        return np.diag([l1, l2])

    return DescentProblem(
        name=f"quadratic bowl, λ = ({l1:g}, {l2:g})",
        loss=loss,
        grad=grad,
        hessian=hessian,
        start=_pair(start),
        xlim=_pair(xlim),
        ylim=_pair(ylim),
        labels=("θ₁", "θ₂"),
    )


#: The five points of notebook 03: inputs and targets (tanh(0.8 x + 0.4), rounded).
NEURON_X = (-2.0, -1.0, 0.0, 1.0, 2.0)
NEURON_T = (-0.83, -0.38, 0.38, 0.83, 0.96)


def tanh_neuron(
    xs: Sequence[float] = NEURON_X,
    targets: Sequence[float] = NEURON_T,
    *,
    start: tuple[float, float] = (-1.0, -1.5),
    xlim: tuple[float, float] = (-1.5, 2.5),
    ylim: tuple[float, float] = (-2.0, 2.0),
) -> DescentProblem:
    """The mean squared error of one neuron y = tanh(w x + b) on a few points, over (w, b).

    Shape:
        ``xs``, ``targets``: (N,). L(w, b) = (1/N) Σᵢ (tanh(w xᵢ + b) − tᵢ)².

    With yᵢ = tanh(zᵢ), zᵢ = w xᵢ + b and rᵢ = yᵢ − tᵢ:
    ∂L/∂zᵢ = (2/N) rᵢ (1 − yᵢ²), so ∇L = Σᵢ ∂L/∂zᵢ (xᵢ, 1), and
    ∂²L/∂zᵢ² = (2/N) (1 − yᵢ²) ((1 − yᵢ²) − 2 rᵢ yᵢ), so H = Σᵢ ∂²L/∂zᵢ² [[xᵢ², xᵢ], [xᵢ, 1]].
    """
    x = np.asarray(xs, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    if x.ndim != 1 or x.shape != t.shape or len(x) == 0:
        raise ValueError(
            f"tanh_neuron expected xs and targets of the same shape (N,), got {x.shape} "
            f"and {t.shape}"
        )
    n = len(x)

    def loss(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        y = np.tanh(w[..., None] * x + b[..., None])
        return np.mean(np.square(y - t), axis=-1)

    def _parts(w: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = np.tanh(w * x + b)
        return y, y - t, 1.0 - y * y

    def grad(w: float, b: float) -> np.ndarray:
        _, r, dy = _parts(w, b)
        dz = 2.0 / n * r * dy
        return np.array([np.sum(dz * x), np.sum(dz)])

    def hessian(w: float, b: float) -> np.ndarray:
        y, r, dy = _parts(w, b)
        dzz = 2.0 / n * dy * (dy - 2.0 * r * y)
        return np.array(
            [[np.sum(dzz * x * x), np.sum(dzz * x)], [np.sum(dzz * x), np.sum(dzz)]]
        )

    return DescentProblem(
        name=f"tanh neuron, {n} points",
        loss=loss,
        grad=grad,
        hessian=hessian,
        start=_pair(start),
        xlim=_pair(xlim),
        ylim=_pair(ylim),
        labels=("w", "b"),
    )


#: The explorer's problems: label -> DescentProblem.
PROBLEMS: dict[str, DescentProblem] = {
    "quadratic bowl, λ = (1, 10)": quadratic_bowl((1.0, 10.0)),
    "tanh neuron (notebook 03)": tanh_neuron(),
    "tanh neuron, start near the minimum": tanh_neuron(start=(1.3, 0.0)),
}


def gradient_descent(
    problem: DescentProblem,
    lr: float,
    steps: int,
    start: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent θ ← θ − lr ∇L(θ) from ``start`` (default: the problem's).

    Shape:
        returns ``path`` (T + 1, 2), row t = θ after t steps, and ``losses`` (T + 1,);
        T = ``steps`` unless descent blows up (a value not finite, or a loss above
        ``LOSS_CAP`` = 1e100): then it stops before that point, so every returned number
        is finite and at most 1e100 (T < ``steps``).
    """
    where = "gradient_descent"
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"{where} expected a finite learning rate lr > 0, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"{where} expected a number of steps >= 0, got {steps!r}")
    theta = np.array(problem.start if start is None else start, dtype=np.float64)
    if theta.shape != (2,) or not np.all(np.isfinite(theta)):
        raise ValueError(f"{where} expected a finite start (w, b), got {start!r}")
    path = [theta]
    losses = [float(problem.loss(theta[0], theta[1]))]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            theta = theta - lr * np.asarray(problem.grad(theta[0], theta[1]), dtype=np.float64)
            loss = float(problem.loss(theta[0], theta[1]))
            if not (np.all(np.isfinite(theta)) and np.isfinite(loss) and loss <= LOSS_CAP):
                break
            path.append(theta)
            losses.append(loss)
    return np.array(path), np.array(losses)


def _sign_flips(updates: np.ndarray) -> tuple[int, int]:
    """(flips, pairs): sign changes between consecutive non-negligible updates of one coordinate."""
    size = np.abs(updates)
    if size.size == 0 or size.max() == 0:
        return 0, 0
    signs = np.sign(updates[size > TINY_UPDATE * size.max()])
    return int(np.sum(signs[1:] != signs[:-1])), max(len(signs) - 1, 0)


def classify_descent(path: np.ndarray, losses: np.ndarray, *, stopped: bool = False) -> str:
    """Read a descent path: ``"diverges"``, ``"oscillates"`` or ``"converges"``.

    Shape:
        ``path`` (T + 1, 2), ``losses`` (T + 1,).

    diverges:   some loss is not finite or above the starting loss, or ``stopped`` (descent
                ended early because it blew up);
    oscillates: otherwise, if some coordinate's updates θ_{t+1} − θ_t flip sign at least
                twice and in at least half of the consecutive pairs (updates smaller than
                1e-12 of that coordinate's largest are ignored as rounding noise);
    converges:  otherwise (the loss falls or stays, and the updates keep their direction).
    """
    path = np.asarray(path, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or losses.shape != (len(path),) or len(path) == 0:
        raise ValueError(
            "classify_descent expected path of shape (T + 1, 2) and losses of shape (T + 1,), "
            f"got {path.shape} and {losses.shape}"
        )
    if stopped or not np.all(np.isfinite(losses)) or np.max(losses) > losses[0]:
        return "diverges"
    updates = np.diff(path, axis=0)
    for k in range(2):
        flips, pairs = _sign_flips(updates[:, k])
        if flips >= 2 and 2 * flips >= pairs:
            return "oscillates"
    return "converges"


@dataclass
class DescentState:
    """What the explorer shows: the settings, the path, its losses and the verdict.

    Shape:
        ``path`` (T + 1, 2) and ``losses`` (T + 1,), T <= ``steps`` (T < steps when descent
        stopped on an overflow); ``flips`` and ``pairs``: per coordinate, sign changes of the
        updates and the pairs of updates compared; ``curvature``: the largest eigenvalue of
        the Hessian at the last point (λ in the 1/λ and 2/λ thresholds).
    """

    label: str
    lr: float
    steps: int
    path: np.ndarray
    losses: np.ndarray
    final_loss: float
    stopped: bool
    verdict: str
    flips: tuple[int, int]
    pairs: tuple[int, int]
    curvature: float


class DescentExplorer(WidgetApp):
    """Gradient descent on a two-parameter loss: learning rate and steps in, path and verdict out.

    Controls: ``problem`` (a Dropdown whose value is a :class:`DescentProblem`), ``lr`` (a
    FloatLogSlider from 1e-3 to 10) and ``steps`` (an IntSlider, 1 to 200). ``state`` is a
    :class:`DescentState`. The left panel draws the loss contours with the path (start o,
    end *), titled with the verdict; the right panel draws the loss at every step on a log
    axis, with the starting loss dashed (above it means "diverges").

    Shape:
        each problem's path is (T + 1, 2), its losses (T + 1,).
    """

    def __init__(
        self,
        problems: Mapping[str, DescentProblem] | None = None,
        *,
        lr: float = 0.05,
        steps: int = 30,
    ) -> None:
        import ipywidgets as widgets

        problems = dict(PROBLEMS if problems is None else problems)
        if not problems:
            raise ValueError("DescentExplorer expected at least one problem, got none")
        for label, problem in problems.items():
            if not isinstance(problem, DescentProblem):
                raise TypeError(
                    f"DescentExplorer expected problems[{label!r}] to be a DescentProblem, "
                    f"got {type(problem).__name__}"
                )
        lr_min, lr_max = 10.0**LOG10_LR_MIN, 10.0**LOG10_LR_MAX
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (
            lr_min <= lr <= lr_max
        ):
            raise ValueError(
                f"DescentExplorer expected lr in [{lr_min:g}, {lr_max:g}], got {lr!r}"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or not (
            STEPS_MIN <= steps <= STEPS_MAX
        ):
            raise ValueError(
                f"DescentExplorer expected steps in [{STEPS_MIN}, {STEPS_MAX}], got {steps!r}"
            )
        self.problem = widgets.Dropdown(options=problems, description="loss")
        self.lr = widgets.FloatLogSlider(
            value=float(lr),
            base=10,
            min=LOG10_LR_MIN,
            max=LOG10_LR_MAX,
            step=0.01,
            description="lr",
            readout_format=".3g",
            continuous_update=False,
        )
        self.steps = widgets.IntSlider(
            value=steps, min=STEPS_MIN, max=STEPS_MAX, description="steps",
            continuous_update=False,
        )
        super().__init__(
            [self.problem, self.lr, self.steps],
            figsize=(10.0, 4.0),
            rows=[[self.problem], [self.lr, self.steps]],
        )

    def update(self) -> None:
        """Run descent with the current settings and classify the path."""
        problem: DescentProblem = self.problem.value
        lr = float(self.lr.value)
        steps = int(self.steps.value)
        path, losses = gradient_descent(problem, lr, steps)
        stopped = len(path) < steps + 1
        updates = np.diff(path, axis=0)
        counts = [_sign_flips(updates[:, k]) for k in range(2)]
        end = path[-1]
        curvature = float(np.max(np.linalg.eigvalsh(problem.hessian(end[0], end[1]))))
        self.state = DescentState(
            label=str(self.problem.label),
            lr=lr,
            steps=steps,
            path=path,
            losses=losses,
            final_loss=float(losses[-1]),
            stopped=stopped,
            verdict=classify_descent(path, losses, stopped=stopped),
            flips=(counts[0][0], counts[1][0]),
            pairs=(counts[0][1], counts[1][1]),
            curvature=curvature,
        )
        s = self.state
        text = (
            f": lr = {s.lr:.3g}, loss {s.losses[0]:.4g} → {s.final_loss:.4g} after "
            f"{len(s.path) - 1} step{'' if len(s.path) == 2 else 's'}"
        )
        if s.stopped:
            text += f" (of {s.steps} asked: the next loss is above 1e100 or overflows)"
        if s.curvature > 0:
            text += (
                f". Largest curvature at the end point λ = {s.curvature:.4g}: "
                f"1/λ = {1 / s.curvature:.4g}, 2/λ = {2 / s.curvature:.4g}"
            )
        self.message.value = f"<b>{html.escape(s.verdict)}</b>{html.escape(text)}"

    def draw(self, figure: Any) -> None:
        """Left: contours and path (via ``bp.plot.plot_loss_surface``). Right: loss per step."""
        from bpkit.plot import PALETTE, plot_loss_surface

        problem: DescentProblem = self.problem.value
        s = self.state
        left, right = surface_and_curve_axes(figure)

        plot_loss_surface(
            problem.loss, problem.xlim, problem.ylim, paths={f"lr = {s.lr:.3g}": s.path},
            ax=left, levels=15, log=True, resolution=100,
        )
        left.lines[0].set_gid("path")
        left.set_xlabel(problem.labels[0])
        left.set_ylabel(problem.labels[1])
        left.set_title(f"{s.label}: {s.verdict}")

        steps = np.arange(len(s.losses))
        right.semilogy(
            steps, np.maximum(s.losses, LOSS_FLOOR), color=PALETTE[0], marker="o", ms=2.5,
            gid="losses", label="loss",
        )
        right.axhline(s.losses[0], color="0.5", ls="--", lw=1, label="starting loss")
        right.set_xlim(0, max(s.steps, 1))
        decades(right.yaxis, 6)
        right.set_xlabel("step")
        right.set_ylabel("loss")
        right.set_title(f"Loss per step (lr = {s.lr:.3g}): {s.verdict}")
        right.legend(loc="best", fontsize="small")
