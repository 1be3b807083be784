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

All simulated numbers are SIMULATED. :func:`simulated_study` builds a world (``"fitted"`` or
``"a_priori"``) in process, so both can be scored side by side from the same text features and
negatives (text features do not depend on the world).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from ood_study.report import PUBLISHED, PUBLISHED_UNCONFIRMED

__all__ = ["HELD_OUT", "FITTED_TO", "TARGET_AUROC_ERROR", "TARGET_ORDER_AGREEMENT", "published_long",
           "heldout_table", "error_summary", "rank_agreement", "order_agreement", "kendall_tau",
           "simulated_study", "mine_negatives", "world_metrics"]

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

    ``simulated``: method -> :func:`ood_study.experiments.evaluate_method` output (fractions, keyed by
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
        g = g.dropna(subset=["auroc_pub"]).set_index("method")
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
        g = g.dropna(subset=["auroc_pub"])
        c = comparisons[comparisons["set"] == s]
        rows[s] = {"kendall_tau": kendall_tau(g["auroc"], g["auroc_pub"]), "n_methods": len(g),
                   "n_pairs": len(c), "n_agree": int(c["agrees"].sum())}
    per_set = pd.DataFrame.from_dict(rows, orient="index")
    fraction = float(comparisons["agrees"].mean()) if len(comparisons) else float("nan")
    return per_set, fraction


# --- scoring the worlds in process -------------------------------------------------------------------

def simulated_study(params, world: str, layout=None, backbone: str = "ViT-B-16"):
    """The simulated study of ``params`` in ``world`` (``"fitted"`` or ``"a_priori"``), built in memory.

    Same corpus, prompts and sizes as the pipeline's ``simulated`` study; only ``simulation.world``
    is set. Returns an :class:`ood_study.study.Study` (``layout`` may be None: nothing is read).
    """
    from ood_core import simulate
    from ood_core.features import text_features
    from ood_core.text.corpus import load_wordnet_corpus
    from ood_study.params import SIMULATED
    from ood_study.study import Study

    sets = params.sets(SIMULATED)
    sim = {**(sets.simulation or {}), "world": world}
    wordnet_dir = params.get("corpus.wordnet_dir")
    source = simulate.build_world(simulate.SimulationConfig.from_dict(sim), wordnet_dir=wordnet_dir)
    corpus = load_wordnet_corpus(wordnet_dir, params.get("corpus.noun_lexnames"), params.get("corpus.adj_lexnames"))
    pr = params.get("prompts")
    texts = text_features(source, corpus, pr.id, pr.noun, pr.adj, csp_seed=pr.csp_seed)
    images = {s: source.image_features(s) for s in (sets.id, *sets.ood)}
    return Study(layout, SIMULATED, backbone, corpus, texts, images, sets.id, list(sets.ood),
                 source.candidate_is_id_like(corpus))


def mine_negatives(study, params, methods, backbone: str = "ViT-B-16") -> dict[str, np.ndarray]:
    """method -> its negatives (sorted int64; empty for a method that mines none), as the ``mine`` stage."""
    from ood_core import methods as _methods
    from ood_study.method_params import mining_params

    out = {}
    for m in methods:
        method = _methods.get(m)
        out[m] = (method.select_negatives(study.texts, mining_params(params, m, backbone)) if method.mines
                  else np.zeros(0, dtype=np.int64))
    return out


def world_metrics(study, negatives: dict, params, methods, backbone: str = "ViT-B-16") -> dict[str, dict]:
    """method -> :func:`ood_study.experiments.evaluate_method` (fractions, bootstrap intervals from
    params.yaml's ``evaluation``) on ``study`` with ``negatives`` (:func:`mine_negatives`)."""
    from ood_study.experiments import evaluate_method
    from ood_study.method_params import scoring_params

    return {m: evaluate_method(study, m, negatives[m], scoring_params(params, m, backbone),
                               params.get("evaluation")) for m in methods}
