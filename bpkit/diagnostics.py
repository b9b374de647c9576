"""Diagnostics: what each layer's activations, gradients and updates look like in training.

A ``Monitor`` watches a model, either by hand::

    monitor = bp.Monitor(model)
    monitor.record(X[:256])          # activation statistics, one forward layer by layer
    ...                              # forward, loss, zero_grad, backward
    monitor.before_step()            # gradient norms; remembers the parameters
    opt.step()
    monitor.after_step()             # log10 update:data ratios

or as a ``fit`` callback (``bp.fit(..., callbacks=[bp.Monitor(model, X=X[:256])])``), and
keeps everything in plain dicts, ``monitor.history[metric][name] -> list of floats``, that the
plotting helpers take directly (``bp.plot.plot_grad_flow(monitor.history["grad_norm"])``).

Rules of thumb used by ``summary``:

- A ReLU unit is *dead* on a batch when it outputs 0 for every sample: it passes no gradient.
- A tanh output is *saturated* when |tanh| > 0.97, where its local gradient 1 - tanh^2 is
  below 6% of its maximum (the threshold A. Karpathy uses in "Building makemore Part 3:
  Activations & Gradients, BatchNorm", 2022). A sigmoid output s is counted with the same
  rule on |2 s - 1| (sigmoid(x) = (1 + tanh(x / 2)) / 2), i.e. s < 0.015 or s > 0.985.
- The update:data ratio ||p_new - p_old|| / ||p_old|| of a weight should be around 1e-3
  (log10 about -3): much lower and the learning rate is probably too low, much higher and it
  is probably too high (CS231n notes, "Neural Networks Part 3", section "Ratio of weights:
  updates", https://cs231n.github.io/neural-networks-3/).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bpkit import _checks
from bpkit.layers import ReLU, Sigmoid, Tanh
from bpkit.module import Module, Sequential, preserved
from bpkit.train import Callback, History

__all__ = ["Monitor"]

ACTIVATION_METRICS = ("act_mean", "act_std", "dead_fraction", "saturated_fraction")
PARAMETER_METRICS = ("grad_norm", "update_ratio")
DEAD_WARNING = 0.2  # warn when at least this fraction of a ReLU layer's units is dead
SATURATED_WARNING = 0.2  # warn when at least this fraction of tanh/sigmoid outputs saturate
RATIO_RANGE = (-4.0, -2.0)  # log10 update:data ratios outside this range get a warning
VANISHING_WARNING = 1e-3  # warn when a weight's gradient norm is below this times the largest


def _layers(module: Module, path: str = "") -> list[tuple[str, Module]]:
    """Leaf layers in forward order, named "index:Class" (nested Sequentials: "2.1:ReLU")."""
    if isinstance(module, Sequential):
        out = []
        for i, layer in enumerate(module):
            out.extend(_layers(layer, f"{path}.{i}" if path else str(i)))
        return out
    label = type(module).__name__
    return [(f"{path}:{label}" if path else label, module)]


def _norm(a: np.ndarray) -> float:
    """Euclidean norm of all entries, in float64 (no overflow warning: inf is the answer)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _log10_ratio(update: float, data: float) -> float:
    """log10(update / data): -inf for a zero update, nan when the data norm is 0 or not finite."""
    if not (data > 0 and math.isfinite(data)) or math.isnan(update):
        return math.nan
    if update == 0:
        return -math.inf
    return math.log10(update) - math.log10(data)


class Monitor(Callback):
    """Record per-layer activation statistics, gradient norms and update:data ratios.

    Shape:
        ``history[metric][name]`` is a list of floats, one per recording: metrics
        "act_mean", "act_std" (every layer), "dead_fraction" (ReLU layers),
        "saturated_fraction" (Tanh and Sigmoid layers), appended by ``record``;
        "grad_norm" and "update_ratio" (log10) per parameter, e.g. "0:Linear.weight",
        appended by ``before_step`` / ``after_step``. ``activations[layer]`` is the last
        recorded output of each layer, shape (N, ...).

    Formulas (A the layer's output reshaped to (N, D), one row per sample):
        dead_fraction = mean_d [A[n, d] == 0 for every n];
        saturated_fraction = mean_{n,d} [|A| > saturation] (tanh), [|2A - 1| > saturation]
        (sigmoid); grad_norm = ||grad||_2; update_ratio = log10(||p_new - p_old|| / ||p_old||).

    As a ``fit`` callback it records gradient norms and update ratios every ``every``
    optimizer steps, and, when ``X`` is given, activation statistics on ``X`` before
    training and after every epoch.
    """

    def __init__(
        self,
        model: Module,
        X: np.ndarray | None = None,
        *,
        every: int = 1,
        saturation: float = 0.97,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Monitor expected a bpkit Module, got {type(model).__name__}")
        self.model = model
        self.X = X
        self.every = _checks.positive_int(every, "every", "Monitor")
        self.saturation = _checks.in_unit_interval(saturation, "saturation", "Monitor")
        self.layers: list[tuple[str, Module]] = _layers(model)
        self.named_parameters = [
            (f"{layer_name}.{p_name}", p)
            for layer_name, layer in self.layers
            for p_name, p in layer.named_parameters()
        ]
        self.history: dict[str, dict[str, list[float]]] = {
            m: {} for m in ACTIVATION_METRICS + PARAMETER_METRICS
        }
        self.activations: dict[str, np.ndarray] = {}
        self.steps = 0  # optimizer steps seen by after_step (or by fit)
        self._old: list[np.ndarray] | None = None

    # -- activations -----------------------------------------------------------------------
    def record(self, X: np.ndarray, training: bool | None = None) -> dict[str, dict[str, float]]:
        """Run ``X`` through the model layer by layer and record each layer's statistics.

        ``training=None`` keeps each module's current mode (BatchNorm1d then uses batch
        statistics in train mode, as in training); True/False sets it for this call. Nothing
        the model keeps changes: parameters, buffers (running statistics) and random
        generators (Dropout's ``rng``) are as before. The layers' caches are overwritten,
        so call this between steps, not between a forward and its backward.
        Returns this recording, ``{metric: {layer: value}}``.
        """
        if np.ndim(X) == 0 or len(X) == 0:
            raise ValueError(f"Monitor.record needs a batch of at least one sample, got X of "
                             f"shape {np.shape(X)}")
        recorded: dict[str, dict[str, float]] = {m: {} for m in ACTIVATION_METRICS}
        with preserved(self.model):
            if training is not None:
                self.model.train(bool(training))
            x = X
            for name, layer in self.layers:
                x = layer(x)
                self.activations[name] = x
                for metric, value in self._activation_stats(layer, x).items():
                    recorded[metric][name] = value
                    self.history[metric].setdefault(name, []).append(value)
        return recorded

    def _activation_stats(self, layer: Module, a: np.ndarray) -> dict[str, float]:
        flat = np.asarray(a).reshape(len(a), -1) if np.ndim(a) > 1 else np.asarray(a)[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            stats = {"act_mean": float(flat.mean(dtype=np.float64)),
                     "act_std": float(flat.std(dtype=np.float64))}
        if isinstance(layer, ReLU):
            stats["dead_fraction"] = float(np.mean(np.all(flat == 0, axis=0)))
        elif isinstance(layer, Tanh):
            stats["saturated_fraction"] = float(np.mean(np.abs(flat) > self.saturation))
        elif isinstance(layer, Sigmoid):
            stats["saturated_fraction"] = float(np.mean(np.abs(2 * flat - 1) > self.saturation))
        return stats

    # -- gradients and updates -------------------------------------------------------------
    def grad_norms(self) -> dict[str, float]:
        """The current gradient norm ||p.grad||_2 of every parameter, by name."""
        return {name: _norm(p.grad) for name, p in self.named_parameters}

    def before_step(self) -> dict[str, float]:
        """Record gradient norms and remember the parameters; call just before ``step()``."""
        norms = self.grad_norms()
        for name, value in norms.items():
            self.history["grad_norm"].setdefault(name, []).append(value)
        self._old = [p.data.copy() for _, p in self.named_parameters]
        return norms

    def after_step(self) -> dict[str, float]:
        """Record log10 update:data ratios; call just after ``optimizer.step()``."""
        if self._old is None:
            raise RuntimeError("Monitor.after_step called without before_step before the step")
        ratios = {}
        for (name, p), old in zip(self.named_parameters, self._old, strict=True):
            ratios[name] = _log10_ratio(_norm(p.data - old), _norm(old))
            self.history["update_ratio"].setdefault(name, []).append(ratios[name])
        self._old = None
        self.steps += 1
        return ratios

    # -- as a fit callback -----------------------------------------------------------------
    def on_train_begin(self, history: History, model: Module) -> None:
        self._watching(model)
        if self.X is not None:
            self.record(self.X)

    def on_before_step(self, model: Module, optimizer: Any) -> None:
        if self.steps % self.every == 0:
            self.before_step()

    def on_after_step(self, model: Module, optimizer: Any) -> None:
        if self._old is not None:
            self.after_step()
        else:
            self.steps += 1

    def on_epoch_end(self, epoch: int, history: History, model: Module) -> bool:
        if self.X is not None:
            self.record(self.X)
        return False

    def _watching(self, model: Module) -> None:
        if model is not self.model:
            raise ValueError("this Monitor watches a different model than the one fit trains")

    # -- reading it ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The latest value of every metric and warnings about what looks wrong.

        Returns ``{"layers": {layer: {metric: value}}, "parameters": {name: {"grad_norm":
        value, "update_ratio": value}}, "warnings": [str, ...]}``; warnings flag ReLU layers
        with >= 20% dead units, tanh/sigmoid layers with >= 20% saturated outputs, weights
        whose log10 update ratio is outside [-4, -2], non-finite gradients, and weights
        whose gradient norm is below 1e-3 times the largest (vanishing gradients).
        """
        layers = {
            name: {m: self.history[m][name][-1] for m in ACTIVATION_METRICS
                   if self.history[m].get(name)}
            for name, _ in self.layers
        }
        layers = {name: stats for name, stats in layers.items() if stats}
        params = {
            name: {m: self.history[m][name][-1] for m in PARAMETER_METRICS
                   if self.history[m].get(name)}
            for name, _ in self.named_parameters
        }
        params = {name: stats for name, stats in params.items() if stats}
        return {"layers": layers, "parameters": params, "warnings": self._warnings(layers, params)}

    def _warnings(self, layers: dict[str, dict[str, float]],
                  params: dict[str, dict[str, float]]) -> list[str]:
        out = []
        for name, stats in layers.items():
            dead = stats.get("dead_fraction", 0.0)
            if dead >= DEAD_WARNING:
                out.append(f"layer {name}: {dead:.0%} dead units (zero for every sample): they "
                           "no longer learn; try a smaller learning rate, He (Kaiming) "
                           "initialisation or LeakyReLU")
            sat = stats.get("saturated_fraction", 0.0)
            if sat >= SATURATED_WARNING:
                out.append(f"layer {name}: {sat:.0%} of outputs saturated (|tanh| > "
                           f"{self.saturation:g}): their gradients nearly vanish; scale the "
                           "initial weights down or normalise the inputs")
        weights = {n: s for n, s in params.items() if n.endswith(".weight")}
        for name, stats in params.items():
            g = stats.get("grad_norm")
            if g is not None and not math.isfinite(g):
                out.append(f"parameter {name}: gradient norm is {g}")
        for name, stats in weights.items():
            r = stats.get("update_ratio")
            if r is None or not math.isfinite(r):
                continue
            if r < RATIO_RANGE[0]:
                out.append(f"parameter {name}: log10 update/data ratio {r:.1f} (rule of thumb "
                           "about -3): updates are tiny, the learning rate may be too low")
            elif r > RATIO_RANGE[1]:
                out.append(f"parameter {name}: log10 update/data ratio {r:.1f} (rule of thumb "
                           "about -3): updates are large, the learning rate may be too high")
        norms = {n: s["grad_norm"] for n, s in weights.items()
                 if "grad_norm" in s and math.isfinite(s["grad_norm"])}
        if norms and max(norms.values()) > 0:
            largest = max(norms, key=norms.__getitem__)
            for name, g in norms.items():
                if g < VANISHING_WARNING * norms[largest]:
                    out.append(f"parameter {name}: gradient norm {g:.2e} is below "
                               f"{VANISHING_WARNING:g} x that of {largest} ({norms[largest]:.2e}):"
                               " gradients vanish on their way back")
        return out

    def table(self) -> str:
        """``summary()`` as aligned text: a row per layer, a row per parameter, warnings."""
        summary = self.summary()

        def cell(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        lines = [f"{'layer':<18}{'mean':>10}{'std':>10}{'dead':>8}{'saturated':>11}"]
        for name, s in summary["layers"].items():
            lines.append(f"{name:<18}{cell(s.get('act_mean'), '.3g'):>10}"
                         f"{cell(s.get('act_std'), '.3g'):>10}"
                         f"{cell(s.get('dead_fraction'), '.0%'):>8}"
                         f"{cell(s.get('saturated_fraction'), '.0%'):>11}")
        lines.append("")
        lines.append(f"{'parameter':<24}{'grad norm':>12}{'log10 update/data':>19}")
        for name, s in summary["parameters"].items():
            lines.append(f"{name:<24}{cell(s.get('grad_norm'), '.3e'):>12}"
                         f"{cell(s.get('update_ratio'), '.2f'):>19}")
        if summary["warnings"]:
            lines.append("")
            lines.extend(f"warning: {w}" for w in summary["warnings"])
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Monitor({len(self.layers)} layers, {len(self.named_parameters)} parameters, "
                f"{self.steps} steps)")
