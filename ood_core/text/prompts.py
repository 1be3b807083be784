"""Prompt templates and prompt assembly (docs/methods.md §1), defined once for every feature source.

- ID labels and nouns: ``"the nice {}"``; adjectives: ``"This is a {} photo"`` (NegLabel's templates).
- CSP: each adjective becomes ``"<adjective> <suffix>"`` with a seeded random suffix from
  :data:`CSP_SUFFIXES`, put through every template of :data:`CSP_TEMPLATES`; the phrase's feature is
  the mean of the raw per-template features (:func:`ood_core.features.csp_adjective_features`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ood_core._params import check_seed

__all__ = ["NOUN_TEMPLATE", "ADJ_TEMPLATE", "CSP_SUFFIXES", "CSP_TEMPLATES", "prompts", "csp_adjective_phrases"]

NOUN_TEMPLATE = "the nice {}"
ADJ_TEMPLATE = "This is a {} photo"
CSP_SUFFIXES = ("environment", "space", "object", "scene", "place", "item", "area", "view", "thing",
                "pattern", "structure", "landscape", "vista", "creature")
CSP_TEMPLATES = ("{}", "a nice photo of {}", "a good photo of {}", "a close-up photo of {}")


def prompts(words: Sequence[str], template: str) -> list[str]:
    """``template.format(word)`` for each word; ``template`` must hold exactly one ``{}``."""
    if not isinstance(template, str) or template.count("{}") != 1 or template.replace("{}", "").count("{") \
            or template.replace("{}", "").count("}"):
        raise ValueError(f"template={template!r} must contain exactly one '{{}}' placeholder and no other braces")
    return [template.format(w) for w in words]


def csp_adjective_phrases(words: Sequence[str], seed: int = 0) -> list[str]:
    """CSP's phrase per adjective: ``word + " " + suffix``, suffix drawn uniformly from ``CSP_SUFFIXES``
    with ``numpy.random.default_rng(seed)`` (one draw per word, in order)."""
    seed = check_seed(seed, "seed")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(CSP_SUFFIXES), size=len(words))
    return [f"{w} {CSP_SUFFIXES[i]}" for w, i in zip(words, picks)]
