"""The references bpkit's training step is timed against (used by ``engine.py`` and the tests).

Every reference does one SGD step of the same multilayer perceptron:

    z_i = a_{i-1} W_i^T + b_i,   a_i = ReLU(z_i) (no ReLU after the last layer),
    L = mean_n (log sum_j exp(z_nj) - z_n,y_n)      (softmax cross-entropy, mean),
    backward: dW_i = dz_i^T a_{i-1},  db_i = sum_n dz_i,  da_{i-1} = dz_i W_i  (down to
    the input gradient dL/dx),  then  W_i -= lr dW_i,  b_i -= lr db_i.

- ``numpy_step``: the step written out by hand in plain NumPy, each formula the way the
  notebooks write it (no bpkit, no classes, no checks, no ``out=``).
- ``BlasFloor``: only the step's matrix products, on preallocated arrays of the same shapes
  and dtype (``np.matmul(..., out=)``): what no NumPy implementation can go below.
- ``NumpyBound``: the whole step with every array preallocated and every operation writing
  into it (``out=``), no checks and no Python objects: the fewest NumPy calls and memory
  passes that compute the step, about the best a NumPy step can do when arrays are large.
- ``TorchFloor``: the BLAS floor's products run by PyTorch (``torch.matmul(..., out=)``,
  its own BLAS, MKL in the CPU wheels): how fast PyTorch's products alone are, so the
  table shows whether its whole step takes less time than NumPy's products.
- ``TorchStep``: the same step in PyTorch (``nn.Linear``, ``F.cross_entropy``,
  ``torch.optim.SGD``), with ``requires_grad=True`` on the input so it computes dL/dx too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]  # [(W_1, b_1), ...], W_i (out, in), b_i (out,)


def make_data(sizes: tuple[int, ...], batch: int, dtype: Any, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """A standard-normal input batch (batch, sizes[0]) and integer labels in [0, sizes[-1])."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    return x, y


def init_params(sizes: tuple[int, ...], dtype: Any, seed: int = 1) -> Params:
    """PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype)
        b = rng.uniform(-bound, bound, fan_out).astype(dtype)
        params.append((w, b))
    return params


def numpy_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float
               ) -> tuple[float, np.ndarray]:
    """One hand-written SGD step; updates ``params`` in place, returns (loss, dL/dx).

    Written the way the notebooks write each formula (``a @ W.T + b``, ``np.maximum(z, 0)``,
    ``dz.T @ a``, ``dz.sum(axis=0)``, ``dz @ W``, ``da * (a > 0)``, ``grad / n``): no
    classes, no checks, fresh arrays instead of ``zero_grad`` and ``+=``.
    """
    # forward: keep each layer's input (a ReLU's output doubles as its mask)
    inputs = []
    a = x
    for i, (w, b) in enumerate(params):
        inputs.append(a)
        z = a @ w.T + b
        a = np.maximum(z, 0) if i < len(params) - 1 else z
    # softmax cross-entropy, mean over the batch
    n = len(y)
    rows = np.arange(n)
    shifted = a - a.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    loss = float(np.log(sum_exp).sum() - shifted[rows, y].sum()) / n
    dz = exp / sum_exp
    dz[rows, y] -= 1
    dz = dz / n
    # backward, then the update of each layer once its weights have been used
    for i in reversed(range(len(params))):
        w, b = params[i]
        a = inputs[i]
        dw = dz.T @ a
        db = dz.sum(axis=0)
        da = dz @ w
        dz = da * (a > 0) if i > 0 else da
        w -= lr * dw
        b -= lr * db
    return loss, dz


class BlasFloor:
    """Only the matrix products of one training step, into preallocated arrays.

    Per layer: forward ``a @ W.T`` (N, out); backward ``dz.T @ a`` (out, in) and
    ``dz @ W`` (N, in), the first layer's input gradient included. Every product is a real
    BLAS call of the step's shape and dtype; nothing else is computed.

    Shape:
        ``products()`` lists the (rows, inner, columns) of the 3 * layers products.
    """

    def __init__(self, sizes: tuple[int, ...], batch: int, dtype: Any, seed: int = 2) -> None:
        rng = np.random.default_rng(seed)

        def rand(*shape: int) -> np.ndarray:
            return rng.standard_normal(shape).astype(dtype)

        self.layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            self.layers.append({
                "a": rand(batch, fan_in), "w": rand(fan_out, fan_in), "dz": rand(batch, fan_out),
                "z": np.empty((batch, fan_out), dtype), "dw": np.empty((fan_out, fan_in), dtype),
                "da": np.empty((batch, fan_in), dtype),
            })

    def step(self) -> None:
        """Run the products of one step (forward layer by layer, then backward in reverse)."""
        for layer in self.layers:
            np.matmul(layer["a"], layer["w"].T, out=layer["z"])
        for layer in reversed(self.layers):
            np.matmul(layer["dz"].T, layer["a"], out=layer["dw"])
            np.matmul(layer["dz"], layer["w"], out=layer["da"])

    def products(self) -> list[tuple[int, int, int]]:
        """(rows, inner, columns) of each product ``step`` runs, in its order."""
        out = [(L["a"].shape[0], L["a"].shape[1], L["w"].shape[0]) for L in self.layers]
        for L in reversed(self.layers):
            n, fan_in = L["a"].shape
            fan_out = L["w"].shape[0]
            out += [(fan_out, n, fan_in), (n, fan_out, fan_in)]
        return out


class TorchFloor:
    """The ``BlasFloor``'s products, on copies of its arrays, run by PyTorch's BLAS.

    Shape:
        the same arrays and products as the ``BlasFloor`` it is built from; ``outputs()``
        gives each layer's ``z``, ``dw`` and ``da`` as NumPy arrays.
    """

    def __init__(self, floor: BlasFloor) -> None:
        import torch

        self.torch = torch
        self.layers = [{key: torch.from_numpy(array.copy()) for key, array in layer.items()}
                       for layer in floor.layers]

    def step(self) -> None:
        """Run the products of one step, in the order ``BlasFloor.step`` runs them."""
        matmul = self.torch.matmul
        for layer in self.layers:
            matmul(layer["a"], layer["w"].T, out=layer["z"])
        for layer in reversed(self.layers):
            matmul(layer["dz"].T, layer["a"], out=layer["dw"])
            matmul(layer["dz"], layer["w"], out=layer["da"])

    def outputs(self) -> list[dict[str, np.ndarray]]:
        """Each layer's products (``z``, ``dw``, ``da``) as NumPy arrays."""
        return [{key: layer[key].numpy() for key in ("z", "dw", "da")} for layer in self.layers]


class NumpyBound:
    """The step with every array preallocated: the least a NumPy engine has to do.

    The same math as ``numpy_step``, but each operation writes into an array made once in
    ``__init__`` (``out=``), so nothing is allocated per step; the elementwise work is the
    minimum NumPy needs: per layer one bias add and, for hidden layers, one ReLU pass forward
    (the maximum against a row of zeros, NumPy's fastest form) and a mask plus one multiply
    backward; the softmax in five passes over the (N, C) logits; per parameter one SGD
    update in two passes (``lr * dW`` into a scratch array, then subtract), because NumPy
    has no fused ``W -= lr * dW``. ``step`` updates ``self.params`` (copies of the given
    ones) and returns (loss, dL/dx).
    """

    def __init__(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        self.params = [(w.copy(), b.copy()) for w, b in params]
        self.x, self.y, self.lr = x, y, lr
        n, dtype = x.shape[0], x.dtype
        self.rows = np.arange(n)
        self.outs = [np.empty((n, w.shape[0]), dtype) for w, _ in params]  # z_i, then a_i
        self.grads = [np.empty((n, w.shape[1]), dtype) for w, _ in params]  # dL/da_{i-1}
        self.masks = [np.empty((n, w.shape[0]), bool) for w, _ in params[:-1]]
        # a row of zeros: NumPy takes max(z, 0) against it about 2x faster than against 0
        self.zeros = [np.zeros(w.shape[0], dtype) for w, _ in params[:-1]]
        self.dws = [np.empty_like(w) for w, _ in params]
        self.dbs = [np.empty_like(b) for _, b in params]
        self.scratch = [np.empty_like(w) for w, _ in params]
        c = params[-1][0].shape[0]
        self.dz = np.empty((n, c), dtype)  # dL/dlogits
        self.row = np.empty((n, 1), dtype)  # row max, then row sum of exp

    def step(self) -> tuple[float, np.ndarray]:
        """One SGD step; updates ``self.params`` in place, returns (loss, dL/dx)."""
        last = len(self.params) - 1
        a = self.x
        for i, (w, b) in enumerate(self.params):
            z = np.matmul(a, w.T, out=self.outs[i])
            z += b
            if i < last:
                np.maximum(z, self.zeros[i], out=z)  # now a_i = ReLU(z_i)
            a = z
        logits, dz, row, n = a, self.dz, self.row, self.x.shape[0]
        np.max(logits, axis=1, keepdims=True, out=row)
        np.subtract(logits, row, out=dz)  # shifted logits
        picked = float(dz[self.rows, self.y].sum())
        np.exp(dz, out=dz)
        np.sum(dz, axis=1, keepdims=True, out=row)
        loss = (float(np.log(row).sum()) - picked) / n
        dz /= row  # softmax
        dz[self.rows, self.y] -= 1
        dz *= 1 / n
        for i in reversed(range(len(self.params))):
            w, b = self.params[i]
            a = self.outs[i - 1] if i > 0 else self.x
            np.matmul(dz.T, a, out=self.dws[i])
            np.sum(dz, axis=0, out=self.dbs[i])
            grad = np.matmul(dz, w, out=self.grads[i])
            if i > 0:
                mask = np.greater(a, 0, out=self.masks[i - 1])
                grad *= mask
            dz = grad
        for (w, b), dw, db, tmp in zip(self.params, self.dws, self.dbs, self.scratch,
                                       strict=True):
            w -= np.multiply(dw, self.lr, out=tmp)
            b -= self.lr * db
        return loss, dz


class TorchStep:
    """The same step in PyTorch CPU, on copies of ``params``, ``x`` and ``y``.

    ``step()`` returns (loss, dL/dx) as NumPy; the parameters are ``params()``.
    """

    def __init__(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        import torch

        self.torch = torch
        dtype = torch.float32 if x.dtype == np.float32 else torch.float64
        layers: list[Any] = []
        for i, (w, b) in enumerate(params):
            linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(params) - 1:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.x = torch.from_numpy(x.copy()).requires_grad_(True)
        self.y = torch.from_numpy(y.astype(np.int64))

    def step(self) -> tuple[float, Any]:
        """One step: zero_grad, forward, cross-entropy, backward (input too), SGD update."""
        self.opt.zero_grad()
        self.x.grad = None
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item(), self.x.grad

    def params(self) -> Params:
        """Copies of the current (W, b) of each layer as NumPy arrays."""
        linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        return [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
                for m in linears]
