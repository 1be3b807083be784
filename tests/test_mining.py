"""ood_core.mining against naive float64 references (explicit quantiles, full distance matrices)."""

import math

import numpy as np
import pytest
import torch

from ood_core import mining


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _corpus(m=60, k=9, d=10, seed=0, n_adj=20):
    rng = np.random.default_rng(seed)
    cand = rng.standard_normal((m, d))
    ids = rng.standard_normal((k, d))
    is_adj = np.zeros(m, dtype=bool)
    is_adj[rng.permutation(m)[:n_adj]] = True
    return cand, ids, is_adj


def _raw(m=70, d=8, seed=1, n_adj=25):
    """Raw features with norms in [3, 9] (like un-normalised CLIP text features, norm > 1)."""
    rng = np.random.default_rng(seed)
    x = _unit(rng.standard_normal((m, d))) * rng.uniform(3, 9, size=(m, 1))
    is_adj = np.zeros(m, dtype=bool)
    is_adj[rng.permutation(m)[:n_adj]] = True
    return x, is_adj


def naive_neglabel_select(cand, ids, is_adj, percentile, ratio, max_id_sim=None):
    sims = _unit(cand) @ _unit(ids).T
    kept = []
    for flag in (False, True):
        rows = [j for j in range(len(cand)) if is_adj[j] == flag]
        n_keep = math.floor(ratio * len(rows))
        if max_id_sim is not None:
            rows = [j for j in rows if sims[j].max() <= max_id_sim]
        eta = {j: np.quantile(sims[j], percentile) for j in rows}
        rows.sort(key=lambda j: (eta[j], j))
        kept += rows[:n_keep]
    return sorted(kept)


def naive_density(x, is_adj, k, metric):
    """Per-candidate density (higher = denser) from the full distance matrix of each part of speech."""
    out = np.empty(len(x))
    for flag in (False, True):
        rows = np.flatnonzero(is_adj == flag)
        t = x[rows]
        norms = np.linalg.norm(t, axis=1)
        w = t / norms[:, None]
        cos = w @ w.T
        for a, i in enumerate(rows):
            if metric == "reference":
                dist = norms[a] + norms - 2 * cos[a]  # self included
                out[i] = -np.mean(np.log(np.sort(dist)[:k]))
            else:
                sq = np.array([np.sum((w[a] - w[b]) ** 2) for b in range(len(rows)) if b != a])
                out[i] = -np.log(np.sum(np.sort(sq)[:k]))
    return out


def naive_density_select(x, is_adj, k, ratio_noun, ratio_adj, metric):
    dens = naive_density(x, is_adj, k, metric)
    kept = []
    for flag, ratio in ((False, ratio_noun), (True, ratio_adj)):
        rows = [int(j) for j in np.flatnonzero(is_adj == flag)]
        rows.sort(key=lambda j: (-dens[j], j))
        kept += rows[:math.floor(ratio * len(rows))]
    return sorted(kept)


# --- NegLabel / CSP ------------------------------------------------------------------------------

@pytest.mark.parametrize("percentile,ratio", [(0.95, 0.15), (0.5, 0.3), (1.0, 1.0), (0.33, 0.5)])
def test_neglabel_select_matches_naive(percentile, ratio):
    cand, ids, is_adj = _corpus()
    got = mining.neglabel_select(cand, ids, is_adj, percentile=percentile, ratio=ratio)
    assert got.dtype == np.int64
    assert got.tolist() == naive_neglabel_select(cand, ids, is_adj, percentile, ratio)


def test_neglabel_select_blocks_and_float32_agree():
    cand, ids, is_adj = _corpus(m=200)
    ref = naive_neglabel_select(cand, ids, is_adj, 0.95, 0.15)
    assert mining.neglabel_select(cand, ids, is_adj, block_size=7).tolist() == ref
    # float32 may only differ on near-ties of eta; with random data there are none at this size.
    assert mining.neglabel_select(cand.astype(np.float32), ids.astype(np.float32), is_adj).tolist() == ref


def test_csp_exclusion_matches_naive_and_counts_over_all():
    cand, ids, is_adj = _corpus(m=120)
    max_sims = (_unit(cand) @ _unit(ids).T).max(axis=1)
    thr = float(np.quantile(max_sims, 0.4))  # excludes ~60% of candidates
    got = mining.neglabel_select(cand, ids, is_adj, percentile=0.9, ratio=0.5, max_id_sim=thr)
    assert got.tolist() == naive_neglabel_select(cand, ids, is_adj, 0.9, 0.5, max_id_sim=thr)
    assert (max_sims[got] <= thr).all()


def test_neglabel_hand_case_with_ties():
    # ID labels e1, e2. Candidates (all nouns): c0 = e3 (eta 0), c1 = e1 (cosines 1, 0),
    # c2 = e3 again (eta 0, tie with c0), c3 = e1 + e3 (cosines 0.707, 0).
    # percentile 0.5 -> eta = (0, 0.5, 0, 0.354); ratio 0.5 keeps floor(2) lowest: c0, c2 (tie by index).
    ids = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    cand = np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 0, 1.0], [1.0, 0, 1.0]])
    is_adj = np.zeros(4, dtype=bool)
    assert mining.neglabel_select(cand, ids, is_adj, percentile=0.5, ratio=0.5).tolist() == [0, 2]
    # ratio 0.75 -> floor(3) lowest eta: c0, c2, c3.
    assert mining.neglabel_select(cand, ids, is_adj, percentile=0.5, ratio=0.75).tolist() == [0, 2, 3]
    # max_id_sim = 0.5 also drops c3 (0.707): only 2 eligible, so fewer than floor(3) are kept.
    assert mining.neglabel_select(cand, ids, is_adj, percentile=0.5, ratio=0.75, max_id_sim=0.5).tolist() == [0, 2]


@pytest.mark.parametrize("kwargs,pattern", [
    ({"percentile": 0.0}, "percentile"), ({"percentile": 1.5}, "percentile"),
    ({"ratio": 0.0}, "ratio"), ({"ratio": 1.01}, "ratio"), ({"max_id_sim": 2.0}, "max_id_sim"),
])
def test_neglabel_select_rejects_bad_parameters(kwargs, pattern):
    cand, ids, is_adj = _corpus()
    with pytest.raises(ValueError, match=pattern):
        mining.neglabel_select(cand, ids, is_adj, **kwargs)


def test_neglabel_select_rejects_bad_arrays():
    cand, ids, is_adj = _corpus()
    with pytest.raises(ValueError, match="cand_emb has embedding dim 9"):
        mining.neglabel_select(cand[:, :9], ids, is_adj)
    with pytest.raises(ValueError, match="is_adj must be 1-D of length 60"):
        mining.neglabel_select(cand, ids, is_adj[:-1])
    with pytest.raises(ValueError, match="id_emb is empty"):
        mining.neglabel_select(cand, ids[:0], is_adj)
    bad = cand.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="cand_emb holds 1 non-finite"):
        mining.neglabel_select(bad, ids, is_adj)


# --- DNM density ---------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["reference", "paper"])
@pytest.mark.parametrize("k", [1, 5, 24])
def test_density_scores_match_naive(metric, k):
    x, is_adj = _raw()
    got = mining.density_scores(x, is_adj, [k], metric=metric)[k]
    np.testing.assert_allclose(got, naive_density(x, is_adj, k, metric), rtol=1e-6)


@pytest.mark.parametrize("metric", ["reference", "paper"])
def test_density_select_matches_naive(metric):
    x, is_adj = _raw(m=90, n_adj=30)
    got = mining.density_select(x, is_adj, k=6, ratio_noun=0.23, ratio_adj=0.13, metric=metric)
    assert got.dtype == np.int64
    assert got.tolist() == naive_density_select(x, is_adj, 6, 0.23, 0.13, metric)
    # blocks of 4 rows: same answer
    assert mining.density_select(x, is_adj, k=6, metric=metric, block_size=4).tolist() == got.tolist()


def test_density_scores_several_k_in_one_pass():
    x, is_adj = _raw()
    many = mining.density_scores(x, is_adj, [2, 7, 11])
    for k in (2, 7, 11):
        np.testing.assert_allclose(many[k], naive_density(x, is_adj, k, "reference"), rtol=1e-6)


def test_reference_metric_hand_case_self_included():
    # Three nouns on one line: t0 = 2 e1, t1 = 3 e1, t2 = 2 e2. cos(t0, t1) = 1, others 0.
    # d(0, .) = (2+2-2, 2+3-2, 2+2-0) = (2, 3, 4); k = 2 -> self (2) and t1 (3): mean log = log(6)/2.
    x = np.array([[2.0, 0], [3.0, 0], [0, 2.0]])
    got = mining.density_scores(x, np.zeros(3, dtype=bool), [2])[2]
    assert got[0] == pytest.approx(-math.log(6) / 2, rel=1e-12)
    # d(2, .) = (4, 5, 2): nearest two are self (2) and t0 (4) -> -log(8) / 2
    assert got[2] == pytest.approx(-math.log(8) / 2, rel=1e-12)


def test_knn_stays_within_part_of_speech():
    # An adjective identical to a noun must not be that noun's neighbour.
    x, is_adj = _raw(m=40, n_adj=15)
    x2 = np.concatenate([x, x[~is_adj][:1]])
    is_adj2 = np.r_[is_adj, True]
    nouns_only = mining.density_scores(x, is_adj, [3], metric="paper")[3][~is_adj]
    np.testing.assert_allclose(mining.density_scores(x2, is_adj2, [3], metric="paper")[3][:-1][~is_adj],
                               nouns_only, rtol=1e-12)


def test_density_float32_and_torch_agree():
    x, is_adj = _raw(m=80)
    ref = mining.density_scores(x, is_adj, [5])[5]
    got32 = mining.density_scores(torch.from_numpy(x).float(), torch.from_numpy(is_adj), [5])[5]
    np.testing.assert_allclose(got32, ref, rtol=1e-4)


def test_reference_metric_rejects_normalised_features():
    x, is_adj = _raw()
    for dtype in (np.float64, np.float32):  # float32 rounding must not hide d_ii = 0
        with pytest.raises(ValueError, match="needs raw, un-normalised text features.*metric='paper'"):
            mining.density_select(_unit(x).astype(dtype), is_adj, k=5)
    with pytest.raises(ValueError, match="needs raw"):  # norms < 1: d_ii = 2 ||t_i|| - 2 < 0
        mining.density_select(0.5 * _unit(x), is_adj, k=5)
    assert mining.density_select(_unit(x), is_adj, k=5, metric="paper").size > 0


@pytest.mark.parametrize("kwargs,pattern", [
    ({"k": 0}, r"k=0 must be an integer in \[1, 44\]"), ({"k": 45}, r"k=45 must be an integer in \[1, 44\]"),
    ({"k": 30}, r"k=30 must be an integer in \[1, 24\].*25 adjectives"),
    ({"metric": "cosine"}, "metric='cosine'"), ({"ratio_noun": 0.0}, "ratio_noun"), ({"ratio_adj": 1.5}, "ratio_adj"),
])
def test_density_select_rejects_bad_parameters(kwargs, pattern):
    x, is_adj = _raw()  # 45 nouns, 25 adjectives
    with pytest.raises(ValueError, match=pattern):
        mining.density_select(x, is_adj, **{"k": 5, **kwargs})


def test_density_select_rejects_bad_arrays():
    x, is_adj = _raw()
    with pytest.raises(ValueError, match="cand_emb_raw is empty"):
        mining.density_select(x[:0], is_adj[:0], k=1)
    bad = x.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="cand_emb_raw holds 1 non-finite"):
        mining.density_select(bad, is_adj, k=3)
    with pytest.raises(ValueError, match="is_adj must hold booleans"):
        mining.density_select(x, np.full(len(x), 2), k=3)
