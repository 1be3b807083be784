"""Ablation sweeps behind the notebooks: each returns a tidy ``pandas.DataFrame``.

Every row is one (method, swept value, OOD set) with ``fpr95`` and ``auroc`` in percent, the
OOD set ``"average"`` included, so notebooks only pick rows and plot. The notebooks stay thin:
whatever they show is computed here, where tests reach it.

A sweep never hides a failure: a setting that a method rejects (e.g. DNM's normaliser
condition ``Q * tau < (1 - tau) * K`` with few groups) gives a row with ``valid=False``, NaN
metrics and the error message in ``note``.

Every sweep takes ``evaluation`` (params.yaml's ``evaluation`` block, ``params.get("evaluation")``)
for the bootstrap intervals of its rows (:func:`method_metrics`); notebooks pass it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ood_core import bootstrap as _bootstrap
from ood_core import evaluation as _evaluation
from ood_core import methods as _methods
from ood_core import mining as _mining
from ood_core.exact import exact_products
from ood_core.features import TextFeatures
from ood_core.text.corpus import Corpus
from ood_study import study as _study
from ood_study.method_params import methods_taking, mining_params, scoring_params
from ood_study.params import EvaluationParams

__all__ = [
    "metrics_rows",
    "score_study",
    "study_score_pairs",
    "method_metrics",
    "params_by_method",
    "tau_sweep",
    "temperature_sweep",
    "groups_sweep",
    "density_selection_sweep",
    "neglabel_selection_sweep",
    "corpus_size_sweep",
    "false_negative_table",
    "subsample_corpus",
    "score_distributions",
    "best_value",
    "false_negative_dose_sweep",
    "paired_delta_rows",
    "paired_sweep",
    "DELTA_COLUMNS",
    "density_grid_sweep",
    "tau_estimate_table",
    "best_vs_true_tau",
    "run_tau",
    "run_temperature",
    "run_groups",
    "run_selection",
    "run_corpus_size",
    "run_false_negatives",
    "run_false_negative_dose",
    "run_density_grid",
    "run_tanl",
    "run_renyi_order",
]

COLUMNS = ["method", "parameter", "value", "ood_set", "fpr95", "auroc", "fpr95_low", "fpr95_high", "auroc_low",
           "auroc_high", "valid", "note"]
INTERVAL_COLUMNS = ("fpr95_low", "fpr95_high", "auroc_low", "auroc_high")
"""Bootstrap interval bounds (percent) of every row: :func:`method_metrics`'s ``*_low`` / ``*_high``."""


def metrics_rows(per_set: dict, **labels) -> list[dict]:
    """:func:`method_metrics` output -> rows with metrics in percent and the given labels.

    Each row has ``fpr95``, ``auroc`` and their interval bounds ``fpr95_low``, ``fpr95_high``,
    ``auroc_low``, ``auroc_high`` (percent; NaN where ``per_set`` carries no interval).
    """
    return [{**labels, "ood_set": s, "fpr95": 100.0 * m["fpr95"], "auroc": 100.0 * m["auroc"],
             **{c: 100.0 * m[c] if c in m else np.nan for c in INTERVAL_COLUMNS},
             "valid": True, "note": ""} for s, m in per_set.items()]


def _invalid_rows(study, error: Exception, **labels) -> list[dict]:
    return [{**labels, "ood_set": s, "fpr95": np.nan, "auroc": np.nan, **dict.fromkeys(INTERVAL_COLUMNS, np.nan),
             "valid": False, "note": str(error)} for s in [*study.ood_splits, "average"]]


@exact_products()  # the application's scores are the same on any CPU (ood_core.exact)
def score_study(study, method: str, negatives, scoring_params, splits=None) -> dict[str, np.ndarray]:
    """Scores (``[n]`` float64, higher = ID) of each split of ``study`` (default: all) under ``method``.

    Split by split, so not for a test-time method (its scores depend on the stream): use
    :func:`study_score_pairs`.
    """
    m = _methods.get(method)
    splits = list(study.images) if splits is None else list(splits)
    return {s: m.score_images(study.images[s], study.texts, negatives, scoring_params) for s in splits}


@exact_products()
def study_score_pairs(study, method: str, negatives, scoring_params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """OOD set -> ``(id_scores, ood_scores)`` for every OOD set of ``study``
    (:func:`ood_core.evaluation.score_pairs`: a test-time method streams the ID set with each)."""
    return _evaluation.score_pairs(method, study.images[study.id_split],
                                   {s: study.images[s] for s in study.ood_splits}, study.texts, negatives,
                                   scoring_params)


def method_metrics(study, method: str, negatives, scoring_params, evaluation=None, intervals: bool = True) -> dict:
    """Score every OOD set of ``study`` with ``method``; :func:`ood_study.study.metrics_per_set`'s metrics.

    With ``intervals`` (default) each set's dict (``"average"`` included) also holds the bootstrap
    interval bounds ``fpr95_low``, ``fpr95_high``, ``auroc_low``, ``auroc_high`` (fractions) of
    :func:`ood_core.bootstrap.metric_intervals` under ``evaluation`` (``params.get("evaluation")``;
    ``None``: :class:`~ood_study.params.EvaluationParams`' defaults: 1,000 resamples, 95 %, seed 0,
    the values params.yaml's ``evaluation`` block ships with). ``intervals=False`` skips them.
    """
    pairs = study_score_pairs(study, method, negatives, scoring_params)
    per_set = _study.metrics_per_set(pairs)
    if intervals:
        ev = EvaluationParams() if evaluation is None else evaluation
        iv = _bootstrap.metric_intervals(pairs, n_resamples=ev.n_resamples, confidence=ev.confidence, seed=ev.seed)
        for s, bounds in iv.items():
            for m in ("fpr95", "auroc"):
                per_set[s][f"{m}_low"], per_set[s][f"{m}_high"] = bounds[m]
    return per_set


def params_by_method(params, backbone: str, parameter: str | None = None) -> dict:
    """``{method: typed score parameters}`` for params.yaml's methods (in its order); with
    ``parameter``, only the methods whose score takes it (e.g. ``"temperature"``, ``"n_groups"``)."""
    methods = params.methods if parameter is None else methods_taking(params, parameter)
    return {m: scoring_params(params, m, backbone) for m in methods}


def _sweep(study, method, negatives, base_params: dict, parameter: str, values, evaluation=None) -> pd.DataFrame:
    rows = []
    for value in values:
        labels = {"method": method, "parameter": parameter, "value": value}
        try:
            per_set = method_metrics(study, method, negatives, replace(base_params, **{parameter: value}),
                                      evaluation)
        except ValueError as err:  # a rejected setting is a result to show, not a crash
            rows += _invalid_rows(study, err, **labels)
            continue
        rows += metrics_rows(per_set, **labels)
    return pd.DataFrame(rows, columns=COLUMNS)


def tau_sweep(study, dnm_negatives, dnm_params: dict, taus, evaluation=None) -> pd.DataFrame:
    """DNM over a grid of tau (the ID-like fraction); tau = 0 ranks like NegLabel."""
    return _sweep(study, "dnm", dnm_negatives, dnm_params, "tau", taus, evaluation)


def temperature_sweep(study, negatives: dict, params_by_method: dict, temperatures, evaluation=None) -> pd.DataFrame:
    """Each method in ``params_by_method`` (typed score parameters) over a grid of temperatures.

    ``negatives``: method -> its mined negatives (empty for methods that mine none).
    """
    return _sweep_methods(study, negatives, params_by_method, "temperature", temperatures, evaluation)


def groups_sweep(study, negatives: dict, params_by_method: dict, n_groups_grid, evaluation=None) -> pd.DataFrame:
    """Grouped methods (those whose score takes ``n_groups``) over a grid of group counts.

    Grid values above a method's number of negatives are rejected rows, like any other.
    """
    return _sweep_methods(study, negatives, params_by_method, "n_groups", n_groups_grid, evaluation)


def _sweep_methods(study, negatives: dict, params_by_method: dict, parameter: str, values,
                   evaluation=None) -> pd.DataFrame:
    """:func:`_sweep` for each method of ``params_by_method`` (MCM takes no negatives)."""
    frames = [_sweep(study, m, negatives[m], p, parameter, values, evaluation) for m, p in params_by_method.items()]
    return pd.concat(frames, ignore_index=True)


def density_selection_sweep(study, density_params, dnm_params, ks, ratios_noun, evaluation=None) -> pd.DataFrame:
    """DNM with density selection over ``k`` (ratios fixed) and over ``ratio_noun`` (k fixed).

    ``density_params``: DNM's typed mining parameters; ``dnm_params``: its score parameters. The
    kNN is computed once for every k of the grid (and the params' k); ratios reuse it. Rows also
    carry ``false_negative_rate`` (percent) when the study has ground truth.
    """
    texts = study.texts
    all_ks = sorted({*map(int, ks), int(density_params.k)})
    density = _mining.density_scores(texts.candidates, texts.is_adj, ks=all_ks, metric=density_params.metric,
                                     neighbours=density_params.neighbours)
    rows = []
    settings = [("k", k, k, density_params.ratio_noun) for k in ks]
    settings += [("ratio_noun", r, density_params.k, r) for r in ratios_noun]
    for parameter, value, k, ratio_noun in settings:
        idx = _mining.select_by_density(density[int(k)], texts.is_adj, ratio_noun, density_params.ratio_adj)
        rows += _rows_for_negatives(study, "dnm", idx, dnm_params, parameter, value, evaluation)
    return pd.DataFrame(rows)


def neglabel_selection_sweep(study, neglabel_params, scoring_params, percentiles, ratios,
                             evaluation=None) -> pd.DataFrame:
    """NegLabel over its selection ``percentile`` (ratio fixed) and ``ratio`` (percentile fixed)."""
    method = _methods.get("neglabel")
    rows = []
    settings = [("percentile", p, replace(neglabel_params, percentile=p)) for p in percentiles]
    settings += [("ratio", r, replace(neglabel_params, ratio=r)) for r in ratios]
    for parameter, value, mp in settings:
        idx = method.select_negatives(study.texts, mp)
        rows += _rows_for_negatives(study, "neglabel", idx, scoring_params, parameter, value, evaluation)
    return pd.DataFrame(rows)


def _rows_for_negatives(study, method, idx, scoring_params, parameter, value, evaluation=None) -> list[dict]:
    labels = {"method": method, "parameter": parameter, "value": value, "n_negatives": len(idx)}
    if study.id_like is not None:
        labels["false_negative_rate"] = 100.0 * float(study.id_like[idx].mean())
    try:
        per_set = method_metrics(study, method, idx, scoring_params, evaluation)
    except ValueError as err:
        return _invalid_rows(study, err, **labels)
    return metrics_rows(per_set, **labels)


def subsample_corpus(study, fraction: float, seed: int = 0):
    """A view of ``study`` whose corpus keeps a seeded ``fraction`` of nouns and of adjectives.

    Returns ``(sub_study, kept)``: ``kept`` are the kept corpus indices (sorted), and every
    corpus-indexed array of ``sub_study`` is restricted to them.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction={fraction} is outside (0, 1]")
    rng = np.random.default_rng(seed)
    is_adj = study.corpus.is_adj
    kept = []
    for part in (np.flatnonzero(~is_adj), np.flatnonzero(is_adj)):
        n_keep = max(1, int(round(fraction * len(part)))) if len(part) else 0
        kept.append(np.sort(rng.choice(part, size=n_keep, replace=False)))
    kept = np.sort(np.concatenate(kept))
    c = study.corpus
    sub_corpus = Corpus(words=[c.words[i] for i in kept], is_adj=c.is_adj[kept],
                        lexnames=[c.lexnames[i] for i in kept], offsets=c.offsets[kept])
    adj_rank = np.cumsum(is_adj) - 1  # corpus index -> row of csp_adjectives
    texts = TextFeatures(id_labels=study.texts.id_labels, candidates=study.texts.candidates[kept],
                         csp_adjectives=study.texts.csp_adjectives[adj_rank[kept[is_adj[kept]]]],
                         is_adj=is_adj[kept])
    sub = replace(study, corpus=sub_corpus, texts=texts,
                  id_like=None if study.id_like is None else study.id_like[kept])
    return sub, kept


def corpus_size_sweep(study, params, backbone: str, fractions, seed: int = 0, evaluation=None) -> pd.DataFrame:
    """Each mining method of params.yaml on seeded subsamples of the wild corpus (the paper's L ablation).

    Mining and scoring use the study's params for ``backbone``; for DNM the number of groups
    shrinks with the corpus, so a setting that breaks its normaliser condition is a rejected row.
    """
    rows = []
    mined = [m for m in params.methods if _methods.get(m).mines]
    for fraction in fractions:
        sub, _ = subsample_corpus(study, fraction, seed=seed)
        for method in mined:
            labels = dict(method=method, parameter="corpus_fraction", value=fraction, n_candidates=len(sub.corpus))
            try:
                idx = _methods.get(method).select_negatives(sub.texts, mining_params(params, method, backbone))
            except ValueError as err:
                rows += _invalid_rows(sub, err, **labels)
                continue
            for r in _rows_for_negatives(sub, method, idx, scoring_params(params, method, backbone),
                                         "corpus_fraction", fraction, evaluation):
                rows.append({**r, "n_candidates": len(sub.corpus)})
    return pd.DataFrame(rows)


def false_negative_table(study, negatives: dict) -> pd.DataFrame:
    """Per mined method: how many negatives, and (with ground truth) how many are ID-like.

    Columns: ``method``, ``n_negatives``, ``false_negative_rate`` (% of the selected negatives
    that are ID-like, i.e. the true tau of the selected set) and, in the first row,
    ``corpus_id_like_rate`` (% of the whole corpus). Without ground truth the rates are NaN.
    """
    rows = []
    corpus_rate = np.nan if study.id_like is None else 100.0 * float(study.id_like.mean())
    for method, idx in negatives.items():
        rate = np.nan if study.id_like is None else 100.0 * float(study.id_like[idx].mean())
        rows.append({"method": method, "n_negatives": len(idx), "false_negative_rate": rate,
                     "corpus_id_like_rate": corpus_rate})
    return pd.DataFrame(rows)


def score_distributions(study, dnm_negatives, dnm_params: dict, taus) -> pd.DataFrame:
    """DNM scores of every image for each tau in ``taus`` (tau = 0: no debiasing).

    Columns: ``tau``, ``split``, ``is_id``, ``score``. Each tau's scores are divided by their
    ID median so settings share one axis (ranking, hence every metric, is unchanged).
    """
    frames = []
    for tau in taus:
        scores = score_study(study, "dnm", dnm_negatives, replace(dnm_params, tau=tau))
        scale = float(np.median(scores[study.id_split]))
        for split, s in scores.items():
            frames.append(pd.DataFrame({"tau": tau, "split": split, "is_id": split == study.id_split,
                                        "score": s / scale}))
    return pd.concat(frames, ignore_index=True)


def best_value(sweep: pd.DataFrame, metric: str = "auroc") -> float:
    """The swept value with the best average ``metric`` (AUROC: highest; FPR95: lowest)."""
    avg = sweep[(sweep["ood_set"] == "average") & sweep["valid"]]
    if avg.empty:
        raise ValueError("the sweep has no valid 'average' rows")
    row = avg.loc[avg[metric].idxmax() if metric == "auroc" else avg[metric].idxmin()]
    return row["value"]


def false_negative_dose_sweep(study, dnm_negatives, neglabel_params, dnm_params, dnm_auto_params, rho_grid,
                              seed: int = 0, evaluation=None) -> pd.DataFrame:
    """Scores under a controlled dose of false negatives (simulated ground truth needed).

    A fixed set of ``n`` true negatives is drawn (seeded) from ``dnm_negatives`` with the ID-like
    ones removed; for each ``rho`` of ``rho_grid`` its first ``round(rho * n)`` entries are
    replaced by ground-truth ID-like corpus labels (``study.id_like``; a seeded order, so doses are
    nested). ``n`` = the true negatives available, capped at ``#ID-like / max(rho)`` so that every
    dose can be filled. Each dosed set is scored by NegLabel (``neglabel_params``), DNM with
    ``tau = rho`` (the oracle), DNM with ``dnm_params``' tau and ``dnm_auto`` (``dnm_auto_params``,
    tau estimated on the dosed set: :meth:`~ood_core.methods.base.Method.resolve_params`).

    Rows as the other sweeps (``parameter = "rho"``, ``value = rho``, metrics in %), plus
    ``variant`` (``"neglabel"``, ``"oracle"``, ``"params"``, ``"auto"``), ``tau`` (the tau used,
    NaN for NegLabel), ``tau_low`` / ``tau_high`` (the estimate's 95 % interval, auto only),
    ``n_negatives`` and ``false_negative_rate`` (% ID-like in the dosed set: ``100 * rho`` up to rounding).
    """
    if study.id_like is None:
        raise ValueError("false_negative_dose_sweep needs ground truth (study.id_like): run it on the "
                         "simulated benchmark")
    rhos = [float(r) for r in rho_grid]
    if not rhos or any(not 0.0 <= r < 1.0 for r in rhos):
        raise ValueError(f"rho_grid={list(rho_grid)} must be a non-empty list of fractions in [0, 1)")
    dnm_negatives = np.asarray(dnm_negatives, dtype=np.int64)
    true_negatives = dnm_negatives[~study.id_like[dnm_negatives]]
    id_like = np.flatnonzero(study.id_like)
    n = len(true_negatives) if max(rhos) == 0 else min(len(true_negatives), int(len(id_like) / max(rhos)))
    if n < 1:
        raise ValueError("no true negatives to dose: DNM's negatives are all ID-like")
    rng = np.random.default_rng(seed)
    base = rng.permutation(true_negatives)[:n]
    donors = rng.permutation(id_like)
    auto = _methods.get("dnm_auto")
    rows = []
    for rho in rhos:
        k = int(round(rho * n))
        idx = np.sort(np.concatenate([base[k:], donors[:k]]))
        runs = [("neglabel", "neglabel", neglabel_params, {"tau": np.nan}),
                ("oracle", "dnm", replace(dnm_params, tau=rho), {"tau": rho}),
                ("params", "dnm", dnm_params, {"tau": dnm_params.tau})]
        try:
            resolved, record = auto.resolve_params(study.texts, idx, dnm_auto_params)
            est = record.get("tau", {"estimate": resolved.tau, "low": np.nan, "high": np.nan})
            runs.append(("auto", "dnm_auto", resolved,
                         {"tau": est["estimate"], "tau_low": est["low"], "tau_high": est["high"]}))
        except ValueError as err:  # an estimate the score rejects is a result, not a crash
            rows += [{**r, "variant": "auto", "tau": np.nan}
                     for r in _invalid_rows(study, err, method="dnm_auto", parameter="rho", value=rho)]
        for variant, method, sp, extra in runs:
            rows += [{**r, "variant": variant, **extra}
                     for r in _rows_for_negatives(study, method, idx, sp, "rho", rho, evaluation)]
    return pd.DataFrame(rows)


DELTA_COLUMNS = ["key", "ood_set", "fpr95", "fpr95_low", "fpr95_high", "auroc", "auroc_low", "auroc_high",
                 "delta_fpr95", "delta_fpr95_low", "delta_fpr95_high", "delta_auroc", "delta_auroc_low",
                 "delta_auroc_high", "significant_fpr95", "significant_auroc", "is_reference"]
"""Columns of :func:`paired_delta_rows` (percent; ``significant_*``: the paired interval excludes 0)."""


def paired_delta_rows(pairs_by_key: dict, reference, evaluation=None, groups=None) -> pd.DataFrame:
    """Each score set's metrics and its paired difference against the ``reference`` one, in percent.

    Args:
        pairs_by_key: key (a swept value, or a method name) -> ``pairs`` (OOD set -> ``(id_scores,
            ood_scores)``), every entry scoring the same images (the same study).
        reference: the key to compare against (the params.yaml setting of a sweep; NegLabel or DNM
            in the main table); must be in ``pairs_by_key``.
        evaluation: params.yaml's ``evaluation`` block (None: its defaults). groups: OOD-set groups.

    Returns:
        One row per (key, OOD set, ``"average"`` and groups) with :data:`DELTA_COLUMNS`: the point
        metrics, their percentile bootstrap interval, ``delta_* = metric(key) - metric(reference)``
        and its **paired** interval (:func:`ood_core.bootstrap.difference_intervals`: every draw
        resamples the images once and evaluates both score sets on it), ``significant_*`` where
        that interval excludes 0. The reference's own rows have delta 0 and ``is_reference``.
        Each key's draws are made once (same seed, so the same resample weights for every key) and
        serve its own interval and its difference, so the paired intervals cost a subtraction.
    """
    if reference not in pairs_by_key:
        raise ValueError(f"reference={reference!r} is not among the keys {list(pairs_by_key)}; compare against "
                         "one of them (a sweep's params.yaml value must be on its grid)")
    ev = EvaluationParams() if evaluation is None else evaluation
    kw = dict(n_resamples=ev.n_resamples, seed=ev.seed, groups=groups)
    draws = {key: _bootstrap.bootstrap_draws(pairs, **kw) for key, pairs in pairs_by_key.items()}
    points = {key: _study.metrics_per_set(pairs, groups) for key, pairs in pairs_by_key.items()}
    q = [50.0 * (1.0 - ev.confidence), 50.0 * (1.0 + ev.confidence)]
    rows = []
    for key in pairs_by_key:
        deltas = _bootstrap.difference_intervals(draws[key], draws[reference], confidence=ev.confidence)
        for ood_set, by_metric in points[key].items():
            row = {"key": key, "ood_set": ood_set, "is_reference": key == reference}
            for m in ("fpr95", "auroc"):
                low, high = np.percentile(draws[key][ood_set][m], q)
                d_low, d_high = deltas[ood_set][m]
                row.update({m: 100.0 * by_metric[m], f"{m}_low": 100.0 * low, f"{m}_high": 100.0 * high,
                            f"delta_{m}": 100.0 * (by_metric[m] - points[reference][ood_set][m]),
                            f"delta_{m}_low": 100.0 * d_low, f"delta_{m}_high": 100.0 * d_high,
                            f"significant_{m}": bool(d_low > 0 or d_high < 0)})
            rows.append(row)
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def paired_sweep(study, method: str, negatives, base_params, parameter: str, values, evaluation=None,
                 groups=None) -> pd.DataFrame:
    """``method`` over ``values`` of one score ``parameter``, each point with its paired Δ against the
    params.yaml setting (``base_params``' value of ``parameter``, added to the grid if absent).

    Returns :func:`paired_delta_rows` with ``key`` renamed ``value`` and the columns ``method``,
    ``parameter``. A value the method rejects raises (a sweep over a test-time method's own
    parameters has no invalid region to show).
    """
    default = getattr(base_params, parameter)
    grid = list(values) + ([default] if default not in list(values) else [])
    pairs = {v: study_score_pairs(study, method, negatives, replace(base_params, **{parameter: v})) for v in grid}
    out = paired_delta_rows(pairs, default, evaluation, groups).rename(columns={"key": "value"})
    out.insert(0, "parameter", parameter)
    out.insert(0, "method", method)
    return out


def density_grid_sweep(study, density_params, dnm_params, ks, ratios_noun, evaluation=None) -> pd.DataFrame:
    """DNM over the joint grid ``k x ratio_noun`` of its density selection (every other parameter fixed).

    ``density_params``: DNM's typed mining parameters (``ratio_adj``, ``metric``, ``neighbours`` are
    kept); ``dnm_params``: its score parameters. The kNN densities are computed once for every k
    of the grid and each ratio reuses them. Rows as :func:`density_selection_sweep`'s with
    ``parameter = "k x ratio_noun"``, ``value = ratio_noun`` and the columns ``k``, ``ratio_noun``,
    ``n_negatives`` (and ``false_negative_rate``, percent, with ground truth).
    """
    texts = study.texts
    ks = [int(k) for k in ks]
    density = _mining.density_scores(texts.candidates, texts.is_adj, ks=sorted(set(ks)),
                                     metric=density_params.metric, neighbours=density_params.neighbours)
    rows = []
    for k in ks:
        for ratio_noun in ratios_noun:
            idx = _mining.select_by_density(density[k], texts.is_adj, ratio_noun, density_params.ratio_adj)
            rows += [{**r, "k": k, "ratio_noun": ratio_noun}
                     for r in _rows_for_negatives(study, "dnm", idx, dnm_params, "k x ratio_noun", ratio_noun,
                                                  evaluation)]
    return pd.DataFrame(rows)


def best_vs_true_tau(study, sweep: pd.DataFrame, dnm_negatives, neglabel_average: dict) -> dict:
    """Notebook 08's comparison: DNM's best tau in hindsight, the true tau of its negatives, NegLabel.

    ``sweep``: a :func:`tau_sweep` of DNM on ``dnm_negatives``; ``neglabel_average``: the
    ``"average"`` entry of :func:`method_metrics` for NegLabel (fractions, with ``auroc_low`` /
    ``auroc_high``). Returns ``best_tau`` (the swept tau with the highest average AUROC,
    :func:`best_value`), ``true_tau`` (the ID-like fraction of ``dnm_negatives``; NaN without
    ground truth), ``neglabel_auroc``, ``neglabel_auroc_low``, ``neglabel_auroc_high`` (percent).
    """
    idx = np.asarray(dnm_negatives, dtype=np.int64)
    true_tau = np.nan if study.id_like is None else float(study.id_like[idx].mean())
    return {"best_tau": best_value(sweep, "auroc"), "true_tau": true_tau,
            **{f"neglabel_{k}": 100.0 * neglabel_average[k] for k in ("auroc", "auroc_low", "auroc_high")}}


def tau_estimate_table(sweep: pd.DataFrame, estimate: dict, truth: float, params_tau: float) -> pd.DataFrame:
    """One row comparing DNM's estimated tau with the truth and the AUROC it gets (notebook 09).

    ``sweep``: a :func:`tau_sweep` whose grid holds ``estimate["estimate"]`` and ``params_tau``;
    ``estimate``: the ``tau`` record of ``dnm_auto``'s resolution (``estimator``, ``estimate``,
    ``low``, ``high``: fractions); ``truth``: the true ID-like share of the negatives (NaN without
    ground truth). Columns: the estimate and its interval, the truth (percent), ``covered``
    (None without truth), ``abs_error_pp`` (percentage points), and the average AUROC (%) at the
    estimate, at ``params_tau`` and at the best tau of the sweep (:func:`best_value`).
    """
    avg = sweep[(sweep["ood_set"] == "average") & sweep["valid"]].set_index("value")
    best = best_value(sweep, "auroc")
    has_truth = not np.isnan(truth)
    return pd.DataFrame([{
        "estimator": estimate["estimator"], "tau_estimate": 100 * estimate["estimate"],
        "tau_low": 100 * estimate["low"], "tau_high": 100 * estimate["high"], "tau_true": 100 * truth,
        "covered": (estimate["low"] <= truth <= estimate["high"]) if has_truth else None,
        "abs_error_pp": 100 * abs(estimate["estimate"] - truth),
        "auroc_at_estimate": avg.loc[estimate["estimate"], "auroc"], "params_tau": params_tau,
        "auroc_at_params_tau": avg.loc[params_tau, "auroc"], "best_tau_in_hindsight": best,
        "auroc_at_best_tau": avg.loc[best, "auroc"]}])


# ------------------------------------------------------------------------------------------------
# Each ablation's sweep from params (the ``run`` of its ``ood_study.ablations`` entry): one call
# ``run(study, params, backbone, grid, evaluation=None)``, ``grid`` its typed ``ablations.<name>``
# block, the negatives those the ``mine`` stage kept (``study.negatives``).


def run_tau(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`tau_sweep` of DNM over ``grid.grid`` (notebook 02)."""
    return tau_sweep(study, study.negatives("dnm"), scoring_params(params, "dnm", backbone), grid.grid, evaluation)


def run_temperature(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`temperature_sweep` of every listed method taking a temperature (notebook 03)."""
    scoring = params_by_method(params, backbone, "temperature")
    return temperature_sweep(study, {m: study.negatives(m) for m in scoring}, scoring, grid.grid, evaluation)


def run_groups(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`groups_sweep` of every listed grouped method (notebook 04)."""
    scoring = params_by_method(params, backbone, "n_groups")
    return groups_sweep(study, {m: study.negatives(m) for m in scoring}, scoring, grid.grid, evaluation)


def run_selection(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`density_selection_sweep` and :func:`neglabel_selection_sweep`, one table (notebook 05)."""
    return pd.concat([
        density_selection_sweep(study, mining_params(params, "dnm", backbone), scoring_params(params, "dnm", backbone),
                                grid.density_k, grid.density_ratio_noun, evaluation),
        neglabel_selection_sweep(study, mining_params(params, "neglabel", backbone),
                                 scoring_params(params, "neglabel", backbone), grid.neglabel_percentile,
                                 grid.neglabel_ratio, evaluation),
    ], ignore_index=True)


def run_corpus_size(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`corpus_size_sweep` over ``grid.fractions`` (notebook 06)."""
    return corpus_size_sweep(study, params, backbone, grid.fractions, grid.seed, evaluation)


def run_false_negatives(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`tau_sweep` of DNM over ``grid.tau_grid`` (notebook 08)."""
    return tau_sweep(study, study.negatives("dnm"), scoring_params(params, "dnm", backbone), grid.tau_grid,
                     evaluation)


def run_false_negative_dose(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`false_negative_dose_sweep` on DNM's negatives (notebook 09; simulated ground truth needed)."""
    return false_negative_dose_sweep(study, study.negatives("dnm"), scoring_params(params, "neglabel", backbone),
                                     scoring_params(params, "dnm", backbone),
                                     scoring_params(params, "dnm_auto", backbone), grid.rho_grid, grid.seed,
                                     evaluation)


def run_density_grid(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`density_grid_sweep` over ``grid.k x grid.ratio_noun`` (notebook 11)."""
    return density_grid_sweep(study, mining_params(params, "dnm", backbone), scoring_params(params, "dnm", backbone),
                              grid.k, grid.ratio_noun, evaluation)


def run_tanl(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`paired_sweep` of TANL over ``grid.gamma`` and over ``grid.memory_length`` (notebook 12)."""
    tanl = scoring_params(params, "tanl", backbone)
    negatives = study.negatives("tanl")
    return pd.concat([paired_sweep(study, "tanl", negatives, tanl, "gamma", grid.gamma, evaluation),
                      paired_sweep(study, "tanl", negatives, tanl, "memory_length", grid.memory_length, evaluation)],
                     ignore_index=True)


def run_renyi_order(study, params, backbone: str, grid, evaluation=None) -> pd.DataFrame:
    """:func:`paired_sweep` of the Renyi margin over its order ``grid.r`` (notebook 13)."""
    return paired_sweep(study, "renyi", study.negatives("renyi"), scoring_params(params, "renyi", backbone), "r",
                        grid.r, evaluation)
