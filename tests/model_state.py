"""A nested model in mixed train/eval modes, and a record of all a helper must leave alone.

Used by the tests of ``bpkit.module.preserved`` and of every helper that runs a model
without changing it (plots, evaluate/predict, Monitor, gradient checks, widgets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bpkit.layers import BatchNorm1d, Dropout, Linear, ReLU
from bpkit.module import Sequential

__all__ = ["assert_unchanged", "mixed_model", "state_of"]


def mixed_model(seed: int = 0) -> Sequential:
    """2 -> 2 logits: a Sequential inside a Sequential, with BatchNorm1d and Dropout.

    Sequential(Linear, BatchNorm1d, ReLU, Sequential(Linear, BatchNorm1d, Dropout, ReLU),
    Dropout, Linear). The root and most modules train; the inner BatchNorm1d ("3.1") and
    the outer Dropout ("4") are frozen in eval mode. A few training forwards have moved
    every running statistic away from its start and advanced both Dropout generators.
    """
    rng = np.random.default_rng(seed)
    inner = Sequential(Linear(6, 6, rng=rng), BatchNorm1d(6), Dropout(0.5, rng=seed + 1),
                       ReLU())
    model = Sequential(Linear(2, 6, rng=rng), BatchNorm1d(6), ReLU(), inner,
                       Dropout(0.3, rng=seed + 2), Linear(6, 2, rng=rng))
    for _ in range(3):
        model(rng.standard_normal((16, 2)) * 2.0 + 1.0)
    inner[1].eval()
    model[4].eval()
    return model


def state_of(model: Sequential) -> dict[str, Any]:
    """Every module's mode, every buffer and parameter (the object and a copy of its values),
    and every Dropout's generator with its state."""
    return {
        "modes": [(name, m.training) for name, m in model.named_modules()],
        "buffers": [(name, b, np.array(b, copy=True)) for name, b in model.named_buffers()],
        "params": [(name, p.data, p.data.copy()) for name, p in model.named_parameters()],
        "rngs": [(name, m.rng, m.rng.bit_generator.state) for name, m in model.named_modules()
                 if isinstance(m, Dropout)],
    }


def assert_unchanged(model: Sequential, before: dict[str, Any]) -> None:
    """The model's modes, buffers, parameters and random state are exactly ``before``'s:
    the same objects holding the same values."""
    assert [(name, m.training) for name, m in model.named_modules()] == before["modes"]
    buffers = dict(model.named_buffers())
    for name, obj, values in before["buffers"]:
        assert buffers[name] is obj, f"buffer {name} was replaced"
        np.testing.assert_array_equal(obj, values, err_msg=f"buffer {name}")
    params = dict(model.named_parameters())
    for name, obj, values in before["params"]:
        assert params[name].data is obj, f"parameter {name} was replaced"
        np.testing.assert_array_equal(obj, values, err_msg=f"parameter {name}")
    modules = dict(model.named_modules())
    for name, rng, state in before["rngs"]:
        assert modules[name].rng is rng, f"the generator of {name} was replaced"
        assert rng.bit_generator.state == state, f"the generator of {name} moved"
