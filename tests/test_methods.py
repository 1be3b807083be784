"""The method registry (ood_core.methods): discovery, typed params, and each method's wiring."""

import numpy as np
import pytest

from ood_core import methods, mining, scoring
from ood_core.features import TextFeatures
from ood_core.methods import csp, dnm, mcm, neglabel


def _texts(seed=0, n_nouns=30, n_adj=10, k=6, d=8):
    rng = np.random.default_rng(seed)
    return TextFeatures(rng.normal(size=(k, d)), rng.normal(size=(n_nouns + n_adj, d)) * 4,
                        rng.normal(size=(n_adj, d)), np.array([False] * n_nouns + [True] * n_adj))


def test_every_module_is_registered_under_its_own_name():
    from pathlib import Path

    modules = sorted(p.stem for p in Path(methods.__file__).parent.glob("*.py") if p.stem not in ("__init__", "base"))
    assert methods.names() == modules
    assert {"mcm", "maxlogit", "energy", "neglabel", "csp", "dnm"} <= set(modules)
    assert [m.name for m in methods.all_methods()] == methods.names()
    assert {"neglabel", "csp", "dnm"} <= {m.name for m in methods.all_methods() if m.mines}
    assert not {"mcm", "maxlogit", "energy"} & {m.name for m in methods.all_methods() if m.mines}
    test_time = {m.name for m in methods.all_methods() if m.test_time}  # they score ID + OOD streams
    assert "adaneg" in test_time and not {"mcm", "neglabel", "csp", "dnm"} & test_time
    with pytest.raises(ValueError, match=r"method='dmn' is unknown \(did you mean 'dnm'\?\)"):
        methods.get("dmn")


def test_a_method_without_mining_rejects_a_mining_block():
    with pytest.raises(ValueError, match="mines no negatives"):
        methods.get("mcm").mining_params_for({"ratio": 0.1}, "ViT-B-16")
    assert methods.get("mcm").mining_params_for(None, "ViT-B-16") is None
    assert methods.get("mcm").select_negatives(_texts(), None).shape == (0,)


def test_each_method_calls_the_library_functions_with_its_params():
    texts = _texts()
    img = np.random.default_rng(5).normal(size=(12, 8))
    # NegLabel
    mp, sp = neglabel.MiningParams(ratio=0.3), neglabel.ScoringParams(n_groups=2, temperature=0.05)
    neg = methods.get("neglabel").select_negatives(texts, mp)
    np.testing.assert_array_equal(neg, mining.neglabel_select(texts.candidates, texts.id_labels, texts.is_adj,
                                                               0.95, 0.3))
    np.testing.assert_array_equal(methods.get("neglabel").score(img, texts, neg, sp),
                                  scoring.neglabel(img, texts.id_labels, texts.candidates[neg], 0.05, 2, 0))
    # CSP: adjectives replaced by their phrase features, then NegLabel's rule with the exclusion
    pool = csp.candidate_pool(texts)
    neg = methods.get("csp").select_negatives(texts, csp.MiningParams(max_id_sim=0.5))
    np.testing.assert_array_equal(neg, mining.neglabel_select(pool, texts.id_labels, texts.is_adj, 0.95, 0.15, 0.5))
    np.testing.assert_array_equal(methods.get("csp").score(img, texts, neg, sp),
                                  scoring.neglabel(img, texts.id_labels, pool[neg], 0.05, 2, 0))
    # DNM
    sp = dnm.ScoringParams(n_groups=2, tau=0.3)
    neg = np.arange(0, 40, 3)
    np.testing.assert_array_equal(methods.get("dnm").score(img, texts, neg, sp),
                                  scoring.dnm(img, texts.id_labels, texts.candidates[neg], 0.01, 0.3, 2, 0))
    # MCM
    np.testing.assert_array_equal(methods.get("mcm").score(img, texts, neg[:0], mcm.ScoringParams(2.0)),
                                  scoring.mcm(img, texts.id_labels, 2.0))


def test_dnm_params_default_to_the_released_rule():
    p = dnm.MiningParams()
    assert (p.metric, p.neighbours, p.k) == ("reference", "pool", 100)
    assert dnm.ScoringParams().tau == 0.5
