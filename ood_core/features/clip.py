"""The real feature source: open_clip encoders over benchmark image folders, cached.

:class:`ClipFeatures` implements :class:`ood_core.features.FeatureSource` with a
:class:`~ood_core.features.encoders.ClipEncoder`, the benchmark's datasets
(:mod:`ood_core.features.datasets`) and an :class:`~ood_core.features.cache.EmbeddingCache`:
every text list and every image folder is encoded once, on a cache miss
(:func:`cached_text_features`, :func:`cached_image_features`). Encoding goes through
:func:`ood_core.features.distributed.encode_sharded`: fixed batches, resumable after a kill, and
sharded over the ranks of ``torchrun`` when a process group is initialised (same bytes as one process).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ood_core.features import Label
from ood_core.features.cache import EmbeddingCache, fingerprint_files, fingerprint_texts
from ood_core.features.datasets import ImageFiles
from ood_core.features.distributed import ShardedResult, encode_sharded
from ood_core.text.prompts import prompts

__all__ = ["ClipFeatures", "cached_text_features", "cached_image_features", "encode_text_cached",
           "encode_images_cached"]


class ClipFeatures:
    """Features of one benchmark under one open_clip encoder (a :class:`~ood_core.features.FeatureSource`).

    encoder : a loaded :class:`~ood_core.features.encoders.ClipEncoder`.
    datasets : split name -> :class:`~ood_core.features.datasets.BenchmarkDataset` (check them
        first with ``datasets.require``); ``id_split`` names the ID set, whose class names are the
        ID labels.
    cache : the embedding store. batch_size, num_workers, skip_unreadable : encoding options.
    """

    def __init__(self, encoder, datasets: dict, id_split: str, cache: EmbeddingCache, *, batch_size: int = 256,
                 num_workers: int = 4, skip_unreadable: bool = False):
        if id_split not in datasets:
            raise ValueError(f"id_split={id_split!r} is not among the datasets {sorted(datasets)}")
        self.encoder = encoder
        self.datasets = dict(datasets)
        self.id_split = id_split
        self.cache = cache
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.skip_unreadable = skip_unreadable
        #: one ``(what, ShardedResult)`` per encoding call (hits included), for logs and tests
        self.history: list[tuple[str, ShardedResult]] = []

    def id_labels(self) -> list[Label]:
        names = self.datasets[self.id_split].classnames
        if not names:
            raise ValueError(f"ID set {self.id_split!r} has no class names; it cannot serve as an ID set")
        return [Label(n) for n in names]

    def encode_labels(self, labels: Sequence[Label], template: str) -> np.ndarray:
        texts = prompts([lb.text for lb in labels], template)
        result = encode_text_cached(self.encoder, texts, self.cache, batch_size=self.batch_size)
        self.history.append((f"texts {template!r}", result))
        return result.features

    def image_features(self, split: str) -> np.ndarray:
        if split not in self.datasets:
            raise ValueError(f"split={split!r} is unknown; valid: {sorted(self.datasets)}")
        result = encode_images_cached(self.encoder, self.datasets[split], self.cache, batch_size=self.batch_size,
                                      num_workers=self.num_workers, skip_unreadable=self.skip_unreadable)
        self.history.append((f"images {split}", result))
        return result.features


def _pad_images(images, batch_size: int):
    """``images [b, 3, S, S]`` padded with zero images to ``[batch_size, 3, S, S]``.

    Every forward pass then has one shape, so a row's features do not depend on how many rows
    share its pass nor on the number of CPU threads: on CPU a matmul of a few rows can split its
    rows over threads into tiles whose last bits differ (seen here: 5 rows, 1 vs 2 threads); a
    full batch did not. This keeps the last (short) batch and batches with skipped images
    byte-identical between one process and torchrun ranks. Costs one padded batch per set at most.
    """
    import torch

    if len(images) >= batch_size:
        return images
    return torch.cat([images, images.new_zeros((batch_size - len(images), *images.shape[1:]))])


def cached_text_features(encoder, texts: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 256) -> np.ndarray:
    """Raw text features float32 ``[len(texts), d]`` from ``cache``, encoding only on a miss.

    Key: ``encoder.cache_fields()`` + the hash of the exact (prompted) texts, in order. On a miss,
    a cache folder that cannot be written raises PermissionError before any encoding.
    """
    return encode_text_cached(encoder, texts, cache, batch_size=batch_size).features


def encode_text_cached(encoder, texts: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 256) -> ShardedResult:
    """:func:`cached_text_features` with the hit/encoded counts (a :class:`ShardedResult`)."""
    texts = list(texts)
    fields = {"kind": "text", **encoder.cache_fields(), "texts_sha256": fingerprint_texts(texts),
              "n_texts": len(texts)}

    def encode(todo):
        for rows in todo:
            chunk = texts[rows.start:rows.stop]
            # Every forward pass has the full batch shape (see _pad_images), here padded with "".
            padded = chunk + [""] * (batch_size - len(chunk))
            yield encoder.encode_text(padded, batch_size=batch_size)[:len(chunk)], np.arange(rows.start, rows.stop)

    return encode_sharded(cache, fields, len(texts), batch_size, encode)


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
    On a miss, a cache folder that cannot be written raises PermissionError before any encoding.
    """
    return encode_images_cached(encoder, dataset, cache, batch_size=batch_size, num_workers=num_workers,
                                skip_unreadable=skip_unreadable).features


def encode_images_cached(encoder, dataset, cache: EmbeddingCache, *, batch_size: int = 256, num_workers: int = 4,
                         skip_unreadable: bool = False) -> ShardedResult:
    """:func:`cached_image_features` with the hit/encoded counts (a :class:`ShardedResult`).

    The file fingerprint (content hashes) is computed by rank 0 only and shared with the others.
    """
    from ood_core.features.distributed import _broadcast, current_ranks

    files = dataset.files()
    fingerprint = (fingerprint_files(files, dataset.path, memo_dir=cache.memo_dir)
                   if current_ranks().is_main else None)
    fields = {
        "kind": "image",
        **encoder.cache_fields(),
        "dataset": dataset.name,
        "split": dataset.split,
        "files_sha256": _broadcast(fingerprint),
        "n_files": len(files),
        "skip_unreadable": bool(skip_unreadable),
    }
    images = ImageFiles(files, encoder.transform, skip_unreadable=skip_unreadable)

    def encode(todo):
        from ood_core.features.gpu_decode import image_batches

        if not todo:
            return
        # The encoder's decode path ("pil": DataLoader workers; "gpu": decoded on its device).
        loader = image_batches(images, [list(rows) for rows in todo], decode=getattr(encoder, "decode", "pil"),
                               device=encoder.device, image_size=getattr(encoder, "image_size", 0),
                               num_workers=num_workers)
        for batch in loader:
            n = len(batch.images)
            if n == 0:
                yield np.empty((0, encoder.embed_dim), np.float32), batch.indices.numpy()
            else:
                features = encoder.encode_image_tensor(_pad_images(batch.images, batch_size))[:n]
                yield features.cpu().numpy(), batch.indices.numpy()

    def skipped_meta(kept: np.ndarray) -> dict:
        keep = set(kept.tolist())
        skipped = [files[i].relative_to(dataset.path).as_posix() for i in range(len(files)) if i not in keep]
        return {"skipped": skipped, "n_skipped": len(skipped)}

    return encode_sharded(cache, fields, len(files), batch_size, encode, meta_fn=skipped_meta)
