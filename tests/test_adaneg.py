"""AdaNeg (ood_core.methods.adaneg): a naive image-by-image float64 reference, hand cases, bad input."""

import math

import numpy as np
import pytest

from ood_core import methods, mining, scoring
from ood_core.evaluation import evaluate
from ood_core.features import TextFeatures
from ood_core.methods import adaneg


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _naive(id_images, ood_images, id_labels, negs, p: adaneg.ScoringParams, stats=None):
    """AdaNeg as written in the module docstring, one image and one label at a time, float64."""
    ids, ngs = _unit(id_labels), _unit(negs)
    k, m = len(ids), len(ngs)
    stream_in = _unit(np.concatenate([id_images, ood_images]))
    perm = np.random.default_rng(p.seed).permutation(len(stream_in))
    stream = stream_in[perm]
    q = m // p.n_groups
    groups = np.random.default_rng(p.seed).permutation(m)[:p.n_groups * q].reshape(p.n_groups, q)
    labels = np.concatenate([ids, ngs])  # label c < k: ID label c; else negative c - k
    capacity = p.memory_length - 1
    banks = [[] for _ in labels]  # lists of [image vector, entropy]

    def grouped(id_logits, neg_logits):
        top = max(id_logits.max(), neg_logits.max())
        id_sum = sum(math.exp(v - top) for v in id_logits)
        per_group = []
        for grp in groups:
            neg_sum = sum(math.exp(neg_logits[j] - top) for j in grp)
            per_group.append(id_sum / (id_sum + neg_sum))
        return sum(per_group) / len(per_group)

    def entropy(logits):
        e = np.exp(logits - logits.max())
        prob = e / e.sum()
        return -sum(pc * math.log(pc + 1e-8) for pc in prob)

    def offer(c, x, h):
        bank = banks[c]
        if len(bank) < capacity:
            bank.append([x, h])
        elif capacity > 0:
            ents = [b[1] for b in bank]
            worst = max(i for i in range(len(ents)) if ents[i] == max(ents))
            if h < ents[worst]:
                bank[worst] = [x, h]
                if stats is not None:
                    stats["replaced"] += 1

    def proxy(c, x):
        if not banks[c]:
            return labels[c]
        vecs = [labels[c]] + [b[0] for b in banks[c]]
        if p.sample_adaptive:
            total = sum(math.exp(-p.beta * (1.0 - float(x @ v))) * v for v in vecs)
        else:
            total = sum(vecs)
        return total / np.linalg.norm(total)

    hi = p.threshold + p.gap * (1 - p.threshold)
    lo = p.threshold - p.gap * p.threshold
    out = np.empty(len(stream))
    for start in range(0, len(stream), p.batch_size):
        batch = range(start, min(start + p.batch_size, len(stream)))
        static = {}
        for i in batch:
            cos = labels @ stream[i]
            static[i] = grouped(cos[:k] / p.temperature, cos[k:] / p.temperature)
        for i in batch:  # the released loop: ID-cached images first ...
            if static[i] > hi:
                logits = ids @ stream[i] / p.temperature
                offer(int(np.argmax(logits)), stream[i], entropy(logits))
        for i in batch:  # ... then OOD-cached ones
            if static[i] < lo:
                logits = ngs @ stream[i] / p.temperature
                offer(k + int(np.argmax(logits)), stream[i], entropy(logits))
        for i in batch:
            ada = np.array([float(stream[i] @ proxy(c, stream[i])) for c in range(len(labels))]) / p.temperature
            out[i] = grouped(ada[:k], ada[k:]) + p.lam * static[i]
    if stats is not None:
        stats["filled"] = sum(len(b) for b in banks)
        stats["full"] = sum(len(b) == capacity for b in banks if capacity)
    scores = np.empty(len(stream))
    scores[perm] = out
    return scores[:len(id_images)], scores[len(id_images):]


def _world(seed=0, k=4, m=23, d=8, n_id=70, n_ood=40):
    rng = np.random.default_rng(seed)
    ids, negs = rng.normal(size=(k, d)), rng.normal(size=(m, d))
    id_images = ids[rng.integers(0, k, n_id)] * rng.uniform(1.0, 4.0, (n_id, 1)) + rng.normal(size=(n_id, d))
    ood_images = negs[rng.integers(0, m, n_ood)] * rng.uniform(1.0, 4.0, (n_ood, 1)) + rng.normal(size=(n_ood, d))
    return id_images, ood_images, ids, negs


def _texts(ids, negs):
    return TextFeatures(ids, negs, negs[:0], np.zeros(len(negs), dtype=bool))


def _score(id_images, ood_images, ids, negs, p):
    return adaneg.score_stream(id_images, ood_images, _texts(ids, negs), np.arange(len(negs)), p)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(sample_adaptive=False),
    dict(memory_length=3, batch_size=7, n_groups=4, seed=3),
    dict(memory_length=2, batch_size=1, temperature=0.05, gap=0.2, threshold=0.6, lam=0.5, beta=2.0),
    dict(memory_length=4, batch_size=200, sample_adaptive=False, seed=1),
])
def test_matches_a_naive_image_by_image_float64_reference(kw):
    id_images, ood_images, ids, negs = _world()
    p = adaneg.ScoringParams(**{"batch_size": 16, "n_groups": 5, **kw})
    stats = {"replaced": 0}
    want_id, want_ood = _naive(id_images, ood_images, ids, negs, p, stats)
    got_id, got_ood = _score(id_images, ood_images, ids, negs, p)
    assert stats["filled"] > 0  # the memory is exercised ...
    if p.memory_length <= 3:
        assert stats["full"] > 0 and stats["replaced"] > 0  # ... up to full banks and replacements
    np.testing.assert_allclose(got_id, want_id, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got_ood, want_ood, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kw", [dict(gap=1.0), dict(memory_length=1), dict(gap=1.0, sample_adaptive=False)])
def test_an_empty_memory_gives_one_plus_lambda_times_neglabel(kw):
    # gap = 1 caches nothing (S_nl > 1 or S_nl < 0 never holds); memory_length = 1 has no image slot
    id_images, ood_images, ids, negs = _world(seed=2)
    p = adaneg.ScoringParams(n_groups=5, seed=4, lam=0.3, batch_size=10, **kw)
    got_id, got_ood = _score(id_images, ood_images, ids, negs, p)
    np.testing.assert_allclose(got_id, 1.3 * scoring.neglabel(id_images, ids, negs, 0.01, 5, 4), rtol=1e-12)
    np.testing.assert_allclose(got_ood, 1.3 * scoring.neglabel(ood_images, ids, negs, 0.01, 5, 4), rtol=1e-12)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_hand_case_one_id_and_one_ood_image_fill_their_banks():
    # d = 2, ID label t = e1, one negative n = e2, one group, T = 0.5, beta = 5, one image per bank.
    theta, phi, t_, beta, lam = 0.1, 0.15, 0.5, 5.0, 0.1
    a = np.array([math.cos(theta), math.sin(theta)])  # ID image near t
    b = np.array([math.sin(phi), math.cos(phi)])      # OOD image near n
    seed = next(s for s in range(100) if list(np.random.default_rng(s).permutation(2)) == [0, 1])
    p = adaneg.ScoringParams(temperature=t_, n_groups=1, seed=seed, memory_length=2, lam=lam, beta=beta,
                             batch_size=1)
    got_a, got_b = _score(a[None], b[None], np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), p)
    # a first: S_nl(a) = sigmoid((cos - sin) / T) = 0.857 > 0.75 caches a under t (its only ID label);
    # the proxy of t for a is normalise(e^{-beta (1 - a.t)} t + a); n's bank is still empty.
    s_nl_a = _sigmoid((math.cos(theta) - math.sin(theta)) / t_)
    assert s_nl_a > 0.75
    w = math.exp(-beta * (1 - math.cos(theta)))
    cos_a_proxy = (w * math.cos(theta) + 1.0) / math.sqrt(w * w + 1.0 + 2.0 * w * math.cos(theta))
    want_a = _sigmoid((cos_a_proxy - math.sin(theta)) / t_) + lam * s_nl_a
    # b next: S_nl(b) = 0.14 < 0.25 caches b under n; b sees both proxies adapted.
    s_nl_b = _sigmoid((math.sin(phi) - math.cos(phi)) / t_)
    assert s_nl_b < 0.25
    ab = math.sin(theta + phi)  # cos(a, b)
    w_t, w_a = math.exp(-beta * (1 - math.sin(phi))), math.exp(-beta * (1 - ab))
    cos_b_pt = (w_t * math.sin(phi) + w_a * ab) / math.sqrt(w_t ** 2 + w_a ** 2 + 2 * w_t * w_a * math.cos(theta))
    w_n = math.exp(-beta * (1 - math.cos(phi)))
    cos_b_pn = (w_n * math.cos(phi) + 1.0) / math.sqrt(w_n ** 2 + 1.0 + 2.0 * w_n * math.cos(phi))
    want_b = _sigmoid((cos_b_pt - cos_b_pn) / t_) + lam * s_nl_b
    np.testing.assert_allclose(got_a, [want_a], rtol=1e-12)
    np.testing.assert_allclose(got_b, [want_b], rtol=1e-12)


def test_hand_case_a_full_bank_keeps_its_lowest_entropy_image():
    # Two ID labels e1, e2, one negative e3; three ID images near e1 in one batch, one slot per bank:
    # whatever the order, the bank of e1 ends with the image of lowest ID entropy (largest margin
    # over e2), and every image of the batch is scored with that bank.
    t_, beta = 0.05, 5.0
    ids, negs = np.eye(3)[:2], np.eye(3)[2:]
    imgs = _unit([[1.0, 0.30, 0.1], [1.0, 0.05, 0.1], [1.0, 0.15, 0.1]])
    other = _unit([[0.6, 0.6, 0.5]])  # S_nl in (0.25, 0.75): cached nowhere
    p = adaneg.ScoringParams(temperature=t_, n_groups=1, memory_length=2, beta=beta, batch_size=4, lam=0.0)
    for seed in range(4):
        got, got_other = _score(imgs, other, ids, negs, adaneg.ScoringParams(**{**p.__dict__, "seed": seed}))
        best = imgs[1]
        for x, g in zip(list(imgs) + list(other), list(got) + list(got_other)):
            w0, w1 = math.exp(-beta * (1 - x[0])), math.exp(-beta * (1 - x @ best))
            proxy = _unit(w0 * ids[0] + w1 * best)
            ada = np.array([x @ proxy, x[1], x[2]]) / t_
            want = np.exp(ada[:2]).sum() / np.exp(ada).sum()
            assert g == pytest.approx(want, rel=1e-12)


def test_same_seed_same_scores_other_seed_other_valid_scores():
    id_images, ood_images, ids, negs = _world(seed=5, n_id=200, n_ood=120)
    p = adaneg.ScoringParams(batch_size=32, memory_length=4)
    a = _score(id_images, ood_images, ids, negs, p)
    b = _score(id_images, ood_images, ids, negs, p)
    c = _score(id_images, ood_images, ids, negs, adaneg.ScoringParams(batch_size=32, memory_length=4, seed=1))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(np.concatenate(a), np.concatenate(c))
    for s in (*a, *c):
        assert np.isfinite(s).all() and (s > 0).all() and (s <= 1 + p.lam + 1e-12).all()


def test_float32_inputs_agree_with_float64():
    # T = 0.1 keeps the entropies apart: at T = 0.01 many round to exactly 0 in float32, and their
    # ties then decide the replacements differently than in float64 (a property of the method)
    id_images, ood_images, ids, negs = _world(seed=6)
    p = adaneg.ScoringParams(batch_size=16, memory_length=3, temperature=0.1)
    want = _score(id_images, ood_images, ids, negs, p)
    got = _score(*(a.astype(np.float32) for a in (id_images, ood_images, ids, negs)), p)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(threshold=0.0), "threshold=0.0 must be in \\(0, 1\\)"),
    (dict(threshold=1.0), "threshold=1.0 must be in \\(0, 1\\)"),
    (dict(threshold=1.5), "threshold"),
    (dict(threshold=-0.2), "threshold"),
    (dict(memory_length=0), "memory_length=0 must be an integer >= 1"),
    (dict(gap=1.2), "gap"),
    (dict(beta=-1.0), "beta"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_parameters_raise(kw, match):
    id_images, ood_images, ids, negs = _world()
    with pytest.raises(ValueError, match=match):
        _score(id_images, ood_images, ids, negs, adaneg.ScoringParams(**kw))


def test_bad_parameters_in_params_yaml_raise_before_any_work():
    for block in ({"threshold": 1.0}, {"threshold": 0}, {"memory_length": 0}):
        with pytest.raises(ValueError, match="method_params.adaneg.scoring"):
            methods.get("adaneg").scoring_params_for(block, "ViT-B-16")


def test_an_empty_stream_raises():
    id_images, ood_images, ids, negs = _world()
    with pytest.raises(ValueError, match="0 ID and 40 OOD images"):
        _score(id_images[:0], ood_images, ids, negs, adaneg.ScoringParams())
    with pytest.raises(ValueError, match="70 ID and 0 OOD images"):
        _score(id_images, ood_images[:0], ids, negs, adaneg.ScoringParams())
    with pytest.raises(ValueError, match="empty"):
        adaneg.adaneg_stream(np.zeros((0, 8)), ids, negs)


def test_defaults_are_the_released_imagenet_run():
    # scripts/ood/adaneg/imagenet.sh: group_num 5, thres 0.5, gap 0.5, memleng 10, lambdaval 0.1,
    # beta int(5.5) = 5, batch 256, CLIP logit_scale 100
    p = adaneg.ScoringParams()
    assert (p.n_groups, p.threshold, p.gap, p.memory_length, p.lam, p.beta, p.batch_size) == \
        (5, 0.5, 0.5, 10, 0.1, 5.0, 256)
    assert p.temperature == 0.01 and p.sample_adaptive


def test_registry_wiring_and_evaluate():
    m = methods.get("adaneg")
    assert m.test_time and m.mines and m.score is None
    assert m.mining_params is methods.get("neglabel").mining_params
    assert "seed" in m.scoring_param_names()
    with pytest.raises(ValueError, match="test-time"):
        m.score_images(np.ones((2, 8)), _texts(*_world()[2:]), np.arange(3), adaneg.ScoringParams())
    rng = np.random.default_rng(7)
    ids = rng.normal(size=(5, 16))
    cands = rng.normal(size=(60, 16))
    is_adj = np.arange(60) % 4 == 0
    texts = TextFeatures(ids, cands, cands[is_adj], is_adj)
    neg = m.select_negatives(texts, m.mining_params_for({"ratio": 0.5}, "ViT-B-16"))
    np.testing.assert_array_equal(neg, mining.neglabel_select(cands, ids, is_adj, 0.95, 0.5))
    id_images = ids[rng.integers(0, 5, 80)] * 3 + rng.normal(size=(80, 16))
    oods = {"a": cands[rng.integers(0, 60, 30)] * 3 + rng.normal(size=(30, 16)), "b": rng.normal(size=(25, 16))}
    table = evaluate("adaneg", id_images, oods, ids, cands, is_adj, mining={"ratio": 0.5},
                     scoring={"batch_size": 16, "memory_length": 3})
    assert list(table.index) == ["a", "b", "average"]
    assert np.isfinite(table.to_numpy()).all() and (table["auroc"] > 50).all()
