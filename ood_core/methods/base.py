"""What a method is: typed parameters, an optional mining step and a score.

A method's score takes image features ``[N, d]``, the study's :class:`~ood_core.features.TextFeatures`
and the negatives its mining kept (sorted int64 indices into the method's candidate pool, empty
for a method that mines none), and returns ``[N]`` float64 scores, **higher = more ID**.
A *test-time* method (e.g. AdaNeg) instead scores a test stream: ``score_stream`` takes the ID
images and one OOD set together and returns both score vectors, so its ID scores depend on the
OOD set it was streamed with. :meth:`Method.score_pair` is the one call that serves both kinds.
Parameters are frozen dataclasses built with :func:`ood_core._params.param`; a ``params.yaml``
block may override them per backbone under ``per_backbone`` (:meth:`Method.mining_params_for`,
:meth:`Method.scoring_params_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

import numpy as np

from ood_core import _params
from ood_core._array import as_index_vector
from ood_core.features import TextFeatures

__all__ = ["Method", "default_pool"]


def default_pool(texts: TextFeatures) -> np.ndarray:
    """``[M, d]``: the wild corpus as most methods see it (nouns and adjectives, one template each)."""
    return texts.candidates


@dataclass(frozen=True)
class Method:
    """One OOD-detection method.

    name : registry name (= its module name), e.g. ``"dnm"``. title : display name.
    scoring_params : dataclass type of the score's parameters.
    score : ``score(images [N, d], texts, negatives [n_neg] int64, params) -> [N] float64``;
        ``None`` for a test-time method.
    score_stream : test-time methods only, ``score_stream(id_images [N_id, d], ood_images [N_ood, d],
        texts, negatives, params) -> (id_scores [N_id], ood_scores [N_ood])`` float64.
    mining_params / mine : for methods that select negative labels,
        ``mine(texts, params) -> sorted int64 indices into candidate_pool(texts)``; else ``None``.
    candidate_pool : ``candidate_pool(texts) -> [M, d]`` the features its negatives index.
    resolve : optional, ``resolve(texts, negatives, params) -> (params, record)``: fixes parameters
        estimated from the data (e.g. DNM's ``tau: auto``) once per study, before any split is
        scored; ``record`` (JSON-able) says what was estimated. Must return ``params`` unchanged
        and ``{}`` when nothing is left to estimate (see :meth:`resolve_params`).
    color : its colour in every figure (hex; the project's figures use one colour per method).
    """

    name: str
    title: str
    scoring_params: type
    score: Callable[[Any, TextFeatures, np.ndarray, Any], np.ndarray] | None
    mining_params: type | None = None
    mine: Callable[[TextFeatures, Any], np.ndarray] | None = None
    candidate_pool: Callable[[TextFeatures], np.ndarray] = default_pool
    color: str = "#7f7f7f"
    score_stream: Callable[[Any, Any, TextFeatures, np.ndarray, Any], tuple] | None = None
    resolve: Callable[[TextFeatures, np.ndarray, Any], tuple[Any, dict]] | None = None

    def __post_init__(self) -> None:
        if (self.mining_params is None) != (self.mine is None):
            raise ValueError(f"method {self.name!r}: give both mining_params and mine, or neither")
        if (self.score is None) == (self.score_stream is None):
            raise ValueError(f"method {self.name!r}: give exactly one of score and score_stream")

    def resolve_params(self, texts: TextFeatures, negatives, params) -> tuple[Any, dict]:
        """``(params, record)`` with every data-estimated parameter fixed; ``(params, {})`` for a method
        without a ``resolve`` hook or whose parameters are already concrete. Call it once per study
        (the estimate depends on the texts and negatives only, never on the images)."""
        if self.resolve is None:
            return params, {}
        return self.resolve(texts, self.check_negatives(texts, negatives), params)

    @property
    def test_time(self) -> bool:
        """Whether the method adapts to its test stream (its ID scores depend on the OOD set)."""
        return self.score_stream is not None

    def score_pair(self, id_images, ood_images, texts: TextFeatures, negatives, params) -> tuple[np.ndarray, np.ndarray]:
        """``(id_scores [N_id], ood_scores [N_ood])`` float64 of one ID / OOD pair, for either kind of method."""
        if self.score_stream is not None:
            id_scores, ood_scores = self.score_stream(id_images, ood_images, texts, negatives, params)
        else:
            id_scores = self.score(id_images, texts, negatives, params)
            ood_scores = self.score(ood_images, texts, negatives, params)
        return np.asarray(id_scores, dtype=np.float64), np.asarray(ood_scores, dtype=np.float64)

    def score_images(self, images, texts: TextFeatures, negatives, params) -> np.ndarray:
        """``[N]`` float64 scores of one set on its own; a test-time method has none (use :meth:`score_pair`)."""
        if self.score is None:
            raise ValueError(f"method {self.name!r} is test-time: it scores an ID + OOD stream "
                             "(Method.score_pair), not one set on its own")
        return np.asarray(self.score(images, texts, negatives, params), dtype=np.float64)

    @property
    def mines(self) -> bool:
        """Whether the method selects negative labels from the wild corpus."""
        return self.mine is not None

    def scoring_param_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.scoring_params))

    def scoring_params_for(self, block: Mapping | None, backbone: str, where: str = "", backbones=None):
        """Typed score parameters from a ``params.yaml`` block (``per_backbone`` overrides resolved)."""
        return _params.parse_per_backbone(self.scoring_params, block, backbone,
                                          where or f"method_params.{self.name}.scoring", backbones)

    def mining_params_for(self, block: Mapping | None, backbone: str, where: str = "", backbones=None):
        """Typed mining parameters, or ``None`` for a method that mines nothing (its block must be absent)."""
        where = where or f"method_params.{self.name}.mining"
        if self.mining_params is None:
            if block:
                raise ValueError(f"{where}: method {self.name!r} mines no negatives, so it takes no mining "
                                 "parameters; remove the block")
            return None
        return _params.parse_per_backbone(self.mining_params, block, backbone, where, backbones)

    def select_negatives(self, texts: TextFeatures, params) -> np.ndarray:
        """Sorted int64 negatives (empty for a method that mines none)."""
        if self.mine is None:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.mine(texts, params), dtype=np.int64)

    def negative_features(self, texts: TextFeatures, negatives) -> np.ndarray:
        """``[n_neg, d]`` features of the given negatives in this method's candidate pool."""
        pool = self.candidate_pool(texts)
        return pool[self.check_negatives(texts, negatives, len(pool))]

    def check_negatives(self, texts: TextFeatures, negatives, pool_size: int | None = None) -> np.ndarray:
        """``negatives`` as int64 indices into this method's candidate pool, checked (integer dtype,
        each in range; :func:`ood_core._array.as_index_vector`)."""
        size = len(self.candidate_pool(texts)) if pool_size is None else pool_size
        return as_index_vector(negatives, "negatives", size, f"rows of the {self.name} candidate pool")
