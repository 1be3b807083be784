"""What byte-identity costs: the scores in ``ood_core.exact.exact_products`` against the float32 default.

Prints, for DNM's and NegLabel's grouped scores, Energy and the Rényi margin on seeded random unit
vectors (float32 inputs, the simulated study's shape by default: 10,000 images, 1,000 ID labels,
12,000 negatives, d = 512), the best wall time of ``--repeats`` runs on the default float32 path
and inside ``exact_products()`` (float64, grid rows, rounded scores), and their ratio, in one run.

    python -m benchmarks.bench_exact
    python -m benchmarks.bench_exact --n-images 2000 --repeats 1      # quick
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.bench_scoring import best_time, unit_rows
from ood_core import scoring
from ood_core.exact import exact_products
from ood_core.methods.energy import energy
from ood_core.methods.renyi import renyi_margin


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--n-images", type=int, default=10_000)
    cli.add_argument("--n-id", type=int, default=1_000)
    cli.add_argument("--n-neg", type=int, default=12_000)
    cli.add_argument("--dim", type=int, default=512)
    cli.add_argument("--repeats", type=int, default=2)
    args = cli.parse_args(argv)
    rng = np.random.default_rng(0)
    # float32 numpy rows: the inputs the application passes (bench_scoring's helper gives tensors)
    img, ids, neg = (unit_rows(rng, n, args.dim).numpy() for n in (args.n_images, args.n_id, args.n_neg))
    cases = {
        "dnm": lambda: scoring.dnm(img, ids, neg, temperature=0.01, tau=0.5, n_groups=100),
        "neglabel": lambda: scoring.neglabel(img, ids, neg, temperature=0.01, n_groups=100),
        "energy": lambda: energy(img, ids, temperature=0.01),
        "renyi": lambda: renyi_margin(img, ids, neg, temperature=0.01),
    }
    print(f"{args.n_images} images, {args.n_id} ID labels, {args.n_neg} negatives, d={args.dim}; "
          f"best of {args.repeats}")
    print(f"{'score':<10} {'float32 s':>10} {'exact s':>10} {'exact / float32':>16}")
    for name, fn in cases.items():
        fast = best_time(fn, args.repeats)
        with exact_products():
            exact = best_time(fn, args.repeats)
        print(f"{name:<10} {fast:10.2f} {exact:10.2f} {exact / fast:15.2f}x")


if __name__ == "__main__":
    main()
