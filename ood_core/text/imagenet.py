"""ImageNet-1k class metadata: WordNet ids and the cleaned CLIP class names.

The class order is the standard one (sorted wnids, index 0 = ``n01440764`` "tench"); names come
from ``open_clip.zero_shot_metadata.IMAGENET_CLASSNAMES`` (the cleaned names the papers used) and
wnids from timm's ImageNet info files. A wnid ``nXXXXXXXX`` is the WordNet 3.0 noun synset at byte
offset ``XXXXXXXX`` of ``data.noun``.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["imagenet_classnames", "imagenet_wnids", "wnid_to_offset", "subset_wnids"]


def _timm_info_lines(filename: str) -> list[str]:
    try:
        import timm.data  # noqa: F401  (only to locate the package data)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ImageNet wnids come from timm's packaged info files; install it with "
            "`pip install timm` (or `pip install ood_core[clip]`)."
        ) from err
    text = resources.files("timm.data").joinpath("_info", filename).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k wnids in class-index order, e.g. ``("n01440764", ...)``."""
    wnids = tuple(_timm_info_lines("imagenet_synsets.txt"))
    if len(wnids) != 1000:
        raise RuntimeError(f"timm's imagenet_synsets.txt holds {len(wnids)} wnids, expected 1000")
    return wnids


@functools.lru_cache(maxsize=None)
def imagenet_classnames() -> tuple[str, ...]:
    """The 1,000 cleaned ImageNet class names in class-index order (open_clip's list)."""
    try:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ImageNet class names come from open_clip; install it with `pip install open_clip_torch`."
        ) from err
    return tuple(IMAGENET_CLASSNAMES)


def wnid_to_offset(wnid: str) -> int:
    """``"n01440764"`` -> ``1440764``, the synset's byte offset in WordNet 3.0 ``data.noun``."""
    if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
        raise ValueError(f"wnid={wnid!r} is not a WordNet noun id of the form 'n' + 8 digits")
    return int(wnid[1:])


@functools.lru_cache(maxsize=None)
def subset_wnids(name: str) -> tuple[str, ...]:
    """wnids of an ImageNet-1k subset shipped with timm: ``"imagenet_a"`` or ``"imagenet_r"`` (200 each)."""
    files = {"imagenet_a": "imagenet_a_synsets.txt", "imagenet_r": "imagenet_r_synsets.txt"}
    if name not in files:
        raise ValueError(f"subset name={name!r} is unknown; valid names: {sorted(files)}")
    return tuple(_timm_info_lines(files[name]))
