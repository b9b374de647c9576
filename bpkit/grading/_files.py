"""Reading notebooks and writing files atomically (shared by release and grade)."""

from __future__ import annotations

import copy
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["NotebookReadError", "atomic_write", "notebook_text", "read_notebook"]


class NotebookReadError(ValueError):
    """A file that is not a readable Jupyter notebook (version 4)."""


def read_notebook(path: str | Path) -> Any:
    """Read ``path`` as a format-4 notebook: a plain dict, each cell's source one string.

    Nothing is invented or validated beyond the structure used here (nbformat is not
    imported: its schema validation is slow to load). Raises `NotebookReadError` naming the
    file when it is missing, not JSON, or not a format-4 notebook.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NotebookReadError(f"cannot read notebook {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookReadError(f"cannot read notebook {path}: not valid JSON ({exc})") from None
    if (
        not isinstance(data, dict)
        or data.get("nbformat") != 4
        or not isinstance(data.get("cells"), list)
    ):
        version = data.get("nbformat") if isinstance(data, dict) else None
        raise NotebookReadError(
            f"cannot read notebook {path}: expected a Jupyter notebook of format 4, got "
            + (f"format {version!r}" if version is not None else "some other JSON")
        )
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookReadError(f"cannot read notebook {path}: cell {i + 1} is malformed")
        source = cell.setdefault("source", "")
        if isinstance(source, list):
            cell["source"] = "".join(str(s) for s in source)
        elif not isinstance(source, str):
            raise NotebookReadError(f"cannot read notebook {path}: cell {i + 1} has no source text")
        if not isinstance(cell.setdefault("metadata", {}), dict):
            cell["metadata"] = {}
    if not isinstance(data.setdefault("metadata", {}), dict):
        raise NotebookReadError(f"cannot read notebook {path}: its metadata is not an object")
    return data


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename.

    Readers see the old file or the new one, never a half-written one. A replaced file
    keeps its permission bits; a new one gets 0o644. An `OSError` names ``path`` (not the
    temporary file).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"folder {path.parent} not found", str(path))
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def notebook_text(nb: dict[str, Any]) -> str:
    """The notebook as Jupyter stores it: sorted keys, one-space indent, sources as lists
    of lines, a final newline. Same notebook, same text (byte-stable)."""
    data = copy.deepcopy(nb)
    data.get("metadata", {}).pop("orig_nbformat", None)
    data.get("metadata", {}).pop("orig_nbformat_minor", None)
    data.get("metadata", {}).pop("signature", None)
    for cell in data.get("cells", []):
        cell.get("metadata", {}).pop("trusted", None)
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and isinstance(output.get("text"), str):
                output["text"] = output["text"].splitlines(True)
    text = json.dumps(data, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False)
    return text + "\n"
