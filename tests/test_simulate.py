"""The simulated benchmark (ood_core.simulate) on the real WordNet 3.0 files."""

from __future__ import annotations

import numpy as np
import pytest

from ood_core import simulate as S
from ood_core.features import FeatureSource, text_features
from ood_core.text import corpus as C
from ood_core.text import wordnet as wn
from ood_core.text.prompts import ADJ_TEMPLATE, NOUN_TEMPLATE

try:
    wn.resolve_wordnet_dir()
    import open_clip  # noqa: F401  (ImageNet class names)
    import timm  # noqa: F401  (ImageNet wnids)
    HAVE_DATA = True
except (FileNotFoundError, ImportError):  # pragma: no cover - depends on the machine
    HAVE_DATA = False
pytestmark = pytest.mark.skipif(not HAVE_DATA, reason="needs WordNet 3.0 files, timm and open_clip")


@pytest.fixture(scope="module")
def world():
    return S.build_world()


@pytest.fixture(scope="module")
def corpus():
    return C.load_wordnet_corpus()


def _sub_corpus(corpus, words):
    where = {w: i for i, w in enumerate(corpus.words)}
    idx = np.array([where[w] for w in words])
    return C.Corpus([corpus.words[i] for i in idx], corpus.is_adj[idx], [corpus.lexnames[i] for i in idx],
                    corpus.offsets[idx])


# --- configuration ---------------------------------------------------------------------------------

def test_config_from_dict_rejects_unknown_keys_and_bad_values():
    assert S.SimulationConfig.from_dict(None) == S.SimulationConfig()
    assert S.SimulationConfig.from_dict({"image_noise": 3.0}).image_noise == 3.0
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['imagenoise'\].*image_noise"):
        S.SimulationConfig.from_dict({"imagenoise": 3.0})
    with pytest.raises(ValueError, match=r"rho=1\.0.*\[0, 1\)"):
        S.SimulationConfig(rho=1.0)
    with pytest.raises(ValueError, match="text_norm_mean.*exceed 2"):
        S.SimulationConfig(text_norm_mean=5.0, text_norm_std=1.0)
    with pytest.raises(ValueError, match="images_per_id_class=0"):
        S.SimulationConfig(images_per_id_class=0)
    with pytest.raises(ValueError, match="dim=.*integer"):
        S.SimulationConfig(dim=51.2)
    with pytest.raises(TypeError, match="from_dict"):
        S.build_world({"seed": 1})


def test_unknown_split_lists_valid_ones(world):
    with pytest.raises(ValueError, match=r"split='ood'.*'sim-imagenet1k'.*'sim-textures'"):
        world.image_features("ood")


# --- determinism -----------------------------------------------------------------------------------

@pytest.mark.slow  # rebuilds every concept vector from scratch, twice
def test_same_params_give_identical_bytes_after_a_fresh_build(corpus):
    cfg = S.SimulationConfig(dim=16, images_per_id_class=2, images_per_ood_class=2)
    sub = _sub_corpus(corpus, ["abacus", "red", "pine", "cathedral", "striped"])

    def snapshot():
        w = S.build_world(cfg)
        texts = text_features(w, sub, NOUN_TEMPLATE, NOUN_TEMPLATE, ADJ_TEMPLATE)
        return [texts.id_labels.tobytes(), texts.candidates.tobytes(),
                texts.csp_adjectives.tobytes(), w.image_features("id").tobytes(),
                w.image_features("sim-sun").tobytes(), repr(w.ood_synsets)]

    first = snapshot()
    S._concepts.cache_clear()  # rebuild every concept vector from scratch
    assert snapshot() == first
    other = S.build_world(S.SimulationConfig(dim=16, images_per_id_class=2, images_per_ood_class=2, seed=1))
    assert other.encode_labels(other.id_labels(), NOUN_TEMPLATE).tobytes() != first[0]


def test_text_features_depend_on_the_prompt_not_on_order(world, corpus):
    words = ["abacus", "red", "pine", "cathedral", "striped", "kitchen"]
    def candidates(sub, adj_template=ADJ_TEMPLATE):
        return text_features(world, sub, NOUN_TEMPLATE, NOUN_TEMPLATE, adj_template).candidates

    a = candidates(_sub_corpus(corpus, words))
    b = candidates(_sub_corpus(corpus, words[::-1]))
    np.testing.assert_array_equal(a, b[::-1])
    # nouns use the noun template, adjectives the adjective template: changing the adjective
    # template changes only the adjective rows ("red", "striped").
    c = candidates(_sub_corpus(corpus, words), adj_template="a {} thing")
    changed = [not np.array_equal(x, y) for x, y in zip(a, c)]
    assert changed == [False, True, False, False, True, False]


def test_concepts_follow_the_documented_recursion(world):
    # entity (00001740) is a root: v = r; physical_entity (00001930) has the single parent entity.
    cfg = world.config
    r = [S._rng(cfg.seed, 1, o).standard_normal(cfg.dim) for o in (1740, 1930)]
    r = [x / np.sqrt(np.sum(x * x)) for x in r]
    child = cfg.rho * r[0] + np.sqrt(1 - cfg.rho ** 2) * r[1]
    child /= np.sqrt(np.sum(child * child))
    np.testing.assert_allclose(world._concept("n", [1740])[0], r[0], atol=1e-6)
    np.testing.assert_allclose(world._concept("n", [1930])[0], child, atol=1e-6)


# --- statistics ------------------------------------------------------------------------------------

@pytest.mark.slow  # text features of the whole corpus
def test_statistics_within_documented_bands(world, corpus):
    st = world.statistics()
    # docs/simulation.md: calibrated to CLIP ViT-B/16 (matched ~0.3, mismatched ~0.2).
    assert 0.27 <= st["matched_cosine"] <= 0.34
    assert 0.17 <= st["mismatched_cosine"] <= 0.23
    assert st["matched_cosine"] - st["mismatched_cosine"] > 0.05
    assert 0.5 <= st["zero_shot_top1"] <= 0.8
    assert 8.5 <= st["text_norm_mean"] <= 9.5 and 0.7 <= st["text_norm_std"] <= 1.3
    texts = text_features(world, corpus, NOUN_TEMPLATE, NOUN_TEMPLATE, ADJ_TEMPLATE)
    cand = texts.candidates
    norms = np.sqrt((cand.astype(np.float64) ** 2).sum(1))
    assert cand.shape == (len(corpus), 512) and cand.dtype == np.float32
    assert norms.min() > 2.0  # keeps the reference density metric's logs defined
    assert texts.csp_adjectives.shape == (corpus.n_adj, 512)


# --- ground truth ----------------------------------------------------------------------------------

def test_ground_truth_on_hand_checked_synsets(world, corpus):
    expected = {
        "abacus": True,        # 02666196 is ImageNet class 398
        "cathedral": True,     # 02984061, hyponym of ID class "church" (03028079)
        "abbey": True,         # 02667379, hyponym of ID class "monastery" (03781244)
        "structure": False,    # 04341686, an ancestor of ID classes, not a descendant
        "pine": False,         # 11608250, no ID class above it
        "oxeye daisy": False,  # 11989869, sibling of ID "daisy" under "flower", not below it
        "kitchen": False,      # 03619890 (room), not an ID class
        "red": False,          # an adjective
    }
    sub = _sub_corpus(corpus, list(expected))
    assert world.candidate_is_id_like(sub).tolist() == list(expected.values())
    full = world.candidate_is_id_like(corpus)
    assert full.dtype == bool and full.shape == (len(corpus),) and 0.005 < full.mean() < 0.1


def _closure_by_hand(nouns, ids):
    """Ancestors and descendants of ``ids`` by a plain walk over @/@i and ~/~i pointers."""
    up, down = set(ids), set(ids)
    frontier = list(ids)
    while frontier:
        frontier = [p for o in frontier for p in nouns[o].hypernyms if p not in up]
        up.update(frontier)
    frontier = list(ids)
    while frontier:
        frontier = [c for o in frontier for c in nouns[o].hyponyms if c not in down]
        down.update(frontier)
    return up | down


def test_ood_sets_are_disjoint_from_the_id_closure_and_each_other(world):
    nouns = wn.read_synsets("n")
    closure = _closure_by_hand(nouns, [int(w[1:]) for w in world.id_wnids])
    cfg = world.config
    sets = world.ood_synsets
    assert {k: len(v) for k, v in sets.items()} == {
        "sim-inaturalist": cfg.n_inaturalist, "sim-sun": cfg.n_sun, "sim-places": cfg.n_places,
        "sim-textures": 36}  # 36 of DTD's 47 words are adjectives in index.adj
    noun_sets = {k: {o for _, o, _ in v} for k, v in sets.items() if k != "sim-textures"}
    for name, offs in noun_sets.items():
        assert not offs & closure, name
    names = list(noun_sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not noun_sets[a] & noun_sets[b]
    for _, o, _ in sets["sim-inaturalist"]:
        assert nouns[o].lexname == "noun.plant" and not nouns[o].hyponyms
    assert "striped" in [w for _, _, w in sets["sim-textures"]]
    assert "paisley" not in [w for _, _, w in sets["sim-textures"]]  # WordNet has it as a noun only
    labels = world.image_labels("sim-sun")
    assert world.image_features("sim-sun").shape == (len(labels), cfg.dim)
    assert labels.tolist() == np.repeat(np.arange(cfg.n_sun), cfg.images_per_ood_class).tolist()
    assert world.image_labels("id").shape == (1000 * cfg.images_per_id_class,)


# --- end to end ------------------------------------------------------------------------------------

@pytest.mark.e2e  # simulator -> mining -> scoring -> metrics on a tenth of the corpus
def test_end_to_end_mine_score_metrics(world, corpus):
    mining = pytest.importorskip("ood_core.mining")
    scoring = pytest.importorskip("ood_core.scoring")
    metrics = pytest.importorskip("ood_core.metrics")
    # A small world: a seeded 10% of the corpus, 2 images per ID class.
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(corpus), size=len(corpus) // 10, replace=False))
    sub = C.Corpus([corpus.words[i] for i in keep], corpus.is_adj[keep], [corpus.lexnames[i] for i in keep],
                   corpus.offsets[keep])
    small = S.build_world(S.SimulationConfig(images_per_id_class=2, images_per_ood_class=10))
    texts = text_features(small, sub, NOUN_TEMPLATE, NOUN_TEMPLATE, ADJ_TEMPLATE)
    id_text, cand = texts.id_labels, texts.candidates
    neg = mining.neglabel_select(cand, id_text, sub.is_adj)
    dens = mining.density_select(cand, sub.is_adj, k=10)
    assert len(neg) > 0 and len(dens) > 0
    id_img = small.image_features("id")
    for name in ("sim-inaturalist", "sim-textures"):
        ood_img = small.image_features(name)
        for scores in (lambda x: scoring.mcm(x, id_text),
                       lambda x: scoring.neglabel(x, id_text, cand[neg], n_groups=10),
                       lambda x: scoring.dnm(x, id_text, cand[dens], n_groups=10)):
            auroc = metrics.ood_metrics(scores(id_img), scores(ood_img))["auroc"]
            auroc = auroc / 100 if auroc > 1 else auroc
            assert 0.6 < auroc < 0.999, (name, auroc)


def test_simulated_world_is_a_feature_source_and_takes_the_id_set_name(world):
    assert isinstance(world, FeatureSource)
    labels = world.id_labels()
    assert len(labels) == 1000 and labels[0].offset == int(world.id_offsets[0])
    np.testing.assert_array_equal(world.image_features(S.ID_SET)[:3], world.image_features("id")[:3])


# --- the two worlds (issue 15): a-priori and fitted per-OOD-set parameters ---------------------------

_SMALL = dict(dim=16, images_per_id_class=1, images_per_ood_class=3)


def _block(**override):
    base = {"id_proximity": 0.0, "unnamed": 0.0, "image_noise": 3.5}
    return {s: {**base, **override.get(s, {})} for s in S.OOD_SETS}


def test_world_key_is_checked_and_fitted_needs_every_block():
    with pytest.raises(ValueError, match=r"world='fit'.*\['fitted', 'a_priori'\]"):
        S.SimulationConfig(world="fit")
    with pytest.raises(ValueError, match=r"incomplete: \['sim-inaturalist', 'sim-sun', 'sim-places', "
                                         r"'sim-textures'\].*ood_study.calibrate"):
        S.SimulationConfig(world="fitted")
    partial = _block()
    del partial["sim-sun"]["unnamed"]
    with pytest.raises(ValueError, match=r"incomplete: \['sim-sun'\]"):
        S.SimulationConfig(world="fitted", ood_sets=partial)
    with pytest.raises(ValueError, match=r"sim-places\.unnamed=2\.5 must be a number in \[0, 2\]"):
        S.SimulationConfig(world="fitted", ood_sets=_block(**{"sim-places": {"unnamed": 2.5}}))
    with pytest.raises(ValueError, match=r"'sim-mnist' is not an OOD set"):
        S.SimulationConfig(ood_sets={"sim-mnist": {}})
    with pytest.raises(ValueError, match=r"sim-sun: unknown key\(s\) \['noise'\]"):
        S.SimulationConfig(ood_sets={"sim-sun": {"noise": 1.0}})
    # a_priori ignores a (complete or partial) block: one key switches worlds
    cfg = S.SimulationConfig(world="a_priori", ood_sets={"sim-sun": {"unnamed": 1.0}})
    assert cfg.ood_set_params("sim-sun") == {"id_proximity": 0.0, "unnamed": 0.0, "image_noise": 3.5}
    fitted = S.SimulationConfig(world="fitted", ood_sets=_block(**{"sim-sun": {"unnamed": 1.0}}))
    assert fitted.ood_set_params("sim-sun")["unnamed"] == 1.0


def test_neutral_fitted_block_reproduces_the_a_priori_world_bytes():
    a_priori = S.build_world(S.SimulationConfig(**_SMALL))
    neutral = S.build_world(S.SimulationConfig(**_SMALL, world="fitted", ood_sets=_block()))
    for split in ("id", *S.OOD_SETS):
        assert a_priori.image_features(split).tobytes() == neutral.image_features(split).tobytes()
    moved = S.build_world(S.SimulationConfig(**_SMALL, world="fitted",
                                             ood_sets=_block(**{"sim-sun": {"image_noise": 2.0}})))
    # only sim-sun changes: the ID images and the other sets keep their bytes
    assert moved.image_features("id").tobytes() == a_priori.image_features("id").tobytes()
    assert moved.image_features("sim-places").tobytes() == a_priori.image_features("sim-places").tobytes()
    assert moved.image_features("sim-sun").tobytes() != a_priori.image_features("sim-sun").tobytes()


def test_nearest_id_class_is_the_brute_force_argmax(world):
    split = "sim-textures"
    got = world.nearest_id_classes(split)
    for k, (pos, offset, _) in enumerate(world.ood_synsets[split][:8]):
        v = world._concept(pos, [offset])[0]
        cosines = [float(np.dot(v, world._concept("n", [o])[0])) for o in world.id_offsets]
        assert got[k] == int(np.argmax(cosines))


def test_image_concept_follows_the_documented_mix(world):
    # with image_noise at its floor the image direction is dominated by u(s) + image_offset g_image;
    # check the mix itself on the cached parts: u = normalise(v + p v_nn + q r).
    split = "sim-sun"
    parts = world._ood_parts(split)
    p, q = 0.7, 1.3
    k = 0
    pos, offset, _ = world.ood_synsets[split][k]
    v = world._concept(pos, [offset])[0]
    v_nn = world._concept("n", [world.id_offsets[world.nearest_id_classes(split)[k]]])[0]
    r = S._rng(world.config.seed, 7, 0, offset).standard_normal(world.config.dim)
    r /= np.sqrt(np.sum(r * r))
    u = v + p * v_nn + q * r
    u /= np.sqrt(np.sum(u * u))
    eps = parts["eps"][0]
    expected = u + world.config.image_offset * world._g_image + 1.0 * eps / np.sqrt(world.config.dim)
    expected /= np.sqrt(np.sum(expected * expected))
    img = world.ood_image_features(split, id_proximity=p, unnamed=q, image_noise=1.0)[0].astype(np.float64)
    np.testing.assert_allclose(img / np.sqrt(np.sum(img * img)), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"id_proximity=3\.0 is outside its range \[0, 2\]"):
        world.ood_image_features(split, id_proximity=3.0, unnamed=0.0, image_noise=3.5)


def test_proximity_and_unnamed_move_images_the_way_they_mean(world):
    split = "sim-inaturalist"
    id_text = world.encode_labels(world.id_labels(), NOUN_TEMPLATE).astype(np.float64)
    id_text /= np.sqrt((id_text ** 2).sum(1, keepdims=True))
    nearest = world.nearest_id_classes(split)[world.image_labels(split)]
    own = [lb for lb in world.ood_synsets[split]]
    from ood_core.features import Label
    own_text = world.encode_labels([Label(w, p, o) for p, o, w in own], NOUN_TEMPLATE).astype(np.float64)
    own_text /= np.sqrt((own_text ** 2).sum(1, keepdims=True))
    own_text = own_text[world.image_labels(split)]

    def cosines(**values):
        img = world.ood_image_features(split, **{"id_proximity": 0.0, "unnamed": 0.0, "image_noise": 3.5,
                                                  **values}).astype(np.float64)
        img /= np.sqrt((img ** 2).sum(1, keepdims=True))
        rows = np.arange(len(img))
        return (img @ id_text.T)[rows, nearest].mean(), (img * own_text).sum(1).mean()

    base_id, base_own = cosines()
    near_id, _ = cosines(id_proximity=1.0)
    _, hidden_own = cosines(unnamed=1.5)
    assert near_id > base_id + 0.02      # closer to ID: more similar to the nearest ID class's text
    assert hidden_own < base_own - 0.02  # less covered: less similar to the words that name the set
