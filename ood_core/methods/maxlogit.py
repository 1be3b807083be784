"""MaxLogit: the largest cosine between the image and any ID label, ``max_i cos(x, y_i)``.

The zero-shot baseline that every CLIP OOD table prints beside MCM (MCM's released code,
``utils/detection_util.py``, ``score == 'max-logit'``: the max of the raw cosines, no scaling).
Mines no negatives and has no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ood_core import _array
from ood_core.methods.base import Method

# Image rows per block: about 4M similarities (16 MB in float32) at a time.
_BLOCK_SIMILARITIES = 1 << 22


@dataclass(frozen=True)
class ScoringParams:
    """MaxLogit takes no parameters."""


def max_logit(img, id_emb, *, device=None) -> np.ndarray:
    """``[N]`` float64 in ``[-1, 1]``: the max cosine of each image ``[N, d]`` to the ID labels ``[K, d]``.

    Inputs are L2-normalised here; float64 if any input is float64, else float32 arithmetic.
    """
    dtype, dev, x, ids, _ = _array.prepare_embeddings(img, id_emb, device=device)
    rows = max(1, _BLOCK_SIMILARITIES // ids.shape[0])
    out = torch.empty(x.shape[0], dtype=torch.float64, device=dev)
    for start in range(0, x.shape[0], rows):
        out[start:start + rows] = (x[start:start + rows] @ ids.T).amax(dim=1)
    return out.cpu().numpy()


def score(images, texts, negatives, params: ScoringParams):
    return max_logit(images, texts.id_labels)


METHOD = Method(name="maxlogit", title="MaxLogit", scoring_params=ScoringParams, score=score, color="#56B4E9")
