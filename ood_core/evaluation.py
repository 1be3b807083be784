"""One call from embeddings to a metrics table: :func:`evaluate`.

For users who have their own embeddings and want a method's FPR95 / AUROC per OOD set without
the pipeline (like OpenOOD's ``Evaluator`` or pytorch-ood's ``OODMetrics``)::

    from ood_core.evaluation import evaluate
    table = evaluate("dnm", id_images, {"inat": inat_images}, id_labels, candidates, is_adj,
                     scoring={"tau": 0.5})

Conventions are the library's: ID is the positive class, higher score = ID, FPR95 at the
threshold whose ID recall is nearest 0.95 (:mod:`ood_core.metrics`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ood_core import methods as _methods
from ood_core import metrics as _metrics
from ood_core._array import as_bool_vector
from ood_core.backbones import BACKBONES, RANDOM_WEIGHT_BACKBONES
from ood_core.features import TextFeatures

__all__ = ["evaluate", "score_pairs"]


def score_pairs(method: str, id_images, ood_images: Mapping[str, object], texts: TextFeatures, negatives,
                params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """OOD set -> ``(id_scores [N_id], ood_scores [N])`` float64 (higher = ID) under ``method``.

    ``params``: the method's typed score parameters. A method that scores images one by one scores
    the ID set once (the same array in every pair); a test-time method streams the ID set with
    each OOD set (:meth:`ood_core.methods.base.Method.score_pair`), so its ID scores differ per set.
    Parameters estimated from the data (DNM's ``tau: auto``) are resolved once here, before any
    set is scored (:meth:`~ood_core.methods.base.Method.resolve_params`; call that yourself to
    get the estimate's record).
    """
    m = _methods.get(method)
    _metrics.check_ood_set_names(ood_images, "ood_images")
    params, _ = m.resolve_params(texts, negatives, params)
    if m.test_time:
        return {name: m.score_pair(id_images, x, texts, negatives, params) for name, x in ood_images.items()}
    id_scores = m.score_images(id_images, texts, negatives, params)
    return {name: (id_scores, m.score_images(x, texts, negatives, params)) for name, x in ood_images.items()}


def evaluate(method: str, id_images, ood_images: Mapping[str, object], id_labels, candidates=None, is_adj=None,
             csp_adjectives=None, *, mining: Mapping | None = None, scoring: Mapping | None = None,
             backbone: str = "ViT-B-16", negatives=None, intervals: bool = False, n_resamples: int = 1000,
             confidence: float = 0.95, seed: int = 0):
    """Mine (if the method does), score and evaluate ``method``; a ``pandas.DataFrame`` of metrics in %.

    Args:
        method: a registry name (``ood_core.methods.names()``).
        id_images: ``[N_id, d]`` ID image embeddings. ood_images: OOD set name -> ``[N, d]``.
        id_labels: ``[K, d]`` ID-label text embeddings.
        candidates: ``[M, d]`` raw wild-corpus text embeddings (methods that mine), with
            ``is_adj`` ``[M]`` bool; ``csp_adjectives`` ``[M_adj, d]`` for CSP.
        mining, scoring: parameter overrides (as in ``params.yaml``'s ``method_params``); defaults
            otherwise, with the released per-backbone values when given under ``per_backbone``.
        negatives: precomputed negatives (indices into the method's candidate pool) to skip mining.
        intervals: also the percentile bootstrap interval over images of each metric
            (:func:`ood_core.bootstrap.metric_intervals` with ``n_resamples``, ``confidence``, ``seed``).

    Returns:
        DataFrame indexed by OOD set plus ``"average"``, columns ``fpr95``, ``auroc``, ``aupr_in``,
        ``aupr_out`` in percent (with ``intervals``: ``fpr95_low``, ``fpr95_high``, ... too); ``table.attrs["resolved"]``: the record of parameters estimated
        from the data (e.g. DNM's ``tau: auto``: estimate and interval), ``{}`` if none.
    """
    try:
        import pandas as pd
    except ImportError as err:  # pragma: no cover - pandas comes with the pipeline extra
        raise ImportError("evaluate() returns a pandas DataFrame: pip install pandas") from err
    m = _methods.get(method)
    if not isinstance(ood_images, Mapping):
        raise TypeError(f"ood_images is a {type(ood_images).__name__}: it must map each OOD set's name to its "
                        "[N, d] image embeddings, e.g. {'sun': sun_features}")
    if not ood_images:
        raise ValueError("ood_images is empty: give at least one OOD set")
    _metrics.check_ood_set_names(ood_images, "ood_images")
    id_labels = np.asarray(id_labels)
    if m.mines or negatives is not None:
        if candidates is None or is_adj is None:
            raise ValueError(f"method {method!r} needs candidates and is_adj (the wild corpus embeddings)")
        is_adj = as_bool_vector(is_adj, "is_adj", len(candidates))
    else:  # zero-shot scores use the ID labels only
        candidates = np.zeros((0, id_labels.shape[1]), dtype=id_labels.dtype)
        is_adj = np.zeros(0, dtype=bool)
    if csp_adjectives is None:
        if method == "csp":
            raise ValueError("method 'csp' needs csp_adjectives (ood_core.features.csp_adjective_features)")
        csp_adjectives = np.asarray(candidates)[is_adj]
    texts = TextFeatures(id_labels, np.asarray(candidates), np.asarray(csp_adjectives), is_adj)
    known = {**BACKBONES, **RANDOM_WEIGHT_BACKBONES}  # an unknown name would drop its per-backbone values
    sp = m.scoring_params_for(scoring, backbone, where=f"scoring ({method})", backbones=known)
    if negatives is None:
        negatives = m.select_negatives(texts, m.mining_params_for(mining, backbone, where=f"mining ({method})",
                                                                  backbones=known))
    negatives = m.check_negatives(texts, negatives)
    sp, resolved = m.resolve_params(texts, negatives, sp)
    pairs = score_pairs(method, id_images, ood_images, texts, negatives, sp)
    rows = {name: _metrics.ood_metrics(id_scores, ood_scores) for name, (id_scores, ood_scores) in pairs.items()}
    table = 100.0 * pd.DataFrame.from_dict(rows, orient="index")[["fpr95", "auroc", "aupr_in", "aupr_out"]]
    table.loc[_metrics.AVERAGE] = table.mean(axis=0)
    if intervals:
        from ood_core.bootstrap import metric_intervals

        bounds = metric_intervals(pairs, n_resamples=n_resamples, confidence=confidence, seed=seed)
        for metric in ("fpr95", "auroc", "aupr_in", "aupr_out"):
            for i, side in enumerate(("low", "high")):
                table[f"{metric}_{side}"] = [100.0 * bounds[name][metric][i] for name in table.index]
    table.index.name = "ood_set"
    table.attrs["resolved"] = resolved  # what was estimated from the data (e.g. tau: auto), else {}
    return table
