"""Feature files: an atomic ``.npy`` + ``.json`` sidecar pair (the on-disk format of every feature).

A feature file is a pair ``<name>.npy`` (float32 array, usually ``[n, d]`` raw features) +
``<name>.json`` (sidecar: ``meta`` given by the caller, ``shape``, ``dtype``, ``sha256`` of the
array bytes, optionally the ``created`` UTC time, library ``versions``). :func:`write_features`
writes both to temporary files in the same folder and renames them into place (array first,
sidecar last), so an interrupted run leaves either the old pair, or a pair whose ``sha256`` does
not match, which :func:`read_features` rejects - never a half-written file that reads as valid.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["write_features", "read_features"]

_VERSIONED = ("ood_core", "numpy", "torch", "torchvision", "open_clip_torch", "pillow")


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    import platform

    versions["python"] = platform.python_version()
    return versions


def _array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _check_npy_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"feature path {str(path)!r} must end in .npy (its sidecar gets the same name with .json)")
    return path


def _atomic_write(path: Path, write: Callable) -> None:
    """Call ``write(binary file)`` on a temp file next to ``path``, fsync, rename onto ``path``."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:  # includes KeyboardInterrupt: never leave the temp file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_features(path: str | os.PathLike, features, meta: dict | None = None, *,
                   record_time: bool = True) -> Path:
    """Atomically write ``features`` as float32 ``path`` (.npy) plus its ``.json`` sidecar.

    features: a numeric array (cast to float32; usually ``[n, d]``). meta: JSON-able dict stored
    under the sidecar's ``"meta"``. record_time: store the creation time in the sidecar; pass
    ``False`` for pipeline outputs, whose bytes must depend on their content alone (DVC hashes
    them). Returns ``path``. Parent folders are created.
    """
    path = _check_npy_path(path)
    array = np.asarray(features)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"features must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    sidecar = {
        "meta": dict(meta or {}),
        "shape": list(array.shape),
        "dtype": "float32",
        "sha256": _array_sha256(array),
        "versions": _library_versions(),
    }
    if record_time:
        sidecar["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        sidecar_bytes = json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must be JSON-serialisable (str/int/float/bool/list/dict): {err}") from err
    path.parent.mkdir(parents=True, exist_ok=True)
    # Array first, sidecar last: the sidecar's sha256 is what makes a pair valid.
    _atomic_write(path, lambda out: np.save(out, array, allow_pickle=False))
    _atomic_write(_sidecar_path(path), lambda out: out.write(sidecar_bytes))
    return path


def read_features(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a pair written by :func:`write_features` -> (float32 array, sidecar dict).

    Raises FileNotFoundError if either file is missing and ValueError if they disagree (an
    interrupted or foreign write): delete both files and recompute.
    """
    path = _check_npy_path(path)
    sidecar_path = _sidecar_path(path)
    for p in (path, sidecar_path):
        if not p.is_file():
            raise FileNotFoundError(f"feature file {p} not found (write it with ood_core.features.cache.write_features)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} or its sidecar is unreadable ({err}); delete both and recompute") from err
    problems = []
    if list(array.shape) != sidecar.get("shape") or array.dtype != np.float32:
        problems.append(f"array is {array.dtype} {list(array.shape)}, sidecar says float32 {sidecar.get('shape')}")
    elif _array_sha256(array) != sidecar.get("sha256"):
        problems.append("array sha256 differs from the sidecar's")
    if problems:
        raise ValueError(f"{path} does not match {sidecar_path.name}: {problems[0]} (interrupted write?); "
                         "delete both and recompute")
    return array, sidecar
