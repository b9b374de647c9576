"""Execute notebooks in place and store them the way the repository keeps them.

Usage: python tools/execute_notebook.py NOTEBOOK.ipynb [...] [--timeout SECONDS]

Runs every cell top to bottom in a fresh kernel of the current Python (as nbval's
``--nbval-current-env`` does), keeps the outputs (figures included), and drops what must not
be committed: widget state (``metadata.widgets``) and execution timestamps. Writes atomically.
Exits non-zero, naming the cell, when a cell not tagged ``raises-exception`` fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop widget state, execution timestamps and volatile kernel metadata."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    lang = nb.metadata.get("language_info", {})
    for key in ("version",):
        lang.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
    return nb


def execute(path: Path, timeout: int) -> float:
    """Execute ``path`` in place; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    clean(nb)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".ipynb.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        try:
            seconds = execute(path, args.timeout)
        except CellExecutionError as exc:
            print(f"{path}: a cell failed:\n{exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: executed in {seconds:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
