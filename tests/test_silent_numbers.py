"""No silent numbers: every score is finite or a ValueError that names the cause, checked against
expectations computed here (float64 / log-space references, numpy's finfo limits)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ood_core import _array, scoring
from ood_core._params import parse
from ood_core.methods import neglabel as neglabel_method
from ood_core.methods.energy import energy
from ood_core.methods.maxlogit import max_logit

F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)


def _data(n=6, k=4, m=12, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((k, d)).astype(np.float32),
            rng.standard_normal((m, d)).astype(np.float32))


def _cosines(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T


def _log_space_mcm(img, ids, t):
    """max_i softmax(s / T)_i = 1 / sum_i exp((s_i - s_max) / T), in Python floats (no overflow)."""
    return np.array([1.0 / sum(math.exp((s - row.max()) / t) for s in row) for row in _cosines(img, ids)])


# Score functions with one argument list: (name, call(img, ids, neg, **kw), takes a temperature).
SCORES = {
    "mcm": lambda i, y, n, **kw: scoring.mcm(i, y, **kw),
    "neglabel": lambda i, y, n, **kw: scoring.neglabel(i, y, n, n_groups=3, **kw),
    "dnm": lambda i, y, n, **kw: scoring.dnm(i, y, n, tau=0.2, n_groups=3, **kw),
    "energy": lambda i, y, n, **kw: energy(i, y, **kw),
    "max_logit": lambda i, y, n, **kw: max_logit(i, y),
}
TEMPERATURE_SCORES = ["mcm", "neglabel", "dnm"]


# --- 1. temperatures the compute dtype cannot hold ----------------------------------------------

@pytest.mark.parametrize("name", TEMPERATURE_SCORES)
@pytest.mark.parametrize("temperature", [1e-39, F32_TINY / 2, 1e-45, 1e-300])
def test_temperature_too_small_for_float32_raises_naming_it(name, temperature):
    # 1 / T > float32 max (3.4e38) or T subnormal: the logits s / T overflow float32.
    assert 1.0 / temperature > F32_MAX / 2 or temperature < F32_TINY
    img, ids, neg = _data()
    with pytest.raises(ValueError, match=r"temperature=.* is too small for torch\.float32 arithmetic.*"
                                         r"use temperature >= 1\.18e-38, or pass float64 inputs"):
        SCORES[name](img, ids, neg, temperature=temperature)


@pytest.mark.parametrize("name", TEMPERATURE_SCORES)
def test_temperature_too_small_for_float64_raises_naming_it(name):
    img, ids, neg = (a.astype(np.float64) for a in _data())
    with pytest.raises(ValueError, match=r"temperature=5e-324 is too small for torch\.float64 arithmetic"):
        SCORES[name](img, ids, neg, temperature=5e-324)


def test_mcm_at_extreme_temperatures_matches_the_log_space_reference():
    img, ids, _ = _data(n=20)
    # Just above float32's limit the scores are exact (1 / sum of exps, the top one dominating);
    # at T = 1e-3 float32's cosine rounding (~1e-7) is magnified 1000 times in the logits.
    for temperature, rtol in ((2e-38, 1e-7), (1e-30, 1e-7), (1e-3, 1e-4)):
        got = scoring.mcm(img, ids, temperature)
        np.testing.assert_allclose(got, _log_space_mcm(img, ids, temperature), rtol=rtol)
    # Below float32's limit, float64 inputs still give the reference.
    np.testing.assert_allclose(scoring.mcm(img.astype(np.float64), ids, 1e-39), _log_space_mcm(img, ids, 1e-39),
                               rtol=1e-12)


def test_energy_temperature_too_small_for_float32_raises():
    img, ids, _ = _data()
    with pytest.raises(ValueError, match=r"temperature=1e-39 is too small for torch\.float32"):
        energy(img, ids, temperature=1e-39)


def test_energy_is_finite_and_exact_down_to_tiny_temperatures_in_float64():
    img, ids, _ = _data()
    cos = _cosines(img, ids)
    for temperature in (1.0, 1e-3, 1e-39):
        # T * logsumexp(s / T) = s_max + T * log(sum exp((s - s_max) / T))
        ref = cos.max(axis=1) + temperature * np.log(np.exp((cos - cos.max(axis=1, keepdims=True)) / temperature).sum(1))
        np.testing.assert_allclose(energy(img.astype(np.float64), ids, temperature), ref, rtol=1e-12)


def test_a_non_finite_score_is_refused_not_returned(monkeypatch):
    # The last guard: whatever produces a NaN inside the kernel, the caller gets a ValueError.
    img, ids, neg = _data()
    real_softmax = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda x, dim: real_softmax(x, dim) * float("nan"))
    with pytest.raises(ValueError, match=r"the MCM score is non-finite \(nan\) for 6 image\(s\), first row 0.*"
                                         r"temperature=1\.0"):
        scoring.mcm(img, ids, temperature=1.0)
    with pytest.raises(ValueError, match=r"the NegLabel score is non-finite"):
        scoring.neglabel(img, ids, neg, n_groups=3)


def test_dnm_sigma_too_large_for_the_dtype_raises_naming_it():
    img, ids, neg = _data()
    with pytest.raises(ValueError, match=r"sigma=1e\+38 is too large for torch\.float32"):
        scoring.dnm(img, ids, neg, tau=0.2, n_groups=3, sigma=1e38)
    # float64 holds it: the noisy copies are then (numerically) pure noise directions, still finite.
    got = scoring.dnm(img.astype(np.float64), ids, neg, tau=0.2, n_groups=3, sigma=1e38, temperature=1.0)
    assert np.isfinite(got).all()


# --- 2. overflow-safe L2 normalisation -----------------------------------------------------------

def test_l2_normalize_survives_squared_norm_overflow_and_underflow():
    img, _, _ = _data(n=3)
    ref = img.astype(np.float64) / np.linalg.norm(img.astype(np.float64), axis=1, keepdims=True)
    plain = _array.l2_normalize(torch.from_numpy(img), "img")
    for factor in (2.0 ** 83, 2.0 ** -83):  # norm ~1e25 (squares overflow float32) and ~1e-25 (underflow)
        scaled = _array.l2_normalize(torch.from_numpy(img * np.float32(factor)), "img")
        assert torch.equal(scaled, plain)  # power-of-two multiples: bit-identical
    for factor in (1e25, 1e-25, 1e30):
        scaled = (img.astype(np.float64) * factor).astype(np.float32)
        with np.errstate(over="ignore", under="ignore"):
            squared = np.sum(scaled * scaled, axis=1)  # float32: inf for 1e25 / 1e30, 0 for 1e-25
        assert (np.isinf(squared) if factor > 1 else squared == 0).all()
        np.testing.assert_allclose(_array.l2_normalize(torch.from_numpy(scaled), "img").numpy(), ref, rtol=1e-6,
                                   atol=1e-7)
    # Entries near float32's max (the power of two above them would be inf) and subnormal ones.
    near_max = torch.tensor([[3e38, 1e38, -2e38], [3e-44, 1e-44, -2e-44]], dtype=torch.float32)
    expected = np.array([3.0, 1.0, -2.0]) / math.sqrt(14.0)
    got = _array.l2_normalize(near_max, "img").numpy()
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)
    np.testing.assert_allclose(got[1], expected, rtol=0.2)  # subnormal inputs carry only a few bits
    zero = img.copy()
    zero[1] = 0
    with pytest.raises(ValueError, match="img row 1 has zero norm"):
        _array.l2_normalize(torch.from_numpy(zero), "img")
    with pytest.raises(ValueError, match="img row 2 holds NaN or inf"):
        _array.l2_normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [float("nan"), 1.0]]), "img")


@pytest.mark.parametrize("name", sorted(SCORES))
def test_a_row_of_norm_1e25_gets_the_score_of_the_unscaled_row(name):
    img, ids, neg = _data()
    kw = {} if name == "max_logit" else {"temperature": 0.05}
    plain = SCORES[name](img, ids, neg, **kw)
    big = img.copy()
    big[2] *= np.float32(2.0 ** 83)  # norm ~1.6e25 (float32 squared norm: inf)
    np.testing.assert_array_equal(SCORES[name](big, ids, neg, **kw), plain)  # exactly
    big[2] = (img[2].astype(np.float64) * 1e25).astype(np.float32)  # not a power of two: rounding only
    reference = SCORES[name](img.astype(np.float64), ids, neg, **kw)
    np.testing.assert_allclose(SCORES[name](big, ids, neg, **kw), reference, rtol=2e-5)
    # ...and the same for a label row.
    big_ids = ids.copy()
    big_ids[0] *= np.float32(2.0 ** 83)
    np.testing.assert_array_equal(SCORES[name](img, big_ids, neg, **kw), plain)


def test_max_logit_of_a_1e25_row_is_its_cosine():
    img, ids, _ = _data()
    big = img.copy()
    big[0] = (img[0].astype(np.float64) * 1e25).astype(np.float32)
    got = max_logit(big, ids)
    assert got[0] == pytest.approx(_cosines(img[:1], ids).max(), rel=1e-6)  # was 0.0 (a zero vector)


# --- 3. non-finite inputs ------------------------------------------------------------------------

@pytest.mark.parametrize("name, argument", [(name, argument) for name in sorted(SCORES)
                                            for argument in ("img", "id_emb", "neg_emb")
                                            if argument != "neg_emb" or name in ("neglabel", "dnm")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_raise_naming_the_argument(name, argument, bad):
    arrays = dict(zip(["img", "id_emb", "neg_emb"], _data()))
    arrays[argument] = arrays[argument].copy()
    arrays[argument][1, 3] = bad
    kw = {} if name == "max_logit" else {"temperature": 0.05}
    with pytest.raises(ValueError, match=rf"^{argument} holds 1 non-finite value\(s\) \(NaN or inf; first at row 1, "
                                         r"column 3\)"):
        SCORES[name](arrays["img"], arrays["id_emb"], arrays["neg_emb"], **kw)
    # torch tensors the same
    tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    with pytest.raises(ValueError, match=rf"^{argument} holds 1 non-finite"):
        SCORES[name](tensors["img"], tensors["id_emb"], tensors["neg_emb"], **kw)


def test_finite_values_beyond_the_compute_dtype_are_named_as_such():
    img, ids, _ = _data()
    huge = img.astype(np.longdouble)  # long double follows the float32 rule
    huge[0, 0] = np.longdouble(1e39)
    with pytest.raises(ValueError, match=r"img holds 1 value\(s\) too large for the compute dtype torch\.float32 "
                                         r"\(first at row 0, column 0"):
        scoring.mcm(huge, ids)


# --- 6. lenient conversions in parameter blocks --------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("temperature", "0.5", r"temperature = '0\.5' must be a finite number"),
    ("temperature", True, r"temperature = True must be a finite number"),
    ("temperature", None, r"temperature = None must be a finite number"),
    ("n_groups", True, r"n_groups = True must be an integer"),
    ("n_groups", "3", r"n_groups = '3' must be an integer"),
    ("seed", None, r"seed = None must be an integer"),
    ("seed", 1.0, r"seed = 1\.0 must be an integer"),
])
def test_params_reject_strings_bools_and_none_for_numbers(key, value, message):
    with pytest.raises(ValueError, match=r"method_params\.neglabel\.scoring\." + message):
        parse(neglabel_method.ScoringParams, {key: value}, "method_params.neglabel.scoring")
