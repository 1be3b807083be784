"""DNM with tau estimated from the data: DNM's mining and score, ``tau: auto`` by default.

A registry entry of its own so that the pipeline (``mine`` / ``score`` stages over
``params.yaml``'s ``methods``) scores DNM with the released hand-set tau *and* with the estimated
one side by side. Everything but the default of ``tau`` is :mod:`ood_core.methods.dnm`: the same
mining (give it the same ``mining`` block in ``params.yaml`` to get the same negatives) and the
same score; the estimate (:func:`ood_core.methods.dnm.resolve`, Best Bin Estimation by default)
is made once per study and written with its bootstrap interval to the score details and the
DVC metrics. A number for ``tau`` makes it plain DNM.
"""

from __future__ import annotations

from dataclasses import dataclass

from ood_core._params import param
from ood_core.methods import dnm
from ood_core.methods.base import Method


@dataclass(frozen=True)
class ScoringParams(dnm.ScoringParams):
    tau: float | str = param(dnm.AUTO, low=0.0, high=1.0, high_open=True, choices=(dnm.AUTO,),
                             doc="auto (estimated from the data) or a fixed ID-like fraction")


def score(images, texts, negatives, params: ScoringParams):
    return dnm.score(images, texts, negatives, params)


METHOD = Method(name="dnm_auto", title="DNM (tau auto)", scoring_params=ScoringParams, score=score,
                mining_params=dnm.MiningParams, mine=dnm.mine, color="#8C3A00", resolve=dnm.resolve)
