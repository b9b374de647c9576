"""Save a model's parameters and buffers to a ``.npz`` file, and load them back.

The file is a plain NumPy archive: one array per ``model.state_dict()`` entry (keys such as
``"0.weight"``) plus ``"__bpkit__"``, a unicode string holding JSON metadata (format
version, bpkit version, the model's class name). Nothing is pickled, so loading a file
cannot run code, and ``np.load(path)`` reads it without bpkit.

The path is used exactly as given (no ``.npz`` is appended); ``.npz`` is the customary
suffix. Saving is atomic: the archive is written to a temporary file in the same
directory, flushed to disk and then renamed over ``path``, so an interrupted save never
leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from bpkit._version import __version__
from bpkit.module import Module

__all__ = ["load", "save"]

FORMAT_VERSION = 1
_META_KEY = "__bpkit__"


def save(model: Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model.state_dict()`` and a little metadata to ``path`` (an ``.npz`` archive).

    Shape:
        every array is saved with its shape and dtype (float32 stays float32).

    Returns the path written, as a ``pathlib.Path``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save expected a bpkit Module, got {type(model).__name__}")
    path = Path(path)
    arrays = model.state_dict()
    if _META_KEY in arrays:
        raise ValueError(f"save: {type(model).__name__} has a state entry named {_META_KEY!r}, "
                         "which bpkit reserves for metadata")
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise TypeError(f"save: {key!r} of {type(model).__name__} is an object array; "
                            "only numeric arrays can be saved")
    meta = {"format_version": FORMAT_VERSION, "bpkit_version": __version__,
            "class": type(model).__name__}
    arrays[_META_KEY] = np.array(json.dumps(meta))
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"save: the directory {str(directory)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"save: {str(path)!r} is a directory; give a file path such "
                                "as 'model.npz'")
    # Like mkstemp, but created with mode 0o666 so the umask applies as for any new file.
    tmp_name = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX); a no-op elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(model: Module, path: str | os.PathLike[str]) -> Module:
    """Load parameters and buffers saved by ``save`` into ``model``; returns ``model``.

    Shape:
        every saved array must have the shape of the model's entry; values take the
        model's dtype (a float32 model stays float32).

    Every key and shape is checked before anything is written, so on error (missing file,
    not an ``.npz``, a key or shape that does not match) the model is left unchanged.
    """
    if not isinstance(model, Module):
        raise TypeError(f"load expected a bpkit Module, got {type(model).__name__}")
    path = Path(path)
    arrays = _read(path)
    meta = _metadata(arrays.pop(_META_KEY, None), path)
    saved_from = f" (saved from {meta['class']})" if "class" in meta else ""
    try:
        model.load_state_dict(arrays)
    except KeyError as e:
        raise KeyError(f"{path}{saved_from}: {e.args[0]}") from None
    except (ValueError, TypeError) as e:
        raise type(e)(f"{path}{saved_from}: {e}") from None
    return model


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every array in the archive at ``path``, read without allowing pickles."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {str(path)!r}{_suffix_hint(path)}"
                                ) from None
    except IsADirectoryError:
        raise IsADirectoryError(f"load: {str(path)!r} is a directory, not a file") from None
    with f:
        try:
            data = np.load(f, allow_pickle=False)
        except ValueError:  # neither the zip nor the .npy signature: NumPy assumes a pickle
            raise ValueError(f"load: {str(path)!r} is not a NumPy .npz archive (bpkit.save "
                             "writes one); it was not read, since bpkit never loads pickles"
                             ) from None
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"load: {str(path)!r} is corrupted or not a NumPy .npz archive "
                             f"({type(e).__name__}: {e})") from None
        if isinstance(data, np.ndarray):
            raise ValueError(f"load: {str(path)!r} holds a single array (.npy), "
                             "not an .npz archive written by bpkit.save")
        with data:
            arrays = {}
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise ValueError(
                            f"load: {str(path)!r} entry {key!r} is an object array; bpkit "
                            "never loads pickled data"
                        ) from None
                    raise ValueError(f"load: {str(path)!r} entry {key!r} is corrupted "
                                     f"({e})") from None
                except (OSError, EOFError, zipfile.BadZipFile) as e:
                    raise ValueError(f"load: {str(path)!r} entry {key!r} is corrupted "
                                     f"({type(e).__name__}: {e})") from None
    return arrays


def _suffix_hint(path: Path) -> str:
    """Point at a file that differs from ``path`` only by the ``.npz`` suffix, if one exists."""
    name = path.name[:-4] if path.name.endswith(".npz") else path.name + ".npz"
    other = path.with_name(name) if name else None
    if other is not None and other.is_file():
        return (f" (but {str(other)!r} exists; bpkit.save uses the path exactly as given "
                "and adds no suffix)")
    return ""


def _metadata(entry: np.ndarray | None, path: Path) -> dict[str, object]:
    """The parsed metadata entry (empty for a plain archive written by ``np.savez``)."""
    if entry is None:
        return {}
    try:
        meta = json.loads(str(entry[()]))
    except (ValueError, TypeError, IndexError):
        raise ValueError(f"load: {str(path)!r} has an unreadable {_META_KEY!r} entry") from None
    if not isinstance(meta, dict):
        raise ValueError(f"load: {str(path)!r} has an unreadable {_META_KEY!r} entry")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"load: {str(path)!r} uses format version {version!r}; this bpkit "
                         f"reads versions up to {FORMAT_VERSION}, upgrade bpkit")
    return meta
