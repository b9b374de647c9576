"""Parameters, modules and containers: the skeleton every layer hangs on.

A `Module` owns `Parameter`s (arrays with a gradient) and sub-modules, found by looking at
its attributes in the order they were assigned (no attribute magic). `forward` computes
and caches; `backward(grad_output)` returns the gradient with respect to the input and
*adds* parameter gradients into `Parameter.grad` (so gradients accumulate, like PyTorch,
until `zero_grad`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["Module", "Parameter", "Sequential", "preserved"]


class Parameter:
    """A trainable array and the gradient accumulated into it.

    Shape:
        ``data`` and ``grad`` have the same shape and dtype.

    ``grad`` is a plain array, zeros to begin with: layers add into it
    (``self.weight.grad += grad_output.T @ x``) and ``zero_grad()`` writes zeros into it.
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: Any, name: str = "") -> None:
        array = np.array(data, copy=True)
        if not np.issubdtype(array.dtype, np.floating):
            label = f"Parameter {name!r}" if name else "Parameter"
            raise TypeError(f"{label} needs a floating-point array, got dtype {array.dtype}")
        self.data: np.ndarray = array
        self.grad: np.ndarray = np.zeros_like(array)  # dL/d(data), accumulated
        self.name: str = name

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``data``."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """Number of entries in ``data``."""
        return self.data.size

    def zero_grad(self) -> None:
        """Set the gradient to zeros, in place (keeping its shape and dtype)."""
        self.grad.fill(0)

    def astype(self, dtype: Any) -> Parameter:
        """Convert ``data`` and ``grad`` to ``dtype`` in place; returns ``self``."""
        self.data = self.data.astype(dtype, copy=False)
        self.grad = self.grad.astype(dtype, copy=False)
        return self

    def __repr__(self) -> str:
        label = f"{self.name}, " if self.name else ""
        return f"Parameter({label}shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of layers, losses' models and containers.

    Subclasses set ``Parameter`` and ``Module`` attributes in ``__init__`` and implement
    ``forward`` (caching what ``backward`` needs) and ``backward`` (returning the input
    gradient and accumulating parameter gradients with ``+=``). Array attributes whose names
    are listed in the class attribute ``buffers`` (e.g. ``BatchNorm1d.running_mean``) are
    state that is saved and converted with the parameters but not trained.
    """

    buffers: tuple[str, ...] = ()
    training: bool = True

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the output for input ``x`` and cache what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Return dL/d(input) given dL/d(output); add parameter gradients into ``.grad``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def _where(self) -> str:
        """How error messages name this module: ``ClassName(constructor arguments)``."""
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- structure -------------------------------------------------------------------------
    def named_children(self) -> list[tuple[str, Module]]:
        """Direct sub-modules with their attribute names, in assignment order."""
        children = []
        for name, value in vars(self).items():
            if isinstance(value, Module):
                children.append((name, value))
            elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Module) for v in value
            ):
                children.extend((f"{name}.{i}", v) for i, v in enumerate(value))
        return children

    def children(self) -> list[Module]:
        """Direct sub-modules, in assignment order."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """This module and every sub-module, depth first, with dotted names."""
        out = [(prefix, self)]
        for name, child in self.named_children():
            out.extend(child.named_modules(f"{prefix}.{name}" if prefix else name))
        return out

    def modules(self) -> list[Module]:
        """This module and every sub-module, depth first."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        """Every parameter with a dotted name such as ``"0.weight"``, in a fixed order."""
        out = []
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                out.append((f"{prefix}.{name}" if prefix else name, value))
        for name, child in self.named_children():
            out.extend(child.named_parameters(f"{prefix}.{name}" if prefix else name))
        return out

    def parameters(self) -> list[Parameter]:
        """Every parameter of this module and its sub-modules, in a fixed order.

        A parameter shared by several layers (tied weights) is listed once, as in PyTorch,
        so that an optimiser updates it once.
        """
        seen: set[int] = set()
        out = []
        for _, p in self.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        return out

    def named_buffers(self, prefix: str = "") -> list[tuple[str, np.ndarray]]:
        """Every buffer (non-trained state such as running means) with a dotted name."""
        out = [
            (f"{prefix}.{name}" if prefix else name, getattr(self, name))
            for name in self.buffers
        ]
        for name, child in self.named_children():
            out.extend(child.named_buffers(f"{prefix}.{name}" if prefix else name))
        return out

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(p.size for p in self.parameters())

    # -- state -----------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter gradient to zero."""
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Switch this module and its sub-modules to training mode (or eval if ``mode`` is
        False); returns ``self``."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}.train expects mode True or False, got "
                             f"{mode!r}; use .eval() for evaluation mode")
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (``Dropout`` off, ``BatchNorm1d`` uses running stats)."""
        return self.train(False)

    def astype(self, dtype: Any) -> Module:
        """Convert parameters, their gradients and buffers to ``dtype``; returns ``self``."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.astype needs a floating dtype, got {dtype}")
        for p in self.parameters():
            p.astype(dtype)
        for m in self.modules():
            for name in m.buffers:
                setattr(m, name, np.asarray(getattr(m, name)).astype(dtype, copy=False))
            m._clear_cache()
        return self

    def _clear_cache(self) -> None:
        """Forget what the last forward cached (called on dtype change)."""

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the first parameter (None for modules without parameters)."""
        params = self.parameters()
        return params[0].data.dtype if params else None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name (PyTorch's keys)."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Every key and shape is checked before anything is written, so on error the module is
        left exactly as it was.
        """
        where = type(self).__name__
        if not isinstance(state, Mapping):
            hint = " (to read a file use bp.load(model, path))" if isinstance(state, str) else ""
            raise TypeError(f"{where}.load_state_dict expected a dict of arrays such as "
                            f"model.state_dict(), got {type(state).__name__}{hint}")
        params = dict(self.named_parameters())
        owners = {}
        for prefix, m in self.named_modules():
            for name in m.buffers:
                owners[f"{prefix}.{name}" if prefix else name] = (m, name)
        expected = list(params) + list(owners)
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in params and k not in owners]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            raise KeyError(f"state does not match {where}: " + "; ".join(parts))
        arrays = {}
        for key in expected:
            value = np.asarray(state[key])
            current = params[key].data if key in params else getattr(*owners[key])
            if value.shape != np.shape(current):
                raise ValueError(
                    f"cannot load {key!r} into {where}: the model has shape "
                    f"{tuple(np.shape(current))}, the saved array has shape {value.shape}"
                )
            if value.dtype.kind not in "iuf":  # complex would silently lose its imaginary part
                raise TypeError(f"cannot load {key!r}: saved dtype {value.dtype} is not a real "
                                "numeric dtype")
            # Converted now, so that a cast that warns (e.g. overflow) fails before any write.
            arrays[key] = value.astype(np.asarray(current).dtype, copy=True)
        for key, value in arrays.items():
            if key in params:
                params[key].data[...] = value
            else:
                module, name = owners[key]
                setattr(module, name, value)

    # -- display ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown by ``repr``."""
        return ""

    def __repr__(self) -> str:
        children = self.named_children()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            shown = name.rsplit(".", 1)[-1] if name.count(".") else name
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({shown}): {body}")
        lines.append(f"){_param_summary(self)}")
        return "\n".join(lines)


def _param_summary(module: Module) -> str:
    n = module.num_parameters()
    return f"  # {n:,} parameters" if n else ""


def _reused_layer_error(layer: Module, problem: str) -> ValueError:
    # A layer caches its last forward for backward: used twice, one use's cache is lost and
    # the gradient comes out silently wrong.
    return ValueError(
        f"{problem}; a layer caches its last forward pass for backward, so each position "
        f"needs its own layer (create another {type(layer).__name__}(...))"
    )


class Sequential(Module):
    """Layers applied one after another; backward runs them in reverse.

    Shape:
        input: whatever the first layer takes; output: whatever the last layer gives.
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential argument {i} must be a Module, got {type(layer).__name__}"
                )
            for j in range(i):
                if layers[j] is layer:
                    raise _reused_layer_error(
                        layer, f"Sequential arguments {j} and {i} are the same layer object"
                    )
        self.layers: list[Module] = list(layers)

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def append(self, layer: Module) -> Sequential:
        """Add a layer at the end; returns ``self``."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.append needs a Module, got {type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise _reused_layer_error(layer, "Sequential.append got a layer already in it")
        self.layers.append(layer)
        return self

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        try:
            return self.layers[index]
        except IndexError:
            n = len(self.layers)
            raise IndexError(f"Sequential index {index} is out of range: it has {n} "
                             f"layer{'' if n == 1 else 's'}") from None

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


# -- saving and restoring a model's modes and state ------------------------------------------
class preserved:
    """Save a model's modes and state now; put them back on leaving a ``with`` block.

    The one way bpkit's helpers (plots, ``evaluate``, ``Monitor``, gradient checks, widgets)
    run a model without changing it::

        with bp.module.preserved(model):
            model.eval()
            out = model(X)
        # every module's mode, every buffer and every random generator is as it was

    Saved when created (and again by ``save()``): the ``training`` flag of ``model`` and of
    every sub-module (``modes``), a copy of every buffer, i.e. the arrays each module lists
    in its class attribute ``buffers`` such as ``BatchNorm1d.running_mean`` (``buffers``),
    the state of every ``numpy.random.Generator`` a module holds as an attribute, such as
    ``Dropout.rng`` (``random``), and, only with ``parameters=True``, a copy of every
    parameter's ``data`` (for a helper that trains and may have to undo a step). ``restore()``
    writes the saved values back into the same arrays; leaving the ``with`` block calls it,
    also when the block raises, and it may be called again. Not restored: gradients, what
    the last forward cached for ``backward``, optimiser state, and the structure (a layer
    appended inside the block stays). The modules, buffers, parameters and generators to
    save are found when the snapshot is created; ``save()`` reads their values again (``fit``
    does before every step, so that a step that diverges can be undone).

    ``modes=False``, ``buffers=False`` or ``random=False`` leave that part out: the gradient
    checks rewind only the generators before every evaluation, so each one draws the same
    Dropout mask while a wrong layer's changes to its own statistics still show.

    Shape:
        every array is restored with its own shape and dtype.
    """

    def __init__(
        self,
        model: Module,
        *,
        parameters: bool = False,
        buffers: bool = True,
        modes: bool = True,
        random: bool = True,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"preserved expected a bpkit Module, got {type(model).__name__}")
        modules = model.modules()
        # What to save is found once; save() reads its values again (fit does, every step).
        self._modules = modules if modes else []
        self._owners = [(m, name) for m in modules for name in m.buffers] if buffers else []
        self._parameters = model.parameters() if parameters else []
        self._holders = [(m, name, value) for m in modules for name, value in vars(m).items()
                         if isinstance(value, np.random.Generator)] if random else []
        unique = {id(g): g for _, _, g in self._holders}
        self._generators = list(unique.values())
        self._modes: list[bool] = []
        self._buffers: list[tuple[Any, Any]] = [(None, None)] * len(self._owners)
        self._data: list[tuple[Any, Any]] = [(None, None)] * len(self._parameters)
        self._states: list[dict[str, Any]] = []
        self.save()

    def save(self) -> preserved:
        """Take the snapshot again, into the same copies where shapes agree; returns ``self``."""
        self._modes = [m.training for m in self._modules]
        # pairs (the module's own object, a copy of it); the copies are reused
        self._buffers = [_pair(getattr(m, name), kept) for (m, name), (_, kept)
                         in zip(self._owners, self._buffers, strict=True)]
        self._data = [_pair(p.data, kept)
                      for p, (_, kept) in zip(self._parameters, self._data, strict=True)]
        self._states = [g.bit_generator.state for g in self._generators]  # a fresh dict each
        return self

    def restore(self) -> None:
        """Put every saved mode, buffer, generator state (and parameter) back."""
        for m, training in zip(self._modules, self._modes, strict=True):
            m.training = training
        for (m, name), (original, kept) in zip(self._owners, self._buffers, strict=True):
            setattr(m, name, _put_back(original, kept))
        for p, (original, kept) in zip(self._parameters, self._data, strict=True):
            p.data = _put_back(original, kept)
        for m, name, generator in self._holders:
            setattr(m, name, generator)
        for generator, state in zip(self._generators, self._states, strict=True):
            generator.bit_generator.state = state

    def __enter__(self) -> preserved:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def _pair(value: Any, previous: Any) -> tuple[Any, Any]:
    """``value`` and a copy of it, written into ``previous`` when that is an array like it."""
    if not isinstance(value, np.ndarray):
        return value, copy.deepcopy(value)  # None or a number, as a learner's layer may keep
    if isinstance(previous, np.ndarray) and previous.shape == value.shape and (
            previous.dtype == value.dtype):
        np.copyto(previous, value)
        return value, previous
    return value, value.copy()


def _put_back(original: Any, kept: Any) -> Any:
    """``original`` holding the kept values again (or a fresh copy when it cannot)."""
    if isinstance(original, np.ndarray) and isinstance(kept, np.ndarray) and (
            original.shape == kept.shape and original.dtype == kept.dtype
            and original.flags.writeable):
        np.copyto(original, kept)
        return original
    return kept.copy() if isinstance(kept, np.ndarray) else copy.deepcopy(kept)
