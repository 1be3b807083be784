"""Does the simulated world predict what it was not fitted to? The held-out report of issue 15.

The world's OOD sets are fitted to MCM's and NegLabel's published per-set numbers only
(:mod:`ood_study.calibrate`, protocol in ``docs/simulation.md``). Here CSP, AdaNeg and DNM, which
never entered the fit, are simulated and compared with their published cells:

* :func:`heldout_table`: per (method, set) the simulated FPR95 / AUROC with bootstrap intervals
  beside the published ones and the difference (all in %);
* :func:`error_summary`: the mean absolute AUROC and FPR95 error per method (published cells only);
* :func:`rank_agreement`: per set, Kendall's tau between the simulated and the published AUROC
  order of the methods with a published cell, and the share of (set, method pair) comparisons that
  involve a held-out method and keep the published order.

All simulated numbers are SIMULATED. The inputs come from the pipeline's metrics files
(:func:`from_metrics_files`, the report) or from :mod:`ood_study.worlds` (both worlds scored in
process, notebook 10). :func:`report_section` is the report's markdown.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from ood_study.report import PUBLISHED, PUBLISHED_UNCONFIRMED

__all__ = ["HELD_OUT", "FITTED_TO", "TARGET_AUROC_ERROR", "TARGET_ORDER_AGREEMENT", "published_long",
           "heldout_table", "error_summary", "rank_agreement", "order_agreement", "kendall_tau",
           "auroc_long", "from_metrics_files", "report_section"]

FITTED_TO = ("mcm", "neglabel")
HELD_OUT = ("csp", "adaneg", "dnm")
TARGET_AUROC_ERROR = 2.0
"""Protocol target: held-out mean absolute AUROC error <= 2 points for CSP and for AdaNeg."""
TARGET_ORDER_AGREEMENT = 0.8
"""Protocol target: >= 80 % of the (set, method pair) comparisons with a held-out method in the published order."""
_REAL_SETS = ("inaturalist", "sun", "places", "textures")


def published_long(methods=(*FITTED_TO, *HELD_OUT)) -> pd.DataFrame:
    """Published per-set cells, one row per (method, set): ``fpr95_pub``, ``auroc_pub`` in % (NaN: unknown)
    and ``unconfirmed_fpr95`` (a number that is not confirmed by a primary source, else NaN)."""
    rows = []
    for m in methods:
        for s in _REAL_SETS:
            fpr, auroc = PUBLISHED[m][s]
            rows.append({"method": m, "set": s, "fpr95_pub": np.nan if fpr is None else fpr,
                         "auroc_pub": np.nan if auroc is None else auroc,
                         "unconfirmed_fpr95": PUBLISHED_UNCONFIRMED.get((m, s, "fpr95"), np.nan)})
    return pd.DataFrame(rows)


def heldout_table(simulated: dict[str, dict], methods=HELD_OUT) -> pd.DataFrame:
    """Simulated beside published, per (method, set), in %.

    ``simulated``: method -> :func:`ood_study.experiments.method_metrics` output (fractions, keyed by
    the simulated set names ``sim-<set>``; interval bounds ``fpr95_low`` ... where computed).
    Columns: ``method, set, fpr95, fpr95_low, fpr95_high, fpr95_pub, fpr95_err, auroc, auroc_low,
    auroc_high, auroc_pub, auroc_err, unconfirmed_fpr95``; ``*_err`` = simulated - published (NaN
    where the published cell is unknown).
    """
    pub = published_long(methods).set_index(["method", "set"])
    rows = []
    for m in methods:
        for s in _REAL_SETS:
            cell = simulated[m][f"sim-{s}"]
            row = {"method": m, "set": s}
            for metric in ("fpr95", "auroc"):
                row[metric] = 100.0 * cell[metric]
                for bound in ("low", "high"):
                    key = f"{metric}_{bound}"
                    row[key] = 100.0 * cell[key] if key in cell else np.nan
                row[f"{metric}_pub"] = pub.loc[(m, s), f"{metric}_pub"]
                row[f"{metric}_err"] = row[metric] - row[f"{metric}_pub"]
            row["unconfirmed_fpr95"] = pub.loc[(m, s), "unconfirmed_fpr95"]
            rows.append(row)
    return pd.DataFrame(rows)


def error_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean absolute AUROC and FPR95 error (points) over its published cells, and their counts.

    ``table``: :func:`heldout_table`. Unknown published cells (NaN) are left out, not counted as 0.
    """
    out = {}
    for m, g in table.groupby("method", sort=False):
        out[m] = {"auroc_mae": float(g["auroc_err"].abs().mean()), "n_auroc": int(g["auroc_err"].notna().sum()),
                  "fpr95_mae": float(g["fpr95_err"].abs().mean()), "n_fpr95": int(g["fpr95_err"].notna().sum())}
    return pd.DataFrame.from_dict(out, orient="index")


def kendall_tau(x, y) -> float:
    """Kendall's tau-a of two equally long sequences without ties: (concordant - discordant) / pairs.

    NaN for fewer than two items. Ties (equal values in either) count as neither concordant nor
    discordant.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau: x and y differ in length ({x.shape} vs {y.shape})")
    n = len(x)
    if n < 2:
        return float("nan")
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in combinations(range(n), 2))
    return float(s / (n * (n - 1) / 2))


def order_agreement(auroc: pd.DataFrame, held_out=HELD_OUT) -> pd.DataFrame:
    """Every (set, method pair) with both published AUROCs known and at least one held-out method.

    ``auroc``: rows (method, set) with columns ``auroc`` (simulated) and ``auroc_pub``. Returns one row
    per comparison: ``set, a, b, published_order`` (+1 if a > b published), ``simulated_order``, ``agrees``.
    """
    rows = []
    for s, g in auroc.groupby("set", sort=False):
        g = g.dropna(subset=["auroc_pub", "auroc"]).set_index("method")
        for a, b in combinations(g.index, 2):
            if a not in held_out and b not in held_out:
                continue
            pub = np.sign(g.at[a, "auroc_pub"] - g.at[b, "auroc_pub"])
            sim = np.sign(g.at[a, "auroc"] - g.at[b, "auroc"])
            rows.append({"set": s, "a": a, "b": b, "published_order": int(pub), "simulated_order": int(sim),
                         "agrees": bool(pub == sim)})
    return pd.DataFrame(rows, columns=["set", "a", "b", "published_order", "simulated_order", "agrees"])


def rank_agreement(auroc: pd.DataFrame, held_out=HELD_OUT) -> tuple[pd.DataFrame, float]:
    """Per set: Kendall's tau between simulated and published AUROC over the methods with a published
    AUROC (``n_methods``), and the comparisons of :func:`order_agreement` (``n_pairs``, ``n_agree``).

    Returns ``(per_set, fraction)``: ``fraction`` = all agreeing comparisons / all comparisons.
    """
    comparisons = order_agreement(auroc, held_out)
    rows = {}
    for s, g in auroc.groupby("set", sort=False):
        g = g.dropna(subset=["auroc_pub", "auroc"])
        c = comparisons[comparisons["set"] == s]
        rows[s] = {"kendall_tau": kendall_tau(g["auroc"], g["auroc_pub"]), "n_methods": len(g),
                   "n_pairs": len(c), "n_agree": int(c["agrees"].sum())}
    per_set = pd.DataFrame.from_dict(rows, orient="index")
    fraction = float(comparisons["agrees"].mean()) if len(comparisons) else float("nan")
    return per_set, fraction


def auroc_long(simulated: dict[str, dict], methods=(*FITTED_TO, *HELD_OUT)) -> pd.DataFrame:
    """Rows (method, set) with the simulated ``auroc`` and the published ``auroc_pub`` (%), the input
    of :func:`rank_agreement`; ``simulated`` as in :func:`heldout_table`."""
    return heldout_table(simulated, methods)[["method", "set", "auroc", "auroc_pub"]]


def from_metrics_files(metrics: dict[str, dict]) -> dict[str, dict]:
    """:func:`ood_study.report.load_metrics` (percent, ``AUROC_ci95`` intervals) -> the per-set
    fractions :func:`heldout_table` takes (``{method: {set: {"fpr95", "auroc", "fpr95_low", ...}}}``)."""
    out = {}
    for m, by_key in metrics.items():
        ci = {k.split("_")[0]: v for k, v in by_key.items() if k.startswith(("FPR95_ci", "AUROC_ci"))}
        out[m] = {}
        for s in by_key["AUROC"]:
            cell = {"fpr95": by_key["FPR95"][s] / 100.0, "auroc": by_key["AUROC"][s] / 100.0}
            for key, metric in (("FPR95", "fpr95"), ("AUROC", "auroc")):
                if key in ci and s in ci[key]:
                    cell[f"{metric}_low"] = ci[key][s]["low"] / 100.0
                    cell[f"{metric}_high"] = ci[key][s]["high"] / 100.0
            out[m][s] = cell
    return out


def _interval(value, low, high) -> str:
    return "–" if np.isnan(value) else (f"{value:.2f}" if np.isnan(low) else f"{value:.2f} [{low:.2f}, {high:.2f}]")


def report_section(simulated: dict[str, dict], title: str) -> str:
    """Markdown: the held-out table (simulated [95 % interval] beside published), the per-method mean
    absolute errors, the per-set Kendall's tau and the order agreement, each target stated with its
    result. ``simulated``: as in :func:`heldout_table`, for MCM, NegLabel, CSP, AdaNeg and DNM."""
    table = heldout_table(simulated)
    rows = []
    for _, r in table.iterrows():
        unconfirmed = "" if np.isnan(r["unconfirmed_fpr95"]) else f" ({r['unconfirmed_fpr95']:.2f}, unconfirmed)"
        rows.append({"method": r["method"], "set": r["set"],
                     "FPR95 simulated": _interval(r["fpr95"], r["fpr95_low"], r["fpr95_high"]),
                     "FPR95 published": ("–" if np.isnan(r["fpr95_pub"]) else f"{r['fpr95_pub']:.2f}") + unconfirmed,
                     "AUROC simulated": _interval(r["auroc"], r["auroc_low"], r["auroc_high"]),
                     "AUROC published": "–" if np.isnan(r["auroc_pub"]) else f"{r['auroc_pub']:.2f}",
                     "AUROC error": "–" if np.isnan(r["auroc_err"]) else f"{r['auroc_err']:+.2f}"})
    errors = error_summary(table)
    per_set, fraction = rank_agreement(auroc_long(simulated))
    met = {m: errors.loc[m, "auroc_mae"] <= TARGET_AUROC_ERROR for m in ("csp", "adaneg")}
    lines = [f"**{title}**", "",
             "Held out: CSP, AdaNeg and DNM never entered the fit (MCM and NegLabel did; protocol in "
             "docs/simulation.md). Simulated = SIMULATED, 95 % bootstrap interval in brackets; "
             "published = docs/methods.md §6 (– = unknown).", "",
             pd.DataFrame(rows).to_markdown(index=False), "",
             "Mean absolute error per method, points (over its published cells):", "",
             errors.round(2).to_markdown(), "",
             "Per set, Kendall's tau of the simulated vs published AUROC order (methods with a published "
             "AUROC) and the (set, method pair) comparisons involving a held-out method:", "",
             per_set.round(3).to_markdown(), "",
             f"Targets: CSP mean abs AUROC error {errors.loc['csp', 'auroc_mae']:.2f} "
             f"({'met' if met['csp'] else 'missed'}, <= {TARGET_AUROC_ERROR:g}); AdaNeg "
             f"{errors.loc['adaneg', 'auroc_mae']:.2f} ({'met' if met['adaneg'] else 'missed'}); published AUROC "
             f"order kept in {100 * fraction:.1f} % of the comparisons "
             f"({'met' if fraction >= TARGET_ORDER_AGREEMENT else 'missed'}, >= {100 * TARGET_ORDER_AGREEMENT:g} %).",
             ""]
    return "\n".join(lines)
