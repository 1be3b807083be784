"""Benchmark TANL's stream score against the project's NegLabel score on the same images.

Paper scale (default): 50,000 ID + 10,000 OOD images, 1,000 ID labels, a corpus of 10,000 labels
(TANL picks its 1,000 activated negatives per batch from all of it; NegLabel scores the same
10,000 as negatives), d = 512, float32; synthetic CLIP-like embeddings from
``benchmarks/bench_adaneg.py`` (ID images around ID labels, OOD images around corpus labels,
``--hard`` of them around ID labels).

Prints the seconds (fastest of ``--repeats`` alternated runs) of NegLabel (default ``ScoringParams``,
ID and OOD sets scored one after the other as the pipeline does) and of TANL (``score_stream`` with
the released parameters, ``gamma`` as given), their ratio (target: TANL <= 3x NegLabel) and the
process's peak RSS (target < 4 GB). Both with ``--threads`` torch threads (default 1).

    nice -n 10 python benchmarks/bench_tanl.py           # paper scale
    python benchmarks/bench_tanl.py --small              # 5,000 + 1,000 images, 100 labels, 2,000 corpus labels
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from benchmarks.bench_adaneg import synthetic
from ood_core.features import TextFeatures
from ood_core.methods import neglabel, tanl
from ood_core.metrics import ood_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="5,000 + 1,000 images, 100 labels, 2,000 corpus labels")
    ap.add_argument("--hard", type=float, default=0.1, help="fraction of OOD images drawn around ID labels")
    ap.add_argument("--gamma", type=int, default=1, help="TANL's gamma (the script sweeps 2 1 0)")
    ap.add_argument("--repeats", type=int, default=2, help="alternated runs of each; the fastest is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both methods")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_id, n_ood, k, m, d = (5_000, 1_000, 100, 2_000, 512) if args.small else (50_000, 10_000, 1_000, 10_000, 512)
    id_images, ood_images, ids, corpus = synthetic(n_id, n_ood, k, m, d, args.hard)
    texts = TextFeatures(ids, corpus, corpus[:0], np.zeros(m, dtype=bool))
    every = np.arange(m)
    print(f"{n_id} ID + {n_ood} OOD images, {k} ID labels, {m} corpus labels, d={d}, float32, "
          f"torch threads={torch.get_num_threads()}")
    nl_params = neglabel.ScoringParams()
    tanl_params = tanl.ScoringParams(gamma=args.gamma, n_activated=min(1000, m // 2))
    t_nl, t_tanl = [], []
    for _ in range(args.repeats):  # alternated, so a change in the machine's load hits both alike
        t0 = time.perf_counter()
        nl_id = neglabel.score(id_images, texts, every, nl_params)
        nl_ood = neglabel.score(ood_images, texts, every, nl_params)
        t_nl.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ta_id, ta_ood = tanl.score_stream(id_images, ood_images, texts, every, tanl_params)
        t_tanl.append(time.perf_counter() - t0)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"NegLabel (n_groups={nl_params.n_groups}): {min(t_nl):8.2f} s   AUROC {100 * ood_metrics(nl_id, nl_ood)['auroc']:.2f}")
    print(f"TANL (gamma={tanl_params.gamma}, beta={tanl_params.n_activated}, released params): {min(t_tanl):8.2f} s   "
          f"AUROC {100 * ood_metrics(ta_id, ta_ood)['auroc']:.2f}")
    print(f"ratio TANL / NegLabel (fastest of {args.repeats}): {min(t_tanl) / min(t_nl):.2f}x (target <= 3x); "
          f"runs NegLabel/TANL s: {', '.join(f'{a:.1f}/{b:.1f}' for a, b in zip(t_nl, t_tanl))}")
    print(f"peak RSS: {peak_gb:.2f} GB (target < 4 GB)")


if __name__ == "__main__":
    main()
