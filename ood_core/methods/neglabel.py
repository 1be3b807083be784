"""NegLabel (Jiang et al., ICLR 2024): percentile-selected negative labels and the grouped score.

Mining: :func:`ood_core.mining.neglabel_select` (the lowest ``ratio`` of nouns and of adjectives
by the ``percentile``-quantile of their cosines to the ID labels). Score:
:func:`ood_core.scoring.neglabel` with ``G`` seeded groups. With ``n_groups = 1`` this follows
the paper's formula (one softmax over the ID labels and all negatives); the released code
instead returns the plain sum of the ID logits for ``ngroup = 1`` (see
:func:`ood_core.scoring.neglabel`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ood_core import mining, scoring
from ood_core._params import param
from ood_core.methods.base import Method


@dataclass(frozen=True)
class MiningParams:
    percentile: float = param(0.95, low=0.0, high=1.0, low_open=True, doc="quantile of the ID cosines")
    ratio: float = param(0.15, low=0.0, high=1.0, low_open=True, doc="kept fraction of nouns and of adjectives")


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(0.01, low=0.0, low_open=True, doc="temperature T of the grouped softmax")
    n_groups: int = param(100, low=1, doc="number of random groups G of negatives")
    seed: int = param(0, low=0, doc="seed of the group permutation")


def mine(texts, params: MiningParams):
    return mining.neglabel_select(texts.candidates, texts.id_labels, texts.is_adj,
                                  percentile=params.percentile, ratio=params.ratio)


def score(images, texts, negatives, params: ScoringParams):
    return scoring.neglabel(images, texts.id_labels, METHOD.negative_features(texts, negatives),
                            temperature=params.temperature, n_groups=params.n_groups, seed=params.seed)


METHOD = Method(name="neglabel", title="NegLabel", scoring_params=ScoringParams, score=score,
                mining_params=MiningParams, mine=mine, color="#0072B2")
