"""Benchmark AdaNeg's stream score against the project's NegLabel score on the same images.

Paper scale (default): 50,000 ID + 10,000 OOD images, 1,000 ID labels, 10,000 negatives, d = 512,
float32 (the size of one ImageNet-1k ID / OOD pair with NegLabel's 10,000 negatives). Synthetic
CLIP-like embeddings, seeded: each image is ``0.3 * its label + noise`` (cosine ~0.3 to its label,
~0 +- 0.04 to the others), ID images around the ID labels, OOD images around the negatives, and
``--hard`` of the OOD images around ID labels (so both memories fill as in a real run).

Prints the seconds (fastest of ``--repeats`` alternated runs) of NegLabel (``ood_core.methods.neglabel``'s score with its default
``ScoringParams``, ID and OOD sets scored one after the other as the pipeline does), of AdaNeg
(``ood_core.methods.adaneg`` ``score_stream`` with the released hyper-parameters), their ratio
(target: AdaNeg <= 3x NegLabel), how full AdaNeg's memory ended, and the process's peak RSS
(target < 4 GB; ``resource.getrusage``, which includes the inputs). Both run with ``--threads``
torch threads (default 1).

    nice -n 10 python benchmarks/bench_adaneg.py           # paper scale
    python benchmarks/bench_adaneg.py --small              # 5,000 + 1,000 images, 100 labels, 1,000 negatives
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from ood_core.features import TextFeatures
from ood_core.methods import adaneg, neglabel


def synthetic(n_id: int, n_ood: int, k: int, m: int, d: int, hard: float, seed: int = 0):
    """Unit-norm float32 ``(id_images, ood_images, id_labels, negatives)`` as described above."""
    rng = np.random.default_rng(seed)

    def unit(a):
        return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)

    ids, negs = unit(rng.standard_normal((k, d))), unit(rng.standard_normal((m, d)))

    def around(centres, n):
        noise = unit(rng.standard_normal((n, d)))
        return unit(0.3 * centres[rng.integers(0, len(centres), n)] + np.sqrt(1 - 0.09) * noise)

    n_hard = int(round(hard * n_ood))
    ood = np.concatenate([around(negs, n_ood - n_hard), around(ids, n_hard)])
    return around(ids, n_id), ood, ids, negs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="5,000 + 1,000 images, 100 labels, 1,000 negatives")
    ap.add_argument("--hard", type=float, default=0.1, help="fraction of OOD images drawn around ID labels")
    ap.add_argument("--seed", type=int, default=0, help="AdaNeg's stream seed")
    ap.add_argument("--repeats", type=int, default=2, help="alternated runs of each; the fastest is reported")
    ap.add_argument("--task-adaptive", action="store_true", help="time sample_adaptive=False instead")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for both methods (default 1: on a shared machine, multi-threaded small "
                         "ops wait for descheduled threads, which penalises AdaNeg's many small passes)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_id, n_ood, k, m, d = (5_000, 1_000, 100, 1_000, 512) if args.small else (50_000, 10_000, 1_000, 10_000, 512)
    id_images, ood_images, ids, negs = synthetic(n_id, n_ood, k, m, d, args.hard)
    texts = TextFeatures(ids, negs, negs[:0], np.zeros(m, dtype=bool))
    negatives = np.arange(m)
    print(f"{n_id} ID + {n_ood} OOD images, {k} ID labels, {m} negatives, d={d}, float32, "
          f"torch threads={torch.get_num_threads()}")

    nl_params = neglabel.ScoringParams()
    ada_params = adaneg.ScoringParams(seed=args.seed, sample_adaptive=not args.task_adaptive)
    t_nl, t_ada = [], []
    for _ in range(args.repeats):  # alternated, so a change in the machine's load hits both alike
        t0 = time.perf_counter()
        nl_id = neglabel.score(id_images, texts, negatives, nl_params)
        nl_ood = neglabel.score(ood_images, texts, negatives, nl_params)
        t_nl.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ada_id, ada_ood = adaneg.score_stream(id_images, ood_images, texts, negatives, ada_params)
        t_ada.append(time.perf_counter() - t0)

    from ood_core.metrics import ood_metrics

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    runs = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(t_nl, t_ada))
    print(f"NegLabel (n_groups={nl_params.n_groups}): {min(t_nl):8.2f} s   AUROC "
          f"{100 * ood_metrics(nl_id, nl_ood)['auroc']:.2f}")
    print(f"AdaNeg ({'sample' if ada_params.sample_adaptive else 'task'}-adaptive, released params): "
          f"{min(t_ada):8.2f} s   AUROC {100 * ood_metrics(ada_id, ada_ood)['auroc']:.2f}")
    print(f"ratio AdaNeg / NegLabel (fastest of {args.repeats}): {min(t_ada) / min(t_nl):.2f}x (target <= 3x); "
          f"runs NegLabel/AdaNeg s: {runs}")
    print(f"peak RSS: {peak_gb:.2f} GB (target < 4 GB)")


if __name__ == "__main__":
    main()
