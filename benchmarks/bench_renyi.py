"""Benchmark the Rényi energy-margin score against DNM's score on the same negatives and images.

Paper scale (default): 50,000 ID + 10,000 OOD images, 1,000 ID labels, 10,000 negatives, d = 512,
float32; synthetic CLIP-like embeddings from ``benchmarks/bench_adaneg.py``. Prints the seconds
(fastest of ``--repeats`` alternated runs) of DNM (default ``ScoringParams``: 100 groups, tau 0.5)
and of the Rényi margin (ImageNet-1k values: 15 descent steps, r = 1.05), their ratio (target:
Rényi <= 2x DNM) and the peak RSS (target < 4 GB), with ``--threads`` torch threads (default 1).

    nice -n 10 python benchmarks/bench_renyi.py          # paper scale
    python benchmarks/bench_renyi.py --small             # 5,000 + 1,000 images, 100 labels, 1,000 negatives
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from benchmarks.bench_adaneg import synthetic
from ood_core.features import TextFeatures
from ood_core.methods import dnm, renyi
from ood_core.metrics import ood_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="5,000 + 1,000 images, 100 labels, 1,000 negatives")
    ap.add_argument("--repeats", type=int, default=2, help="alternated runs of each; the fastest is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both methods")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_id, n_ood, k, m, d = (5_000, 1_000, 100, 1_000, 512) if args.small else (50_000, 10_000, 1_000, 10_000, 512)
    id_images, ood_images, ids, negs = synthetic(n_id, n_ood, k, m, d, 0.1)
    texts = TextFeatures(ids, negs, negs[:0], np.zeros(m, dtype=bool))
    negatives = np.arange(m)
    print(f"{n_id} ID + {n_ood} OOD images, {k} ID labels, {m} negatives, d={d}, float32, "
          f"torch threads={torch.get_num_threads()}")
    dp, rp = dnm.ScoringParams(), renyi.ScoringParams()
    t_dnm, t_renyi = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        d_id, d_ood = dnm.score(id_images, texts, negatives, dp), dnm.score(ood_images, texts, negatives, dp)
        t_dnm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r_id, r_ood = renyi.score(id_images, texts, negatives, rp), renyi.score(ood_images, texts, negatives, rp)
        t_renyi.append(time.perf_counter() - t0)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"DNM (n_groups={dp.n_groups}, tau={dp.tau}): {min(t_dnm):8.2f} s   AUROC {100 * ood_metrics(d_id, d_ood)['auroc']:.2f}")
    print(f"Renyi margin (epochs={rp.epochs}, r={rp.r}): {min(t_renyi):8.2f} s   "
          f"AUROC {100 * ood_metrics(r_id, r_ood)['auroc']:.2f}")
    print(f"ratio Renyi / DNM (fastest of {args.repeats}): {min(t_renyi) / min(t_dnm):.2f}x (target <= 2x); "
          f"runs DNM/Renyi s: {', '.join(f'{a:.1f}/{b:.1f}' for a, b in zip(t_dnm, t_renyi))}")
    print(f"peak RSS: {peak_gb:.2f} GB (target < 4 GB)")


if __name__ == "__main__":
    main()
