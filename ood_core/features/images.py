"""Image files -> preprocessed tensors on the CPU (PIL): the lowest layer of the image path.

:class:`ImageFiles` is the map-style torch ``Dataset`` every image encoding reads (the PIL path in
DataLoader workers; :mod:`ood_core.features.gpu_decode` reuses it for its fallbacks), collating
into an :class:`ImageBatch`. :func:`paper_transform` is the released code's preprocessing.
Nothing here imports torch, torchvision or PIL until it is used, so the image-set registry
(:mod:`ood_core.features.image_sets`) stays cheap to import.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

if TYPE_CHECKING:
    import torch

__all__ = ["CLIP_MEAN", "CLIP_STD", "DECODES", "ImageBatch", "ImageFiles", "UnreadableImageError",
           "paper_transform"]

log = logging.getLogger(__name__)

#: where JPEGs are decoded and preprocessed: "pil" (CPU, DataLoader workers) or "gpu" (the encoder's
#: device, ood_core.features.gpu_decode; PIL remains the fallback for what it cannot decode alike).
DECODES = ("pil", "gpu")

# The CLIP training-set statistics (the values open_clip calls OPENAI_DATASET_MEAN/STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ImageBatch(NamedTuple):
    """A collated batch of :class:`ImageFiles`.

    ``images``: float ``[b, 3, H, W]`` (``b`` may be 0 when every image was skipped);
    ``indices``: int64 ``[b]``, the positions of these images in the dataset;
    ``n_items``: how many dataset items the batch covered, skipped ones included.
    """

    images: torch.Tensor
    indices: torch.Tensor
    n_items: int


class UnreadableImageError(OSError):
    """An image file could not be decoded; the message names the file."""


def paper_transform(image_size: int):
    """The released code's preprocessing: RGB, ``Resize(image_size)`` bilinear on the shorter side,
    ``CenterCrop(image_size)``, ``ToTensor``, CLIP mean/std. PIL image -> float32 ``[3, S, S]``."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Lambda(_to_rgb),
            transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )


def _to_rgb(image):
    # Module-level (not a lambda) so the transform pickles into DataLoader workers.
    return image.convert("RGB") if image.mode != "RGB" else image


class ImageFiles:
    """A map-style torch ``Dataset``: item ``i`` = ``(transform(RGB image of files[i]), i)``.

    Images are opened only when an item is requested. An unreadable file raises
    :class:`UnreadableImageError` naming it, unless ``skip_unreadable=True``: then the item is
    ``(None, i)``, a warning is logged, and :meth:`collate_fn` drops it from the batch (the
    batch's ``indices`` tell which items remain).
    """

    def __init__(self, files, transform: Callable, skip_unreadable: bool = False):
        self.files = [Path(f) for f in files]
        self.transform = transform
        self.skip_unreadable = skip_unreadable

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")  # also forces the full decode inside the try
        except Exception as err:  # PIL raises several types for truncated/corrupt files
            if not self.skip_unreadable:
                raise UnreadableImageError(
                    f"cannot read image {path}: {err}. Replace or delete the file, or pass "
                    "skip_unreadable=True to skip such files (they are recorded in the cache metadata)"
                ) from err
            log.warning("skipping unreadable image %s: %s", path, err)
            return None, index
        return self.transform(image), index

    @staticmethod
    def collate_fn(items) -> ImageBatch:
        """``[(tensor | None, index), ...]`` -> :class:`ImageBatch` (skipped items dropped)."""
        import torch

        kept = [(x, i) for x, i in items if x is not None]
        images = torch.stack([x for x, _ in kept]) if kept else torch.empty((0,))
        indices = torch.tensor([i for _, i in kept], dtype=torch.int64)
        return ImageBatch(images, indices, len(items))
