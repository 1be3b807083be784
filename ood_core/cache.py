"""Content-addressed embedding cache and atomic feature files.

A feature file is a pair ``<name>.npy`` (float32 array, usually ``[n, d]`` raw features) +
``<name>.json`` (sidecar: ``meta`` given by the caller, ``shape``, ``dtype``, ``sha256`` of the
array bytes, ``created`` UTC time, library ``versions``). :func:`write_features` writes both to
temporary files in the same folder and renames them into place (array first, sidecar last), so
an interrupted run leaves either the old pair, or a pair whose ``sha256`` does not match, which
:func:`read_features` rejects - never a half-written file that reads as valid.

:class:`EmbeddingCache` stores such pairs under ``<root>/<key>.npy|json`` where ``key`` is the
sha256 of the canonical JSON of the key fields: model, weights tag or file hash, preprocessing,
precision, and the exact texts (prompt templates included, since the texts are the prompted
strings) or the image files (hash of sorted relative paths and sizes). Same fields -> no
encoding; any changed field -> a new key -> encoded again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "EmbeddingCache",
    "cached_image_features",
    "cached_text_features",
    "fingerprint_files",
    "fingerprint_texts",
    "read_features",
    "write_features",
]

log = logging.getLogger(__name__)

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
            raise FileNotFoundError(f"feature file {p} not found (write it with ood_core.cache.write_features)")
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


def fingerprint_texts(texts: Sequence[str]) -> str:
    """sha256 of the exact text list, order included (rows follow it)."""
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must all be strings")
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()


def fingerprint_files(paths: Iterable[str | os.PathLike], root: str | os.PathLike) -> str:
    """sha256 over the sorted ``"<path relative to root>\\t<size in bytes>\\n"`` lines.

    Relative paths keep the fingerprint valid when the data root moves; sizes catch replaced
    files without reading them. Raises ValueError for a path outside ``root``.
    """
    root = Path(root)
    lines = []
    for p in paths:
        p = Path(p)
        try:
            rel = p.relative_to(root).as_posix()
        except ValueError as err:
            raise ValueError(f"file {p} is not under the fingerprint root {root}") from err
        lines.append(f"{rel}\t{p.stat().st_size}\n")
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode())
    return digest.hexdigest()


class EmbeddingCache:
    """Feature pairs stored as ``<root>/<key>.npy`` + ``<key>.json``; ``key = sha256(fields)``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"EmbeddingCache(root={str(self.root)!r})"

    @staticmethod
    def key(fields: dict) -> str:
        """Hex sha256 of ``fields`` as canonical JSON (sorted keys, no spaces)."""
        try:
            canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise TypeError(f"cache key fields must be JSON-serialisable: {err}") from err
        return hashlib.sha256(canonical.encode()).hexdigest()

    def path(self, key: str) -> Path:
        """The ``.npy`` path of ``key`` (it may not exist)."""
        return self.root / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        """The cached float32 features for ``key``, or None if absent or invalid (logged)."""
        entry = self._read(key)
        return None if entry is None else entry[0]

    def meta(self, key: str) -> dict | None:
        """The sidecar dict of ``key`` (its ``"meta"`` holds ``fields`` and extras), or None."""
        entry = self._read(key)
        return None if entry is None else entry[1]

    def _read(self, key: str):
        path = self.path(key)
        if not path.is_file() or not _sidecar_path(path).is_file():
            return None
        try:
            return read_features(path)
        except ValueError as err:
            log.warning("ignoring invalid cache entry: %s", err)
            return None

    def save(self, key: str, features, meta: dict | None = None) -> Path:
        """Atomically store ``features`` (float32) under ``key`` with ``meta`` in the sidecar."""
        return write_features(self.path(key), features, meta)

    def get_or_compute(self, fields: dict, compute_fn: Callable[[], np.ndarray]) -> np.ndarray:
        """Cached features for ``fields``; on a miss call ``compute_fn()`` and store its result."""
        key = self.key(fields)
        cached = self.load(key)
        if cached is not None:
            return cached
        features = np.ascontiguousarray(compute_fn(), dtype=np.float32)
        self.save(key, features, {"fields": fields})
        return features


def cached_text_features(encoder, texts: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 256) -> np.ndarray:
    """Raw text features float32 ``[len(texts), d]`` from ``cache``, encoding only on a miss.

    Key: ``encoder.cache_fields()`` + the hash of the exact (prompted) texts, in order.
    """
    texts = list(texts)
    fields = {"kind": "text", **encoder.cache_fields(), "texts_sha256": fingerprint_texts(texts),
              "n_texts": len(texts)}
    return cache.get_or_compute(fields, lambda: encoder.encode_text(texts, batch_size=batch_size))


def cached_image_features(
    encoder,
    dataset,
    cache: EmbeddingCache,
    *,
    batch_size: int = 256,
    num_workers: int = 4,
    skip_unreadable: bool = False,
) -> np.ndarray:
    """Raw image features float32 ``[n, d]`` of a BenchmarkDataset, in ``dataset.files()`` order.

    Key: ``encoder.cache_fields()`` + dataset name/split + :func:`fingerprint_files` of its files
    + ``skip_unreadable``. With ``skip_unreadable=True`` unreadable files are left out (``n`` is
    then smaller) and listed, relative to ``dataset.path``, under ``cache.meta(key)["meta"]["skipped"]``.
    """
    from .datasets import ImageFiles

    files = dataset.files()
    fields = {
        "kind": "image",
        **encoder.cache_fields(),
        "dataset": dataset.name,
        "split": dataset.split,
        "files_sha256": fingerprint_files(files, dataset.path),
        "n_files": len(files),
        "skip_unreadable": bool(skip_unreadable),
    }
    key = cache.key(fields)
    cached = cache.load(key)
    if cached is not None:
        return cached
    images = ImageFiles(files, encoder.transform, skip_unreadable=skip_unreadable)
    features, rows = encoder.encode_images(images, batch_size=batch_size, num_workers=num_workers,
                                           return_indices=True)
    kept = set(rows.tolist())
    skipped = [files[i].relative_to(dataset.path).as_posix() for i in range(len(files)) if i not in kept]
    cache.save(key, features, {"fields": fields, "skipped": skipped, "n_skipped": len(skipped)})
    return features
