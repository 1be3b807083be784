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


def _search_sets(is_adj, neighbours):
    if neighbours == "pool":  # the released code: nouns and adjectives joined before the kNN
        return [np.arange(len(is_adj))]
    return [np.flatnonzero(is_adj == flag) for flag in (False, True) if (is_adj == flag).any()]


def naive_density(x, is_adj, k, metric, neighbours="pool"):
    """Per-candidate density (higher = denser) from the full float64 distance matrix of each search set.

    reference (the released code): D_ij = ||t_i|| + ||t_j|| - 2 cos_ij over the whole set, the diagonal
    included as it is (not masked); the k + 1 smallest entries of row i (``topk(-d, k + 1)``);
    density = -mean(log). paper: -log of the sum of the k smallest ||w_i - w_j||^2, j != i.
    """
    out = np.full(len(x), np.nan)
    for rows in _search_sets(is_adj, neighbours):
        t = np.asarray(x, dtype=np.float64)[rows]
        norms = np.linalg.norm(t, axis=1)
        w = t / norms[:, None]
        if metric == "reference":
            dist = norms[:, None] + norms[None, :] - 2.0 * (w @ w.T)  # [n, n], diagonal 2||t_i|| - 2
            for a, i in enumerate(rows):
                smallest = np.partition(dist[a], k)[:k + 1]  # the k + 1 smallest, self only if among them
                out[i] = -np.mean(np.log(smallest))
        else:
            sq = ((w[:, None, :] - w[None, :, :]) ** 2).sum(axis=2)  # [n, n]
            for a, i in enumerate(rows):
                others = np.delete(sq[a], a)
                out[i] = -np.log(np.sum(others[np.argsort(others, kind="stable")[:k]]))
    return out


def naive_density_select(x, is_adj, k, ratio_noun, ratio_adj, metric, neighbours="pool"):
    dens = naive_density(x, is_adj, k, metric, neighbours)
    kept = []
    for flag, ratio in ((False, ratio_noun), (True, ratio_adj)):  # the cut is always per part of speech
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

@pytest.mark.parametrize("neighbours", ["pool", "per_pos"])
@pytest.mark.parametrize("metric", ["reference", "paper"])
@pytest.mark.parametrize("k", [1, 5, 24])
def test_density_scores_match_naive(metric, k, neighbours):
    x, is_adj = _raw()  # 70 candidates, norms in [3, 9]
    got = mining.density_scores(x, is_adj, [k], metric=metric, neighbours=neighbours)[k]
    assert got.dtype == np.float64 and got.shape == (70,)
    np.testing.assert_allclose(got, naive_density(x, is_adj, k, metric, neighbours), rtol=1e-9)


@pytest.mark.parametrize("metric", ["reference", "paper"])
def test_density_scores_default_is_whole_pool(metric):
    x, is_adj = _raw()
    default = mining.density_scores(x, is_adj, [4], metric=metric)[4]
    np.testing.assert_allclose(default, naive_density(x, is_adj, 4, metric, "pool"), rtol=1e-9)
    assert not np.allclose(default, naive_density(x, is_adj, 4, metric, "per_pos"), rtol=1e-6)


@pytest.mark.parametrize("metric", ["reference", "paper"])
def test_density_scores_largest_k_uses_the_whole_pool(metric):
    # k = M - 1: reference averages the logs of all M distances of a row (self included);
    # paper sums all M - 1 other squared distances.
    x, is_adj = _raw(m=30, n_adj=10)
    t = x / np.linalg.norm(x, axis=1, keepdims=True)
    got = mining.density_scores(x, is_adj, [29], metric=metric)[29]
    if metric == "reference":
        n = np.linalg.norm(x, axis=1)
        full = n[:, None] + n[None, :] - 2 * t @ t.T
        np.testing.assert_allclose(got, -np.log(full).mean(axis=1), rtol=1e-9)
    else:
        np.testing.assert_allclose(got, -np.log(((t[:, None] - t[None]) ** 2).sum(axis=(1, 2))), rtol=1e-9)


@pytest.mark.parametrize("neighbours", ["pool", "per_pos"])
@pytest.mark.parametrize("metric", ["reference", "paper"])
def test_density_select_matches_naive(metric, neighbours):
    x, is_adj = _raw(m=90, n_adj=30)
    got = mining.density_select(x, is_adj, k=6, ratio_noun=0.23, ratio_adj=0.13, metric=metric,
                                neighbours=neighbours)
    assert got.dtype == np.int64
    expected = naive_density_select(x, is_adj, 6, 0.23, 0.13, metric, neighbours)
    assert len(expected) == math.floor(0.23 * 60) + math.floor(0.13 * 30)
    assert got.tolist() == expected
    for bs in (1, 4, 7):  # row blocks: same answer
        assert mining.density_select(x, is_adj, k=6, metric=metric, neighbours=neighbours,
                                     block_size=bs).tolist() == got.tolist()


def test_density_select_positional_signature_and_defaults():
    # density_select(cand, is_adj, k, ratio_noun, ratio_adj, metric): defaults are the released rule.
    x, is_adj = _raw(m=90, n_adj=30)
    expected = naive_density_select(x, is_adj, 7, 0.3, 0.2, "reference", "pool")
    assert mining.density_select(x, is_adj, 7, 0.3, 0.2, "reference").tolist() == expected
    assert mining.density_select(x, is_adj, 7, 0.3, 0.2).tolist() == expected
    dens = mining.density_scores(x, is_adj, [7], "reference")
    assert mining.select_by_density(dens[7], is_adj, 0.3, 0.2).tolist() == expected


@pytest.mark.parametrize("metric", ["reference", "paper"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_density_large_pool_with_duplicates_matches_naive(metric, dtype):
    # 640 candidates (every direction twice, ties everywhere) and small k: the chunked exact selection
    # of the k + 1 smallest distances is exercised over several levels; results must equal the naive rule.
    rng = np.random.default_rng(5)
    base = _unit(rng.standard_normal((320, 16))) * rng.uniform(4, 10, size=(320, 1))
    x = np.concatenate([base, base])[rng.permutation(640)]
    is_adj = rng.random(640) < 0.3
    tol = {"rtol": 1e-9} if dtype == np.float64 else {"rtol": 0, "atol": 1e-5}  # densities are logs
    small_ks = (1, 2) if metric == "reference" else (2,)
    expected = {k: naive_density(x, is_adj, k, metric) for k in (*small_ks, 3, 9)}
    # One k per pass: the smallest k take the most levels of chunk minima. (paper: k = 1 would sum only
    # the exact-duplicate distance, 0 in exact arithmetic, rounding noise in floating point.)
    for k in small_ks:
        np.testing.assert_allclose(mining.density_scores(x.astype(dtype), is_adj, k, metric=metric)[k],
                                   expected[k], **tol)
    got = mining.density_scores(x.astype(dtype), is_adj, [2, 3, 9], metric=metric, block_size=100)
    for k in (2, 3, 9):
        np.testing.assert_allclose(got[k], expected[k], **tol)


def test_density_scores_several_k_in_one_pass():
    x, is_adj = _raw()
    for neighbours in ("pool", "per_pos"):
        many = mining.density_scores(x, is_adj, [2, 7, 11], neighbours=neighbours)
        assert sorted(many) == [2, 7, 11]
        for k in (2, 7, 11):
            np.testing.assert_allclose(many[k], naive_density(x, is_adj, k, "reference", neighbours), rtol=1e-9)


def test_reference_metric_hand_case_k_plus_one_self_included():
    # Three nouns on one line: t0 = 2 e1, t1 = 3 e1, t2 = 2 e2. cos(t0, t1) = 1, others 0.
    # d(0, .) = (2+2-2, 2+3-2, 2+2-0) = (2, 3, 4); k = 1 -> the k + 1 = 2 smallest: self (2) and t1 (3).
    x = np.array([[2.0, 0], [3.0, 0], [0, 2.0]])
    got = mining.density_scores(x, np.zeros(3, dtype=bool), [1])[1]
    assert got[0] == pytest.approx(-math.log(6) / 2, rel=1e-12)
    # d(2, .) = (4, 5, 2): the two smallest are self (2) and t0 (4) -> -log(8) / 2
    assert got[2] == pytest.approx(-math.log(8) / 2, rel=1e-12)


def test_reference_metric_hand_case_self_not_among_own_nearest():
    # t0 = 10 e1 has a large norm: d_00 = 2 * 10 - 2 = 18 exceeds its distances to the small-norm
    # points t1 = 1.5 e1 (10 + 1.5 - 2 = 9.5), t2 = 1.5 e2 (11.5), t3 = 2.5 e2 (12.5). With k = 2 the
    # k + 1 = 3 smallest of row 0 are 9.5, 11.5, 12.5: self is not among them (the released code does
    # not mask it; "self always counted" would give {18, 9.5, 11.5}, "self masked, k" {9.5, 11.5}).
    x = np.array([[10.0, 0], [1.5, 0], [0, 1.5], [0, 2.5]])
    is_adj = np.zeros(4, dtype=bool)
    log = math.log
    got = mining.density_scores(x, is_adj, [2])[2]
    assert got[0] == pytest.approx(-(log(9.5) + log(11.5) + log(12.5)) / 3, rel=1e-12)
    # Rows 1-3 have self among their 3 smallest: row 1: d_11 = 3 - 2 = 1, d_12 = 3, d_13 = 4 (d_10 = 9.5);
    # row 2: d_22 = 1, d_23 = 1.5 + 2.5 - 2 = 2, d_21 = 3; row 3: d_33 = 3, d_32 = 2, d_31 = 4.
    assert got[1] == pytest.approx(-log(1 * 3 * 4) / 3, rel=1e-12)
    assert got[2] == pytest.approx(-log(1 * 2 * 3) / 3, rel=1e-12)
    assert got[3] == pytest.approx(-log(2 * 3 * 4) / 3, rel=1e-12)
    np.testing.assert_allclose(got, naive_density(x, is_adj, 2, "reference"), rtol=1e-12)
    got32 = mining.density_scores(x.astype(np.float32), is_adj, [2])[2]  # float32: the same picture
    np.testing.assert_allclose(got32, got, rtol=1e-6)
    # densest first: t2, t1, t3, t0
    assert mining.density_select(x, is_adj, k=2, ratio_noun=0.25, ratio_adj=0.5).tolist() == [2]
    assert mining.density_select(x, is_adj, k=2, ratio_noun=0.5, ratio_adj=0.5).tolist() == [1, 2]
    assert mining.density_select(x, is_adj, k=2, ratio_noun=0.75, ratio_adj=0.5).tolist() == [1, 2, 3]


def _pool_vs_pos_corpus():
    # Rows: 0 N0 = 3 e1, 1 A0 = 3 e1, 2 N1 = 3 e3, 3 A1 = 3 e1, 4 N2 = 3 (0.8 e3 + 0.6 e4), 5 A2 = 3 e2.
    # All norms 3, so d = 6 - 2 cos and d_ii = 4; cos(N1, N2) = 0.8 -> d = 4.4; orthogonal pairs d = 6.
    x = np.array([[3.0, 0, 0, 0], [3.0, 0, 0, 0], [0, 0, 3.0, 0], [3.0, 0, 0, 0], [0, 0, 2.4, 1.8],
                  [0, 3.0, 0, 0]])
    is_adj = np.array([False, True, False, True, False, True])
    return x, is_adj


def test_pool_search_differs_from_per_pos():
    # N0's nearest neighbours are the adjectives A0, A1 (d = 4); among nouns only, they are at d = 6.
    x, is_adj = _pool_vs_pos_corpus()
    log = math.log
    pool = mining.density_scores(x, is_adj, [2])[2]  # the k + 1 = 3 smallest over all six
    per_pos = mining.density_scores(x, is_adj, [2], neighbours="per_pos")[2]
    assert pool[0] == pytest.approx(-log(4), rel=1e-12)  # self, A0, A1
    assert per_pos[0] == pytest.approx(-(log(4) + 2 * log(6)) / 3, rel=1e-12)  # self, N1, N2
    for row in (2, 4):  # N1, N2: self, each other, then something at 6 in both searches
        assert pool[row] == pytest.approx(-(log(4) + log(4.4) + log(6)) / 3, rel=1e-12)
        assert per_pos[row] == pytest.approx(pool[row], rel=1e-12)
    assert pool[5] == pytest.approx(-(log(4) + 2 * log(6)) / 3, rel=1e-12)  # A2: far from everyone
    np.testing.assert_allclose(pool, naive_density(x, is_adj, 2, "reference", "pool"), rtol=1e-12)
    np.testing.assert_allclose(per_pos, naive_density(x, is_adj, 2, "reference", "per_pos"), rtol=1e-12)
    # One noun and one adjective kept: the pool picks N0 (dense thanks to adjectives), per POS picks N1.
    assert mining.density_select(x, is_adj, k=2, ratio_noun=0.34, ratio_adj=0.34).tolist() == [0, 1]
    assert mining.density_select(x, is_adj, k=2, ratio_noun=0.34, ratio_adj=0.34,
                                 neighbours="per_pos").tolist() == [1, 2]
    # paper metric, k = 2 other neighbours: pool N0 -> A0, A1 at ||w_i - w_j||^2 = 0 and 0: sum 0 (densest,
    # +inf); per POS N0 -> N1, N2 at 2 and 2.
    paper_pos = mining.density_scores(x, is_adj, [2], metric="paper", neighbours="per_pos")[2]
    assert paper_pos[0] == pytest.approx(-log(4), rel=1e-12)
    paper_pool = mining.density_scores(x, is_adj, [2], metric="paper")[2]
    assert paper_pool[0] > 30  # -log(~0): N0 has two exact duplicates among the adjectives


def test_per_pos_option_stays_within_part_of_speech():
    # With neighbours="per_pos", an adjective identical to a noun must not be that noun's neighbour;
    # with the default pool search it is (and changes the noun's density).
    x, is_adj = _raw(m=40, n_adj=15)
    # the twin copies the noun of smallest norm: under the reference metric its distance to the twin,
    # 2 ||t|| - 2 (= its d_ii), is then among its k + 1 smallest
    noun = int(np.flatnonzero(~is_adj)[np.argmin(np.linalg.norm(x[~is_adj], axis=1))])
    x2 = np.concatenate([x, x[noun:noun + 1]])
    is_adj2 = np.r_[is_adj, True]
    for metric in ("reference", "paper"):
        per_pos = mining.density_scores(x, is_adj, [3], metric=metric, neighbours="per_pos")[3]
        with_twin = mining.density_scores(x2, is_adj2, [3], metric=metric, neighbours="per_pos")[3][:-1]
        np.testing.assert_allclose(with_twin[~is_adj], per_pos[~is_adj], rtol=1e-12)
        pool = mining.density_scores(x, is_adj, [3], metric=metric)[3]
        pool_twin = mining.density_scores(x2, is_adj2, [3], metric=metric)[3][:-1]
        assert pool_twin[noun] > pool[noun] + 1e-3  # the adjective twin is a neighbour: denser
        np.testing.assert_allclose(pool_twin, naive_density(x2, is_adj2, 3, metric)[:-1], rtol=1e-9)


def test_density_float32_and_torch_agree():
    x, is_adj = _raw(m=80)
    ref = mining.density_scores(x, is_adj, [5])[5]
    got32 = mining.density_scores(torch.from_numpy(x).float(), torch.from_numpy(is_adj), [5])[5]
    np.testing.assert_allclose(got32, ref, rtol=1e-4)
    np.testing.assert_allclose(ref, naive_density(x, is_adj, 5, "reference"), rtol=1e-9)


def test_reference_metric_rejects_normalised_features():
    x, is_adj = _raw()
    for dtype in (np.float64, np.float32):  # float32 rounding must not hide d_ii = 0
        for neighbours in ("pool", "per_pos"):
            with pytest.raises(ValueError, match="needs raw, un-normalised text features.*metric='paper'"):
                mining.density_select(_unit(x).astype(dtype), is_adj, k=5, neighbours=neighbours)
    with pytest.raises(ValueError, match="needs raw"):  # norms < 1: d_ii = 2 ||t_i|| - 2 < 0
        mining.density_select(0.5 * _unit(x), is_adj, k=5)
    got = mining.density_select(_unit(x), is_adj, k=5, metric="paper")
    assert got.tolist() == naive_density_select(_unit(x), is_adj, 5, 0.23, 0.13, "paper")


@pytest.mark.parametrize("kwargs,pattern", [
    ({"k": 0}, r"k=0 must be an integer in \[1, 69\].*70 candidates of the pool"),
    ({"k": 70}, r"k=70 must be an integer in \[1, 69\]"),
    ({"k": 2.0}, r"k=2.0 must be an integer in \[1, 69\]"), ({"k": True}, r"k=True must be an integer"),
    ({"k": 0, "neighbours": "per_pos"}, r"k=0 must be an integer in \[1, 44\].*45 nouns"),
    ({"k": 45, "neighbours": "per_pos"}, r"k=45 must be an integer in \[1, 44\]"),
    ({"k": 30, "neighbours": "per_pos"}, r"k=30 must be an integer in \[1, 24\].*25 adjectives"),
    ({"neighbours": "pos"}, r"neighbours='pos' must be one of \['pool', 'per_pos'\]"),
    ({"metric": "cosine"}, "metric='cosine'"), ({"ratio_noun": 0.0}, "ratio_noun"), ({"ratio_adj": 1.5}, "ratio_adj"),
    ({"block_size": 0}, r"block_size=0 must be an integer"),
])
def test_density_select_rejects_bad_parameters(kwargs, pattern):
    x, is_adj = _raw()  # 45 nouns, 25 adjectives
    with pytest.raises(ValueError, match=pattern):
        mining.density_select(x, is_adj, **{"k": 5, **kwargs})


def test_density_select_accepts_the_k_bounds():
    x, is_adj = _raw()  # 70 candidates: pool k in [1, 69]; per POS [1, 24] (25 adjectives)
    assert mining.density_select(x, is_adj, k=69).tolist() == naive_density_select(x, is_adj, 69, 0.23, 0.13,
                                                                                    "reference")
    assert mining.density_select(x, is_adj, k=24, neighbours="per_pos").tolist() == naive_density_select(
        x, is_adj, 24, 0.23, 0.13, "reference", "per_pos")


def test_knn_block_rows():
    assert mining.knn_block_rows(57_000) == 2 ** 26 // 57_000 == 1177
    assert mining.knn_block_rows(100) == 100  # never more rows than the search set
    assert mining.knn_block_rows(57_000, 512) == 512
    with pytest.raises(ValueError, match=r"block_size=-1 must be an integer in \[1, "):
        mining.knn_block_rows(100, -1)
    with pytest.raises(ValueError, match=r"n_search=0 must be an integer in \[1, "):
        mining.knn_block_rows(0)


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
    zero = x.copy()
    zero[3] = 0.0
    with pytest.raises(ValueError, match="cand_emb_raw row 3 has zero norm"):
        mining.density_select(zero, is_adj, k=3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_smallest_selection_equals_topk(dtype):
    # Implementation check of the exact selection behind density_scores: the m smallest values per row,
    # ascending, must equal torch.topk's, also with many ties and rows of awkward lengths.
    g = torch.Generator().manual_seed(0)
    fixed = [(3, 4000, 1), (2, 3001, 2), (4, 20_003, 5), (2, 57_000, 101), (1, 9, 9), (2, 17, 2)]
    for trial in range(len(fixed) + 60):
        if trial < len(fixed):  # rows long enough for several levels of minima, and edge cases
            b, n, m = fixed[trial]
        else:
            b = int(torch.randint(1, 6, (1,), generator=g))
            n = int(torch.randint(2, 4000, (1,), generator=g))
            m = int(torch.randint(1, min(n, 120) + 1, (1,), generator=g))
        if trial % 2:
            vals = torch.randint(0, 6, (b, n), generator=g).to(dtype)  # heavy ties
        else:
            vals = torch.randn(b, n, generator=g, dtype=dtype)
        width = max(1, min(mining._CHUNK, n // m))
        pad = -(-n // width) * width - n
        buf = torch.cat([vals, torch.full((b, pad), math.inf, dtype=dtype)], dim=1).contiguous()
        expected = torch.topk(vals, m, dim=1, largest=False, sorted=True).values
        assert torch.equal(mining._smallest_sorted(buf, m, width), expected), (trial, b, n, m)
        idx = mining._smallest_indices(vals, m)
        assert torch.equal(torch.gather(vals, 1, idx).sort(dim=1).values, expected)
        assert all(len(set(row)) == m for row in idx.tolist())  # m distinct columns
