"""Stage ``score``: a method's scores and metrics on every split of a study.

``python -m ood_study.stages.score --benchmark B --backbone N --method M`` writes
``results/<study>/scores/<method>.npz`` (scores per split), ``.json`` (parameters, metrics,
negatives, and under ``resolved`` what was estimated from the data, e.g. DNM's ``tau: auto``) and
``metrics/<study>/<method>.json`` (the DVC metrics: FPR95 / AUROC / AUPR-In / AUPR-Out in %, plus
e.g. ``tau``'s estimate and 95 % interval).

Error bars (params.yaml ``evaluation``): every metric gets a percentile bootstrap interval over
images (:func:`ood_core.bootstrap.metric_intervals`; ``<KEY>_ci95`` in the DVC metrics,
``intervals`` in the details). A method whose score parameters have a ``seed`` (random groups or
a random stream: NegLabel, CSP, DNM, AdaNeg) is rerun with seeds ``seed .. seed + n_seeds - 1``;
the spread over those runs is ``<KEY>_seed_std`` in the DVC metrics, and ``seed_spread`` (mean,
std, min, max) and ``per_seed`` in the details. The scores and the point metrics are those of
``seed`` itself.

Bit-stable across machines and thread counts: both JSON files (metric fractions rounded to
:data:`~ood_study.study.SIG_DIGITS` significant digits by :func:`~ood_study.study.round_sig`,
the DVC summary to two decimals of a percent; sorted keys). Not bit-stable across machines: the
``.npz`` of raw scores (float32-derived sums may differ in the last bits); it has no timestamp
(:func:`~ood_study.study.write_npz`), so it is byte-identical when rerun on the same machine.
"""

from __future__ import annotations

import dataclasses
import time

from ood_core import methods as _methods
from ood_core.bootstrap import metric_intervals
from ood_core.evaluation import score_pairs
from ood_core.exact import exact_products
from ood_study.layout import Layout, study_name
from ood_study.method_params import scoring_params
from ood_study.params import StudyParams
from ood_study.stages import log, stage_main
from ood_study.study import (
    load_study,
    metrics_per_set,
    pair_arrays,
    round_sig,
    seed_spread,
    summarize,
    summary_metrics,
    write_json,
    write_npz,
)

PARAMS = ("method_params.{method}.scoring", "benchmark_sets.{benchmark}", "evaluation")


def run(params: StudyParams, layout: Layout, benchmark: str, backbone: str, method: str) -> None:
    m = _methods.get(method)
    base_sp = scoring_params(params, method, backbone)
    ev = params.get("evaluation")
    sets = params.sets(benchmark)
    study = load_study(layout, benchmark, backbone, sets.id, sets.ood)
    negatives = study.negatives(method)
    t0 = time.perf_counter()
    sp, resolved, pairs, per_set = _score(m, study, negatives, base_sp, sets.groups)
    tag = " (SIMULATED benchmark)" if study.is_simulated else ""
    log("score", f"{method}: average AUROC {100 * per_set['average']['auroc']:.2f} % "
        f"FPR95 {100 * per_set['average']['fpr95']:.2f} % in {time.perf_counter() - t0:.1f} s{tag}")

    t0 = time.perf_counter()
    intervals = metric_intervals(pairs, n_resamples=ev.n_resamples, confidence=ev.confidence, seed=ev.seed,
                                 groups=sets.groups)
    log("score", f"{method}: {100 * ev.confidence:g} % bootstrap intervals ({ev.n_resamples} resamples) "
        f"in {time.perf_counter() - t0:.1f} s")
    spread = None
    if "seed" in {f.name for f in dataclasses.fields(base_sp)} and ev.n_seeds > 1:
        t0 = time.perf_counter()
        per_seed = {base_sp.seed: per_set}
        for seed in range(base_sp.seed + 1, base_sp.seed + ev.n_seeds):
            # `sp` is resolved: an estimated parameter (tau: auto) stays that of the params seed, so the
            # spread is that of the random groups / stream alone.
            per_seed[seed] = _score(m, study, negatives, dataclasses.replace(sp, seed=seed), sets.groups)[3]
        spread = seed_spread(per_seed)
        log("score", f"{method}: seeds {list(per_seed)}: average AUROC {100 * spread['average']['auroc']['mean']:.2f}"
            f" +- {100 * spread['average']['auroc']['std']:.2f} (std) in {time.perf_counter() - t0:.1f} s")

    name = study_name(benchmark, backbone)
    write_npz(layout.scores(name, method), pair_arrays(pairs, study.id_split, m.test_time))
    detail = {"benchmark": benchmark, "backbone": backbone, "method": method, "simulated": study.is_simulated,
              "scoring_params": round_sig(dataclasses.asdict(sp)), "n_negatives": int(len(negatives)),
              "metrics": round_sig(per_set), "evaluation": dataclasses.asdict(ev),
              "intervals": round_sig({s: {k: {"low": lo, "high": hi} for k, (lo, hi) in iv.items()}
                                      for s, iv in intervals.items()})}
    if spread is not None:
        detail["seed_spread"] = round_sig(spread)
        detail["per_seed"] = round_sig({str(seed): run for seed, run in per_seed.items()})
    if study.id_like is not None and len(negatives):
        detail["false_negative_rate"] = round_sig(float(study.id_like[negatives].mean()))
    summary = summarize(per_set, intervals, spread, confidence=ev.confidence)
    if resolved:  # e.g. {"tau": {"estimate", "low", "high", "estimator", ...}}: the estimate and its interval
        detail["resolved"] = round_sig(resolved)
        summary.update(_resolved_summary(resolved))
    write_json(layout.score_details(name, method), detail)
    write_json(layout.metrics(name, method), summary)
    write_json(layout.summary_metrics(name, method), summary_metrics(summary, method))


@exact_products()  # scores identical on any CPU (ood_core.exact); the estimate of tau included
def _score(m, study, negatives, sp, groups=None):
    """``(params, resolved, pairs, per_set)`` of one run of method ``m`` with score parameters ``sp``."""
    # Parameters estimated from the data (DNM's tau: auto) are fixed once for the whole study.
    sp, resolved = m.resolve_params(study.texts, negatives, sp)
    pairs = score_pairs(m.name, study.images[study.id_split], {s: study.images[s] for s in study.ood_splits},
                        study.texts, negatives, sp)
    return sp, resolved, pairs, metrics_per_set(pairs, groups)


def _resolved_summary(resolved: dict) -> dict:
    """The DVC metrics view of estimated parameters: estimate and interval, 4 decimals
    (e.g. ``{"tau": {"estimate": 0.0296, "low": 0.0225, "high": 0.0472}}``)."""
    return {name: {k: round(float(rec[k]), 4) for k in ("estimate", "low", "high")} for name, rec in resolved.items()}


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, ("benchmark", "backbone", "method"), argv)


if __name__ == "__main__":
    main()
