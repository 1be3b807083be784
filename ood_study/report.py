"""Result tables: the project's numbers, the published ones (docs/methods.md §6), and their difference.

Numbers are percentages with two decimals, per OOD set and averaged, like the papers. A
table of the simulated benchmark always says so in its caption: those numbers come from
``ood_core.simulate`` and are never a reproduction of the paper.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from ood_core.metrics import group_averages
from ood_study.layout import Layout, study_name
from ood_study.metric_keys import TABLE_METRICS, metric_label, metric_name
from ood_study.params import SIMULATED, StudyParams

__all__ = ["PUBLISHED", "load_metrics", "main_table", "long_table", "backbone_table", "published_table",
           "comparison_table", "to_markdown", "to_latex", "caption", "build_report", "interval_table", "with_interval",
           "seed_spread_table", "with_seed_columns", "estimated_table", "load_pairs", "delta_table",
           "delta_sections", "DELTA_REFERENCES", "validity_sections"]

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
    # TANL (CVPR 2026): its abstract's average FPR95 only ("17.5 -> 9.8"); no per-set cell, no AUROC.
    "tanl": {"inaturalist": (None, None), "sun": (None, None), "places": (None, None),
             "textures": (None, None), "average": (9.8, None)},
    # Renyi energy margin (ICML 2026): no primary source with numbers found.
    "renyi": {s: (None, None) for s in _SETS},
}
PUBLISHED_NOTE = ("– = not confirmed by a primary source; TANL: only its abstract's average FPR95 (9.8), "
                  "no per-set cells; Rényi margin: none")
PUBLISHED_UNCONFIRMED = {("dnm", "sun", "fpr95"): 16.90, ("dnm", "average", "fpr95"): 16.90}
PUBLISHED_SOURCE = {"benchmark": "imagenet1k", "backbone": "ViT-B-16"}
LABELS = tuple(metric_label(m) for m in TABLE_METRICS)
"""``("FPR95", "AUROC")``: the keys the tables read from the metrics files and their column labels."""


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
    columns = pd.MultiIndex.from_product([[*ood_sets, "average"], list(LABELS)])
    rows = {m: [metrics[m][k][s] for s in [*ood_sets, "average"] for k in LABELS] for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _interval_key(by_metric: dict, metric: str) -> str | None:
    """The key of ``metric``'s bootstrap interval in a metrics file (``FPR95_ci95``), or None."""
    keys = sorted(k for k in by_metric if k.startswith(f"{metric}_ci"))
    return keys[0] if keys else None


def interval_table(metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """:func:`main_table`'s layout holding each cell's interval ``(low, high)`` (in %), or NaN.

    From the ``<KEY>_ci<conf>`` intervals the score stage writes (``{set: {"low", "high"}}``); NaN
    where a metrics file has none (written before the intervals existed). The percentile interval
    need not be symmetric around the value, so tables print both bounds: ``value [low, high]``.
    """
    columns = pd.MultiIndex.from_product([[*ood_sets, "average"], list(LABELS)])
    rows = {}
    for m, by_metric in metrics.items():
        row = []
        for s in [*ood_sets, "average"]:
            for k in LABELS:
                key = _interval_key(by_metric, k)
                iv = by_metric[key].get(s) if key else None
                row.append(math.nan if iv is None else (float(iv["low"]), float(iv["high"])))
        rows[m] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def with_interval(value: float, interval=None, missing: str = "–") -> str:
    """``"12.34 [10.00, 15.50]"``: the value and its interval's bounds, two decimals (the bare value
    without an interval; ``missing`` for NaN). Never ``value ± half-width``: a bootstrap interval is
    often asymmetric (FPR95 100.00 [80.00, 100.00])."""
    if value is None or pd.isna(value):
        return missing
    if not isinstance(interval, tuple):
        return f"{value:.2f}"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def seed_spread_table(metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """Std over seeds (in %) of the seeded methods (those whose metrics carry ``<KEY>_seed_std``),
    in :func:`main_table`'s layout; empty (no rows) when no method has a seed spread."""
    columns = pd.MultiIndex.from_product([[*ood_sets, "average"], list(LABELS)])
    rows = {m: [by_metric[f"{k}_seed_std"].get(s, math.nan) for s in [*ood_sets, "average"] for k in LABELS]
            for m, by_metric in metrics.items() if all(f"{k}_seed_std" in by_metric for k in LABELS)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns) if rows else pd.DataFrame(columns=columns)


def long_table(metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """Columns ``method``, ``ood_set``, ``metric`` (FPR95/AUROC), ``value``, ``low``, ``high`` (%; the
    bootstrap interval, NaN where the metrics file has none), for plotting."""
    rows = []
    for m in metrics:
        for s in [*ood_sets, "average"]:
            for k in LABELS:
                key = _interval_key(metrics[m], k)
                iv = metrics[m][key].get(s) if key else None
                rows.append({"method": m, "ood_set": s, "metric": k, "value": metrics[m][k][s],
                             "low": math.nan if iv is None else iv["low"],
                             "high": math.nan if iv is None else iv["high"]})
    return pd.DataFrame(rows)


def backbone_table(metrics_by_backbone: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Averages over the OOD sets per backbone, in :func:`main_table`'s layout (so :func:`to_markdown` takes it).

    ``metrics_by_backbone``: backbone -> :func:`load_metrics` of its study. Rows = methods (in the
    order of the first backbone's metrics), columns = (backbone, FPR95/AUROC); in %, NaN where a
    backbone lacks a method.
    """
    if not metrics_by_backbone:
        raise ValueError("no backbone has metrics: run the score stages (`dvc repro`) first")
    methods = list(dict.fromkeys(m for metrics in metrics_by_backbone.values() for m in metrics))
    columns = pd.MultiIndex.from_product([list(metrics_by_backbone), list(LABELS)])
    rows = {m: [metrics[m][k]["average"] if m in metrics else math.nan
                for metrics in metrics_by_backbone.values() for k in LABELS] for m in methods}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def published_table() -> pd.DataFrame:
    """docs/methods.md §6 in :func:`main_table`'s layout (real set names), NaN where unconfirmed."""
    columns = pd.MultiIndex.from_product([list(_SETS), list(LABELS)])
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
    from ood_core.backbones import is_random_weights

    if is_random_weights(backbone):
        return (f"{benchmark}, {backbone}: RANDOM WEIGHTS (a seeded random init for pipeline tests): "
                "FPR95 / AUROC in %. These numbers mean nothing.")
    return f"{benchmark}, CLIP {backbone}: FPR95 / AUROC in %."


def _cells(table: pd.DataFrame, intervals: pd.DataFrame | None, missing: str) -> pd.DataFrame:
    """Two-decimal strings; ``value [low, high]`` where ``intervals`` (same layout) has one."""
    iv = (intervals.reindex(index=table.index, columns=table.columns) if intervals is not None
          else pd.DataFrame(math.nan, index=table.index, columns=table.columns, dtype=object))
    out = table.astype(object).copy()
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            out.iat[i, j] = with_interval(table.iat[i, j], iv.iat[i, j], missing)
    return out


def to_markdown(table: pd.DataFrame, title: str, intervals: pd.DataFrame | None = None) -> str:
    """Markdown of a (set, metric)-column table, two decimals; with ``intervals``
    (:func:`interval_table`) each cell reads ``value [low, high]``."""
    flat = _cells(table, intervals, "–")
    flat.columns = [f"{s} {k}" for s, k in table.columns]
    return f"**{title}**\n\n" + flat.to_markdown(disable_numparse=True) + "\n"


def to_latex(table: pd.DataFrame, title: str, intervals: pd.DataFrame | None = None) -> str:
    """LaTeX of the table (``value [low, high]`` with ``intervals``)."""
    return _cells(table, intervals, "--").to_latex(caption=title, multicolumn=True, multicolumn_format="c")


def with_seed_columns(table: pd.DataFrame, metrics: dict[str, dict], ood_sets) -> pd.DataFrame:
    """``table`` (:func:`main_table`) plus the columns ``(SEED_COLUMN, FPR95/AUROC)``: the std over
    seeds of each method's average (NaN for a method without seeds), when any method has them."""
    seeds = seed_spread_table(metrics, ood_sets)
    if seeds.empty:
        return table
    cols = seeds["average"].reindex(table.index)
    cols.columns = pd.MultiIndex.from_product([[SEED_COLUMN], list(cols.columns)])
    return table.join(cols)


SEED_COLUMN = "seed std (average)"


def estimated_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Parameters estimated from the data (e.g. ``dnm_auto``'s ``tau``), in %: one row per
    (method, parameter) with ``estimate``, ``low``, ``high`` (95 % bootstrap interval); empty when
    no method estimates anything. Read from the metrics files (the score stage writes
    ``{"tau": {"estimate", "low", "high"}}`` as fractions)."""
    rows = []
    for method, m in metrics.items():
        for name, value in m.items():
            if isinstance(value, dict) and set(value) == {"estimate", "low", "high"}:
                rows.append({"method": method, "parameter": name,
                             **{k: round(100.0 * float(value[k]), 2) for k in ("estimate", "low", "high")}})
    return pd.DataFrame(rows, columns=["method", "parameter", "estimate", "low", "high"])
INTERVAL_NOTE = (" value [low, high] of the 95 % bootstrap interval over images (ood_core.bootstrap; "
                 f"params.yaml `evaluation`); `{SEED_COLUMN}`: std over seeds, methods with random groups "
                 "or a random stream only.")
SEED_NOTE = ("Seed spread: standard deviation (in % points) of FPR95 / AUROC over the `evaluation.n_seeds` "
             "seeds of the methods with random groups or a random stream (the values are the first seed's); "
             "– for deterministic methods.")


def build_report(params: StudyParams, layout: Layout) -> str:
    """Markdown report of every study in params (benchmarks x backbones, methods in params order)."""
    parts = ["# Results\n", "Generated by `dvc repro` (stage `report`). FPR95 (lower is better) and "
             "AUROC (higher is better) in %, ID = positive class.\n"]
    for benchmark in params.benchmarks:
        ood_sets = params.sets(benchmark).ood
        for backbone in params.backbones:
            study = study_name(benchmark, backbone)
            metrics = load_metrics(layout, study, params.methods)
            table = main_table(metrics, ood_sets)
            parts.append(f"## {study}\n\n" + to_markdown(with_seed_columns(table, metrics, ood_sets),
                                                         caption(benchmark, backbone) + INTERVAL_NOTE,
                                                         interval_table(metrics, ood_sets)))
            parts.extend(delta_sections(params, layout, benchmark, backbone))
            estimated = estimated_table(metrics)
            if not estimated.empty:
                parts.append(f"**{study}: parameters estimated from the data, % (95 % bootstrap interval; "
                             "on the simulated benchmark notebook 09 sets them beside the truth)**\n\n"
                             + estimated.to_markdown(index=False) + "\n")
            parts.extend(grouped_sections(params, layout, benchmark, backbone))  # near/far (OpenOOD)
            if benchmark == SIMULATED and backbone == PUBLISHED_SOURCE["backbone"]:
                parts.extend(validity_sections(params, metrics))
            if benchmark == PUBLISHED_SOURCE["benchmark"] and backbone == PUBLISHED_SOURCE["backbone"]:
                pub = published_table()
                parts.append(to_markdown(pub, f"Published (docs/methods.md §6; {PUBLISHED_NOTE})"))
                parts.append(to_markdown(comparison_table(table), "Ours minus published"))
    return "\n".join(parts)


def validity_sections(params: StudyParams, metrics: dict[str, dict]) -> list[str]:
    """The simulator-validity section of the simulated ViT-B/16 study (:mod:`ood_study.validity`):
    held-out CSP, AdaNeg and DNM beside their published cells; empty unless all five published
    methods were run."""
    from ood_study import validity

    needed = (*validity.FITTED_TO, *validity.HELD_OUT)
    if any(m not in metrics for m in needed):
        return []
    world = (params.sets(SIMULATED).simulation or {}).get("world", "a_priori")
    return [f"### Simulator validity ({world} world)\n",
            validity.report_section(validity.from_metrics_files({m: metrics[m] for m in needed}),
                                    f"SIMULATED benchmark, {world} world: held-out methods vs published "
                                    "(ViT-B/16), FPR95 / AUROC in %")]


# --------------------------------------------------------------------------------------------
# Grouped benchmarks: OpenOOD v1.5's ImageNet-1k setting, near- and far-OOD averages
# --------------------------------------------------------------------------------------------

# OpenOOD v1.5 ImageNet-1k (near: SSB-hard, NINCO; far: iNaturalist, Textures, OpenImage-O), CLIP
# ViT-B/16 zero-shot: (FPR95, AUROC) in % per group. No cell has been read in a primary source yet,
# so every confirmed cell is None and the numbers found sit in PUBLISHED_OPENOOD_UNCONFIRMED.
# Their FPR95 follows OpenOOD's code (OOD positive: the share of ID images flagged at 95 % OOD
# recall), not this project's (docs/methods.md §4); AUROC is the same number either way.
OPENOOD_GROUPS = ("near", "far")
PUBLISHED_OPENOOD = {m: {g: (None, None) for g in OPENOOD_GROUPS} for m in ("mcm", "neglabel", "csp", "adaneg", "dnm")}
PUBLISHED_OPENOOD_UNCONFIRMED = {
    ("neglabel", "near", "fpr95"): 68.18, ("neglabel", "near", "auroc"): 76.92,
    ("neglabel", "far", "fpr95"): 27.34, ("neglabel", "far", "auroc"): 93.30,
    ("adaneg", "near", "fpr95"): 67.51, ("adaneg", "near", "auroc"): 76.70,
    ("adaneg", "far", "fpr95"): 17.31, ("adaneg", "far", "auroc"): 96.43,
}
PUBLISHED_OPENOOD_SOURCES = {
    "neglabel": "ANTS (Zhu et al., arXiv 2509.03951), OpenOOD table, as quoted by a secondary summary; "
                "not read in the paper",
    "adaneg": "AdaNeg (Zhang & Zhang, NeurIPS 2024, arXiv 2410.20149) via the ANTS OpenOOD table, as quoted by "
              "secondary summaries (FPR95 67.51 / 17.31 in two of them); not read in either paper",
}
PUBLISHED_OPENOOD_SOURCE = {"backbone": "ViT-B-16",
                            "groups": {"near": ("ssb_hard", "ninco"),
                                       "far": ("openood_inaturalist", "openood_textures", "openimage_o")}}
UNCONFIRMED_MARK = "†"


def group_table(metrics: dict[str, dict], groups: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Rows = methods, columns = (group, FPR95/AUROC) then the overall average; in %.

    ``metrics``: :func:`load_metrics` (method -> ``{"FPR95": {set: %}, "AUROC": {set: %}}``);
    ``groups``: group -> its OOD sets (``params.sets(benchmark).groups``). A group's value is the
    one stored under its name in the metrics file when the score stage wrote it (the mean of the
    unrounded per-set values); otherwise it is the mean of the stored per-set percentages
    (:func:`ood_core.metrics.group_averages`), which are rounded to two decimals, so the result can
    differ from the stored kind by up to 0.005.
    """
    if not groups:
        raise ValueError("group_table needs the benchmark's groups (benchmark_sets.<name>.groups in params.yaml)")
    names = [*groups, "average"]
    columns = pd.MultiIndex.from_product([names, list(LABELS)])
    rows = {}
    for method, by_metric in metrics.items():
        per_set = {s: {k: by_metric[k][s] for k in LABELS} for s in {m for g in groups.values() for m in g}
                   if all(s in by_metric[k] for k in LABELS)}
        computed = group_averages(per_set, {g: sets for g, sets in groups.items()
                                            if any(g not in by_metric[k] for k in LABELS)})
        rows[method] = [by_metric[k][g] if g in by_metric[k] else computed[g][k]
                        for g in names for k in LABELS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def published_openood_table(include_unconfirmed: bool = False) -> pd.DataFrame:
    """:data:`PUBLISHED_OPENOOD` as rows = methods, columns = (near/far, FPR95/AUROC); NaN where missing.

    ``include_unconfirmed=True`` fills in :data:`PUBLISHED_OPENOOD_UNCONFIRMED` (secondary sources).
    """
    columns = pd.MultiIndex.from_product([list(OPENOOD_GROUPS), list(LABELS)])
    rows = {}
    for method, cells in PUBLISHED_OPENOOD.items():
        values = []
        for group in OPENOOD_GROUPS:
            for metric, value in zip(LABELS, cells[group]):
                if value is None and include_unconfirmed:
                    value = PUBLISHED_OPENOOD_UNCONFIRMED.get((method, group, metric_name(metric)))
                values.append(math.nan if value is None else value)
        rows[method] = values
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _published_openood_cell(method: str, group: str, metric: str) -> str:
    confirmed = dict(zip(LABELS, PUBLISHED_OPENOOD.get(method, {}).get(group, (None, None))))[metric]
    if confirmed is not None:
        return f"{confirmed:.2f}"
    unconfirmed = PUBLISHED_OPENOOD_UNCONFIRMED.get((method, group, metric_name(metric)))
    return "–" if unconfirmed is None else f"{unconfirmed:.2f}{UNCONFIRMED_MARK}"


def openood_side_by_side(ours: pd.DataFrame, title: str) -> str:
    """Markdown: each method's near/far row (ours, from :func:`group_table`) above the published one.

    Published cells: plain = confirmed in a primary source, ``†`` = from a secondary source only
    (:data:`PUBLISHED_OPENOOD_UNCONFIRMED`), ``–`` = none found. Sources and the FPR95 caveat follow
    the table.
    """
    cols = [(g, k) for g in OPENOOD_GROUPS for k in LABELS]
    header = "| method | numbers | " + " | ".join(f"{g} {k}" for g, k in cols) + " |"
    lines = [f"**{title}**", "", header, "|" + "---|" * (2 + len(cols))]
    methods = list(dict.fromkeys([*ours.index, *PUBLISHED_OPENOOD]))
    for method in methods:
        if method in ours.index:
            lines.append(f"| {method} | ours | " + " | ".join(
                "–" if pd.isna(ours.loc[method, c]) else f"{ours.loc[method, c]:.2f}" for c in cols) + " |")
        if method in PUBLISHED_OPENOOD:
            lines.append(f"| {method} | published | " + " | ".join(
                _published_openood_cell(method, g, k) for g, k in cols) + " |")
    notes = ["", f"{UNCONFIRMED_MARK} unconfirmed: taken from a secondary source only; – no published number found.",
             "Published FPR95 on OpenOOD comes from OpenOOD's evaluation code (OOD positive; AdaNeg's released "
             "code, OpenOOD-VLM, uses it), ours has ID positive (docs/methods.md §4): compare AUROC, not FPR95."]
    notes += [f"- {m}: {src}" for m, src in PUBLISHED_OPENOOD_SOURCES.items()]
    return "\n".join(lines + notes) + "\n"


def is_openood_v15(groups: dict | None, backbone: str) -> bool:
    """Whether a benchmark's groups are OpenOOD v1.5's ImageNet-1k near/far sets with the published backbone."""
    return bool(groups) and backbone == PUBLISHED_OPENOOD_SOURCE["backbone"] and \
        {g: tuple(s) for g, s in groups.items()} == PUBLISHED_OPENOOD_SOURCE["groups"]


def grouped_sections(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> list[str]:
    """Report sections of a benchmark with ``groups`` (none otherwise): the group averages and, for
    OpenOOD v1.5's ImageNet-1k with ViT-B/16, ours beside the published near/far numbers."""
    groups = params.sets(benchmark).groups
    if not groups:
        return []
    ours = group_table(load_metrics(layout, study_name(benchmark, backbone), params.methods), groups)
    listing = "; ".join(f"{g} = mean of {', '.join(s)}" for g, s in groups.items())
    parts = [to_markdown(ours, f"{caption(benchmark, backbone)} Group averages ({listing}).")]
    if is_openood_v15(groups, backbone):
        parts.append(openood_side_by_side(ours, "OpenOOD v1.5 ImageNet-1k, CLIP ViT-B/16: ours and published "
                                                "(near / far averages, %)"))
    return parts


__all__ += ["PUBLISHED_OPENOOD", "PUBLISHED_OPENOOD_UNCONFIRMED", "group_table", "published_openood_table",
            "openood_side_by_side", "grouped_sections"]


# --------------------------------------------------------------------------------------------
# Paired differences: each method against NegLabel and against DNM on the same images
# --------------------------------------------------------------------------------------------

DELTA_REFERENCES = ("neglabel", "dnm")
SIGNIFICANT_MARK = "*"


def load_pairs(layout: Layout, study: str, method: str, id_split: str, ood_sets) -> dict:
    """OOD set -> ``(id_scores, ood_scores)`` from ``results/<study>/scores/<method>.npz`` (the
    ``score`` stage's raw scores; a test-time method's ID scores are stored per OOD set)."""
    import numpy as np

    path = layout.scores(study, method)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `dvc repro score@{study}-{method}`")
    with np.load(path) as z:
        return {s: (z[f"{id_split}@{s}"] if f"{id_split}@{s}" in z.files else z[id_split], z[s]) for s in ood_sets}


def delta_table(rows: pd.DataFrame, reference: str, ood_sets) -> pd.DataFrame:
    """:func:`ood_study.experiments.paired_delta_rows` as a (set, FPR95/AUROC) table of strings
    ``"+1.23 [+0.50, +1.90]*"`` (Δ in % points, paired 95 % interval, ``*`` where it excludes 0);
    rows = the compared methods (the reference itself left out)."""
    cols = [*ood_sets, "average"]
    columns = pd.MultiIndex.from_product([cols, ["FPR95", "AUROC"]])
    out = {}
    for key, sub in rows[~rows["is_reference"]].groupby("key", sort=False):
        by_set = sub.set_index("ood_set")
        cells = []
        for s in cols:
            for m in ("fpr95", "auroc"):
                r = by_set.loc[s]
                mark = SIGNIFICANT_MARK if r[f"significant_{m}"] else ""
                cells.append(f"{r[f'delta_{m}']:+.2f} [{r[f'delta_{m}_low']:+.2f}, {r[f'delta_{m}_high']:+.2f}]{mark}")
        out[key] = cells
    return pd.DataFrame.from_dict(out, orient="index", columns=columns)


def delta_sections(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> list[str]:
    """Markdown: every method's Δ against each of :data:`DELTA_REFERENCES` that the study ran."""
    from ood_study.experiments import paired_delta_rows

    if not any(ref in params.methods for ref in DELTA_REFERENCES) or len(params.methods) < 2:
        return []  # nothing to compare: no reference ran, or it is the only method
    study = study_name(benchmark, backbone)
    sets = params.sets(benchmark)
    pairs = {m: load_pairs(layout, study, m, sets.id, sets.ood) for m in params.methods}
    ev = params.get("evaluation")
    parts = []
    for ref in DELTA_REFERENCES:
        if ref not in pairs:
            continue
        rows = paired_delta_rows(pairs, ref, ev)
        table = delta_table(rows, ref, sets.ood)
        flat = table.copy()
        flat.columns = [f"{s} {k}" for s, k in table.columns]
        title = (f"{study}: Δ against {ref} (method minus {ref}, % points) with the paired "
                 f"{100 * ev.confidence:g} % bootstrap interval (same resampled images for both; "
                 f"{SIGNIFICANT_MARK} = the interval excludes 0)")
        parts.append(f"**{title}**\n\n" + flat.to_markdown() + "\n")
    return parts
