"""Mixture-proportion estimation (ood_core.mpe) on synthetic mixtures with a known proportion."""

import numpy as np
import pytest

from ood_core import mpe

D = 16


def mixture(p, n_pos=1000, n_unl=3000, sep=4.0, seed=0):
    """Positives ~ N(sep * e_0, I); unlabeled = round(p * n_unl) positives + the rest ~ N(sep * e_1, I).

    The two means point in different directions, so the components stay apart after the
    L2 normalisation the estimator applies.
    """
    rng = np.random.default_rng(seed)
    mu_pos, mu_neg = np.zeros(D), np.zeros(D)
    mu_pos[0], mu_neg[1] = sep, sep
    k = int(round(p * n_unl))
    positive = rng.normal(size=(n_pos, D)) + mu_pos
    unlabeled = np.concatenate([rng.normal(size=(k, D)) + mu_pos, rng.normal(size=(n_unl - k, D)) + mu_neg])
    return positive, unlabeled[rng.permutation(n_unl)]


@pytest.mark.parametrize("p", [0.0, 0.05, 0.2, 0.5])
def test_bbe_recovers_known_proportion(p):
    positive, unlabeled = mixture(p)
    r = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=200, seed=0)
    assert abs(r.estimate - p) <= 0.03  # stated tolerance: 3 percentage points
    assert r.low <= r.estimate <= r.high
    assert r.low - 1e-12 <= p <= r.high + 0.01  # the interval covers the truth (p = 0 sits on its edge)
    assert (r.estimator, r.n_positive, r.n_unlabeled, r.n_bootstrap) == ("bbe", 1000, 3000, 200)


def test_zero_proportion_gives_about_zero():
    positive, unlabeled = mixture(0.0, seed=3)
    r = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=100, seed=3)
    assert 0.0 <= r.estimate <= 0.005
    assert r.low == 0.0


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5])
def test_elkan_noto_is_close_on_separated_components(p):
    # EN needs a calibrated classifier and (almost) disjoint components: looser tolerance.
    positive, unlabeled = mixture(p, sep=6.0)
    r = mpe.estimate_proportion(positive, unlabeled, estimator="elkan_noto", n_bootstrap=50, seed=0)
    assert abs(r.estimate - p) <= 0.05
    assert r.estimator == "elkan_noto"


def test_same_seed_same_numbers_other_seed_other_split():
    positive, unlabeled = mixture(0.2, n_pos=300, n_unl=900)
    a = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=50, seed=1)
    b = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=50, seed=1)
    assert a == b
    c = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=50, seed=2)
    assert (c.low, c.high) != (a.low, a.high)


def test_no_bootstrap_interval_is_the_estimate():
    positive, unlabeled = mixture(0.2, n_pos=300, n_unl=900)
    r = mpe.estimate_proportion(positive, unlabeled, n_bootstrap=0)
    assert r.low == r.estimate == r.high


def naive_bbe(pos, unl, delta, gamma):
    """Brute force: try every positive output as the bin's lower edge, count with Python loops."""
    slack = np.sqrt(np.log(4 / delta) / (2 * len(pos))) + np.sqrt(np.log(4 / delta) / (2 * len(unl)))
    best = None
    for c in sorted(set(pos)):
        q_p = sum(1 for v in pos if v >= c) / len(pos)
        q_u = sum(1 for v in unl if v >= c) / len(unl)
        objective = q_u / q_p + (1 + gamma) * slack / q_p
        if best is None or objective < best[0]:
            best = (objective, min(q_u / q_p, 1.0))
    return best[1]


def test_bbe_hand_case():
    # 4 positives, 8 unlabeled, delta = 0.5, gamma = 0: slack = sqrt(ln 8 / 8) + sqrt(ln 8 / 16) = 0.8704.
    # bins at 0.9: q_p = 1/4, q_u = 1/8 -> (1/8 + 0.8704) / (1/4) = 3.98
    #         0.8: q_p = 2/4, q_u = 1/8 -> 1.99;  0.7: q_p = 3/4, q_u = 2/8 -> 1.49
    #         0.1: q_p = 1,   q_u = 8/8 -> 1.87: the bin at 0.7 wins, estimate (2/8) / (3/4) = 1/3
    pos = [0.9, 0.8, 0.7, 0.1]
    unl = [0.95, 0.75, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1]
    assert mpe.bbe(pos, unl, delta=0.5, gamma=0.0) == pytest.approx(1 / 3)


def test_bbe_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(20):
        pos = np.round(rng.normal(1.0, 1.0, size=rng.integers(5, 40)), 1)  # rounding makes ties
        unl = np.round(rng.normal(0.0, 1.0, size=rng.integers(5, 80)), 1)
        assert mpe.bbe(pos, unl) == pytest.approx(naive_bbe(list(pos), list(unl), 0.1, 0.01))


def test_elkan_noto_hand_case():
    # mean positive probability c = 0.8 -> alpha = (1 - 0.8) / 0.8 = 0.25
    assert mpe.elkan_noto([0.7, 0.9, 0.8]) == pytest.approx(0.25)


@pytest.mark.parametrize("kwargs, match", [
    (dict(positive=np.zeros((0, D))), "positive must be a non-empty"),
    (dict(unlabeled=np.ones(5)), "unlabeled must be a non-empty"),
    (dict(unlabeled=np.ones((50, D + 1))), "dimension"),
    (dict(positive=np.full((50, D), np.nan)), "NaN"),
    (dict(positive=np.zeros((50, D))), "all-zero rows"),
    (dict(estimator="em"), "estimator='em' is unknown"),
    (dict(n_folds=1), "n_folds"),
    (dict(positive=np.ones((3, D))), "fewer than n_folds"),
    (dict(n_bootstrap=-1), "n_bootstrap"),
    (dict(confidence=1.0), "confidence"),
    (dict(delta=0.0), "delta"),
])
def test_bad_input_raises(kwargs, match):
    positive, unlabeled = mixture(0.1, n_pos=50, n_unl=100)
    args = {"positive": positive, "unlabeled": unlabeled, **kwargs}
    with pytest.raises(ValueError, match=match):
        mpe.estimate_proportion(args.pop("positive"), args.pop("unlabeled"), **args)


def test_bad_scores_raise():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        mpe.bbe([], [0.1])
    with pytest.raises(ValueError, match="NaN or inf"):
        mpe.bbe([0.1, np.inf], [0.1])
    with pytest.raises(ValueError, match="probabilities"):
        mpe.elkan_noto([0.5, 1.5])
