"""SideBySide: bpkit's gradient next to a reference gradient, layer by layer (notebook 12).

A small MLP (2-16-16-3 on spiral points) is trained for a few SGD steps. For the chosen
``Linear`` layer and training step the figure shows three heatmaps: bpkit's weight gradient,
the reference gradient and their difference. The reference is PyTorch's autograd (the same
network in ``torch.nn`` with copied weights, trained with ``torch.optim.SGD``) when torch is
installed, otherwise bpkit's own central-difference gradient; ``state.source`` says which.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpkit.data import make_spiral
from bpkit.gradcheck import numerical_gradient
from bpkit.layers import Linear, ReLU
from bpkit.losses import CrossEntropyLoss
from bpkit.module import Sequential
from bpkit.optim import SGD
from bpkit.widgets._app import WidgetApp

__all__ = ["SOURCES", "SideBySide", "SideBySideState"]

#: The reference gradients the app can show: PyTorch's autograd or central differences.
SOURCES: tuple[str, ...] = ("torch", "numerical")
INSTALL_HINT = 'PyTorch is not installed: pip install "bpkit[torch]" (or pip install torch)'


@dataclass(frozen=True, eq=False)
class SideBySideState:
    """What the app shows for one layer at one training step.

    Shape:
        ``bpkit_grad``, ``reference_grad`` and ``difference`` are (out_features, in_features),
        the layer's weight gradient; ``difference = bpkit_grad - reference_grad``.
        ``max_abs_diff`` is the largest |difference| over the layer's weight *and* bias.
    """

    layer: str
    step: int
    source: str
    loss: float
    bpkit_grad: np.ndarray
    reference_grad: np.ndarray
    difference: np.ndarray
    max_abs_diff: float


def _torch_or_none() -> Any:
    """The torch module, or None when it cannot be imported."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _bpkit_model(hidden: int, rng: np.random.Generator) -> Sequential:
    return Sequential(Linear(2, hidden, rng=rng), ReLU(), Linear(hidden, hidden, rng=rng),
                      ReLU(), Linear(hidden, 3, rng=rng))


class SideBySide(WidgetApp):
    """Choose a layer and a training step: bpkit's weight gradient, the reference's, the gap.

    Controls: ``layer`` (a Dropdown of the ``Linear`` layers' names in the ``Sequential``,
    ``"0"``, ``"2"``, ``"4"``) and ``step`` (an IntSlider, 0 to ``steps``: how many SGD steps
    were taken before the gradient). ``state`` is a :class:`SideBySideState`.

    ``reference="auto"`` uses PyTorch when it can be imported, else the numerical gradient;
    ``"torch"`` requires it (ImportError with the install command otherwise);
    ``"numerical"`` never imports it.

    Shape:
        data X (n_samples, 2), labels y (n_samples,) in {0, 1, 2}; weight gradients
        (out_features, in_features): (16, 2), (16, 16), (3, 16).
    """

    def __init__(
        self,
        *,
        reference: str = "auto",
        hidden: int = 16,
        n_samples: int = 60,
        steps: int = 5,
        lr: float = 0.5,
        layer: str = "2",
        step: int = 0,
        rng: np.random.Generator | int = 0,
    ) -> None:
        import ipywidgets as widgets

        where = "SideBySide"
        if reference not in ("auto", *SOURCES):
            raise ValueError(
                f"{where} expected reference to be one of {['auto', *SOURCES]}, got {reference!r}"
            )
        for name, value in (("hidden", hidden), ("n_samples", n_samples)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{where} expected {name} to be a positive int, got {value!r}")
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"{where} expected steps to be an int >= 0, got {steps!r}")
        torch = None if reference == "numerical" else _torch_or_none()
        if reference == "torch" and torch is None:
            raise ImportError(f"{where}(reference='torch'): {INSTALL_HINT}")
        self.source = "torch" if torch is not None else "numerical"
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        per_class = max(1, int(n_samples) // 3)
        self.X, self.y = make_spiral(per_class * 3, 3, noise=0.2, rng=gen)
        self.model = _bpkit_model(int(hidden), gen)
        self.loss_fn = CrossEntropyLoss()
        self.lr = float(lr)
        self.steps = int(steps)
        self.layer_names = [name for name, m in self.model.named_children()
                            if isinstance(m, Linear)]
        if layer not in self.layer_names:
            raise ValueError(f"{where} expected layer to be one of {self.layer_names}, "
                             f"got {layer!r}")
        if not 0 <= step <= self.steps:
            raise ValueError(f"{where} expected step in [0, {self.steps}], got {step!r}")
        self._train(torch)
        self._numerical: dict[tuple[int, str], dict[str, np.ndarray]] = {}
        self.layer = widgets.Dropdown(options=self.layer_names, value=layer, description="layer")
        self.step = widgets.IntSlider(value=int(step), min=0, max=self.steps,
                                      description="step", continuous_update=False)
        super().__init__([self.layer, self.step], figsize=(11.0, 3.6))

    # -- the computation -------------------------------------------------------------------
    def _train(self, torch: Any) -> None:
        """Run ``steps`` SGD steps, keeping parameters, loss and gradients at every step."""
        model, loss_fn = self.model, self.loss_fn
        opt = SGD(model.parameters(), lr=self.lr)
        self.states: list[dict[str, np.ndarray]] = []
        self.losses: list[float] = []
        self.grads: list[dict[str, np.ndarray]] = []
        self.torch_grads: list[dict[str, np.ndarray]] | None = None
        if torch is not None:
            tmodel = torch.nn.Sequential(
                *[torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, Linear)
                  else torch.nn.ReLU() for m in model.layers]
            ).double()
            tmodel.load_state_dict({k: torch.from_numpy(v.copy())
                                    for k, v in model.state_dict().items()})
            topt = torch.optim.SGD(tmodel.parameters(), lr=self.lr)
            tx, ty = torch.from_numpy(self.X.copy()), torch.from_numpy(self.y.astype(np.int64))
            self.torch_grads = []
        for t in range(self.steps + 1):
            self.states.append(model.state_dict())
            opt.zero_grad()
            self.losses.append(loss_fn(model(self.X), self.y))
            model.backward(loss_fn.backward())
            self.grads.append({n: p.grad.copy() for n, p in model.named_parameters()})
            if torch is not None:
                topt.zero_grad()
                torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()
                self.torch_grads.append({n: p.grad.detach().numpy().copy()
                                         for n, p in tmodel.named_parameters()})
            if t < self.steps:
                opt.step()
                if torch is not None:
                    topt.step()

    def _numerical_grads(self, step: int, layer: str) -> dict[str, np.ndarray]:
        """Central-difference gradients of ``layer``'s parameters at ``step`` (computed once)."""
        key = (step, layer)
        if key not in self._numerical:
            model = _bpkit_model(self.model[0].out_features, np.random.default_rng(0))
            model.load_state_dict(self.states[step])

            def loss() -> float:
                return self.loss_fn(model(self.X), self.y)

            self._numerical[key] = {n: numerical_gradient(loss, p.data)
                                    for n, p in model.named_parameters()
                                    if n.split(".")[0] == layer}
        return self._numerical[key]

    def reference_grads(self, step: int, layer: str) -> dict[str, np.ndarray]:
        """The reference gradients of ``layer``'s parameters at ``step`` (``"0.weight"``, ...)."""
        if self.torch_grads is not None:
            return {n: g for n, g in self.torch_grads[step].items() if n.split(".")[0] == layer}
        return self._numerical_grads(step, layer)

    # -- the app ---------------------------------------------------------------------------
    def update(self) -> None:
        """Pick the chosen layer's gradients at the chosen step and compare them."""
        layer, step = str(self.layer.value), int(self.step.value)
        ours, ref = self.grads[step], self.reference_grads(step, layer)
        keys = list(ref)
        gap = max(float(np.max(np.abs(ours[k] - ref[k]))) for k in keys)
        w = f"{layer}.weight"
        self.state = SideBySideState(
            layer=layer, step=step, source=self.source, loss=self.losses[step],
            bpkit_grad=ours[w], reference_grad=ref[w], difference=ours[w] - ref[w],
            max_abs_diff=gap,
        )
        s = self.state
        self.message.value = html.escape(
            f"Layer {s.layer} after {s.step} SGD step(s), loss {s.loss:.4f}: largest "
            f"|bpkit - {s.source}| over weight and bias = {s.max_abs_diff:.1e}"
        )

    def draw(self, figure: Any) -> None:
        """Three heatmaps: bpkit's gradient, the reference gradient, their difference."""
        from matplotlib.ticker import MaxNLocator

        s = self.state
        figure.set_layout_engine("none")  # fixed margins: constrained layout slows redraws
        axes = figure.subplots(1, 3, gridspec_kw={"left": 0.06, "right": 0.97, "bottom": 0.14,
                                                  "top": 0.78, "wspace": 0.45})
        limit = float(max(np.max(np.abs(s.bpkit_grad)), np.max(np.abs(s.reference_grad)),
                          1e-300))
        reference = "PyTorch autograd" if s.source == "torch" else "numerical (central diff.)"
        panels = [(s.bpkit_grad, "bpkit backward", limit),
                  (s.reference_grad, reference, limit)]
        for ax, (values, title, lim) in zip(axes[:2], panels, strict=False):
            image = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
            ax.set_title(title)
        figure.colorbar(image, ax=axes[1], label="dL/dW")
        gap = float(max(np.max(np.abs(s.difference)), 1e-300))
        image = axes[2].imshow(s.difference, cmap="PuOr", vmin=-gap, vmax=gap, aspect="auto")
        axes[2].set_title(f"difference (max {s.max_abs_diff:.1e})", pad=14)
        figure.colorbar(image, ax=axes[2])
        for ax in axes:
            ax.set_xlabel("input unit (in_features)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].set_ylabel("output unit")
        figure.suptitle(f"weight gradient of layer {s.layer} after {s.step} SGD step(s)")
