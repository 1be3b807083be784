"""Energy (Liu et al., NeurIPS 2020) on CLIP's zero-shot logits: ``T * logsumexp(s / T)`` over the ID labels.

``s_i = cos(x, y_i)``; higher = more ID (the negative free energy). The temperature is the one of
the zero-shot comparison in the MCM paper (Ming et al., NeurIPS 2022, arXiv 2211.13445): its
released code computes ``T * logsumexp(cos / T)`` on the raw cosines with ``T = 1``
(``utils/detection_util.py``, ``score == 'energy'``; ``--T`` defaults to 1, "by default T = 1"
as in the Energy paper), which is this module's default. Mines no negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ood_core import _array
from ood_core._params import param
from ood_core.methods.base import Method

# Image rows per block: about 4M logits (16 MB in float32) at a time.
_BLOCK_LOGITS = 1 << 22


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(1.0, low=0.0, low_open=True, doc="temperature T (MCM paper: 1)")


def energy(img, id_emb, temperature: float = 1.0, *, device=None) -> np.ndarray:
    """``[N]`` float64: ``T * logsumexp_i(cos(x, y_i) / T)`` per image ``[N, d]`` over ID labels ``[K, d]``.

    Inputs are L2-normalised here; ``logsumexp`` is max-shifted, so small ``T`` stays finite.
    Float64 if any input is float64, else float32 products and float64 results.
    """
    dtype, dev, x, ids, _ = _array.prepare_embeddings(img, id_emb, device=device)
    temperature = _array.check_temperature(temperature, dtype)
    rows = max(1, _BLOCK_LOGITS // ids.shape[0])
    out = torch.empty(x.shape[0], dtype=torch.float64, device=dev)
    for start in range(0, x.shape[0], rows):
        logits = (x[start:start + rows] @ ids.T) / temperature
        out[start:start + rows] = temperature * torch.logsumexp(logits.to(torch.float64), dim=1)
    return _array.check_finite_scores(out, "the Energy score", "non-finite inputs or a temperature too small "
                                      "for the dtype").cpu().numpy()


def score(images, texts, negatives, params: ScoringParams):
    return energy(images, texts.id_labels, temperature=params.temperature)


METHOD = Method(name="energy", title="Energy", scoring_params=ScoringParams, score=score, color="#009E73")
