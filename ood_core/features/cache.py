"""Content-addressed embedding store: feature files (:mod:`ood_core.features.files`) named by key.

:class:`EmbeddingCache` stores pairs under ``<root>/<key>.npy|json`` where ``key`` is the
sha256 of the canonical JSON of the key fields: model, weights tag or file hash, preprocessing,
precision, and the exact texts (prompt templates included, since the texts are the prompted
strings) or the image files (hash of sorted relative paths and sizes). Same fields -> no
encoding; any changed field -> a new key -> encoded again. Encoding on a miss is the feature
source's job (:mod:`ood_core.features.clip`).

A cache can be shared by a group: entries are written atomically with mode ``0o666 & ~umask``
(use umask 002 and a setgid folder, ``chmod g+ws``, so the group can read and add entries) and
interrupted writers' temp files are cleaned up (:mod:`ood_core.features.files`). Reading needs
read access only; before computing a missing entry, :meth:`EmbeddingCache.require_writable`
fails fast if the folder cannot be written, rather than after an encoding that would be lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ood_core.features.files import read_features, write_features

__all__ = ["EmbeddingCache", "fingerprint_files", "fingerprint_texts"]

log = logging.getLogger(__name__)


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
        if not path.is_file() or not path.with_suffix(".json").is_file():
            return None
        try:
            return read_features(path)
        except ValueError as err:
            log.warning("ignoring invalid cache entry: %s", err)
            return None

    def require_writable(self) -> None:
        """Raise PermissionError (naming the folder and the fix) unless new entries can be written.

        Creates the folder if missing. Uses ``os.access`` (the kernel's permission check: mode
        bits, ACLs, read-only mounts; note that for root only a read-only mount denies writing).
        """
        fix = (f"make it writable for this user (for a folder shared by a group: chgrp <group> {self.root}; "
               f"chmod g+ws {self.root}; umask 002) or point the cache at a writable folder "
               "(params.yaml: paths.cache_dir)")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PermissionError(f"embedding cache folder {self.root} cannot be created ({err}); {fix}") from err
        effective = os.access in os.supports_effective_ids
        if not os.access(self.root, os.W_OK | os.X_OK, effective_ids=effective):
            raise PermissionError(f"embedding cache folder {self.root} is not writable by this user, so computed "
                                  f"features could not be stored; {fix}")

    def save(self, key: str, features, meta: dict | None = None) -> Path:
        """Atomically store ``features`` (float32) under ``key`` with ``meta`` in the sidecar."""
        return write_features(self.path(key), features, meta)

    def get_or_compute(self, fields: dict, compute_fn: Callable[[], np.ndarray]) -> np.ndarray:
        """Cached features for ``fields``; on a miss call ``compute_fn()`` and store its result.

        A hit needs read access only; on a miss :meth:`require_writable` is checked before
        ``compute_fn`` runs.
        """
        key = self.key(fields)
        cached = self.load(key)
        if cached is not None:
            return cached
        self.require_writable()
        features = np.ascontiguousarray(compute_fn(), dtype=np.float32)
        self.save(key, features, {"fields": fields})
        return features
