"""The Playground's "Export code": a runnable script that rebuilds and trains the same setup.

Two scripts come out of one description of the setup (``ScriptSpec``): one with bpkit, one
with PyTorch. Both rebuild the data from bpkit's own generator with the Playground's seeds
(``[seed, 0]`` the data, ``[seed, 1]`` the train/test split, ``[seed, 2]`` the initial
weights, ``[seed, 3]`` the mini-batch order), or read the CSV file the data came from; no
data is pasted into a script. The bpkit script does exactly what ``Playground.step`` does,
so it prints the same losses to the last bit; the PyTorch script starts from the same
initial weights (bpkit's, copied by their PyTorch names ``0.weight``, ``0.bias``, ...) and
uses the same mini-batches, in float64, so its losses agree to rounding.
"""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bpkit.widgets._playground_data import ACTIVATIONS, OPTIMIZERS

__all__ = ["EXPORT_MARK", "FEATURE_CODE", "ScriptSpec", "bpkit_script", "data_copy_name",
           "data_table", "script_paths", "torch_script", "write_export"]

EXPORT_MARK = "# Exported by bpkit's Playground."  # the first line of every exported script

#: How each input feature is computed from the points X (N, 2), as the scripts write it.
FEATURE_CODE = {
    "x1": "X[:, 0]", "x2": "X[:, 1]", "x1^2": "X[:, 0] ** 2", "x2^2": "X[:, 1] ** 2",
    "x1*x2": "X[:, 0] * X[:, 1]", "sin x1": "np.sin(X[:, 0])", "sin x2": "np.sin(X[:, 1])",
}
_BP_ACTIVATIONS = {"relu": "bp.ReLU()", "tanh": "bp.Tanh()", "sigmoid": "bp.Sigmoid()",
                   "linear": "bp.Identity()"}
_TORCH_ACTIVATIONS = {"relu": "torch.nn.ReLU()", "tanh": "torch.nn.Tanh()",
                      "sigmoid": "torch.nn.Sigmoid()", "linear": "torch.nn.Identity()"}
_BP_OPTIMIZERS = {"sgd": "bp.optim.SGD(model.parameters(), lr=LR)",
                  "momentum": "bp.optim.SGD(model.parameters(), lr=LR, momentum=0.9)",
                  "adam": "bp.optim.Adam(model.parameters(), lr=LR)"}
_TORCH_OPTIMIZERS = {"sgd": "torch.optim.SGD(model.parameters(), lr=LR)",
                     "momentum": "torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)",
                     "adam": "torch.optim.Adam(model.parameters(), lr=LR)"}


@dataclass(frozen=True)
class ScriptSpec:
    """Everything an exported script needs to rebuild a Playground's training run.

    Shape:
        ``sizes``: units per layer, inputs first, (n_features, *hidden, n_out).

    ``data`` is ``"builtin"`` (the config's data set, noise and seed), ``"csv"`` (a file
    read with ``read_playground_csv``, with ``header``) or ``"table"`` (a file of rows
    x1,x2,y under one header row, read with ``np.loadtxt``); ``data_path`` is its path,
    or with ``beside_script`` a file name next to the script. ``note`` is said in the
    script's docstring when it cannot reproduce the Playground (settings changed while
    it trained).
    """

    config: dict[str, Any]
    sizes: tuple[int, ...]
    epochs: int
    test_size: int
    n_points: int
    data: str = "builtin"
    data_path: str | None = None
    beside_script: bool = False
    header: bool = False
    trained: int = 0
    note: str = ""

    @property
    def regularized(self) -> bool:
        """True when an L1 or L2 penalty with a rate > 0 is trained with."""
        return self.config["regularization"] != "none" and self.config["reg_rate"] != 0

    @property
    def targets(self) -> str:
        """'column' (one output: 0/1 targets or real ones) or 'indices' (C > 2 classes)."""
        return "indices" if self.sizes[-1] > 1 else "column"


def _layers(spec: ScriptSpec, linear: str, activation: str, indent: str) -> str:
    sizes, lines = spec.sizes, []
    for i in range(len(sizes) - 1):
        act = f" {activation}," if i < len(sizes) - 2 else ""
        lines.append(f"{indent}{linear.format(sizes[i], sizes[i + 1])},{act}")
    return "\n".join(lines)


def _describe(spec: ScriptSpec, framework: str) -> str:
    c = spec.config
    if spec.data == "builtin":
        data = f"the {c['dataset']!r} data set, noise {c['noise']}%"
    else:
        data = f"your data ({spec.data_path})"
    net = "-".join(str(s) for s in spec.sizes)
    reg = f", {c['regularization'].upper()} rate {c['reg_rate']:g}" if spec.regularized else ""
    trained = (f"The Playground showed these losses after {spec.trained} epochs."
               if spec.trained else "The Playground had not trained yet.")
    note = f" Note: {spec.note}." if spec.note else ""
    body = (f"{c['task'].capitalize()} on {data}, seed {c['seed']}, {c['ratio']}% for "
            f"training; features {', '.join(c['features'])}; network {net} with "
            f"{ACTIVATIONS[c['activation']][0]}; {OPTIMIZERS[c['optimizer']][0]} at lr "
            f"{c['lr']:g}, batches of "
            f"{c['batch_size']}{reg}; {spec.epochs} epochs. {trained}{note}")
    return (f'{EXPORT_MARK}\n"""Train the Playground\'s setup with {framework} and print the '
            f'final losses.\n\n{textwrap.fill(body, 88)}\n"""\n')


def _data_block(spec: ScriptSpec) -> str:
    """Constants, the points, the split, the features and the targets (shared by both)."""
    c = spec.config
    lines = [f"SEED = {c['seed']}", f"EPOCHS = {spec.epochs}", f"BATCH_SIZE = {c['batch_size']}",
             f"LR = {c['lr']!r}"]
    if spec.regularized:
        lines.append(f"REG_RATE = {c['reg_rate']!r}  # {c['regularization'].upper()}, "
                     "on the weights (not the biases)")
    lines.append("")
    stratify = c["task"] == "classification"
    if spec.data == "builtin":
        lines += ["# The points: bpkit's generator and the Playground's seed for data.",
                  f"X, y = make_playground_data({c['dataset']!r}, noise={c['noise'] / 100.0!r}, "
                  "rng=np.random.default_rng([SEED, 0]))"]
    else:
        path = (f"Path(__file__).with_name({spec.data_path!r})" if spec.beside_script
                else repr(spec.data_path))
        lines.append(f"DATA = {path}")
        if spec.data == "csv":
            lines += [f"data = read_playground_csv(DATA, task={c['task']!r}, "
                      f"header={spec.header!r})  # read only",
                      "X, y = data.X, data.y"]
        else:
            kind = "np.int64" if stratify else "np.float64"
            lines += ['table = np.loadtxt(DATA, delimiter=",", skiprows=1)  # x1, x2, y',
                      f"X, y = table[:, :2], table[:, 2].astype({kind})"]
    lines += [f"# {spec.test_size} of the {spec.n_points} points for testing, split with the "
              "seed for splitting.",
              "X_train, X_test, y_train, y_test = bp.data.train_test_split(",
              f"    X, y, {spec.test_size}, rng=np.random.default_rng([SEED, 1]), "
              f"stratify={stratify})", "", "",
              "def features(X):",
              f'    """The network\'s input: {", ".join(c["features"])}."""',
              "    return np.column_stack([" + ", ".join(FEATURE_CODE[f] for f in c["features"])
              + "])", "", "",
              "F_train, F_test = features(X_train), features(X_test)"]
    if spec.targets == "column":
        what = "real targets" if c["task"] == "regression" else "0/1 targets for one logit"
        lines.append(f"# {what}, one column")
        lines += ["t_train = y_train.reshape(-1, 1).astype(np.float64)",
                  "t_test = y_test.reshape(-1, 1).astype(np.float64)"]
    else:
        lines += ["t_train, t_test = y_train, y_test  # class indices"]
    return "\n".join(lines) + "\n"


def _imports(spec: ScriptSpec, torch: bool) -> str:
    lines = []
    if spec.beside_script:
        lines += ["from pathlib import Path", ""]
    lines.append("import numpy as np")
    if torch:
        lines.append("import torch")
    lines += ["", "import bpkit as bp"]
    if spec.data == "builtin":
        lines.append("from bpkit.widgets.playground import make_playground_data")
    elif spec.data == "csv":
        lines.append("from bpkit.widgets.playground import read_playground_csv")
    return "\n".join(lines) + "\n\n"


def _loss_name(spec: ScriptSpec) -> str:
    if spec.config["task"] == "regression":
        return "MSELoss"
    return "BCEWithLogitsLoss" if spec.targets == "column" else "CrossEntropyLoss"


def _report(spec: ScriptSpec, losses: str, out: str) -> str:
    """Compute and print the final losses (and accuracies) with every digit (repr)."""
    lines = [losses + 'print(f"epoch {EPOCHS}: train loss {train_loss!r}, test loss '
             '{test_loss!r}")']
    if spec.config["task"] == "classification":
        pred = "(out[:, 0] > 0)" if spec.targets == "column" else "out.argmax(axis=1)"
        lines = ["", "def accuracy(F, y):", f'    """The share of points in F whose class is '
                 f'predicted right."""\n    out = {out}\n    return float(np.mean({pred} == y))',
                 "", "", *lines,
                 'print(f"accuracy: train {accuracy(F_train, y_train)!r}, test '
                 '{accuracy(F_test, y_test)!r}")']
    return "\n".join(lines) + "\n"


def _penalty(spec: ScriptSpec, linear: str, weight: str, sign: str) -> str:
    """The lines adding the L1/L2 penalty's gradient to the weights (none without one)."""
    if not spec.regularized:
        return ""
    grad = f"{sign}({weight})" if spec.config["regularization"] == "l1" else weight
    return ("        for layer in model:  # the penalty's gradient, weights only\n"
            f"            if isinstance(layer, {linear}):\n"
            f"                layer.weight.grad += REG_RATE * {grad}\n")


def _training(loss: str, backward: str, penalty: str) -> str:
    """The epochs: bpkit's mini-batches in the Playground's order, one update each."""
    return ("for epoch in range(EPOCHS):\n"
            "    for Xb, tb in bp.data.batches(F_train, t_train, BATCH_SIZE, rng=batch_rng):\n"
            f"        loss = {loss}\n        opt.zero_grad()\n        {backward}\n"
            f"{penalty}        opt.step()\n\n")


def bpkit_script(spec: ScriptSpec) -> str:
    """A runnable Python script training the setup with bpkit, as ``Playground.step`` does."""
    c = spec.config
    return (
        _describe(spec, "bpkit") + "\n" + _imports(spec, torch=False) + _data_block(spec)
        + "\n# The network, its initial weights drawn with the seed for weights.\n"
        + "rng = np.random.default_rng([SEED, 2])\nmodel = bp.Sequential(\n"
        + _layers(spec, "bp.Linear({}, {}, rng=rng)", _BP_ACTIVATIONS[c["activation"]], "    ")
        + f"\n)\nloss_fn = bp.{_loss_name(spec)}()\nopt = {_BP_OPTIMIZERS[c['optimizer']]}\n"
        + "batch_rng = np.random.default_rng([SEED, 3])  # the order of the mini-batches\n\n"
        + _training("loss_fn(model(Xb), tb)", "model.backward(loss_fn.backward())",
                    _penalty(spec, "bp.Linear", "layer.weight.data", "np.sign"))
        + _report(spec, "train_loss = loss_fn(model(F_train), t_train)\n"
                  "test_loss = loss_fn(model(F_test), t_test)\n", "model(F)")
    )


def torch_script(spec: ScriptSpec) -> str:
    """The same training in PyTorch (float64), from bpkit's initial weights and batches."""
    c = spec.config
    return (
        _describe(spec, "PyTorch") + "\n" + _imports(spec, torch=True) + _data_block(spec)
        + "\n# bpkit's initial weights (the seed for weights), copied into PyTorch's layers:\n"
        + "# both store a Linear weight as (out_features, in_features), under the same names.\n"
        + "rng = np.random.default_rng([SEED, 2])\nstart = bp.Sequential(\n"
        + _layers(spec, "bp.Linear({}, {}, rng=rng)", _BP_ACTIVATIONS[c["activation"]], "    ")
        + "\n)\nmodel = torch.nn.Sequential(\n"
        + _layers(spec, "torch.nn.Linear({}, {}, dtype=torch.float64)",
                  _TORCH_ACTIVATIONS[c["activation"]], "    ")
        + "\n)\nwith torch.no_grad():\n    for name, p in model.named_parameters():\n"
        + "        p.copy_(torch.from_numpy(start.state_dict()[name]))\n"
        + f"loss_fn = torch.nn.{_loss_name(spec)}()\nopt = {_TORCH_OPTIMIZERS[c['optimizer']]}\n"
        + "batch_rng = np.random.default_rng([SEED, 3])  # bpkit's mini-batches, same order\n\n"
        + _training("loss_fn(model(torch.from_numpy(Xb)), torch.from_numpy(tb))",
                    "loss.backward()",
                    _penalty(spec, "torch.nn.Linear", "layer.weight.detach()", "torch.sign"))
        + _report(spec, "with torch.no_grad():\n"
                  "    train_loss = loss_fn(model(torch.from_numpy(F_train)), "
                  "torch.from_numpy(t_train)).item()\n"
                  "    test_loss = loss_fn(model(torch.from_numpy(F_test)), "
                  "torch.from_numpy(t_test)).item()\n",
                  "model(torch.from_numpy(F)).detach().numpy()")
    )


def data_table(X: np.ndarray, y: np.ndarray, regression: bool) -> bytes:
    """Points as CSV bytes (a header row, then x1,x2,y), every float written exactly (repr).

    Shape:
        X (N, 2) float, y (N,) class indices or targets -> N + 1 lines.
    """
    rows = ["x1,x2," + ("target" if regression else "label")]
    for (a, b), t in zip(X.tolist(), y.tolist(), strict=True):
        target = repr(float(t)) if regression else str(int(t))
        rows.append(f"{float(a)!r},{float(b)!r},{target}")
    return ("\n".join(rows) + "\n").encode()


def script_paths(path: str | Path) -> tuple[Path, Path]:
    """The bpkit script's path and the PyTorch one's beside it (``<stem>_torch.py``).

    Refuses a name not ending in ``.py`` and a file that exists but was not written by
    an export (its first line is not ``EXPORT_MARK``): nothing a learner wrote is replaced.
    """
    path = Path(path)
    if path.suffix != ".py":
        raise ValueError(f"Export code expected a script name ending in .py, got {str(path)!r}")
    pair = (path, path.with_name(f"{path.stem}_torch.py"))
    for p in pair:
        if p.is_dir():
            raise IsADirectoryError(f"Export code: {str(p)!r} is a folder")
        if p.exists():
            with open(p, encoding="utf-8", errors="replace") as f:
                first = f.readline().rstrip("\n")
            if first != EXPORT_MARK:
                raise FileExistsError(f"Export code: {str(p)!r} exists and was not written by "
                                      "the Playground; it is left alone: choose another name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Export code: the folder {str(path.parent)!r} does not exist")
    return pair


def data_copy_name(path: Path, content: bytes) -> str:
    """The name of a data file written beside the scripts: ``<stem>_data_<hash>.csv``.

    The name carries the content's SHA-256 (8 hex digits), so a copy is never written
    over a different file.
    """
    return f"{path.stem}_data_{hashlib.sha256(content).hexdigest()[:8]}.csv"


def write_export(path: Path, spec: ScriptSpec, data: bytes | None = None) -> list[Path]:
    """Write the two scripts (and the data file ``spec.data_path`` beside them, if given).

    Files are written atomically; an existing data copy (same name, so same content) is
    kept as it is. Returns the paths written or kept: bpkit script, PyTorch script, data.
    """
    from bpkit.grading._files import atomic_write

    bpkit_path, torch_path = script_paths(path)
    written = [bpkit_path, torch_path]
    if data is not None:
        copy = bpkit_path.with_name(str(spec.data_path))
        if not copy.exists():
            atomic_write(copy, data.decode("utf-8"))  # UTF-8 checked on reading: same bytes
        written.append(copy)
    atomic_write(bpkit_path, bpkit_script(spec))
    atomic_write(torch_path, torch_script(spec))
    return written
