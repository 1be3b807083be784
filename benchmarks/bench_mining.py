"""Benchmark ood_core.mining.density_select (DNM step 1) at corpus scale.

Prints the wall time of ``density_select`` (default 47,000 nouns + 10,000 adjectives = 57,000
candidates, d = 512, k = 100, metric "reference", neighbours over the whole pool as the released
code) and of the bare blocked matrix products it cannot avoid (the same row blocks of the same
search set, ``torch.mm(unit[block], unit.T, out=buf)`` into one preallocated block, inner size d,
results dropped), their ratio (target <= 1.3x) and the process's peak RSS (target < 3 GB; the RSS right
after loading torch and the data is printed as the baseline it includes). Repeated on CUDA when
``torch.cuda.is_available()``. Features are seeded random directions with norms ~ N(9, 1)
(raw, un-normalised, like CLIP text features). Only public ``ood_core.mining`` functions are
called (the row blocking comes from ``mining.knn_block_rows``). Timings on a shared 2-core
machine are noisy: ``--repeats`` interleaves select and products runs and takes the best of each.

    python benchmarks/bench_mining.py                                  # full size
    python benchmarks/bench_mining.py --repeats 3                      # best of 3
    python benchmarks/bench_mining.py --n-nouns 8000 --n-adj 2000      # quick run
    python benchmarks/bench_mining.py --neighbours per_pos             # the per-POS option
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time

import numpy as np
import torch

from ood_core import mining


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9


def search_sets(is_adj: np.ndarray, neighbours: str) -> list[np.ndarray]:
    """Row indices of each set searched for neighbours: the whole pool, or each part of speech."""
    if neighbours == "pool":
        return [np.arange(is_adj.size)]
    return [rows for rows in (np.flatnonzero(~is_adj), np.flatnonzero(is_adj)) if rows.size]


def products_only(x: torch.Tensor, sets: list[np.ndarray], block_size: int | None) -> None:
    """The bare blocked products of density_select and nothing else: for each search set and each of
    its row blocks (the same blocks, ``mining.knn_block_rows``), ``unit[block] @ unit.T`` of inner size
    d into one preallocated block (``torch.mm(..., out=)``; no bias, no selection, results dropped)."""
    for rows in sets:
        part = x[torch.from_numpy(rows).to(x.device)]
        unit = part / torch.linalg.vector_norm(part, dim=1, keepdim=True)
        n = rows.size
        bs = mining.knn_block_rows(n, block_size)
        buf = unit.new_empty((min(bs, n), n))
        for start in range(0, n, bs):
            stop = min(n, start + bs)
            torch.mm(unit[start:stop], unit.T, out=buf[:stop - start])
    if x.device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-nouns", type=int, default=47_000)
    p.add_argument("--n-adj", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--metric", default="reference", choices=list(mining.METRICS))
    p.add_argument("--neighbours", default="pool", choices=list(mining.NEIGHBOURS))
    p.add_argument("--block-size", type=int, default=None, help="rows per block (default: mining.knn_block_rows)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cuda", action="store_true")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    m = args.n_nouns + args.n_adj
    x = rng.standard_normal((m, args.dim), dtype=np.float32)
    target_norms = np.clip(rng.normal(9.0, 1.0, size=(m, 1)), 2.0, None)
    x *= (target_norms / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    is_adj = np.zeros(m, dtype=bool)
    is_adj[rng.permutation(m)[:args.n_adj]] = True
    xt = torch.from_numpy(x)
    sets = search_sets(is_adj, args.neighbours)
    blocks = [mining.knn_block_rows(rows.size, args.block_size) for rows in sets]
    used = f"{args.k + 1} distances, self not masked" if args.metric == "reference" else f"{args.k} others"
    print(f"# {args.n_nouns} nouns + {args.n_adj} adjectives, d={args.dim}, k={args.k} ({used}), "
          f"metric={args.metric}, neighbours={args.neighbours}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; search sets {[int(r.size) for r in sets]}, row blocks {blocks}")
    print(f"baseline RSS (torch + data)     {rss_gb():8.2f} GB")

    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))
    for dev in devices:
        xd = xt.to(dev)
        kept = []
        runs = {"select": lambda: kept.append(mining.density_select(
                    xd, is_adj, k=args.k, metric=args.metric, neighbours=args.neighbours, device=dev,
                    block_size=args.block_size)),
                "products": lambda: products_only(xd, sets, args.block_size)}
        best = {name: math.inf for name in runs}
        peak = None
        for _ in range(args.repeats):  # interleaved, so a burst of load hits both alike
            for name, fn in runs.items():
                best[name] = min(best[name], timed(fn, dev))
                if peak is None:
                    peak = rss_gb()  # after the first select, before any products-only run
        assert all(np.array_equal(kept[0], other) for other in kept[1:]), "density_select is not deterministic"
        t_sel, t_prod = best["select"], best["products"]
        print(f"[{dev.type}] density_select          {t_sel:8.2f} s   ({kept[0].size} kept)")
        print(f"[{dev.type}] blocked products only   {t_prod:8.2f} s")
        print(f"[{dev.type}] ratio                   {t_sel / t_prod:8.2f} x   (target <= 1.3x)")
        if dev.type == "cpu":
            print(f"[cpu] peak RSS after select     {peak:8.2f} GB  (target < 3 GB)")
        else:
            print(f"[cuda] peak GPU memory          {torch.cuda.max_memory_allocated() / 1e9:8.2f} GB")


if __name__ == "__main__":
    main()
