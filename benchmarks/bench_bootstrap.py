"""Benchmark ood_core.bootstrap.metric_intervals against a naive resample-and-call loop.

One study's intervals = every method of params.yaml x its OOD sets, 1,000 resamples (the
default). Two scales:

  - simulated: the sizes of params.yaml's ``benchmark_sets.simulated.simulation`` (1,000 ID
    classes x ``images_per_id_class``; iNaturalist / SUN / Places = ``n_*`` synsets x
    ``images_per_ood_class``; Textures = the 36 DTD words WordNet lists as adjectives x that);
  - paper: 50,000 ID images and 4 OOD sets of 10,000 (ImageNet-1k val and the MOS sets, rounded).

Prints, per scale: ours (``metric_intervals`` once per method, all sets together; with 1 and 2
threads, ``n_jobs``), naive (per
resample: draw indices with replacement for the ID set and each OOD set, call
``ood_core.metrics.ood_metrics`` on every pair), run on ``--naive-resamples`` resamples of one
method and scaled linearly to 1,000 resamples x every method (the loop's cost is the same per
resample; the scaling is printed), and the ratio naive / ours (2 threads; the naive loop uses
one). Target: ours < 30 s per study on
2 cores. Scores are seeded normal draws cast to float32 (so ties occur as in real scores).

    python benchmarks/bench_bootstrap.py                      # both scales
    python benchmarks/bench_bootstrap.py --scale simulated --naive-resamples 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from ood_core import metrics
from ood_core.bootstrap import metric_intervals

REPO = Path(__file__).resolve().parent.parent
N_TEXTURES_CLASSES = 36  # DTD categories WordNet lists as adjectives (ood_core.simulate's docstring)


def study_sizes(scale: str) -> tuple[int, dict[str, int]]:
    if scale == "paper":
        return 50_000, {f"ood{i}": 10_000 for i in range(4)}
    sim = yaml.safe_load((REPO / "params.yaml").read_text())["benchmark_sets"]["simulated"]["simulation"]
    per = sim["images_per_ood_class"]
    return 1000 * sim["images_per_id_class"], {"sim-inaturalist": sim["n_inaturalist"] * per,
                                               "sim-sun": sim["n_sun"] * per, "sim-places": sim["n_places"] * per,
                                               "sim-textures": N_TEXTURES_CLASSES * per}


def make_pairs(rng, n_id: int, ood_sizes: dict[str, int]) -> dict:
    id_scores = rng.normal(1.0, 1.0, n_id).astype(np.float32).astype(np.float64)
    return {s: (id_scores, rng.normal(0.0, 1.0, n).astype(np.float32).astype(np.float64))
            for s, n in ood_sizes.items()}


def naive(pairs: dict, n_resamples: int, seed: int = 0) -> float:
    """Seconds for ``n_resamples`` draws of the resample-and-call loop over every set."""
    rng = np.random.default_rng(seed)
    n_id = next(iter(pairs.values()))[0].size
    t0 = time.perf_counter()
    for _ in range(n_resamples):
        id_idx = rng.integers(0, n_id, n_id)
        for id_scores, ood_scores in pairs.values():
            metrics.ood_metrics(id_scores[id_idx], ood_scores[rng.integers(0, ood_scores.size, ood_scores.size)])
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=["simulated", "paper", "both"], default="both")
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--naive-resamples", type=int, default=None,
                    help="resamples the naive loop runs before scaling (default: 50 simulated, 10 paper)")
    args = ap.parse_args(argv)
    methods = yaml.safe_load((REPO / "params.yaml").read_text())["methods"]
    rng = np.random.default_rng(0)
    for scale in (["simulated", "paper"] if args.scale == "both" else [args.scale]):
        n_id, ood_sizes = study_sizes(scale)
        study = [make_pairs(rng, n_id, ood_sizes) for _ in methods]
        times = {}
        for n_jobs in (1, 2):
            t0 = time.perf_counter()
            for pairs in study:
                metric_intervals(pairs, n_resamples=args.n_resamples, seed=0, n_jobs=n_jobs)
            times[n_jobs] = time.perf_counter() - t0
        ours = times[2]
        n_naive = args.naive_resamples or (50 if scale == "simulated" else 10)
        measured = naive(study[0], n_naive)
        naive_total = measured * (args.n_resamples / n_naive) * len(methods)
        print(f"[{scale}] {n_id:,} ID images, OOD sets {ood_sizes}, {len(methods)} methods, "
              f"{args.n_resamples} resamples")
        print(f"  ours  (metric_intervals, every method), 1 thread:  {times[1]:8.2f} s  "
              f"({times[1] / len(methods):.2f} s per method)")
        print(f"  ours  (metric_intervals, every method), 2 threads: {ours:8.2f} s  "
              f"({ours / len(methods):.2f} s per method)  target < 30 s: {'OK' if ours < 30 else 'MISSED'}")
        print(f"  naive (resample + ood_metrics), measured {n_naive} resamples x 1 method in {measured:.2f} s, "
              f"scaled x{args.n_resamples / n_naive:g} x{len(methods)} methods: {naive_total:8.1f} s")
        print(f"  ratio naive / ours: {naive_total / ours:.0f}x")


if __name__ == "__main__":
    main()
