"""TANL (ood_core.methods.tanl): a naive image-by-image float64 reference, hand cases, bad input."""

import math

import numpy as np
import pytest
import torch

from ood_core import methods
from ood_core.evaluation import evaluate
from ood_core.features import TextFeatures
from ood_core.methods import tanl


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _aa_score(cos_id, cos_neg, gamma, temperature):
    """The released activation_aware_score for one image: a separate softmax per prefix."""
    z = np.concatenate([cos_id, cos_neg]) / temperature
    k, beta = len(cos_id), len(cos_neg)
    if gamma == 0:
        return _softmax(z)[:k].sum()
    vals = [_softmax(z[:i + gamma])[:k].sum() for i in range(k, k + beta, gamma)]
    return sum(vals) / len(vals)


def _otsu(scores):
    """The released find_best_threshold, literally (float32 grid, population variances)."""
    grid = np.arange(100, dtype=np.float64) * 0.01
    grid = grid.astype(np.float32).astype(np.float64)
    crit = []
    for th in grid:
        hi = [s for s in scores if s >= th]
        lo = [s for s in scores if s < th]
        if not hi or not lo:
            crit.append(math.inf)
            continue
        crit.append(len(lo) / len(scores) * np.var(lo) + len(hi) / len(scores) * np.var(hi))
    crit = np.array(crit)
    cand = np.flatnonzero(np.isclose(crit, crit.min(), rtol=1e-12, atol=0) | (crit == crit.min()))
    return grid[cand[len(cand) // 2]]


def _naive(stream, ids, corpus, noise, orders, p: tanl.ScoringParams):
    """TANL as written in the module docstring, image by image, float64."""
    x, ids, corpus = _unit(stream), _unit(ids), _unit(corpus)
    noise = _unit(noise) if noise is not None and len(noise) else np.zeros((0, x.shape[1]))
    k, m = len(ids), len(corpus)
    labels = np.concatenate([ids, corpus])
    t = p.temperature

    def act(v):
        return _softmax(labels @ v / t)[k:]

    def mean(mem):
        return np.mean(mem, axis=0) if mem else np.zeros(m)

    def keep(mem):
        return mem[len(mem) - min(p.memory_length, len(mem)):]

    def select(c):
        return np.argsort(-c, kind="stable")[:p.n_activated]

    def score(v, sel):
        return _aa_score(ids @ v, corpus[sel] @ v, p.gamma, t)

    pos = keep([act(ids[i]) for i in orders[0]])
    neg = keep([act(noise[i]) for i in orders[1]])
    sel0 = select(mean(neg) - mean(pos))
    queue = [score(v, sel0) for v in ids] + [score(v, sel0) for v in noise]
    out = []
    for start in range(0, len(x), p.batch_size):
        batch = x[start:start + p.batch_size]
        sel = select(mean(neg) - mean(pos))
        conf = [score(v, sel) for v in batch]
        queue = (queue + conf)[-p.score_memory_length:]
        th = _otsu(queue)
        a_id = [act(v) for v, c in zip(batch, conf) if c > th + p.gap * (1 - th)]
        a_ood = [act(v) for v, c in zip(batch, conf) if c < th - p.gap * th]
        ins_pos = p.alpha * mean(pos) + (1 - p.alpha) * np.mean(a_id, axis=0) if a_id else mean(pos)
        ins_neg = p.alpha * mean(neg) + (1 - p.alpha) * np.mean(a_ood, axis=0) if a_ood else mean(neg)
        sel = select(ins_neg - ins_pos)
        out += [score(v, sel) for v in batch]
        pos = keep(pos + a_id)
        neg = keep(neg + a_ood)
    return np.array(out)


def _world(seed=0, n_id=50, n_ood=30, k=5, m=40, d=16, p=3):
    rng = np.random.default_rng(seed)
    ids, corpus = _unit(rng.normal(size=(k, d))), _unit(rng.normal(size=(m, d)))
    noise = _unit(rng.normal(size=(1, d)) + 0.5 * rng.normal(size=(p, d)))
    id_images = _unit(2 * ids[rng.integers(0, k, n_id)] + rng.normal(size=(n_id, d)) / 2)
    ood_images = _unit(2 * corpus[rng.integers(0, m, n_ood)] + rng.normal(size=(n_ood, d)) / 2)
    return id_images, ood_images, ids, corpus, noise


def _run(stream, ids, corpus, noise, orders, p):
    return tanl.tanl_stream(stream, ids, corpus, noise, temperature=p.temperature, n_activated=p.n_activated,
                            memory_length=p.memory_length, alpha=p.alpha, gamma=p.gamma, gap=p.gap,
                            score_memory_length=p.score_memory_length, batch_size=p.batch_size,
                            memory_orders=orders)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(gamma=0, alpha=0.5, gap=0.3),
    dict(gamma=3, memory_length=2, temperature=0.05, score_memory_length=40),
    dict(gamma=2, alpha=1.0, batch_size=7),
    dict(memory_length=0),  # both memories stay empty: only the batch's activations pick the negatives
    dict(noise=False),  # no noise images: the OOD memory starts empty
])
def test_matches_a_naive_image_by_image_float64_reference(kw):
    kw = dict(kw)
    use_noise = kw.pop("noise", True)
    id_images, ood_images, ids, corpus, noise = _world()
    noise = noise if use_noise else None
    p = tanl.ScoringParams(**{"n_activated": 12, "memory_length": 6, "batch_size": 16, **kw})
    stream = np.concatenate([id_images, ood_images])[np.random.default_rng(1).permutation(80)]
    orders = (np.random.default_rng(2).permutation(5), np.random.default_rng(3).permutation(3 if use_noise else 0))
    want = _naive(stream, ids, corpus, noise, orders, p)
    got = _run(stream, ids, corpus, noise, orders, p)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_activation_aware_score_hand_cases():
    # K = 1, two negatives, every logit 0: prefixes 1 and 2 give 1/2 and 1/3
    z_id, z_neg = torch.zeros((1, 1), dtype=torch.float64), torch.zeros((1, 2), dtype=torch.float64)
    assert float(tanl.activation_aware_score(z_id, z_neg, 1)[0]) == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert float(tanl.activation_aware_score(z_id, z_neg, 0)[0]) == pytest.approx(1 / 3)
    assert float(tanl.activation_aware_score(z_id, z_neg, 2)[0]) == pytest.approx(1 / 3)
    assert float(tanl.activation_aware_score(z_id, z_neg, 5)[0]) == pytest.approx(1 / 3)  # capped at beta
    # logits far apart stay finite: ID logit 100 above the negatives gives ~1
    got = tanl.activation_aware_score(torch.tensor([[100.0]]), torch.tensor([[0.0, -5.0]]), 1)
    assert float(got[0]) == pytest.approx(1.0, abs=1e-40)


def test_otsu_threshold_hand_cases():
    # two clusters {0.1, 0.9}: every th in (0.1, 0.9] separates them (criterion 0). In float32 the grid's
    # 0.1 equals the scores' 0.1, so that th puts everything in the upper class (inf): candidates 0.11..0.90,
    # 80 values, the middle (index 40) is 0.51. In float64, 0.1 < float32(0.1): candidates 0.10..0.90 -> 0.50.
    s = [0.1, 0.1, 0.9, 0.9]
    assert tanl.otsu_threshold(torch.tensor(s, dtype=torch.float32)) == pytest.approx(0.51, abs=1e-6)
    assert tanl.otsu_threshold(torch.tensor(s, dtype=torch.float64)) == pytest.approx(0.50, abs=1e-6)
    # all scores above the grid: every criterion inf, all tie, the middle of 100 is 0.5
    assert tanl.otsu_threshold(torch.tensor([0.995, 0.999])) == pytest.approx(0.5, abs=1e-6)
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(0, 0.4, 50), rng.uniform(0.6, 1.0, 70)])
    assert tanl.otsu_threshold(torch.from_numpy(v)) == pytest.approx(_otsu(list(v)), abs=1e-9)


def test_hand_case_no_image_ever_activated_is_a_static_score():
    # gap = 1: activated above 1 or below 0, never. The memories keep their start (ID texts; no noise),
    # so every score is the activation-aware score with the negatives least activated by the ID texts.
    id_images, ood_images, ids, corpus, _ = _world()
    stream = np.concatenate([id_images, ood_images])
    p = tanl.ScoringParams(n_activated=10, memory_length=3, gap=1.0, gamma=1, batch_size=9)
    orders = (np.array([4, 0, 2, 1, 3]), np.zeros(0, dtype=np.int64))
    got = _run(stream, ids, corpus, None, orders, p)
    labels = np.concatenate([ids, corpus])
    start = np.mean([_softmax(labels @ ids[i] / 0.01)[5:] for i in (2, 1, 3)], axis=0)  # the last 3 of the order
    sel = np.argsort(start, kind="stable")[:10]
    want = [_aa_score(ids @ v, corpus[sel] @ v, 1, 0.01) for v in stream]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_hand_case_all_images_confident_fill_the_id_memory():
    # every image is an ID label: scores ~1, the threshold's classes are empty for every grid value -> 0.5;
    # every image is ID-activated, none OOD-activated
    _, _, ids, corpus, noise = _world()
    stream = np.repeat(ids, 6, axis=0)
    p = tanl.ScoringParams(n_activated=8, memory_length=4, batch_size=10)
    orders = (np.arange(5), np.arange(3))
    got = _run(stream, ids, corpus, noise, orders, p)
    assert (got > 0.99).all()
    np.testing.assert_allclose(got, _naive(stream, ids, corpus, noise, orders, p), rtol=0, atol=1e-12)


def test_a_single_batch():
    id_images, ood_images, ids, corpus, noise = _world(n_id=10, n_ood=6)
    stream = np.concatenate([id_images, ood_images])
    p = tanl.ScoringParams(n_activated=12, memory_length=6, batch_size=256)
    orders = (np.arange(5)[::-1], np.arange(3))
    np.testing.assert_allclose(_run(stream, ids, corpus, noise, orders, p),
                               _naive(stream, ids, corpus, noise, orders, p), rtol=0, atol=1e-12)


def test_score_stream_seeds_the_order_and_returns_input_order():
    id_images, ood_images, ids, corpus, _ = _world()
    texts = TextFeatures(ids, corpus, corpus[:0], np.zeros(len(corpus), dtype=bool))
    p = tanl.ScoringParams(n_activated=12, memory_length=6, batch_size=16, seed=4)
    s_id, s_ood = tanl.score_stream(id_images, ood_images, texts, np.arange(40), p)
    perm = np.random.default_rng(4).permutation(80)
    stream = np.concatenate([id_images, ood_images])[perm]
    rng = np.random.default_rng(4)
    orders = (rng.permutation(5), rng.permutation(0))
    want = np.empty(80)
    want[perm] = _naive(stream, ids, corpus, None, orders, p)
    np.testing.assert_allclose(np.concatenate([s_id, s_ood]), want, rtol=0, atol=1e-12)
    again = tanl.score_stream(id_images, ood_images, texts, np.arange(40), p)
    np.testing.assert_array_equal(again[0], s_id)
    other = tanl.score_stream(id_images, ood_images, texts, np.arange(40),
                              tanl.ScoringParams(n_activated=12, memory_length=6, batch_size=16, seed=5))
    assert not np.array_equal(other[0], s_id) and np.isfinite(other[0]).all()


def test_float32_inputs_agree_with_float64():
    id_images, ood_images, ids, corpus, noise = _world()
    stream = np.concatenate([id_images, ood_images])
    orders = (np.arange(5), np.arange(3))
    # T = 0.1: at 0.01 the 16-dim toy world's activations underflow to exact zeros in float32, so ties
    # in the selection (broken by corpus order) differ from float64's tiny distinct values
    p = tanl.ScoringParams(n_activated=12, memory_length=6, batch_size=16, temperature=0.1)
    f64 = _run(stream, ids, corpus, noise, orders, p)
    f32 = _run(*(a.astype(np.float32) for a in (stream, ids, corpus, noise)), orders, p)
    np.testing.assert_allclose(f32, f64, atol=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(n_activated=41), "n_activated=41 exceeds the corpus size 40"), (dict(n_activated=0), "n_activated"),
    (dict(gamma=-1), "gamma"), (dict(gap=1.5), "gap"), (dict(alpha=2.0), "alpha"), (dict(batch_size=0), "batch_size"),
    (dict(temperature=0.0), "temperature"), (dict(memory_length=-1), "memory_length"),
    (dict(memory_orders=(np.arange(4), np.arange(3))), "memory_orders"),
])
def test_bad_parameters_raise(kw, match):
    id_images, _, ids, corpus, noise = _world()
    with pytest.raises(ValueError, match=match):
        tanl.tanl_stream(id_images, ids, corpus, noise, **{"n_activated": 12, **kw})


def test_bad_inputs_raise():
    id_images, ood_images, ids, corpus, noise = _world()
    texts = TextFeatures(ids, corpus, corpus[:0], np.zeros(len(corpus), dtype=bool))
    with pytest.raises(ValueError, match="0 ID and 30 OOD images"):
        tanl.score_stream(id_images[:0], ood_images, texts, np.zeros(0, dtype=np.int64), tanl.ScoringParams())
    with pytest.raises(ValueError, match="noise_emb"):
        tanl.tanl_stream(id_images, ids, corpus, noise[:, :5])
    with pytest.raises(ValueError, match="method_params.tanl.scoring"):
        methods.get("tanl").scoring_params_for({"gamma": -1}, "ViT-B-16")


def test_defaults_are_the_released_imagenet_run():
    # scripts/ood/TANL/official.sh: beta 1000, memleng 300, alpha 0.0, gap 0.5, gamma in {2, 1, 0} (config: 1),
    # batch 256, logit_scale 100; the hard-coded score queue of 20000
    p = tanl.ScoringParams()
    assert (p.n_activated, p.memory_length, p.alpha, p.gap, p.gamma, p.batch_size, p.temperature,
            p.score_memory_length) == (1000, 300, 0.0, 0.5, 1, 256, 0.01, 20000)


def test_registry_wiring_and_evaluate():
    m = methods.get("tanl")
    assert m.test_time and m.mines and m.score is None and "seed" in m.scoring_param_names()
    texts = TextFeatures(np.ones((2, 3)), np.ones((7, 3)), np.ones((0, 3)), np.zeros(7, dtype=bool))
    np.testing.assert_array_equal(m.select_negatives(texts, m.mining_params_for({}, "ViT-B-16")), np.arange(7))
    rng = np.random.default_rng(7)
    ids = rng.normal(size=(5, 16))
    cands = rng.normal(size=(60, 16))
    is_adj = np.arange(60) % 4 == 0
    id_images = ids[rng.integers(0, 5, 80)] * 3 + rng.normal(size=(80, 16))
    oods = {"a": cands[rng.integers(0, 60, 30)] * 3 + rng.normal(size=(30, 16)), "b": rng.normal(size=(25, 16))}
    table = evaluate("tanl", id_images, oods, ids, cands, is_adj,
                     scoring={"batch_size": 16, "memory_length": 3, "n_activated": 20})
    assert list(table.index) == ["a", "b", "average"]
    assert np.isfinite(table.to_numpy()).all() and (table["auroc"] > 50).all()
