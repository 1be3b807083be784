"""ood_core.metrics against brute-force references written here (ID positive, higher = ID)."""

import numpy as np
import pytest
import torch

from ood_core import metrics


def brute_fpr95(id_s, ood_s, level=0.95):
    """Sweep every distinct score as a threshold (accept score >= t), from the highest down to the
    first one that accepts all ID inputs; nearest recall to ``level`` wins, ties -> lowest t."""
    best = None
    for t in sorted(set(id_s) | set(ood_s), reverse=True):
        recall = sum(s >= t for s in id_s) / len(id_s)
        fpr = sum(s >= t for s in ood_s) / len(ood_s)
        gap = abs(recall - level)
        if best is None or gap <= best[0]:
            best = (gap, fpr)
        if recall == 1.0:
            break
    return best[1]


def brute_auroc(id_s, ood_s):
    """P(id > ood) + 0.5 P(id == ood) over all pairs."""
    wins = sum((a > b) + 0.5 * (a == b) for a in id_s for b in ood_s)
    return wins / (len(id_s) * len(ood_s))


def brute_ap(pos, neg):
    """Average precision, positives ``pos`` scored high: sum over distinct thresholds of
    (recall gain) * precision at that threshold."""
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(pos) | set(neg), reverse=True):
        tp = sum(s >= t for s in pos)
        fp = sum(s >= t for s in neg)
        recall = tp / len(pos)
        ap += (recall - prev_recall) * tp / (tp + fp)
        prev_recall = recall
    return ap


def test_fpr95_hand_case():
    # ID scores 1..20; OOD 0.5, 1.5, 2.5, 3.5. Thresholds 2 and 1.5 both give ID recall 19/20 =
    # 0.95 exactly; the convention takes the lower (1.5), which accepts OOD 1.5, 2.5, 3.5 -> 3/4.
    id_s = np.arange(1, 21, dtype=float)
    ood_s = np.array([0.5, 1.5, 2.5, 3.5])
    assert metrics.ood_metrics(id_s, ood_s)["fpr95"] == 0.75
    # Without the OOD 1.5 the lowest threshold at recall 0.95 is 2 -> OOD 2.5, 3.5 -> 2/3.
    assert metrics.ood_metrics(id_s, np.array([0.5, 2.5, 3.5]))["fpr95"] == pytest.approx(2 / 3)


def test_fpr_tie_between_recalls_goes_to_lowest_threshold():
    # ID 1..4 -> recalls 0.25, 0.5, 0.75, 1 (exact in binary). At level 0.625 recall 0.5 and 0.75
    # are exactly equally near; thresholds with either: 3, 2.5 (recall 0.5), 2, 1.5 (recall 0.75).
    # The lowest, 1.5, accepts OOD 2.5 and 1.5 of (2.5, 1.5, 0.5) -> 2/3.
    id_s = np.array([1.0, 2.0, 3.0, 4.0])
    ood_s = np.array([2.5, 1.5, 0.5])
    assert metrics.fpr_at_recall(id_s, ood_s, recall_level=0.625) == pytest.approx(2 / 3)
    # Recall 1 is reached at threshold 1; lower thresholds are never considered, even at level 1.
    assert metrics.fpr_at_recall(id_s, ood_s, recall_level=1.0) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    # Scores rounded to a coarse grid so ID/OOD ties (within and across classes) are common.
    id_s = np.round(rng.normal(1.0, 1.0, size=int(rng.integers(20, 90))), 1)
    ood_s = np.round(rng.normal(0.0, 1.0, size=int(rng.integers(15, 70))), 1)
    got = metrics.ood_metrics(id_s, ood_s)
    assert set(got) == {"fpr95", "auroc", "aupr_in", "aupr_out"}
    assert all(type(v) is float and 0.0 <= v <= 1.0 for v in got.values())
    assert got["fpr95"] == pytest.approx(brute_fpr95(list(id_s), list(ood_s)), abs=1e-12)
    assert got["auroc"] == pytest.approx(brute_auroc(id_s, ood_s), rel=1e-12)
    assert got["aupr_in"] == pytest.approx(brute_ap(list(id_s), list(ood_s)), rel=1e-12)
    assert got["aupr_out"] == pytest.approx(brute_ap(list(-ood_s), list(-id_s)), rel=1e-12)


def test_perfect_separation():
    got = metrics.ood_metrics([5.0, 6.0, 7.0], [1.0, 2.0])
    assert got == {"fpr95": 0.0, "auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0}


def test_accepts_torch_and_lists():
    a = metrics.ood_metrics(torch.tensor([0.9, 0.8, 0.4]), [0.5, 0.1])
    b = metrics.ood_metrics(np.array([0.9, 0.8, 0.4]), np.array([0.5, 0.1]))
    assert a == b


@pytest.mark.parametrize("id_s,ood_s,pattern", [
    ([], [0.1], "id_scores is empty"), ([0.1], [], "ood_scores is empty"),
    ([0.1, np.nan], [0.2], "id_scores holds 1 non-finite"), ([0.1], [np.inf], "ood_scores holds 1 non-finite"),
    ([[0.1, 0.2]], [0.2], "id_scores must be 1-D"),
])
def test_rejects_bad_scores(id_s, ood_s, pattern):
    with pytest.raises(ValueError, match=pattern):
        metrics.ood_metrics(id_s, ood_s)
