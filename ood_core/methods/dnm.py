"""DNM (Peng et al., KDD 2026): density-mined negatives and the debiased score.

Mining (the paper's Step 1, ID labels unused): :func:`ood_core.mining.density_select` on the
raw wild-corpus features, with the released code's rule by default (``metric="reference"``: kNN
over the whole pool, mean log of the ``k + 1`` smallest distances). Score:
:func:`ood_core.scoring.dnm`; ``tau`` is the ID-like fraction of the wild corpus (the released
code's ``tau_ood = 1 - tau``). Released per-backbone values are ``per_backbone`` overrides in
``params.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ood_core import mining, scoring
from ood_core._params import param
from ood_core.methods.base import Method


@dataclass(frozen=True)
class MiningParams:
    metric: str = param("reference", choices=mining.METRICS, doc="reference (released code) or paper")
    neighbours: str = param("pool", choices=mining.NEIGHBOURS,
                            doc="pool (released: nouns and adjectives together) or per_pos")
    k: int = param(100, low=1, doc="released k: the mean runs over k + 1 distances")
    ratio_noun: float = param(0.23, low=0.0, high=1.0, low_open=True, doc="kept fraction of nouns")
    ratio_adj: float = param(0.13, low=0.0, high=1.0, low_open=True, doc="kept fraction of adjectives")


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(0.01, low=0.0, low_open=True, doc="temperature T")
    n_groups: int = param(100, low=1, doc="number of random groups G of negatives")
    seed: int = param(0, low=0, doc="seed of the group permutation and of the positive samples")
    tau: float = param(0.5, low=0.0, high=1.0, high_open=True, doc="ID-like fraction of the wild corpus")
    sigma: float = param(0.0, low=0.0, doc="noise of the positive-label samples (released code: 0)")
    n_pos_samples: int = param(1, low=1, doc="positive-label samples per ID label")


def mine(texts, params: MiningParams):
    return mining.density_select(texts.candidates, texts.is_adj, k=params.k, ratio_noun=params.ratio_noun,
                                 ratio_adj=params.ratio_adj, metric=params.metric, neighbours=params.neighbours)


def score(images, texts, negatives, params: ScoringParams):
    return scoring.dnm(images, texts.id_labels, METHOD.negative_features(texts, negatives),
                       temperature=params.temperature, tau=params.tau, n_groups=params.n_groups, seed=params.seed,
                       sigma=params.sigma, n_pos_samples=params.n_pos_samples)


METHOD = Method(name="dnm", title="DNM", scoring_params=ScoringParams, score=score,
                mining_params=MiningParams, mine=mine, color="#D55E00")
