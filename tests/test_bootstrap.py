"""ood_core.bootstrap against independent references: the unweighted metrics on explicitly repeated
arrays (np.repeat), scikit-learn with sample_weight, and properties of the bootstrap itself."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ood_core import bootstrap, metrics

METRICS = ("fpr95", "auroc", "aupr_in", "aupr_out")


def _score_kinds(rng, n_id, n_ood, kind):
    if kind == "continuous":
        return rng.normal(1.0, 1.0, n_id), rng.normal(0.0, 1.0, n_ood)
    if kind == "ties":  # few distinct values: ties inside and across the two sets
        return rng.integers(0, 5, n_id).astype(float), rng.integers(-1, 4, n_ood).astype(float)
    # shared values: some OOD scores equal ID scores exactly, the rest continuous
    id_s, ood_s = rng.normal(1.0, 1.0, n_id), rng.normal(0.0, 1.0, n_ood)
    k = min(n_id, n_ood) // 2
    ood_s[:k] = id_s[:k]
    return id_s, ood_s


@pytest.mark.parametrize("kind", ["continuous", "ties", "shared"])
def test_unit_weights_equal_the_unweighted_metrics(kind):
    rng = np.random.default_rng(0)
    for n_id, n_ood in [(1, 1), (3, 7), (40, 25), (200, 90)]:
        id_s, ood_s = _score_kinds(rng, n_id, n_ood, kind)
        got = bootstrap.weighted_metrics(id_s, ood_s, np.ones(n_id, int), np.ones(n_ood, int))
        ref = metrics.ood_metrics(id_s, ood_s)
        for m in METRICS:
            assert got[m].shape == (1,)
            assert got[m][0] == pytest.approx(ref[m], abs=1e-12), (kind, n_id, n_ood, m)


@pytest.mark.parametrize("kind", ["continuous", "ties", "shared"])
def test_integer_weights_equal_the_metrics_on_repeated_arrays(kind):
    """Weight w = the score repeated w times (0: dropped), the definition of a resample."""
    rng = np.random.default_rng(1)
    for trial in range(30):
        n_id, n_ood = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        id_s, ood_s = _score_kinds(rng, n_id, n_ood, kind)
        w_id, w_ood = rng.integers(0, 4, (6, n_id)), rng.integers(0, 4, (6, n_ood))
        w_id[:, rng.integers(n_id)] += 1  # every row keeps at least one image of each set
        w_ood[:, rng.integers(n_ood)] += 1
        got = bootstrap.weighted_metrics(id_s, ood_s, w_id, w_ood)
        for r in range(6):
            ref = metrics.ood_metrics(np.repeat(id_s, w_id[r]), np.repeat(ood_s, w_ood[r]))
            for m in METRICS:
                assert got[m][r] == pytest.approx(ref[m], abs=1e-12), (kind, trial, r, m)


def test_weighted_auroc_and_aupr_equal_sklearn_with_sample_weight():
    rng = np.random.default_rng(2)
    for kind in ("continuous", "ties", "shared"):
        id_s, ood_s = _score_kinds(rng, 60, 45, kind)
        w_id, w_ood = rng.integers(0, 5, (4, 60)), rng.integers(0, 5, (4, 45))
        w_id[:, 0] += 1
        w_ood[:, 0] += 1
        got = bootstrap.weighted_metrics(id_s, ood_s, w_id, w_ood)
        scores = np.concatenate([id_s, ood_s])
        is_id = np.r_[np.ones(60, int), np.zeros(45, int)]
        for r in range(4):
            w = np.concatenate([w_id[r], w_ood[r]])
            assert got["auroc"][r] == pytest.approx(roc_auc_score(is_id, scores, sample_weight=w), abs=1e-12)
            assert got["aupr_in"][r] == pytest.approx(
                average_precision_score(is_id, scores, sample_weight=w), abs=1e-12)
            assert got["aupr_out"][r] == pytest.approx(
                average_precision_score(1 - is_id, -scores, sample_weight=w), abs=1e-12)


def test_hand_computed_ties():
    """ID [2, 1, 1], OOD [1, 0]: the ID-OOD pairs won are 2>1, 2>0, 1>0, 1>0 and two ties at 1:
    AUROC = (4 + 2 * 0.5) / 6. Thresholds 2 (recall 1/3) and 1 (recall 1, the first reaching it):
    1 is nearest 0.95, where the OOD 1 is accepted: FPR95 = 1/2."""
    got = bootstrap.weighted_metrics([2.0, 1.0, 1.0], [1.0, 0.0], [1, 1, 1], [1, 1])
    assert got["auroc"][0] == pytest.approx(5 / 6, abs=1e-15)
    assert got["fpr95"][0] == 0.5
    # Doubling the top ID image (weights [2, 1, 1]) gives recall 2/4 at threshold 2; still 1 wins.
    got = bootstrap.weighted_metrics([2.0, 1.0, 1.0], [1.0, 0.0], [2, 1, 1], [1, 1])
    assert got["auroc"][0] == pytest.approx((2 * 2 + 2 * (0.5 + 1)) / 8, abs=1e-15)


def test_fpr95_equally_near_thresholds_take_the_lowest():
    """ID scores 20, 19, ..., 1 and OOD [1.5, 0.5]: thresholds 2 and 1.5 both have recall 19/20 =
    0.95 exactly; the lower one (1.5) wins, accepting the OOD image at 1.5: FPR95 = 1/2, and with
    OOD weights [3, 1], 3/4. With the ID image at 1 dropped (weight 0), recall 19/19 = 1 is first
    reached at threshold 2, so 1.5 is not considered: FPR95 = 0."""
    id_s = np.arange(20, 0, -1).astype(float)
    ood_s = np.array([1.5, 0.5])
    w_id = np.ones((3, 20), int)
    w_id[2, -1] = 0
    got = bootstrap.weighted_metrics(id_s, ood_s, w_id, [[1, 1], [3, 1], [1, 1]])
    assert list(got["fpr95"]) == [0.5, 0.75, 0.0]
    assert metrics.fpr_at_recall(id_s, ood_s) == 0.5  # the reference agrees


def test_intervals_contain_the_point_estimate_and_shrink_with_the_sample():
    rng = np.random.default_rng(3)

    def width(n):
        id_s = rng.normal(1.5, 1.0, n)
        pairs = {"a": (id_s, rng.normal(0.0, 1.0, n // 2)), "b": (id_s, rng.normal(0.5, 1.0, n // 2))}
        iv = bootstrap.metric_intervals(pairs, n_resamples=200, seed=0)
        point = {s: metrics.ood_metrics(*pairs[s]) for s in pairs}
        for s in pairs:
            for m in METRICS:
                low, high = iv[s][m]
                assert 0.0 <= low <= high <= 1.0
                assert low - 0.02 <= point[s][m] <= high + 0.02
        return iv["a"]["auroc"][1] - iv["a"]["auroc"][0]

    small, huge = width(200), width(20_000)
    assert huge < small / 5  # ~ 1 / sqrt(n): 10x the images, ~3x narrower; 100x: ~10x
    assert huge < 0.01


def test_average_interval_is_over_the_per_draw_average():
    rng = np.random.default_rng(4)
    id_s = rng.normal(1.0, 1.0, 300)
    pairs = {"a": (id_s, rng.normal(0.0, 1.0, 100)), "b": (id_s, rng.normal(0.7, 1.0, 150))}
    draws = bootstrap.bootstrap_draws(pairs, n_resamples=300, seed=5)
    iv = bootstrap.metric_intervals(pairs, n_resamples=300, seed=5)
    avg = (draws["a"]["auroc"] + draws["b"]["auroc"]) / 2
    assert iv["average"]["auroc"] == pytest.approx(tuple(np.percentile(avg, [2.5, 97.5])), abs=1e-15)
    # the average's interval is narrower than the mean of the per-set widths only if the sets'
    # draws are not perfectly correlated; it always lies between the per-set intervals' bounds
    assert min(iv["a"]["auroc"][0], iv["b"]["auroc"][0]) <= iv["average"]["auroc"][0]
    assert iv["average"]["auroc"][1] <= max(iv["a"]["auroc"][1], iv["b"]["auroc"][1])


def test_draws_are_resamples_of_the_images():
    """Each draw equals ood_metrics on an explicit resample: recover the counts from the same streams."""
    rng = np.random.default_rng(6)
    id_s, ood_s = rng.normal(1.0, 1.0, 50), rng.normal(0.0, 1.0, 30)
    draws = bootstrap.bootstrap_draws({"x": (id_s, ood_s)}, n_resamples=3, seed=9)
    id_stream, ood_stream = (np.random.default_rng(s) for s in np.random.SeedSequence(9).spawn(2))
    id_idx = id_stream.integers(0, 50, size=(3, 50), dtype=np.int64)
    ood_idx = ood_stream.integers(0, 30, size=(3, 30), dtype=np.int64)
    for r in range(3):
        ref = metrics.ood_metrics(id_s[id_idx[r]], ood_s[ood_idx[r]])
        for m in METRICS:
            assert draws["x"][m][r] == pytest.approx(ref[m], abs=1e-12)


def test_seeded_determinism_and_chunk_independence():
    rng = np.random.default_rng(7)
    id_s = rng.normal(1.0, 1.0, 120)
    pairs = {"a": (id_s, rng.normal(0.0, 1.0, 80)), "b": (id_s.copy(), rng.normal(0.2, 1.0, 60))}
    one = bootstrap.metric_intervals(pairs, n_resamples=50, seed=3)
    assert bootstrap.metric_intervals(pairs, n_resamples=50, seed=3) == one
    assert bootstrap.metric_intervals(pairs, n_resamples=50, seed=4) != one
    whole = bootstrap.bootstrap_draws(pairs, n_resamples=50, seed=3, n_jobs=1)
    chunked = bootstrap.bootstrap_draws(pairs, n_resamples=50, seed=3, _chunk=7, n_jobs=2)
    for s in whole:
        for m in METRICS:
            np.testing.assert_array_equal(whole[s][m], chunked[s][m])


def test_test_time_pairs_with_different_id_scores_per_set():
    """A test-time method scores the same ID images differently per OOD set: each set's draws
    use its own ID scores (with the shared ID counts)."""
    rng = np.random.default_rng(8)
    id_a, id_b = rng.normal(1.0, 1.0, 40), rng.normal(2.0, 1.0, 40)
    ood = rng.normal(0.0, 1.0, 30)
    both = bootstrap.bootstrap_draws({"a": (id_a, ood), "b": (id_b, ood)}, n_resamples=20, seed=1)
    alone = bootstrap.bootstrap_draws({"a": (id_a, ood)}, n_resamples=20, seed=1)
    np.testing.assert_array_equal(both["a"]["auroc"], alone["a"]["auroc"])  # same streams for set "a"
    assert np.mean(both["b"]["auroc"]) > np.mean(both["a"]["auroc"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_resamples=0), "n_resamples"),
    (dict(n_resamples=2.5), "n_resamples"),
    (dict(confidence=1.0), "confidence"),
    (dict(confidence=0.0), "confidence"),
    (dict(seed=-1), "seed"),
    (dict(n_jobs=0), "n_jobs"),
])
def test_bad_arguments_are_named(kwargs, match):
    pairs = {"a": (np.arange(5.0), np.arange(3.0))}
    with pytest.raises(ValueError, match=match):
        bootstrap.metric_intervals(pairs, **kwargs)


@pytest.mark.parametrize("pairs, match", [
    ({}, "non-empty"),
    ({"a": (np.array([]), np.arange(3.0))}, "empty"),
    ({"a": (np.arange(5.0), np.array([]))}, "empty"),
    ({"a": (np.array([1.0, np.nan]), np.arange(3.0))}, "non-finite"),
    ({"a": (np.arange(5.0), np.array([np.inf, 1.0]))}, "non-finite"),
    ({"a": (np.arange(5.0), np.arange(3.0)), "b": (np.arange(4.0), np.arange(3.0))}, "same ID images"),
    ({"average": (np.arange(5.0), np.arange(3.0))}, "reserved"),
    ({"a": np.arange(5.0)}, r"\(id_scores, ood_scores\)"),
])
def test_bad_pairs_are_named(pairs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap.metric_intervals(pairs)


def test_bad_weights_are_named():
    with pytest.raises(ValueError, match="negative"):
        bootstrap.weighted_metrics([1.0, 2.0], [0.0], [[1, -1]], [[1]])
    with pytest.raises(ValueError, match="zero total weight"):
        bootstrap.weighted_metrics([1.0, 2.0], [0.0], [[0, 0]], [[1]])
    with pytest.raises(ValueError, match="integers"):
        bootstrap.weighted_metrics([1.0, 2.0], [0.0], [[0.5, 1]], [[1]])
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        bootstrap.weighted_metrics([1.0, 2.0], [0.0], [[1, 1, 1]], [[1]])


def test_group_intervals_are_those_of_the_per_draw_mean_over_the_group():
    rng = np.random.default_rng(3)
    id_s = rng.normal(1.0, 1.0, 60)
    pairs = {name: (id_s, rng.normal(shift, 1.0, 40)) for name, shift in (("a", 0.0), ("b", 0.5), ("c", -0.5))}
    groups = {"near": ("a", "b"), "far": ("c",)}
    plain = bootstrap.bootstrap_draws(pairs, n_resamples=200, seed=4)
    grouped = bootstrap.bootstrap_draws(pairs, n_resamples=200, seed=4, groups=groups)
    for m in ("fpr95", "auroc", "aupr_in", "aupr_out"):
        np.testing.assert_array_equal(grouped["a"][m], plain["a"][m])  # groups change no set's draws
        np.testing.assert_allclose(grouped["near"][m], (plain["a"][m] + plain["b"][m]) / 2, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(grouped["far"][m], plain["c"][m])
    iv = bootstrap.metric_intervals(pairs, n_resamples=200, seed=4, groups=groups)
    low, high = np.percentile((plain["a"]["auroc"] + plain["b"]["auroc"]) / 2, [2.5, 97.5])
    assert iv["near"]["auroc"] == pytest.approx((low, high), abs=1e-15)
    with pytest.raises(ValueError, match="unknown: \\['z'\\]"):
        bootstrap.metric_intervals(pairs, n_resamples=5, groups={"near": ("a", "z")})
    with pytest.raises(ValueError, match="named like an OOD set"):
        bootstrap.metric_intervals(pairs, n_resamples=5, groups={"a": ("b",)})


def test_evaluate_adds_group_means_and_keeps_the_average_over_sets():
    from ood_study.study import metrics_per_set

    rng = np.random.default_rng(5)
    id_s = rng.normal(1.0, 1.0, 50)
    pairs = {name: (id_s, rng.normal(shift, 1.0, 30)) for name, shift in (("a", 0.0), ("b", 0.8), ("c", -1.0))}
    per_set = metrics_per_set(pairs, {"near": ("a", "b"), "far": ("c",)})
    for m in ("fpr95", "auroc"):
        assert per_set["near"][m] == pytest.approx((per_set["a"][m] + per_set["b"][m]) / 2, abs=1e-15)
        assert per_set["far"][m] == per_set["c"][m]
        assert per_set["average"][m] == pytest.approx(sum(per_set[s][m] for s in "abc") / 3, abs=1e-15)


def _two_methods(rng, n_id, n_ood, noise):
    """Scores of two correlated 'methods' on the same images: b = a + noise."""
    a = (rng.normal(1.0, 1.0, n_id), rng.normal(0.0, 1.0, n_ood))
    b = (a[0] + noise * rng.normal(size=n_id), a[1] + noise * rng.normal(size=n_ood))
    return a, b


def test_paired_interval_equals_the_percentile_interval_of_explicit_paired_resamples():
    rng = np.random.default_rng(5)
    (a1, b1), (a2, b2) = _two_methods(rng, 60, 35, 0.5), _two_methods(rng, 60, 20, 0.5)
    pairs_a, pairs_b = {"x": a1, "y": a2}, {"x": b1, "y": b2}
    n_res, seed = 200, 11
    got = bootstrap.paired_difference_intervals(pairs_a, pairs_b, n_resamples=n_res, seed=seed)
    # explicit resamples, drawn as bootstrap draws them (one stream for ID, one per OOD set, in order)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    id_idx = streams[0].integers(0, 60, size=(n_res, 60), dtype=np.int64)
    ood_idx = {"x": streams[1].integers(0, 35, size=(n_res, 35), dtype=np.int64),
               "y": streams[2].integers(0, 20, size=(n_res, 20), dtype=np.int64)}
    diffs = {name: {m: [] for m in METRICS} for name in ("x", "y", "average")}
    for i in range(n_res):
        per = {}
        for name in ("x", "y"):
            (ia, oa), (ib, ob) = pairs_a[name], pairs_b[name]
            ma = metrics.ood_metrics(ia[id_idx[i]], oa[ood_idx[name][i]])
            mb = metrics.ood_metrics(ib[id_idx[i]], ob[ood_idx[name][i]])
            per[name] = {m: ma[m] - mb[m] for m in METRICS}
            for m in METRICS:
                diffs[name][m].append(per[name][m])
        for m in METRICS:
            diffs["average"][m].append((per["x"][m] + per["y"][m]) / 2)
    for name in diffs:
        for m in METRICS:
            want = np.percentile(diffs[name][m], [2.5, 97.5])
            np.testing.assert_allclose(got[name][m], want, rtol=0, atol=1e-12)


def test_paired_interval_is_narrower_than_unpaired_when_correlated():
    rng = np.random.default_rng(1)
    a, b = _two_methods(rng, 400, 300, 0.2)
    paired = bootstrap.paired_difference_intervals({"s": a}, {"s": b}, n_resamples=400, seed=0)
    # unpaired: each score set resampled independently (different seeds), then differenced per draw
    unpaired = bootstrap.difference_intervals(bootstrap.bootstrap_draws({"s": a}, n_resamples=400, seed=0),
                                              bootstrap.bootstrap_draws({"s": b}, n_resamples=400, seed=1))
    for m in METRICS:
        w_p = paired["s"][m][1] - paired["s"][m][0]
        w_u = unpaired["s"][m][1] - unpaired["s"][m][0]
        # the threshold metric FPR95 gains less from pairing than the ranking metrics
        assert w_p < (0.7 if m == "fpr95" else 0.5) * w_u, (m, w_p, w_u)


def test_identical_score_sets_give_exactly_zero():
    rng = np.random.default_rng(2)
    a, _ = _two_methods(rng, 50, 30, 0.1)
    got = bootstrap.paired_difference_intervals({"s": a, "t": a}, {"s": a, "t": a}, n_resamples=100, seed=3,
                                                groups={"g": ["s", "t"]})
    for name in ("s", "t", "average", "g"):
        for m in METRICS:
            assert got[name][m] == (0.0, 0.0)


def test_paired_intervals_bad_input_is_named():
    rng = np.random.default_rng(2)
    a, b = _two_methods(rng, 50, 30, 0.1)
    with pytest.raises(ValueError, match="sizes differ"):
        bootstrap.paired_difference_intervals({"s": a}, {"s": (b[0], b[1][:-1])})
    with pytest.raises(ValueError, match="same OOD sets"):
        bootstrap.paired_difference_intervals({"s": a}, {"t": b})
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap.difference_intervals(bootstrap.bootstrap_draws({"s": a}, n_resamples=10),
                                       bootstrap.bootstrap_draws({"s": b}, n_resamples=20))
