"""The one metric-key scheme.

Everywhere in code a metric is named by its lower-case library name (:data:`METRIC_NAMES`, the keys
of :func:`ood_core.metrics.ood_metrics`) and holds a fraction. Percent appears only at two edges,
the DVC metrics files (``metrics/<study>/<method>.json``) and the tables shown to people, and both
label a metric by :func:`metric_label` (``"fpr95"`` -> ``"FPR95"``), the single mapping between the
two. The sweeps' tidy tables (:mod:`ood_study.experiments`) keep the lower-case names, in percent.

Imports nothing, so the report stage does not depend on feature or method code through it.
"""

from __future__ import annotations

__all__ = ["METRIC_NAMES", "TABLE_METRICS", "metric_label", "metric_name"]

METRIC_NAMES = ("fpr95", "auroc", "aupr_in", "aupr_out")
"""Every metric the library computes (:func:`ood_core.metrics.ood_metrics`), fractions in [0, 1]."""

TABLE_METRICS = ("fpr95", "auroc")
"""The metrics the result tables show, in their column order."""


def metric_label(name: str) -> str:
    """A metric's key in the DVC metrics files and its column label in tables: ``"fpr95"`` -> ``"FPR95"``,
    ``"aupr_in"`` -> ``"AUPR_IN"`` (values under it are percent)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; valid metrics: {list(METRIC_NAMES)}")
    return name.upper()


def metric_name(label: str) -> str:
    """The inverse of :func:`metric_label`: ``"FPR95"`` -> ``"fpr95"``."""
    name = label.lower()
    if name not in METRIC_NAMES or metric_label(name) != label:
        raise ValueError(f"unknown metric label {label!r}; valid labels: {[metric_label(m) for m in METRIC_NAMES]}")
    return name
