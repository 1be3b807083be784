"""MCM (Ming et al., NeurIPS 2022): maximum concept matching, ``max_i softmax(s / T)_i`` over ID labels.

Mines no negatives. ``T = 1`` as in the MCM paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from ood_core import scoring
from ood_core._params import param
from ood_core.methods.base import Method


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(1.0, low=0.0, low_open=True, doc="softmax temperature T")


def score(images, texts, negatives, params: ScoringParams):
    return scoring.mcm(images, texts.id_labels, temperature=params.temperature)


METHOD = Method(name="mcm", title="MCM", scoring_params=ScoringParams, score=score, color="#E69F00")
