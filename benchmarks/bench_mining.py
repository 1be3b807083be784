"""Benchmark ood_core.mining.density_select (DNM step 1) at corpus scale.

Prints the wall time of ``density_select`` (default 47,000 nouns + 10,000 adjectives, d = 512,
k = 100, metric "reference") and of the bare blocked matrix products it cannot avoid (same row
blocks within each part of speech, products only, results dropped), their ratio (target <= 1.3x)
and the process's peak RSS (target < 3 GB; the RSS right after loading torch and the data is
printed as the baseline it includes). Repeated on CUDA when ``torch.cuda.is_available()``.
Features are seeded random vectors with norms in [6, 10] (raw, un-normalised, like CLIP text
features). Timings on a shared 2-core machine are noisy; ``--repeats`` takes the best.

    python benchmarks/bench_mining.py                                  # full size
    python benchmarks/bench_mining.py --n-nouns 8000 --n-adj 2000      # quick run
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch

from ood_core import mining


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9


def products_only(x: torch.Tensor, is_adj: np.ndarray, block_size: int | None) -> None:
    """The blocked products of density_select and nothing else (same parts, same blocks)."""
    for flag in (False, True):
        rows = np.flatnonzero(is_adj == flag)
        part = x[torch.from_numpy(rows).to(x.device)]
        unit = part / torch.linalg.vector_norm(part, dim=1, keepdim=True)
        bs = mining._block_rows(block_size, rows.size, rows.size)
        for start in range(0, rows.size, bs):
            _ = unit[start:start + bs] @ unit.T
    if x.device.type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeats, device):
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-nouns", type=int, default=47_000)
    p.add_argument("--n-adj", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--metric", default="reference", choices=list(mining.METRICS))
    p.add_argument("--block-size", type=int, default=None, help="rows per block (default: mining's auto)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cuda", action="store_true")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    m = args.n_nouns + args.n_adj
    x = rng.standard_normal((m, args.dim), dtype=np.float32)
    x *= (rng.uniform(6, 10, size=(m, 1)) / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    is_adj = np.zeros(m, dtype=bool)
    is_adj[rng.permutation(m)[:args.n_adj]] = True
    xt = torch.from_numpy(x)
    bs = {pos: mining._block_rows(args.block_size, n, n) for pos, n in (("noun", args.n_nouns), ("adj", args.n_adj))}
    print(f"# {args.n_nouns} nouns + {args.n_adj} adjectives, d={args.dim}, k={args.k}, metric={args.metric}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; row blocks {bs}")
    print(f"baseline RSS (torch + data)     {rss_gb():8.2f} GB")

    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))
    for dev in devices:
        xd = xt.to(dev)
        kept = []
        t_sel = best_time(lambda: kept.append(mining.density_select(
            xd, is_adj, k=args.k, metric=args.metric, device=dev, block_size=args.block_size)), args.repeats, dev)
        peak = rss_gb()
        t_prod = best_time(lambda: products_only(xd, is_adj, args.block_size), args.repeats, dev)
        print(f"[{dev.type}] density_select          {t_sel:8.2f} s   ({kept[0].size} kept)")
        print(f"[{dev.type}] blocked products only   {t_prod:8.2f} s")
        print(f"[{dev.type}] ratio                   {t_sel / t_prod:8.2f} x   (target <= 1.3x)")
        if dev.type == "cpu":
            print(f"[cpu] peak RSS after select     {peak:8.2f} GB  (target < 3 GB)")
        else:
            print(f"[cuda] peak GPU memory          {torch.cuda.max_memory_allocated() / 1e9:8.2f} GB")


if __name__ == "__main__":
    main()
