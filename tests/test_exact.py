"""``ood_core.exact.exact_products``: scores that do not depend on the order of a product's sums.

Another CPU sums a GEMM in another order (its BLAS kernel differs). Permuting the embedding
coordinates of every input changes that order on *this* CPU without changing any true cosine,
so "bit-identical under a coordinate permutation" is a machine-independent stand-in for "the
same on another CPU". The float32 default path is shown to fail it (the check can see a change).
"""

import numpy as np
import pytest
import torch

from ood_core import _array, scoring
from ood_core.exact import GRID_BITS, exact_products, is_exact
from ood_core.methods.adaneg import adaneg_stream
from ood_core.methods.energy import energy
from ood_core.methods.renyi import renyi_margin
from ood_core.methods.tanl import tanl_stream


def _unit(rng, n, d, center=None, spread=1.0):
    x = rng.standard_normal((n, d)) * spread
    if center is not None:
        x += center
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    d = 256
    ids = _unit(rng, 40, d)
    # images near their labels (ID) or anywhere (OOD), negatives anywhere: realistic cosine spreads
    img = np.concatenate([_unit(rng, 150, d, center=3.0 * ids[rng.integers(0, 40, 150)]), _unit(rng, 150, d)])
    neg = _unit(rng, 500, d)
    return img, ids, neg


SCORES = {
    "mcm": lambda img, ids, neg: scoring.mcm(img, ids, temperature=1.0),
    "neglabel": lambda img, ids, neg: scoring.neglabel(img, ids, neg, temperature=0.01, n_groups=5),
    # sigma = 0: DNM's noisy label copies draw their noise in coordinate order, which a permutation changes
    "dnm": lambda img, ids, neg: scoring.dnm(img, ids, neg, temperature=0.01, tau=0.3, n_groups=10),
    "energy": lambda img, ids, neg: energy(img, ids, temperature=0.01),
    "adaneg": lambda img, ids, neg: adaneg_stream(img, ids, neg, temperature=0.01, n_groups=5, memory_length=5,
                                                  batch_size=64),
    "tanl": lambda img, ids, neg: tanl_stream(img, ids, neg, temperature=0.01, n_activated=50, memory_length=30,
                                              gamma=1, score_memory_length=200, batch_size=64),
    "renyi": lambda img, ids, neg: renyi_margin(img, ids, neg, temperature=0.01),
}


def _permuted(arrays, perm):
    return [a[:, perm].copy() for a in arrays]


@pytest.mark.parametrize("method", sorted(SCORES))
def test_exact_scores_do_not_depend_on_the_products_summation_order(data, method):
    perm = np.random.default_rng(1).permutation(data[0].shape[1])
    with exact_products():
        a = SCORES[method](*data)
        b = SCORES[method](*_permuted(data, perm))
    assert a.dtype == np.float64
    assert np.array_equal(a, b), f"{method}: {np.max(np.abs(a - b))}"
    # rounded to float32 precision (returned as float64)
    assert np.array_equal(a, a.astype(np.float32).astype(np.float64))


def test_the_default_float32_path_does_depend_on_it(data):
    """The check above can see an order change: the float32 products of the default path differ."""
    perm = np.random.default_rng(1).permutation(data[0].shape[1])
    changed = [m for m in ("neglabel", "dnm", "renyi")
               if not np.array_equal(SCORES[m](*data), SCORES[m](*_permuted(data, perm)))]
    assert changed, "permuting coordinates changed no float32 score: the exactness test would prove nothing"


def test_exact_scores_are_close_to_the_float64_scores(data):
    """The grid costs no accuracy that matters: a coordinate moves by <= 2**-23, a cosine by ~1e-7, a
    logit (x 1/T = 100) by ~1e-5, which is float32's own precision on these logits."""
    img, ids, neg = (x.astype(np.float64) for x in data)
    ref = scoring.dnm(img, ids, neg, temperature=0.01, tau=0.3, n_groups=10)
    with exact_products():
        got = scoring.dnm(*data, temperature=0.01, tau=0.3, n_groups=10)
    np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_grid_products_equal_integer_dot_products(data):
    """A product of two grid rows, scaled by 1/T, equals the integer dot product (int64, exact) times 2**-44."""
    img, ids, _ = data
    with exact_products():
        x = _array.l2_normalize(torch.from_numpy(img).to(torch.float64), "img")
        y = _array.l2_normalize(torch.from_numpy(ids).to(torch.float64), "ids")
    scale = 2 ** GRID_BITS
    kx = (x * scale).numpy()
    ky = (y * scale).numpy()
    assert np.array_equal(kx, np.round(kx)) and np.abs(kx).max() <= scale  # on the grid
    ix, iy = kx.astype(np.int64), ky.astype(np.int64)
    exact = ix @ iy.T  # int64 arithmetic: |sum| <= 2**44, no overflow
    for t, n in ((1.0, 1), (0.01, 100), (0.005, 200)):
        got = (x @ (y / t).T).numpy()
        assert np.array_equal(got, (exact * n).astype(np.float64) * 2.0 ** (-2 * GRID_BITS)), t


@pytest.mark.parametrize("temperature", [0.005, 0.01, 0.02, 0.05, 0.1, 1.0])
def test_dividing_a_grid_row_by_the_params_temperatures_is_exact(temperature):
    """``x / T == x * round(1 / T)`` for grid values and the temperatures params.yaml uses."""
    k = np.random.default_rng(0).integers(-2 ** GRID_BITS, 2 ** GRID_BITS, size=200_000)
    x = k.astype(np.float64) * 2.0 ** -GRID_BITS
    n = round(1 / temperature)
    assert np.array_equal(x / temperature, x * n) and (n << (2 * GRID_BITS)) < 2 ** 53


def test_the_context_nests_and_is_off_by_default():
    assert not is_exact()
    with exact_products():
        assert is_exact() and _array.compute_dtype(np.zeros(2, np.float32)) == torch.float64
        with exact_products(False):
            assert not is_exact()
        assert is_exact()
    assert not is_exact() and _array.compute_dtype(np.zeros(2, np.float32)) == torch.float32

    @exact_products()
    def inside():
        return is_exact()

    assert inside() and not is_exact()
