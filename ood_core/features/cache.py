"""Content-addressed embedding store: feature files (:mod:`ood_core.features.files`) named by key.

:class:`EmbeddingCache` stores pairs under ``<root>/<key>.npy|json`` where ``key`` is the
sha256 of the canonical JSON of the key fields: model, weights tag or file hash, preprocessing,
precision, and the exact texts (prompt templates included, since the texts are the prompted
strings) or the image files (hash of sorted relative paths, sizes and content hashes,
:func:`fingerprint_files`). Same fields -> no
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
from typing import Iterable, Sequence

import numpy as np

from ood_core.features.files import read_features, sha256_file, write_features

__all__ = ["EmbeddingCache", "file_sha256s", "fingerprint_files", "fingerprint_texts"]

log = logging.getLogger(__name__)


def fingerprint_texts(texts: Sequence[str]) -> str:
    """sha256 of the exact text list, order included (rows follow it)."""
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must all be strings")
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()


def fingerprint_files(paths: Iterable[str | os.PathLike], root: str | os.PathLike,
                      memo_dir: str | os.PathLike | None = None) -> str:
    """sha256 over the sorted ``"<path relative to root>\\t<size in bytes>\\t<sha256 of the bytes>\\n"`` lines.

    Relative paths keep the fingerprint valid when the data root moves (or is copied to another
    machine: no mtimes in it); content hashes catch a file replaced by another of the same size.
    Hashing reads every byte once (sha256: about 1-2 GB/s per core, or the disk's speed); with
    ``memo_dir`` each file's hash is remembered by (path, size, mtime_ns, inode)
    (:func:`file_sha256s`), so later calls only ``stat`` the files. Raises ValueError for a path
    outside ``root``.
    """
    root = Path(root)
    paths = [Path(p) for p in paths]
    rels = []
    for p in paths:
        try:
            rels.append(p.relative_to(root).as_posix())
        except ValueError as err:
            raise ValueError(f"file {p} is not under the fingerprint root {root}") from err
    digests = file_sha256s(paths, root, memo_dir)
    lines = sorted(f"{rel}\t{size}\t{sha}\n" for rel, (size, sha) in zip(rels, digests))
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
    return digest.hexdigest()


def file_sha256s(paths: Sequence[Path], root: Path, memo_dir: str | os.PathLike | None = None) -> list[tuple[int, str]]:
    """``(size, sha256 hex)`` of each file, hashing only those the memo does not know.

    The memo (``<memo_dir>/files-<sha256 of root>.json``, written atomically, skipped when the
    folder is not writable) maps a relative path to ``[size, mtime_ns, inode, sha256]``; an entry
    counts only while all three stat fields still match, as DVC's own state does.
    """
    memo_path = None
    memo: dict = {}
    if memo_dir is not None:
        memo_path = Path(memo_dir) / f"files-{hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:32]}.json"
        try:
            memo = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            memo = {}
    out, changed = [], False
    for p in paths:
        st = p.stat()
        rel = p.relative_to(root).as_posix()
        known = memo.get(rel)
        if known and known[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            out.append((st.st_size, known[3]))
            continue
        sha = sha256_file(p)
        memo[rel] = [st.st_size, st.st_mtime_ns, st.st_ino, sha]
        changed = True
        out.append((st.st_size, sha))
    if memo_path is not None and changed:
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_name(f".{memo_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo, sort_keys=True))
            os.replace(tmp, memo_path)
        except OSError as err:  # a read-only shared cache: hash again next time
            log.info("file-hash memo not written (%s)", err)
    return out


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

    @property
    def memo_dir(self) -> Path:
        """Where :func:`fingerprint_files` remembers file hashes for this cache (``<root>/file-hashes``)."""
        return self.root / "file-hashes"

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
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"embedding cache folder {self.root} is a file, not a folder; point "
                                     "params.yaml paths.cache_dir at a folder (or move the file away)")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NotADirectoryError(f"embedding cache folder {self.root} cannot be created: a file is in its path; "
                                     "point params.yaml paths.cache_dir at a folder") from None
        except OSError as err:
            raise PermissionError(f"embedding cache folder {self.root} cannot be created ({err}); {fix}") from err
        effective = os.access in os.supports_effective_ids
        if not os.access(self.root, os.W_OK | os.X_OK, effective_ids=effective):
            raise PermissionError(f"embedding cache folder {self.root} is not writable by this user, so computed "
                                  f"features could not be stored; {fix}")

    def save(self, key: str, features, meta: dict | None = None) -> Path:
        """Atomically store ``features`` (float32) under ``key`` with ``meta`` in the sidecar; features
        holding NaN or inf are refused (an entry is reused by every later run)."""
        array = np.asarray(features, dtype=np.float32)
        bad = ~np.isfinite(array)
        if bad.any():
            row = int(np.argwhere(bad)[0][0]) if array.ndim else 0
            raise ValueError(f"refusing to cache {int(bad.sum())} NaN/inf feature value(s) (first in row {row}) under "
                             f"{self.path(key)}: the encoder produced non-finite features (fp16 overflow? try "
                             "encoder.precision: fp32); nothing was stored")
        return write_features(self.path(key), array, meta)
