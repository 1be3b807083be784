"""Benchmark the paired Δ intervals of one ablation sweep against the sweep's own (unpaired) intervals.

One sweep = ``--points`` settings of a method on one study, paper scale: 50,000 ID scores and four
OOD sets of 10,000 (ImageNet-1k with iNaturalist, SUN, Places, Textures), 1,000 resamples. The
settings' scores are correlated (a common per-image part plus per-setting noise), as two settings
of one method are. Unpaired: :func:`ood_core.bootstrap.metric_intervals` per point (what every
sweep already computes). Paired: :func:`ood_study.experiments.paired_delta_rows` (each point's
interval *and* its paired Δ against the default, from one set of draws per point). Prints both
times, their ratio (target: paired <= 2x unpaired), the mean width of the paired vs unpaired Δ
intervals, and the peak RSS (target < 4 GB).

    python benchmarks/bench_paired.py               # paper scale, 5 points
    python benchmarks/bench_paired.py --small       # 5,000 ID, 1,000 per OOD set
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from ood_core import bootstrap
from ood_study.experiments import paired_delta_rows
from ood_study.params import EvaluationParams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--points", type=int, default=5)
    args = ap.parse_args()
    n_id, n_ood = (5_000, 1_000) if args.small else (50_000, 10_000)
    rng = np.random.default_rng(0)
    base_id, base_ood = rng.normal(1.0, 1.0, n_id), {s: rng.normal(0.0, 1.0, n_ood) for s in ("inat", "sun", "places", "dtd")}
    points = {}
    for p in range(args.points):
        noise = 0.3
        id_s = base_id + 0.05 * p + noise * rng.normal(size=n_id)
        points[p] = {s: (id_s, o + noise * rng.normal(size=n_ood)) for s, o in base_ood.items()}
    ev = EvaluationParams()
    print(f"{args.points} points x 4 OOD sets, {n_id} ID + {n_ood} OOD scores each, {ev.n_resamples} resamples")
    t0 = time.perf_counter()
    unpaired = {p: bootstrap.metric_intervals(pairs, n_resamples=ev.n_resamples, seed=ev.seed) for p, pairs in points.items()}
    t_unpaired = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = paired_delta_rows(points, 0, ev)
    t_paired = time.perf_counter() - t0
    avg = rows[(rows["ood_set"] == "average") & ~rows["is_reference"]]
    w_paired = float((avg["delta_auroc_high"] - avg["delta_auroc_low"]).mean())
    w_single = float(np.mean([100 * (unpaired[p]["average"]["auroc"][1] - unpaired[p]["average"]["auroc"][0])
                              for p in points]))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"unpaired intervals of the sweep: {t_unpaired:8.2f} s")
    print(f"paired Δ rows (own intervals + paired Δ): {t_paired:8.2f} s")
    print(f"ratio paired / unpaired: {t_paired / t_unpaired:.2f}x (target <= 2x)")
    print(f"average-AUROC interval width, % points: paired Δ {w_paired:.3f} vs one point's own {w_single:.3f} "
          f"(an unpaired Δ would be ~sqrt(2) x the latter)")
    print(f"peak RSS: {peak_gb:.2f} GB (target < 4 GB)")


if __name__ == "__main__":
    main()
