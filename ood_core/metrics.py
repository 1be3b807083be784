"""OOD metrics under the MCM / NegLabel convention (docs/methods.md §4).

ID is the **positive** class and a higher score means "more in-distribution". OpenOOD and
pytorch-ood use the opposite convention (OOD positive); their FPR@95 is a different number.
"""

from __future__ import annotations

import math

import numpy as np

from ood_core import _array

__all__ = ["ood_metrics", "fpr_at_recall", "group_averages", "AVERAGE", "check_ood_set_names"]

#: The row / key of the mean over the OOD sets in every result table: no OOD set or group may take it.
AVERAGE = "average"


def check_ood_set_names(names, where: str = "ood_images") -> None:
    """Refuse OOD set names that a result table reserves (:data:`AVERAGE`) or that are not strings,
    naming ``where`` (the argument) and the fix, before anything is scored."""
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: OOD set name {name!r} must be a non-empty string")
        if name == AVERAGE:
            raise ValueError(f"{where}: an OOD set is named {AVERAGE!r}, which is reserved for the mean over the OOD "
                             "sets (its row would be overwritten); rename that OOD set")


def fpr_at_recall(id_scores, ood_scores, recall_level: float = 0.95) -> float:
    """Fraction of OOD inputs accepted at the threshold whose ID recall is nearest ``recall_level``.

    Follows Hendrycks et al.'s ``fpr_and_fdr_at_recall`` (used by MCM and NegLabel): thresholds
    are the distinct scores in descending order; at each, ``tps`` / ``fps`` count the ID / OOD
    inputs scoring at least that much and ``recall = tps / n_id``. Only thresholds down to the
    first one reaching recall 1 are considered, and among equally near ones the *lowest*
    threshold (the most OOD accepted) wins — that reference walks the thresholds from recall 1
    upwards and takes the first minimum.

    Args:
        id_scores ``[n_id]``, ood_scores ``[n_ood]``: 1-D finite scores, higher = ID.
        recall_level: in ``(0, 1]``.

    Returns:
        ``fps / n_ood`` at that threshold, a float in ``[0, 1]``.
    """
    recall_level = _array.check_fraction(recall_level, "recall_level")
    id_s = _array.to_numpy_float64(id_scores, "id_scores")
    ood_s = _array.to_numpy_float64(ood_scores, "ood_scores")
    scores = np.concatenate([id_s, ood_s])
    is_id = np.concatenate([np.ones(id_s.size, dtype=np.int64), np.zeros(ood_s.size, dtype=np.int64)])
    order = np.argsort(-scores, kind="stable")
    scores, is_id = scores[order], is_id[order]
    # Last position of each run of equal scores: everything up to it is accepted at that score.
    ends = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]
    tps = np.cumsum(is_id)[ends]
    fps = (ends + 1) - tps
    recall = tps / tps[-1]
    first_full = int(np.searchsorted(tps, tps[-1]))  # first threshold with recall 1
    gap = np.abs(recall[: first_full + 1] - recall_level)
    cutoff = first_full - int(np.argmin(gap[::-1]))  # ties: the lowest threshold
    return float(fps[cutoff] / ood_s.size)


def ood_metrics(id_scores, ood_scores) -> dict:
    """FPR95, AUROC, AUPR-In and AUPR-Out of one ID / OOD split (fractions in ``[0, 1]``).

    Args:
        id_scores ``[n_id]``, ood_scores ``[n_ood]``: 1-D finite scores (numpy or torch),
        higher = ID; neither may be empty.

    Returns:
        ``{"fpr95", "auroc", "aupr_in", "aupr_out"}`` as python floats. AUROC is scikit-learn's
        ``roc_auc_score`` (ID positive); AUPR-In ``average_precision_score`` with ID positive;
        AUPR-Out the same with OOD positive on negated scores; FPR95 :func:`fpr_at_recall`.
    """
    id_s = _array.to_numpy_float64(id_scores, "id_scores")
    ood_s = _array.to_numpy_float64(ood_scores, "ood_scores")
    scores = np.concatenate([id_s, ood_s])
    is_id = np.concatenate([np.ones(id_s.size, dtype=np.int64), np.zeros(ood_s.size, dtype=np.int64)])
    # imported here: sklearn takes seconds to import, and most stages that import this module never call it
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "fpr95": fpr_at_recall(id_s, ood_s, 0.95),
        "auroc": float(roc_auc_score(is_id, scores)),
        "aupr_in": float(average_precision_score(is_id, scores)),
        "aupr_out": float(average_precision_score(1 - is_id, -scores)),
    }


def group_averages(per_set, groups) -> dict[str, dict[str, float]]:
    """The mean of each metric over each group's OOD sets, as OpenOOD reports near- and far-OOD averages.

    ``per_set``: OOD set -> metric -> value; ``groups``: group -> its sets (``None`` gives ``{}``).
    Returns group -> metric -> plain arithmetic mean over the group's sets (each set weighs the
    same, whatever its image count). The metrics are those of the group's first set; a grouped set
    missing from ``per_set`` raises KeyError naming it.
    """
    out: dict[str, dict[str, float]] = {}
    for group, members in (groups or {}).items():
        missing = [m for m in members if m not in per_set]
        if missing:
            raise KeyError(f"group {group!r} needs the metrics of {missing}, which are not among {list(per_set)}")
        metrics = list(per_set[members[0]])
        out[group] = {k: math.fsum(float(per_set[m][k]) for m in members) / len(members) for k in metrics}
    return out
