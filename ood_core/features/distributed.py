"""Sharded, resumable encoding into one embedding-cache entry (one process, or ranks of torch.distributed).

A list of ``n`` items (image files, texts) is cut into **fixed batches**: batch ``b`` holds items
``[b * batch_size, (b + 1) * batch_size)``, whatever the number of processes. Each batch is encoded
as one forward pass, so an item's features depend only on its batch, never on which process or
shard encoded it: a run on N ranks gives the **same bytes** as one process (fp32 on CPU included,
where a different batch composition could change the last bits).

Ranks (``torchrun --nproc-per-node N ...``; :func:`init_from_env`) take contiguous blocks of
batches (:func:`shard`). Each finished batch is written at once, atomically, as a part file under
``<cache>/partial/<key>/`` (a feature pair of :mod:`ood_core.features.files`, its item indices in
the sidecar). After a barrier, rank 0 joins the parts in batch order into the content-addressed
entry ``<cache>/<key>.npy`` and removes the parts, unless another run computing the same entry
still holds them (a shared ``flock`` on ``partial/<key>.lock``; the last one out removes them). A run that is killed leaves its finished parts
(never a half-written one that reads as valid: parts are checked by their sha256) and no entry,
so the next run encodes only the missing batches.

Multi-node: every rank must see the same cache folder (a shared file system), since rank 0 reads
the other ranks' parts; the process group (gloo) only carries barriers and small decisions,
never features, so it works beside NCCL jobs and on CPUs alike.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ood_core.features.files import read_features, write_features

__all__ = ["Ranks", "ShardedResult", "current_ranks", "init_from_env", "shard", "batches", "encode_sharded"]

log = logging.getLogger(__name__)

PARTIAL_DIR = "partial"
_TIMEOUT = _dt.timedelta(hours=6)  # ranks wait at barriers while others encode their shards


@dataclass(frozen=True)
class Ranks:
    """This process's place: ``rank`` in ``[0, world_size)``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def current_ranks() -> Ranks:
    """The ranks of the initialised default process group, else a single process ``Ranks()``."""
    dist = _dist()
    if dist is None:
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def init_from_env() -> Ranks:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

    Uses the gloo backend (barriers and small objects only; features go through the cache folder).
    Without torchrun's variables, or with ``WORLD_SIZE=1``, nothing is initialised: one process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or _dist() is not None:
        return current_ranks()
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} but {missing} are not set: start the ranks with torchrun "
                           "(`torchrun --nproc-per-node N -m ood_study.stages.embed ...`)")
    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=_TIMEOUT)
    return current_ranks()


def _broadcast(value):
    """``value`` of rank 0 on every rank (unchanged in a single process)."""
    dist = _dist()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _barrier() -> None:
    dist = _dist()
    if dist is not None:
        dist.barrier()


def batches(n_items: int, batch_size: int) -> list[range]:
    """The fixed batches of ``n_items``: ``range(b * batch_size, min(n, (b + 1) * batch_size))``."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    return [range(s, min(n_items, s + batch_size)) for s in range(0, n_items, batch_size)]


def shard(n_batches: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous block of batch numbers; blocks differ in size by one at most."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must lie in [0, world_size={world_size})")
    base, extra = divmod(n_batches, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


@dataclass
class ShardedResult:
    """``features`` float32 ``[n_kept, d]`` in item order; ``hit``: the entry was in the cache; ``n_encoded`` / ``n_resumed``: items this rank encoded now /
    found in parts of an interrupted run; ``meta``: the entry's sidecar meta."""

    features: np.ndarray
    hit: bool
    n_encoded: int
    n_resumed: int
    meta: dict


def _part_path(folder: Path, b: int) -> Path:
    return folder / f"batch-{b:07d}.npy"


def _read_part(path: Path, rows: range, key: str):
    """``(features, indices)`` of a valid part for ``rows``, else None (missing, damaged, foreign)."""
    if not path.is_file() or not path.with_suffix(".json").is_file():
        return None
    try:
        features, sidecar = read_features(path)
    except ValueError as err:
        log.warning("re-encoding a damaged part: %s", err)
        return None
    meta = sidecar.get("meta", {})
    indices = np.asarray(meta.get("indices", []), dtype=np.int64)
    if (meta.get("key") != key or features.ndim != 2 or len(features) != len(indices)
            or not set(indices.tolist()) <= set(rows)):
        log.warning("re-encoding part %s: it does not belong to this batch", path)
        return None
    return features, indices


def encode_sharded(
    cache,
    fields: dict,
    n_items: int,
    batch_size: int,
    encode: Callable[[list[range]], Iterable[tuple[np.ndarray, np.ndarray]]],
    *,
    meta_fn: Callable[[np.ndarray], dict] | None = None,
) -> ShardedResult:
    """The cache entry of ``fields``, encoding on a miss the missing fixed batches of this rank.

    cache : an :class:`~ood_core.features.cache.EmbeddingCache` (the same folder on every rank).
    encode : given the batches to do (ranges of item positions, in order), yields one
        ``(features float32 [k, d], kept item positions int64 [k])`` per batch, in order; ``k`` is
        smaller than the batch when items were skipped (unreadable images).
    meta_fn : extra sidecar meta from the kept positions (e.g. the skipped files).

    Every rank of the process group must call this with the same arguments (collective).
    """
    ranks = current_ranks()
    key = cache.key(fields)
    # One decision for all ranks: a rank that saw a different answer would wait at a barrier forever.
    hit = _broadcast(cache.load(key) is not None if ranks.is_main else None)
    if hit:
        return _load_entry(cache, key, hit=True, n_encoded=0, n_resumed=0, ranks=ranks)
    cache.require_writable()
    folder = cache.root / PARTIAL_DIR / key
    # Held (shared) from the first look at the parts until the entry is joined: another run computing the
    # same entry removes the parts folder only when no one holds it (see _remove_parts).
    writing = _PartsLock(folder)
    writing.acquire_shared()
    try:
        result = _encode_parts(cache, key, fields, folder, n_items, batch_size, encode, meta_fn, ranks)
    finally:
        writing.release()
    _barrier()
    if ranks.is_main:
        _remove_parts(folder)
    return _load_entry(cache, key, hit=False, n_encoded=result[0], n_resumed=result[1], ranks=ranks)


def _encode_parts(cache, key, fields, folder: Path, n_items, batch_size, encode, meta_fn, ranks) -> tuple[int, int]:
    """Encode this rank's missing batches as parts and (rank 0) join them into the entry: ``(encoded, resumed)``."""
    all_batches = batches(n_items, batch_size)
    mine = shard(len(all_batches), ranks.rank, ranks.world_size)
    todo = [b for b in mine if _read_part(_part_path(folder, b), all_batches[b], key) is None]
    n_resumed = sum(len(all_batches[b]) for b in mine) - sum(len(all_batches[b]) for b in todo)
    if n_resumed:
        log.info("rank %d: %d items already encoded by an interrupted run, %d batches to go",
                 ranks.rank, n_resumed, len(todo))
    done = 0
    outputs: Iterator = iter(encode([all_batches[b] for b in todo]))
    for b in todo:
        features, kept = next(outputs)
        features = np.ascontiguousarray(features, dtype=np.float32)
        kept = np.asarray(kept, dtype=np.int64)
        if features.ndim != 2 or len(features) != len(kept):
            raise ValueError(f"encode returned features {features.shape} for {len(kept)} kept items")
        folder.mkdir(parents=True, exist_ok=True)
        write_features(_part_path(folder, b), features, {"key": key, "batch": b, "indices": kept.tolist()},
                       record_time=False)
        done += len(all_batches[b])
    _barrier()
    if ranks.is_main:  # should it fail, torchrun stops the other ranks (they wait at the barrier)
        _join_parts(cache, key, fields, folder, all_batches, meta_fn)
    return done, n_resumed


class _PartsLock:
    """An advisory ``flock`` on ``partial/<key>.lock`` (kept: removing a lock file races with its users).

    Every process writing or reading the parts of one entry holds it shared; the parts folder is
    removed only under the exclusive lock, taken without waiting, so never while another process
    (another run computing the same entry) is writing there. Where the file system has no locks,
    the parts are left in place (they are reused or ignored, never wrong).
    """

    def __init__(self, folder: Path):
        self.path = folder.with_name(folder.name + ".lock")
        self.handle = None

    def _lock(self, flags) -> bool:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+b")
        try:
            fcntl.flock(self.handle, flags)
            return True
        except OSError:
            self.release()
            return False

    def acquire_shared(self) -> bool:
        import fcntl

        return self._lock(fcntl.LOCK_SH)

    def try_exclusive(self) -> bool:
        import fcntl

        return self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the lock
            self.handle = None


def _remove_parts(folder: Path) -> None:
    """Remove ``folder`` (the entry is stored) unless another process is still writing or reading there."""
    lock = _PartsLock(folder)
    if lock.try_exclusive():
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            lock.release()


def _join_parts(cache, key, fields, folder: Path, all_batches, meta_fn) -> None:
    if cache.load(key) is not None:  # another run finished the same entry meanwhile
        return
    chunks, index_chunks, missing = [], [], []
    for b, rows in enumerate(all_batches):
        part = _read_part(_part_path(folder, b), rows, key)
        if part is None:
            missing.append(b)
            continue
        chunks.append(part[0])
        index_chunks.append(part[1])
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(all_batches)} encoded batches (e.g. {_part_path(folder, missing[0]).name}) are "
            f"missing from {folder}: with several nodes, the embedding cache folder must be one shared folder "
            "(params.yaml paths.cache_dir on a shared file system) seen by every rank")
    d = next((c.shape[1] for c in chunks if c.size), chunks[0].shape[1] if chunks else 0)
    features = np.concatenate(chunks) if chunks else np.empty((0, d), np.float32)
    indices = np.concatenate(index_chunks) if index_chunks else np.empty((0,), np.int64)
    meta = {"fields": fields, **(meta_fn(indices) if meta_fn else {})}
    cache.save(key, np.ascontiguousarray(features, dtype=np.float32), meta)


def _load_entry(cache, key: str, *, hit: bool, n_encoded: int, n_resumed: int, ranks: Ranks) -> ShardedResult:
    entry = cache._read(key)
    if entry is None:
        raise FileNotFoundError(f"rank {ranks.rank}: the cache entry {cache.path(key)} that rank 0 wrote is not "
                                "visible here: every rank must use the same (shared) embedding cache folder")
    features, sidecar = entry
    return ShardedResult(features, hit, n_encoded, n_resumed, sidecar.get("meta", {}))
