"""Stable import path of the wild corpus and its prompts (kept for notebooks and outside checks).

The definitions live in :mod:`ood_core.text.corpus` and :mod:`ood_core.text.prompts`; this module
only re-exports their public names, so ``from ood_core.corpus import load_wordnet_corpus`` keeps
working with the same signatures.
"""

from ood_core.text.corpus import DEFAULT_ADJ_LEXNAMES, DEFAULT_NOUN_LEXNAMES, Corpus, load_wordnet_corpus
from ood_core.text.prompts import (
    ADJ_TEMPLATE,
    CSP_SUFFIXES,
    CSP_TEMPLATES,
    NOUN_TEMPLATE,
    csp_adjective_phrases,
    prompts,
)

__all__ = [
    "NOUN_TEMPLATE", "ADJ_TEMPLATE", "CSP_SUFFIXES", "CSP_TEMPLATES", "DEFAULT_NOUN_LEXNAMES",
    "DEFAULT_ADJ_LEXNAMES", "Corpus", "load_wordnet_corpus", "prompts", "csp_adjective_phrases",
]
