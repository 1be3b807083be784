"""CSP (Chen et al., NeurIPS 2024): NegLabel with the conjugated semantic pool of adjective phrases.

The candidate pool swaps each adjective for its CSP phrase feature
(:func:`ood_core.features.csp_adjective_features`); mining is NegLabel's percentile rule plus
CSP's exclusion of any candidate whose max cosine to an ID label exceeds ``max_id_sim``; the
score is NegLabel's grouped score on those negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ood_core import mining, scoring
from ood_core._params import param
from ood_core.methods.base import Method
from ood_core.methods.neglabel import ScoringParams


@dataclass(frozen=True)
class MiningParams:
    percentile: float = param(0.95, low=0.0, high=1.0, low_open=True, doc="quantile of the ID cosines")
    ratio: float = param(0.15, low=0.0, high=1.0, low_open=True, doc="kept fraction of nouns and of adjectives")
    max_id_sim: float = param(0.95, low=-1.0, high=1.0, doc="candidates above this max ID cosine are never kept")


def candidate_pool(texts) -> np.ndarray:
    """``[M, d]``: nouns as in the corpus, adjectives replaced by their CSP phrase features."""
    pool = np.array(texts.candidates, dtype=np.float32, copy=True)
    pool[texts.is_adj] = texts.csp_adjectives
    return pool


def mine(texts, params: MiningParams):
    return mining.neglabel_select(candidate_pool(texts), texts.id_labels, texts.is_adj, percentile=params.percentile,
                                  ratio=params.ratio, max_id_sim=params.max_id_sim)


def score(images, texts, negatives, params: ScoringParams):
    return scoring.neglabel(images, texts.id_labels, METHOD.negative_features(texts, negatives),
                            temperature=params.temperature, n_groups=params.n_groups, seed=params.seed)


METHOD = Method(name="csp", title="CSP", scoring_params=ScoringParams, score=score,
                mining_params=MiningParams, mine=mine, candidate_pool=candidate_pool, color="#CC79A7")
