"""Exact similarity products: scores that are byte-identical on any CPU.

A float32 (or float64) matrix product is a sum whose order depends on the BLAS kernel, and the
kernel depends on the CPU's instruction set (MKL and OpenBLAS dispatch per CPU), so the same
embeddings give scores that differ in their last bits on another machine. At ``T = 0.01`` the
logits are cosines times 100, so those bits reach every score.

Inside :func:`exact_products` every score of the package is computed so that this cannot happen:

- **float64 arithmetic**, whatever the input dtype (``ood_core._array.compute_dtype``);
- **unit rows on a grid**: each L2-normalised row (images, labels, negatives, AdaNeg's proxies,
  DNM's noisy label copies) is rounded to a multiple of ``2**-GRID_BITS`` (``GRID_BITS = 22``:
  at most 1.2e-7 per coordinate, the size of a float32 rounding). A product of two such rows,
  scaled by an integer ``n = 1 / T < 512``, is a sum of integers times ``2**-44`` below
  ``2**53`` in magnitude (``|sum| <= n * ||a|| * ||b|| * 2**44``), so **every partial sum is exact in
  float64 and the GEMM's result does not depend on its summation order**: it is the same on every
  CPU, thread count and batch size. (``x / T`` equals ``x * n`` exactly for these ``x`` for the temperatures of params.yaml,
  ``T = 0.005, 0.01, 0.02, 0.05, 0.1, 1``; tested in ``tests/test_exact.py``.) A temperature whose
  inverse is not such an integer keeps float64 products, whose last bits may still differ;
- **scores rounded to float32 precision** (returned as float64): what remains after the products
  (``exp``, row sums, the AdaNeg / TANL / Renyi updates) is float64 arithmetic whose last bit may
  differ between vectorised kernels (a relative 1e-16); rounding to 24 bits hides it unless a
  score lies within that distance of a float32 rounding boundary, a chance of about 1e-8 per score
  (about 1e-3 for a whole ``dvc repro`` of the simulated study, ~1e5 scores).

Cost: float64 products and exps, about twice the float32 time (``benchmarks/bench_exact.py``).
The library's default stays the fast float32 path; the application (``ood_study``) computes every
score it writes inside this context (``ood_study.experiments``, the score stage).
"""

from __future__ import annotations

import contextlib
import contextvars

__all__ = ["GRID_BITS", "exact_products", "is_exact"]

#: unit-row coordinates are multiples of 2**-GRID_BITS inside :func:`exact_products`
GRID_BITS = 22

_EXACT = contextvars.ContextVar("ood_core_exact_products", default=False)


@contextlib.contextmanager
def exact_products(enabled: bool = True):
    """Compute every score inside the block (or decorated function) exactly, as the module says.

    Usable as ``with exact_products(): ...`` or as a decorator ``@exact_products()``; nests, and
    ``exact_products(False)`` turns it off inside. Thread- and task-local (a ``ContextVar``).
    """
    token = _EXACT.set(bool(enabled))
    try:
        yield
    finally:
        _EXACT.reset(token)


def is_exact() -> bool:
    """Whether the caller is inside :func:`exact_products`."""
    return _EXACT.get()
