"""The real feature source: open_clip encoders over image sets, cached; the one image-encoding loop.

:class:`ClipFeatures` implements :class:`ood_core.features.FeatureSource` with a
:class:`~ood_core.features.encoders.ClipEncoder`, the benchmark's image sets
(:mod:`ood_core.features.image_sets`) and an :class:`~ood_core.features.cache.EmbeddingCache`:
every text list and every image set is encoded once, on a cache miss
(:func:`encode_text_cached`, :func:`encode_images_cached`). Encoding goes through
:func:`ood_core.features.distributed.encode_sharded`: fixed batches, resumable after a kill, and
sharded over the ranks of ``torchrun`` when a process group is initialised (same bytes as one process).

Images are encoded by one loop, :func:`_image_batch_features` (decode on the encoder's path, pad
to the full batch, forward); :func:`encode_images` runs it without the cache (tests, benchmarks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ood_core.features import Label
from ood_core.features.cache import EmbeddingCache, fingerprint_files, fingerprint_texts
from ood_core.features.distributed import ShardedResult, _broadcast, batches, current_ranks, encode_sharded
from ood_core.features.gpu_decode import image_batches
from ood_core.features.images import ImageFiles
from ood_core.text.prompts import prompts

__all__ = ["ClipFeatures", "encode_images", "encode_images_cached", "encode_text_cached"]


class ClipFeatures:
    """Features of one benchmark under one open_clip encoder (a :class:`~ood_core.features.FeatureSource`).

    encoder : a loaded :class:`~ood_core.features.encoders.ClipEncoder`.
    datasets : split name -> :class:`~ood_core.features.image_sets.ImageSet` (check them first
        with ``image_sets.require``); ``id_split`` names the ID set, whose class names are the
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


def encode_text_cached(encoder, texts: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 256) -> ShardedResult:
    """Raw text features float32 ``[len(texts), d]`` from ``cache``, encoding only on a miss, with the
    hit/encoded counts (a :class:`ShardedResult`; the features are its ``features``).

    Key: ``encoder.cache_fields()`` + the hash of the exact (prompted) texts, in order. On a miss,
    a cache folder that cannot be written raises PermissionError before any encoding.
    """
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


def encode_images_cached(encoder, dataset, cache: EmbeddingCache, *, batch_size: int = 256, num_workers: int = 4,
                         skip_unreadable: bool = False) -> ShardedResult:
    """Raw image features float32 ``[n, d]`` of an image set, in ``dataset.files()`` order, from
    ``cache``, encoding only on a miss, with the hit/encoded counts (a :class:`ShardedResult`).

    Key: ``encoder.cache_fields()`` + set name/split + :func:`fingerprint_files` of its files
    + ``skip_unreadable``. With ``skip_unreadable=True`` unreadable files are left out (``n`` is
    then smaller) and listed, relative to ``dataset.path``, under ``cache.meta(key)["meta"]["skipped"]``.
    On a miss, a cache folder that cannot be written raises PermissionError before any encoding.
    The file fingerprint (content hashes) is computed by rank 0 only and shared with the others.
    """
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
        yield from _image_batch_features(encoder, images, todo, batch_size, num_workers)

    def skipped_meta(kept: np.ndarray) -> dict:
        keep = set(kept.tolist())
        skipped = [files[i].relative_to(dataset.path).as_posix() for i in range(len(files)) if i not in keep]
        return {"skipped": skipped, "n_skipped": len(skipped)}

    return encode_sharded(cache, fields, len(files), batch_size, encode, meta_fn=skipped_meta)


def _image_batch_features(encoder, images: ImageFiles, todo, batch_size: int, num_workers: int):
    """The one image-encoding loop: yields ``(features float32 [b, d], indices int64 [b])`` per
    index list of ``todo``, rows in dataset order, skipped unreadable images left out.

    Decoding follows the encoder's path (``encoder.decode``: "pil" in DataLoader workers, "gpu" on
    its device, :func:`~ood_core.features.gpu_decode.image_batches`); every forward pass is padded
    to ``batch_size`` rows (:func:`_pad_images`).
    """
    if not todo:
        return
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


def encode_images(encoder, images: ImageFiles, *, batch_size: int = 256,
                  num_workers: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Raw image features of ``images`` without the cache: ``(features float32 [n, d], rows int64 [n])``.

    The loop of :func:`encode_images_cached` (same batches, same bytes), for tests and benchmarks.
    ``rows`` are the positions in ``images`` of the feature rows: all of them, unless
    ``images.skip_unreadable`` left unreadable files out. Features are *not* L2-normalised.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    parts = list(_image_batch_features(encoder, images, batches(len(images), batch_size), batch_size, num_workers))
    if not parts:
        return np.empty((0, encoder.embed_dim), np.float32), np.empty((0,), np.int64)
    features = np.ascontiguousarray(np.concatenate([f for f, _ in parts]), dtype=np.float32)
    return features, np.concatenate([i for _, i in parts]).astype(np.int64)
