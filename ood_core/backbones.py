"""The backbone names of params.yaml: the open_clip model and weights each stands for.

Imports nothing, so the application can check a backbone name (params, per-backbone method
overrides, the RANDOM WEIGHTS tag) without depending on the encoders
(:mod:`ood_core.features.encoders` loads them and re-exports these names).
"""

from __future__ import annotations

__all__ = ["BACKBONES", "RANDOM_WEIGHT_BACKBONES", "is_random_weights"]

#: params.yaml backbone name -> (open_clip model name, pretrained tag). OpenAI weights need
#: QuickGELU, hence the ``-quickgelu`` configs (docs/methods.md §5).
BACKBONES: dict[str, tuple[str, str]] = {
    "ViT-B-16": ("ViT-B-16-quickgelu", "openai"),
    "ViT-B-32": ("ViT-B-32-quickgelu", "openai"),
    "ViT-L-14": ("ViT-L-14-quickgelu", "openai"),
    "ViT-L-14-336": ("ViT-L-14-336-quickgelu", "openai"),
    "RN50": ("RN50-quickgelu", "openai"),
}

#: params.yaml backbone name -> tiny open_clip architecture for pipeline tests (CI, the mini benchmark).
#: Its "weights" are a seeded random init saved to ``<weights folder>/<model>.pt`` by
#: :func:`write_random_weights` and loaded from there like any local weights file (never downloaded).
#: Every table made with it says RANDOM WEIGHTS (:func:`is_random_weights`): its numbers mean nothing.
RANDOM_WEIGHT_BACKBONES: dict[str, dict] = {
    "tiny-random": {
        "model": "ood-tiny-random",
        "seed": 0,
        "config": {"embed_dim": 32,
                   "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
                   "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
    },
}


def is_random_weights(backbone: str) -> bool:
    """True for a params.yaml backbone whose weights are a random init (its numbers mean nothing)."""
    return backbone in RANDOM_WEIGHT_BACKBONES
