"""The real feature source: open_clip encoders over benchmark image folders, cached.

:class:`ClipFeatures` implements :class:`ood_core.features.FeatureSource` with a
:class:`~ood_core.features.encoders.ClipEncoder`, the benchmark's datasets
(:mod:`ood_core.features.datasets`) and an :class:`~ood_core.features.cache.EmbeddingCache`:
every text list and every image folder is encoded once, on a cache miss
(:func:`cached_text_features`, :func:`cached_image_features`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ood_core.features import Label
from ood_core.features.cache import EmbeddingCache, fingerprint_files, fingerprint_texts
from ood_core.features.datasets import ImageFiles
from ood_core.text.prompts import prompts

__all__ = ["ClipFeatures", "cached_text_features", "cached_image_features"]


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

    def id_labels(self) -> list[Label]:
        names = self.datasets[self.id_split].classnames
        if not names:
            raise ValueError(f"ID set {self.id_split!r} has no class names; it cannot serve as an ID set")
        return [Label(n) for n in names]

    def encode_labels(self, labels: Sequence[Label], template: str) -> np.ndarray:
        texts = prompts([lb.text for lb in labels], template)
        return cached_text_features(self.encoder, texts, self.cache, batch_size=self.batch_size)

    def image_features(self, split: str) -> np.ndarray:
        if split not in self.datasets:
            raise ValueError(f"split={split!r} is unknown; valid: {sorted(self.datasets)}")
        return cached_image_features(self.encoder, self.datasets[split], self.cache, batch_size=self.batch_size,
                                     num_workers=self.num_workers, skip_unreadable=self.skip_unreadable)


def cached_text_features(encoder, texts: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 256) -> np.ndarray:
    """Raw text features float32 ``[len(texts), d]`` from ``cache``, encoding only on a miss.

    Key: ``encoder.cache_fields()`` + the hash of the exact (prompted) texts, in order. On a miss,
    a cache folder that cannot be written raises PermissionError before any encoding.
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
    On a miss, a cache folder that cannot be written raises PermissionError before any encoding.
    """
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
    cache.require_writable()
    images = ImageFiles(files, encoder.transform, skip_unreadable=skip_unreadable)
    features, rows = encoder.encode_images(images, batch_size=batch_size, num_workers=num_workers,
                                           return_indices=True)
    kept = set(rows.tolist())
    skipped = [files[i].relative_to(dataset.path).as_posix() for i in range(len(files)) if i not in kept]
    cache.save(key, features, {"fields": fields, "skipped": skipped, "n_skipped": len(skipped)})
    return features
