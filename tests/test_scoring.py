"""ood_core.scoring against naive float64 references written here, hand cases and invariants."""

import math

import numpy as np
import pytest
import torch

from ood_core import scoring


def _unit(a):
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _data(n=23, k=7, m=41, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((k, d)), rng.standard_normal((m, d))


def _groups(m, g, seed):
    perm = np.random.default_rng(seed).permutation(m)
    q = m // g
    return [perm[i * q:(i + 1) * q] for i in range(g)]


def naive_mcm(img, ids, t):
    out = []
    for x in _unit(img):
        e = [math.exp(float(x @ y) / t) for y in _unit(ids)]
        out.append(max(e) / sum(e))
    return np.array(out)


def naive_neglabel(img, ids, neg, t, g, seed):
    ids, neg, groups = _unit(ids), _unit(neg), _groups(len(neg), g, seed)
    out = []
    for x in _unit(img):
        pos = sum(math.exp(float(x @ y) / t) for y in ids)
        per_group = []
        for grp in groups:
            negsum = sum(math.exp(float(x @ neg[j]) / t) for j in grp)
            per_group.append(pos / (pos + negsum))
        out.append(sum(per_group) / len(per_group))
    return np.array(out)


def naive_dnm(img, ids, neg, t, tau, g, seed, noisy_ids=None):
    """docs/methods.md §3 literally; ``noisy_ids`` (if given) feed only the tau * mean term."""
    ids, neg, groups = _unit(ids), _unit(neg), _groups(len(neg), g, seed)
    k, q = len(ids), len(groups[0])
    out = []
    for x in _unit(img):
        es = [math.exp(float(x @ y) / t) for y in ids]
        pos_mean = sum(es) / k if noisy_ids is None else np.mean([math.exp(float(x @ y) / t) for y in noisy_ids])
        per_group = []
        for grp in groups:
            neg_mean = sum(math.exp(float(x @ neg[j]) / t) for j in grp) / q
            e_minus = (neg_mean - tau * pos_mean) / (1 - tau)
            z = sum(es) + q * e_minus
            per_group.append(sum(e / z for e in es) / k)
        out.append(sum(per_group) / len(per_group))
    return np.array(out)


# --- make_groups ---------------------------------------------------------------------------------

def test_make_groups_is_seeded_permutation_with_remainder_dropped():
    groups = scoring.make_groups(10, 3, seed=5)
    perm = np.random.default_rng(5).permutation(10)
    assert groups.dtype == np.int64 and groups.shape == (3, 3)
    assert groups.tolist() == [perm[0:3].tolist(), perm[3:6].tolist(), perm[6:9].tolist()]


@pytest.mark.parametrize("n_neg,n_groups", [(10, 0), (10, 11), (0, 1), (10, 2.0)])
def test_make_groups_rejects_bad_counts(n_neg, n_groups):
    with pytest.raises(ValueError, match="n_groups|n_neg"):
        scoring.make_groups(n_neg, n_groups)


# --- hand-computed cases -------------------------------------------------------------------------

def test_mcm_hand_case():
    # image = e1, ID labels e1, e2, e3 -> cosines (1, 0, 0); T = 1:
    # max softmax = e / (e + 1 + 1) = 2.71828 / 4.71828 = 0.576117...
    img = np.array([[1.0, 0.0, 0.0]])
    ids = np.eye(3)
    assert scoring.mcm(img, ids, temperature=1.0)[0] == pytest.approx(math.e / (math.e + 2), rel=1e-12)


def test_neglabel_hand_case_one_group():
    # image = e1, ID labels (e1, e2, e3) -> s = (1, 0, 0); one negative at e2 + e3 direction
    # (cos 0 with e1) and one at e1 + e2 (cos 1/sqrt2); T = 1, one group holding both:
    # S = (e + 2) / (e + 2 + 1 + e^{1/sqrt2}) = 4.71828 / 7.74619 = 0.609110...
    img = np.array([[2.0, 0.0, 0.0]])  # normalised inside
    ids = np.eye(3)
    neg = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    expected = (math.e + 2) / (math.e + 2 + 1 + math.exp(1 / math.sqrt(2)))
    got = scoring.neglabel(img, ids, neg, temperature=1.0, n_groups=1)
    assert got[0] == pytest.approx(expected, rel=1e-12)


def test_dnm_hand_case():
    # Same vectors, tau = 0.5, T = 1, Q = 2, K = 3. sum_i e^{s_i} = e + 2, mean = (e + 2) / 3.
    # E- = ((1 + e^{1/sqrt2}) / 2 - 0.5 (e + 2) / 3) / 0.5 ; Z = e + 2 + 2 E- ; S = ((e + 2) / 3) / Z.
    img = np.array([[1.0, 0.0, 0.0]])
    ids = np.eye(3)
    neg = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    pos = math.e + 2
    e_minus = ((1 + math.exp(1 / math.sqrt(2))) / 2 - 0.5 * pos / 3) / 0.5
    expected = (pos / 3) / (pos + 2 * e_minus)
    got = scoring.dnm(img, ids, neg, temperature=1.0, tau=0.5, n_groups=1)
    assert got[0] == pytest.approx(expected, rel=1e-12)


# --- naive references ----------------------------------------------------------------------------

def test_mcm_matches_naive():
    img, ids, _ = _data()
    for t in (1.0, 0.05):
        np.testing.assert_allclose(scoring.mcm(img, ids, temperature=t), naive_mcm(img, ids, t), rtol=1e-6)


@pytest.mark.parametrize("g,seed", [(1, 0), (4, 3), (41, 1)])
def test_neglabel_matches_naive(g, seed):
    img, ids, neg = _data()
    got = scoring.neglabel(img, ids, neg, temperature=0.01, n_groups=g, seed=seed)
    np.testing.assert_allclose(got, naive_neglabel(img, ids, neg, 0.01, g, seed), rtol=1e-6)


@pytest.mark.parametrize("tau,g", [(0.0, 5), (0.3, 5), (0.5, 10), (0.7, 20)])
def test_dnm_matches_naive(tau, g):
    img, ids, neg = _data()
    got = scoring.dnm(img, ids, neg, temperature=0.01, tau=tau, n_groups=g, seed=2)
    np.testing.assert_allclose(got, naive_dnm(img, ids, neg, 0.01, tau, g, 2), rtol=1e-6)


def test_small_batch_size_gives_same_scores():
    img, ids, neg = _data(n=30)
    full = scoring.dnm(img, ids, neg, tau=0.4, n_groups=5)
    np.testing.assert_allclose(scoring.dnm(img, ids, neg, tau=0.4, n_groups=5, batch_size=4), full, rtol=1e-12)


def test_dnm_with_positive_sampling_matches_naive():
    img, ids, neg = _data(d=64)
    sigma, n_samples, seed, t = 0.05, 3, 4, 0.1
    # The documented noise stream: default_rng([seed, 1]).standard_normal((samples, K, d)).
    eps = np.random.default_rng([seed, 1]).standard_normal((n_samples, len(ids), ids.shape[1]))
    noisy = _unit((_unit(ids)[None] + sigma * eps).reshape(-1, ids.shape[1]))
    got = scoring.dnm(img, ids, neg, temperature=t, tau=0.3, n_groups=4, seed=seed, sigma=sigma,
                      n_pos_samples=n_samples)
    np.testing.assert_allclose(got, naive_dnm(img, ids, neg, t, 0.3, 4, seed, noisy_ids=noisy), rtol=1e-6)


def test_dnm_sigma_zero_equals_clean_formula():
    img, ids, neg = _data()
    clean = naive_dnm(img, ids, neg, 0.01, 0.4, 5, 0)
    np.testing.assert_allclose(scoring.dnm(img, ids, neg, tau=0.4, n_groups=5, sigma=0.0, n_pos_samples=7),
                               clean, rtol=1e-6)


# --- invariants ----------------------------------------------------------------------------------

def test_dnm_tau_zero_is_neglabel_over_k():
    img, ids, neg = _data()
    d = scoring.dnm(img, ids, neg, tau=0.0, n_groups=4)
    n = scoring.neglabel(img, ids, neg, n_groups=4)
    np.testing.assert_allclose(d, n / len(ids), rtol=1e-12)
    assert np.argsort(d, kind="stable").tolist() == np.argsort(n, kind="stable").tolist()


@pytest.mark.parametrize("method", ["neglabel", "dnm"])
def test_group_count_invariance(method):
    """Score with G groups == mean of single-group scores on each group's negatives."""
    img, ids, neg = _data(m=40)
    g, seed = 5, 9
    fn = scoring.neglabel if method == "neglabel" else scoring.dnm
    kw = {} if method == "neglabel" else {"tau": 0.4}
    whole = fn(img, ids, neg, n_groups=g, seed=seed, **kw)
    singles = [fn(img, ids, neg[grp], n_groups=1, **kw) for grp in _groups(len(neg), g, seed)]
    np.testing.assert_allclose(whole, np.mean(singles, axis=0), rtol=1e-10)


def test_scores_are_deterministic_bytes():
    img, ids, neg = _data()
    a = scoring.dnm(img.astype(np.float32), ids, neg.astype(np.float32), tau=0.4, n_groups=5, seed=1)
    b = scoring.dnm(img.astype(np.float32), ids, neg.astype(np.float32), tau=0.4, n_groups=5, seed=1)
    assert a.tobytes() == b.tobytes()


def test_cosine_of_exactly_one_gives_finite_scores_float32():
    rng = np.random.default_rng(0)
    ids = _unit(rng.standard_normal((5, 32))).astype(np.float32)
    neg = _unit(rng.standard_normal((20, 32))).astype(np.float32)
    img = np.concatenate([ids[:2], neg[:2]])  # cosines of exactly 1 to an ID label / a negative
    for fn in (scoring.neglabel, scoring.dnm):
        s = fn(img, ids, neg, temperature=0.01, n_groups=10)  # Q = 2: 2 * 0.5 < 0.5 * 5
        assert np.isfinite(s).all() and (s > 0).all()
    assert np.isfinite(scoring.mcm(img, ids, temperature=0.01)).all()


def test_float32_underflow_falls_back_to_float64():
    # Image = negative direction e1; every ID label at cos -1 (-e1): ID logits lie 200 below the
    # negative's at T = 0.01, so e^{-200} underflows float32. Float64 holds it.
    ids = np.array([[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    neg = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    img = np.array([[1.0, 0.0, 0.0]])
    exact = naive_neglabel(img, ids, neg, 0.01, 1, 0)  # = 2 e^{-100} / (2 e^{-100} + e^{100} + 1)
    assert exact[0] > 0
    got = scoring.neglabel(img.astype(np.float32), ids.astype(np.float32), neg.astype(np.float32), n_groups=1)
    np.testing.assert_allclose(got, exact, rtol=1e-5)


def test_float32_agrees_with_float64():
    img, ids, neg = _data(n=50, d=64)
    for fn, kw in ((scoring.neglabel, {}), (scoring.dnm, {"tau": 0.5}), (scoring.mcm, {})):
        args = (img, ids) if fn is scoring.mcm else (img, ids, neg)
        exact = fn(*args, **kw) if fn is scoring.mcm else fn(*args, n_groups=8, **kw)
        args32 = [a.astype(np.float32) for a in args]
        approx = fn(*args32, **kw) if fn is scoring.mcm else fn(*args32, n_groups=8, **kw)
        assert approx.dtype == np.float64
        np.testing.assert_allclose(approx, exact, rtol=2e-3)


def test_torch_and_half_inputs():
    img, ids, neg = _data(d=32)
    ref = scoring.dnm(img, ids, neg, tau=0.5, n_groups=8, temperature=0.05)  # Q = 5 < 0.5 * 7 / 0.5
    got_t = scoring.dnm(torch.from_numpy(img), torch.from_numpy(ids), torch.from_numpy(neg), tau=0.5,
                        n_groups=8, temperature=0.05)
    np.testing.assert_allclose(got_t, ref, rtol=1e-12)
    got_h = scoring.dnm(img.astype(np.float16), torch.from_numpy(ids).half(), neg.astype(np.float16),
                        tau=0.5, n_groups=8, temperature=0.05)
    assert got_h.shape == (len(img),) and np.isfinite(got_h).all()
    np.testing.assert_allclose(got_h, ref, rtol=0.1)  # half-precision inputs lose ~1e-3 in cosines


# --- errors --------------------------------------------------------------------------------------

def test_condition_error_names_smallest_valid_n_groups():
    # K = 10, tau = 0.5, M = 1200: need (1200 // G) * 0.5 < 5, i.e. 1200 // G <= 9, i.e. G >= 121
    # (1200 // 120 = 10 fails, 1200 // 121 = 9 holds).
    rng = np.random.default_rng(0)
    ids, neg, img = rng.standard_normal((10, 8)), rng.standard_normal((1200, 8)), rng.standard_normal((3, 8))
    with pytest.raises(ValueError, match=r"Q \* tau < \(1 - tau\) \* K") as err:
        scoring.dnm(img, ids, neg, tau=0.5, n_groups=10)
    assert "smallest n_groups that satisfies it is 121" in str(err.value)
    assert np.isfinite(scoring.dnm(img, ids, neg, tau=0.5, n_groups=121)).all()


def test_condition_error_when_no_n_groups_works():
    rng = np.random.default_rng(0)
    ids, neg, img = rng.standard_normal((2, 8)), rng.standard_normal((30, 8)), rng.standard_normal((3, 8))
    with pytest.raises(ValueError, match="no n_groups works"):
        scoring.dnm(img, ids, neg, tau=0.7, n_groups=30)  # Q = 1: 0.7 >= 0.3 * 2


@pytest.mark.parametrize("kwargs,pattern", [
    ({"tau": 1.0}, "tau"), ({"tau": -0.1}, "tau"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"n_groups": 0}, "n_groups"),
    ({"n_groups": 42}, "n_groups"), ({"sigma": -1.0}, "sigma"), ({"n_pos_samples": 0}, "n_pos_samples"),
])
def test_dnm_rejects_bad_parameters(kwargs, pattern):
    img, ids, neg = _data()
    with pytest.raises(ValueError, match=pattern):
        scoring.dnm(img, ids, neg, **kwargs)


@pytest.mark.parametrize("fn", ["mcm", "neglabel", "dnm"])
def test_rejects_bad_arrays(fn):
    img, ids, neg = _data()
    f = getattr(scoring, fn)

    def call(i, y, n):
        return f(i, y, temperature=1.0) if fn == "mcm" else f(i, y, n, n_groups=2, tau=0.1) if fn == "dnm" \
            else f(i, y, n, n_groups=2)

    with pytest.raises(ValueError, match="id_emb has embedding dim 5"):
        call(img, ids[:, :5], neg)
    bad = img.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="img holds 1 non-finite"):
        call(bad, ids, neg)
    with pytest.raises(ValueError, match="img is empty"):
        call(img[:0], ids, neg)
    with pytest.raises(ValueError, match="must be 2-D"):
        call(img[0], ids, neg)
    with pytest.raises(ValueError, match="zero norm"):
        call(np.zeros_like(img), ids, neg)
    if fn != "mcm":
        with pytest.raises(ValueError, match="neg_emb has embedding dim 3"):
            call(img, ids, neg[:, :3])
        with pytest.raises(ValueError, match="neg_emb is empty"):
            call(img, ids, neg[:0])


def test_dnm_noisy_positives_that_break_z_raise():
    # d = 16, T = 0.01: noisy copies can sit much closer to an image than every clean label, so
    # tau * Q * mean e^{s'/T} exceeds the rest of Z_g; the score must refuse, not return numbers.
    img, ids, neg = _data(n=50, k=5, m=37, d=16)
    with pytest.raises(ValueError, match="sigma=0.1 .*Z_g <= 0"):
        scoring.dnm(img, ids, neg, tau=0.3, n_groups=4, sigma=0.1, n_pos_samples=3)


@pytest.mark.parametrize("fn", ["mcm", "neglabel"])
@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf")])
def test_rejects_non_positive_temperature(fn, temperature):
    img, ids, neg = _data()
    args = (img, ids) if fn == "mcm" else (img, ids, neg)
    with pytest.raises(ValueError, match=r"temperature=.* must be a finite number > 0"):
        getattr(scoring, fn)(*args, temperature=temperature)


@pytest.mark.parametrize("n_groups", [0, 42, -3])
def test_neglabel_rejects_bad_n_groups(n_groups):
    img, ids, neg = _data()  # 41 negatives
    with pytest.raises(ValueError, match=r"n_groups=.* must be an integer in \[1, 41\]"):
        scoring.neglabel(img, ids, neg, n_groups=n_groups)
