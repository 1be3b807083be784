"""Stage ``score``: a method's scores and metrics on every split of a study.

``python -m ood_study.stages.score --benchmark B --backbone N --method M`` writes
``results/<study>/scores/<method>.npz`` (scores per split), ``.json`` (parameters, metrics,
negatives) and ``metrics/<study>/<method>.json`` (the DVC metrics: FPR95 / AUROC in %).

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
from ood_core.evaluation import score_pairs
from ood_study.layout import Layout, study_name
from ood_study.method_params import scoring_params
from ood_study.params import StudyParams
from ood_study.stages import log, stage_main
from ood_study.study import evaluate, load_study, pair_arrays, round_sig, summarize, write_json, write_npz

PARAMS = ("method_params.{method}.scoring", "benchmark_sets.{benchmark}")


def run(params: StudyParams, layout: Layout, benchmark: str, backbone: str, method: str) -> None:
    m = _methods.get(method)
    sp = scoring_params(params, method, backbone)
    sets = params.sets(benchmark)
    study = load_study(layout, benchmark, backbone, sets.id, sets.ood)
    negatives = study.negatives(method)
    t0 = time.perf_counter()
    pairs = score_pairs(method, study.images[study.id_split], {s: study.images[s] for s in study.ood_splits},
                        study.texts, negatives, sp)
    per_set = evaluate(pairs)
    tag = " (SIMULATED benchmark)" if study.is_simulated else ""
    log("score", f"{method}: average AUROC {100 * per_set['average']['auroc']:.2f} % "
        f"FPR95 {100 * per_set['average']['fpr95']:.2f} % in {time.perf_counter() - t0:.1f} s{tag}")
    name = study_name(benchmark, backbone)
    write_npz(layout.scores(name, method), pair_arrays(pairs, study.id_split, m.test_time))
    detail = {"benchmark": benchmark, "backbone": backbone, "method": method, "simulated": study.is_simulated,
              "scoring_params": dataclasses.asdict(sp), "n_negatives": int(len(negatives)),
              "metrics": round_sig(per_set)}
    if study.id_like is not None and len(negatives):
        detail["false_negative_rate"] = round_sig(float(study.id_like[negatives].mean()))
    write_json(layout.score_details(name, method), detail)
    write_json(layout.metrics(name, method), summarize(per_set))


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, ("benchmark", "backbone", "method"), argv)


if __name__ == "__main__":
    main()
