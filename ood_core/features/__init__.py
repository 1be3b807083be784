"""Feature stage: one interface for every source of embeddings, and the text features built on it.

A **feature source** (:class:`FeatureSource`) is what turns labels and images into raw,
un-normalised float32 features. Two implement it:

- :class:`ood_core.features.clip.ClipFeatures`: open_clip encoders over real image folders, with
  the content-addressed embedding cache (``ood_core.features.cache``);
- :class:`ood_core.simulate.SimulatedWorld`: the offline simulated benchmark.

Prompting and CSP's template ensembling are defined once, here (:func:`text_features`), on top
of the one primitive every source provides, ``encode_labels(labels, template)``; so the real and
the simulated paths run the same method.

The real path's modules form layers; each imports (at the top or inside a function) only modules
of lower layers, so the package has no import cycle (``tests/test_features.py`` checks it):

0. ``files`` (feature files, the one file hash), ``images`` (image files -> tensors, PIL)
1. ``cache``, ``distributed`` (files); ``hub`` (weights on disk; files);
   ``image_sets`` (the layout table and its readers; images); ``gpu_decode`` (images)
2. ``encoders`` (the open_clip model factory; hub, images)
3. ``clip`` (the cached feature source and the one image-encoding loop; this package, cache,
   distributed, gpu_decode, images)

This ``__init__`` imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ood_core.text.corpus import Corpus
from ood_core.text.prompts import CSP_TEMPLATES, csp_adjective_phrases, prompts

__all__ = ["Label", "FeatureSource", "TextFeatures", "corpus_labels", "csp_adjective_labels",
           "csp_adjective_features", "text_features"]


@dataclass(frozen=True)
class Label:
    """A text label to be put in a prompt template.

    ``text``: the string that fills the template's ``{}``. ``pos``: ``"n"`` or ``"a"``.
    ``offset``: the WordNet 3.0 synset offset the label names (``-1`` when unknown, e.g. a real
    dataset's class name). ``suffix``: CSP's suffix noun when the label is a CSP phrase
    (``"<adjective> <suffix>"``), else ``None``. Real encoders read only ``text``; the simulated
    world also reads the synset.
    """

    text: str
    pos: str = "n"
    offset: int = -1
    suffix: str | None = None


@runtime_checkable
class FeatureSource(Protocol):
    """Where raw features come from (real CLIP encoders or the simulated world)."""

    def id_labels(self) -> list[Label]:
        """The ``K`` ID-class labels, in class-index order."""

    def encode_labels(self, labels: Sequence[Label], template: str) -> np.ndarray:
        """``[len(labels), d]`` float32 raw text features of ``template.format(label.text)``."""

    def image_features(self, split: str) -> np.ndarray:
        """``[n, d]`` float32 raw image features of a split (the ID set or an OOD set), fixed order."""


@dataclass
class TextFeatures:
    """Every text feature a method needs, raw float32 as cached (methods normalise).

    id_labels : ``[K, d]`` ID labels with the ID template.
    candidates : ``[M, d]`` wild corpus in corpus order, nouns with the noun template and
        adjectives with the adjective template.
    csp_adjectives : ``[M_adj, d]`` CSP's feature of each adjective, corpus order of adjectives.
    is_adj : ``[M]`` bool, True for adjectives.
    """

    id_labels: np.ndarray
    candidates: np.ndarray
    csp_adjectives: np.ndarray
    is_adj: np.ndarray

    def __post_init__(self) -> None:
        from ood_core._array import as_bool_vector

        self.is_adj = as_bool_vector(self.is_adj, "is_adj", len(self.candidates))
        if len(self.csp_adjectives) != int(self.is_adj.sum()):
            raise ValueError(f"csp_adjectives has {len(self.csp_adjectives)} rows for {int(self.is_adj.sum())} "
                             "adjectives")


def corpus_labels(corpus: Corpus) -> list[Label]:
    """One :class:`Label` per corpus word, corpus order."""
    return [Label(w, "a" if a else "n", int(o)) for w, a, o in zip(corpus.words, corpus.is_adj, corpus.offsets)]


def csp_adjective_labels(corpus: Corpus, seed: int = 0) -> list[Label]:
    """CSP's phrase of each adjective of ``corpus`` (corpus order), from :func:`csp_adjective_phrases`."""
    adj = np.flatnonzero(corpus.is_adj)
    words = [corpus.words[i] for i in adj]
    phrases = csp_adjective_phrases(words, seed)
    return [Label(p, "a", int(corpus.offsets[i]), p[len(w) + 1:]) for p, w, i in zip(phrases, words, adj)]


def csp_adjective_features(source: FeatureSource, corpus: Corpus, seed: int = 0) -> np.ndarray:
    """``[M_adj, d]`` float32: CSP's feature of each adjective of ``corpus``, corpus order.

    As CSP's released code (``mmcls/models/classifiers/multi_modal.py``): each phrase is encoded
    with every template of :data:`~ood_core.text.prompts.CSP_TEMPLATES`, the **raw** per-template
    features are averaged (no per-template normalisation), and the mean is L2-normalised.
    """
    labels = csp_adjective_labels(corpus, seed)
    mean = np.mean([np.asarray(source.encode_labels(labels, t), dtype=np.float64) for t in CSP_TEMPLATES], axis=0)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def text_features(source: FeatureSource, corpus: Corpus, id_template: str, noun_template: str,
                  adj_template: str, csp_seed: int = 0) -> TextFeatures:
    """The study's text features from ``source`` (see :class:`TextFeatures`)."""
    for template in (id_template, noun_template, adj_template):
        prompts([], template)  # a bad template fails here, before any encoding
    labels = corpus_labels(corpus)
    if not corpus.n_noun or not corpus.n_adj:
        raise ValueError(f"the corpus needs nouns and adjectives; it has {corpus.n_noun} and {corpus.n_adj}")
    nouns = source.encode_labels([lb for lb in labels if lb.pos == "n"], noun_template)
    adjs = source.encode_labels([lb for lb in labels if lb.pos == "a"], adj_template)
    candidates = np.empty((len(labels), nouns.shape[1]), dtype=np.float32)
    candidates[~corpus.is_adj] = nouns
    candidates[corpus.is_adj] = adjs
    return TextFeatures(
        id_labels=np.asarray(source.encode_labels(source.id_labels(), id_template), dtype=np.float32),
        candidates=candidates,
        csp_adjectives=csp_adjective_features(source, corpus, csp_seed),
        is_adj=corpus.is_adj,
    )
