"""Rényi energy margin (ood_core.methods.renyi): a naive float64 reference, hand cases, bad input."""

import math

import numpy as np
import pytest

from ood_core import methods, mining
from ood_core.evaluation import evaluate
from ood_core.features import TextFeatures
from ood_core.methods import renyi


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _naive(img, ids, negs, temperature=0.01, eta=1.2, r=1.05, beta_init=-0.1, epochs=15, lr=0.01):
    """The released get_score_2 rules, one image and one label at a time, float64 (no rescaling)."""
    rs = r / (r - 1.0)
    x, ids, negs = _unit(img), _unit(ids), _unit(negs) if len(negs) else np.zeros((0, img.shape[1]))
    out, betas = [], []
    for v in x:
        s = [float(v @ t) for t in ids] + [float(v @ t) for t in negs]
        beta = beta_init
        for _ in range(epochs):
            diff = [max(c - beta, 0.0) / temperature for c in s]
            g = sum(d ** rs for d in diff) / len(s)
            h = sum(d ** (rs - 1) for d in diff) / len(s)
            step = 1.0 - eta * (g ** (1.0 / rs - 1.0)) * h if g > 0 else 1.0
            beta = beta - lr * step
        diff = [max(c - beta, 0.0) / temperature for c in s]
        norm = (sum(d ** rs for d in diff) / len(s)) ** (1.0 / rs)
        id_mass = sum(math.exp((c - beta) / temperature) for c in s[:len(ids)])
        out.append(math.log(id_mass / math.exp(eta * norm)))
        betas.append(beta)
    return np.array(out), np.array(betas)


def _world(seed=0, n=40, k=6, m=30, d=12, w=0.5):
    rng = np.random.default_rng(seed)
    ids, negs = _unit(rng.normal(size=(k, d))), _unit(rng.normal(size=(m, d)))
    img = _unit(w * np.concatenate([ids[rng.integers(0, k, n // 2)], negs[rng.integers(0, m, n - n // 2)]])
                + rng.normal(size=(n, d)) / math.sqrt(d))
    return img, ids, negs


@pytest.mark.parametrize("kw", [dict(), dict(r=1.5, eta=0.8, beta_init=0.05, epochs=7, lr=1e-3),
                                dict(temperature=0.05, r=3.0, epochs=0), dict(r=1.2, eta=2.0, lr=0.05)])
def test_matches_a_naive_float64_reference(kw):
    img, ids, negs = _world()
    want, want_beta = _naive(img, ids, negs, **kw)
    got, got_beta = renyi.renyi_margin(img, ids, negs, return_beta=True, **kw)
    np.testing.assert_allclose(got_beta, want_beta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_hand_case_one_label_no_descent():
    # one ID label, no negatives, cosine c: g^{1/r*} = relu(c - beta)/T, so the score is
    # (c - beta)/T - eta (c - beta)/T = (1 - eta)(c - beta)/T for c > beta
    img = np.array([[0.6, 0.8]])
    ids = np.array([[1.0, 0.0]])  # cosine 0.6
    got = renyi.renyi_margin(img, ids, np.zeros((0, 2)), temperature=0.1, eta=0.5, r=2.0, beta_init=0.1, epochs=0)
    assert got[0] == pytest.approx((1 - 0.5) * (0.6 - 0.1) / 0.1, abs=1e-12)


def test_hand_case_one_step_of_the_descent():
    # two labels, cosines 0.6 (ID) and c (negative), r = 2 (r* = 2), T = 1, beta_0 = 0, eta = 1, lr = 0.1:
    # g = (0.6^2 + c^2)/2, h = (0.6 + c)/2, beta_1 = 0 - 0.1 (1 - g^{-1/2} h)
    img = np.array([[0.6, 0.8]])
    ids = np.array([[1.0, 0.0]])
    neg = np.array([[0.2, math.sqrt(1 - 0.04)]])
    c_neg = 0.6 * 0.2 + 0.8 * math.sqrt(0.96)  # its cosine to the image
    g = (0.6 ** 2 + c_neg ** 2) / 2
    h = (0.6 + c_neg) / 2
    beta = 0.0 - 0.1 * (1 - g ** -0.5 * h)
    _, got_beta = renyi.renyi_margin(img, ids, neg, temperature=1.0, eta=1.0, r=2.0, beta_init=0.0, epochs=1,
                                     lr=0.1, return_beta=True)
    assert got_beta[0] == pytest.approx(beta, abs=1e-12)


def test_every_label_below_the_margin_is_finite_and_the_step_is_lr():
    # cosines all below beta_init = 0.5: the released code returns NaN (0^negative * 0); here g = 0, step = lr
    img = np.array([[1.0, 0.0]])
    ids = np.array([[0.0, 1.0]])  # cosine 0
    negs = np.array([[-1.0, 0.0]])  # cosine -1
    scores, betas = renyi.renyi_margin(img, ids, negs, beta_init=0.5, epochs=3, lr=0.01, return_beta=True)
    assert betas[0] == pytest.approx(0.5 - 3 * 0.01, abs=1e-12)
    assert scores[0] == pytest.approx((0.0 - betas[0]) / 0.01, abs=1e-9)  # log e^{(0 - beta)/T}, norm 0


def test_large_cosines_stay_finite_where_float32_powers_overflow():
    # cosine 0.9 to the ID label: ((0.9 + 0.1)/0.01)^21 = 1e42 overflows float32
    rng = np.random.default_rng(3)
    ids = _unit(rng.normal(size=(4, 16)))
    img = _unit(ids[[0, 1]] * 3 + rng.normal(size=(2, 16)) * 0.05)
    negs = _unit(rng.normal(size=(10, 16)))
    got32 = renyi.renyi_margin(img.astype(np.float32), ids.astype(np.float32), negs.astype(np.float32))
    want, _ = _naive(img, ids, negs)
    assert np.isfinite(got32).all()
    np.testing.assert_allclose(got32, want, rtol=1e-4)


def test_float32_agrees_with_float64_and_blocks_do_not_matter(monkeypatch):
    img, ids, negs = _world(n=50)
    full = renyi.renyi_margin(img, ids, negs)
    monkeypatch.setattr(renyi, "_BLOCK_LOGITS", 36 * 7)  # 7 images per block
    np.testing.assert_allclose(renyi.renyi_margin(img, ids, negs), full, rtol=0, atol=1e-12)  # GEMM blocking only
    np.testing.assert_array_equal(renyi.renyi_margin(img, ids, negs), renyi.renyi_margin(img, ids, negs))
    got32 = renyi.renyi_margin(img.astype(np.float32), ids.astype(np.float32), negs.astype(np.float32))
    np.testing.assert_allclose(got32, full, atol=2e-4)


@pytest.mark.parametrize("kw, match", [
    (dict(r=1.0), "r=1.0 must be"), (dict(r=0.5), "r="), (dict(temperature=0.0), "temperature"),
    (dict(eta=-1.0), "eta"), (dict(lr=float("nan")), "lr"), (dict(beta_init=2.0), "beta_init"),
    (dict(epochs=-1), "epochs"), (dict(epochs=1.5), "epochs"),
])
def test_bad_parameters_raise(kw, match):
    img, ids, negs = _world()
    with pytest.raises(ValueError, match=match):
        renyi.renyi_margin(img, ids, negs, **kw)


def test_bad_inputs_raise():
    img, ids, negs = _world()
    with pytest.raises(ValueError, match="dim"):
        renyi.renyi_margin(img[:, :5], ids, negs)
    with pytest.raises(ValueError, match="method_params.renyi.scoring"):
        methods.get("renyi").scoring_params_for({"r": 1.0}, "ViT-B-16")


def test_defaults_are_the_released_imagenet_1k_values():
    # main_online.py argument comments, first (ImageNet-1k) value: temp 0.01, eta 1.2, r 1.05, beta -0.1,
    # epochs 15, lr 1e-2
    p = renyi.ScoringParams()
    assert (p.temperature, p.eta, p.r, p.beta_init, p.epochs, p.lr) == (0.01, 1.2, 1.05, -0.1, 15, 0.01)


def test_registry_wiring_uses_dnm_negatives_and_evaluate():
    m = methods.get("renyi")
    assert not m.test_time and m.mines and m.mining_params is methods.get("dnm").mining_params
    rng = np.random.default_rng(7)
    ids = rng.normal(size=(5, 16))
    cands = rng.normal(size=(60, 16))
    is_adj = np.arange(60) % 4 == 0
    texts = TextFeatures(ids, cands, cands[is_adj], is_adj)
    mp = m.mining_params_for({"k": 5}, "ViT-B-16")
    neg = m.select_negatives(texts, mp)
    np.testing.assert_array_equal(neg, methods.get("dnm").select_negatives(texts, mp))
    np.testing.assert_array_equal(neg, mining.density_select(cands, is_adj, k=5, ratio_noun=0.23, ratio_adj=0.13,
                                                             metric="reference", neighbours="pool"))
    id_images = ids[rng.integers(0, 5, 80)] * 3 + rng.normal(size=(80, 16))
    oods = {"a": cands[rng.integers(0, 60, 30)] * 3 + rng.normal(size=(30, 16))}
    table = evaluate("renyi", id_images, oods, ids, cands, is_adj, mining={"k": 5})
    assert np.isfinite(table.to_numpy()).all() and table.loc["a", "auroc"] > 50
