"""Result tables: the project's numbers, the published ones (docs/methods.md §6), and their difference.

Numbers are percentages with two decimals, per OOD set and averaged, like the papers. A
table of the simulated benchmark always says so in its caption: those numbers come from
``ood_core.simulate`` and are never a reproduction of the paper.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from ood_study.layout import Layout, study_name
from ood_study.params import SIMULATED, StudyParams

__all__ = ["PUBLISHED", "load_metrics", "main_table", "long_table", "backbone_table", "published_table",
           "comparison_table", "to_markdown", "to_latex", "caption", "build_report"]

# ImageNet-1k, CLIP ViT-B/16: (FPR95, AUROC) in %, from the MCM, NegLabel, CSP and AdaNeg
# papers (docs/methods.md §6). None = not confirmed by a primary source.
_SETS = ("inaturalist", "sun", "places", "textures", "average")
PUBLISHED = {
    "mcm": dict(zip(_SETS, [(30.91, 94.61), (37.59, 92.57), (44.69, 89.77), (57.77, 86.11), (42.74, 90.77)])),
    "neglabel": dict(zip(_SETS, [(1.91, 99.49), (20.53, 95.49), (35.59, 91.64), (43.56, 90.22), (25.40, 94.21)])),
    "csp": dict(zip(_SETS, [(1.54, 99.60), (13.66, 96.66), (29.32, 92.90), (25.52, 93.86), (17.51, 95.76)])),
    "adaneg": dict(zip(_SETS, [(0.59, 99.71), (9.50, 97.44), (34.34, 94.55), (31.27, 94.93), (18.92, 96.66)])),
    # DNM: only iNaturalist is confirmed; 16.90 is reported as either the SUN or the average FPR95.
    "dnm": {"inaturalist": (1.78, 99.51), "sun": (None, None), "places": (None, None),
            "textures": (None, None), "average": (None, None)},
}
PUBLISHED_UNCONFIRMED = {("dnm", "sun", "fpr95"): 16.90, ("dnm", "average", "fpr95"): 16.90}
PUBLISHED_SOURCE = {"benchmark": "imagenet1k", "backbone": "ViT-B-16"}


def load_metrics(layout: Layout, study: str, methods) -> dict[str, dict]:
    """``metrics/<study>/<method>.json`` of each method -> ``{method: {"FPR95": {...}, "AUROC": {...}}}``.

    Keys follow the order of ``methods`` (params.yaml's list); a missing file names its stage.
    """
    out = {}
    for method in methods:
        path = layout.metrics(study, method)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run `dvc repro score@{study}-{method}`")
        out[method] = json.loads(path.read_text())
    return out


def main_table(metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """Rows = methods (in the order of ``metrics``), columns = (OOD set, FPR95/AUROC), average last; in %."""
    columns = pd.MultiIndex.from_product([[*ood_sets, "average"], ["FPR95", "AUROC"]])
    rows = {m: [metrics[m][k][s] for s in [*ood_sets, "average"] for k in ("FPR95", "AUROC")] for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def long_table(metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """Columns ``method``, ``ood_set``, ``metric`` (FPR95/AUROC), ``value`` (%), for plotting."""
    return pd.DataFrame([{"method": m, "ood_set": s, "metric": k, "value": metrics[m][k][s]}
                         for m in metrics for s in [*ood_sets, "average"] for k in ("FPR95", "AUROC")])


def backbone_table(metrics_by_backbone: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Averages over the OOD sets per backbone, in :func:`main_table`'s layout (so :func:`to_markdown` takes it).

    ``metrics_by_backbone``: backbone -> :func:`load_metrics` of its study. Rows = methods (in the
    order of the first backbone's metrics), columns = (backbone, FPR95/AUROC); in %, NaN where a
    backbone lacks a method.
    """
    if not metrics_by_backbone:
        raise ValueError("no backbone has metrics: run the score stages (`dvc repro`) first")
    methods = list(dict.fromkeys(m for metrics in metrics_by_backbone.values() for m in metrics))
    columns = pd.MultiIndex.from_product([list(metrics_by_backbone), ["FPR95", "AUROC"]])
    rows = {m: [metrics[m][k]["average"] if m in metrics else math.nan
                for metrics in metrics_by_backbone.values() for k in ("FPR95", "AUROC")] for m in methods}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def published_table() -> pd.DataFrame:
    """docs/methods.md §6 in :func:`main_table`'s layout (real set names), NaN where unconfirmed."""
    columns = pd.MultiIndex.from_product([list(_SETS), ["FPR95", "AUROC"]])
    rows = {m: [math.nan if v is None else v for s in _SETS for v in cells[s]] for m, cells in PUBLISHED.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def comparison_table(ours: pd.DataFrame) -> pd.DataFrame:
    """Ours minus published, cell by cell (real ImageNet-1k ViT-B/16 sets only)."""
    pub = published_table()
    common = [m for m in ours.index if m in pub.index]
    return ours.loc[common] - pub.loc[common, ours.columns]


def caption(benchmark: str, backbone: str) -> str:
    if benchmark == SIMULATED:
        return (f"SIMULATED benchmark (ood_core.simulate, calibrated to CLIP {backbone} statistics): "
                "FPR95 / AUROC in %. Not a reproduction of the paper's numbers.")
    return f"{benchmark}, CLIP {backbone}: FPR95 / AUROC in %."


def to_markdown(table: pd.DataFrame, title: str) -> str:
    flat = table.copy()
    flat.columns = [f"{s} {k}" for s, k in table.columns]
    flat = flat.map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
    return f"**{title}**\n\n" + flat.to_markdown(disable_numparse=True) + "\n"


def to_latex(table: pd.DataFrame, title: str) -> str:
    body = table.map(lambda v: "--" if pd.isna(v) else f"{v:.2f}")
    return body.to_latex(caption=title, multicolumn=True, multicolumn_format="c")


def build_report(params: StudyParams, layout: Layout) -> str:
    """Markdown report of every study in params (benchmarks x backbones, methods in params order)."""
    parts = ["# Results\n", "Generated by `dvc repro` (stage `report`). FPR95 (lower is better) and "
             "AUROC (higher is better) in %, ID = positive class.\n"]
    for benchmark in params.benchmarks:
        ood_sets = params.sets(benchmark).ood
        for backbone in params.backbones:
            study = study_name(benchmark, backbone)
            table = main_table(load_metrics(layout, study, params.methods), ood_sets)
            parts.append(f"## {study}\n\n" + to_markdown(table, caption(benchmark, backbone)))
            if benchmark == PUBLISHED_SOURCE["benchmark"] and backbone == PUBLISHED_SOURCE["backbone"]:
                pub = published_table()
                parts.append(to_markdown(pub, "Published (docs/methods.md §6; – = not confirmed)"))
                parts.append(to_markdown(comparison_table(table), "Ours minus published"))
    return "\n".join(parts)
